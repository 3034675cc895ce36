// Package random is the engine tier's stand-in for the resources of pulumi-random 4.21.4 that the
// OpenWhisk program uses: RandomPassword and RandomUuid. It keeps the real provider's contract: the
// same input and output names and defaults, every input forces a replacement, and `result` and
// `bcryptHash` are secrets.
package random

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/bcrypt"

	p "openwhisk-pulumi/tools/engine/plugins/internal/provider"
)

// Provider returns the random provider.
func Provider() *p.Provider {
	return &p.Provider{
		Name:    "random",
		Version: "4.21.4",
		Resources: map[string]p.Resource{
			"random:index/randomPassword:RandomPassword": password{},
			"random:index/randomUuid:RandomUuid":         uuid{},
		},
	}
}

const (
	lowerChars   = "abcdefghijklmnopqrstuvwxyz"
	upperChars   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	numericChars = "0123456789"
	// The real provider's default special characters.
	specialChars = "!@#$%&*()-_=+[]{}<>:?"
)

// stateless implements Read, Update and Delete for resources that live only in the state.
type stateless struct{}

func (stateless) Read(_ context.Context, req p.ReadRequest) (resource.PropertyMap, resource.PropertyMap, error) {
	return req.State, req.Inputs, nil
}

func (stateless) Update(context.Context, p.UpdateRequest) (resource.PropertyMap, error) {
	return nil, errors.New("random resources are replaced, never updated")
}

func (stateless) Delete(context.Context, p.DeleteRequest) error { return nil }

func (stateless) Diff(_ context.Context, req p.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return p.DiffInputs(req.OldInputs, req.News, p.All), nil
}

type password struct{ stateless }

func (password) Check(_ context.Context, req p.CheckRequest) (resource.PropertyMap, []*pulumirpc.CheckFailure, error) {
	in := p.Copy(req.News)
	var failures []*pulumirpc.CheckFailure
	if !p.Has(in, "length") {
		failures = append(failures, p.Failure("length", "Missing required argument: length"))
		return nil, failures, nil
	}
	for _, k := range []string{"special", "upper", "lower"} {
		if !p.Has(in, k) {
			in[resource.PropertyKey(k)] = resource.NewBoolProperty(true)
		}
	}
	// `number` is the deprecated spelling of `numeric`; the two always carry the same value.
	switch {
	case p.Has(in, "numeric"):
		in["number"] = in["numeric"]
	case p.Has(in, "number"):
		in["numeric"] = in["number"]
	default:
		in["numeric"] = resource.NewBoolProperty(true)
		in["number"] = resource.NewBoolProperty(true)
	}
	for _, k := range []string{"minLower", "minUpper", "minNumeric", "minSpecial"} {
		if !p.Has(in, k) {
			in[resource.PropertyKey(k)] = resource.NewNumberProperty(0)
		}
	}
	if !p.AnyUnknown(in, "length", "minLower", "minUpper", "minNumeric", "minSpecial") {
		length := p.Num(in, "length", 0)
		mins := p.Num(in, "minLower", 0) + p.Num(in, "minUpper", 0) + p.Num(in, "minNumeric", 0) +
			p.Num(in, "minSpecial", 0)
		if length < 1 {
			failures = append(failures, p.Failure("length", "length must be at least 1, got: %v", length))
		} else if length < mins {
			failures = append(failures, p.Failure("length",
				"length (%v) must be at least the sum of minUpper, minLower, minNumeric and minSpecial (%v)", length, mins))
		}
	}
	return in, failures, nil
}

func (password) Create(_ context.Context, req p.CreateRequest) (string, resource.PropertyMap, error) {
	out := p.Copy(req.News)
	if req.Preview || p.AnyUnknown(req.News, "length", "special", "upper", "lower", "numeric",
		"minLower", "minUpper", "minNumeric", "minSpecial", "overrideSpecial") {
		out["result"] = p.Secret(p.Unknown())
		out["bcryptHash"] = p.Secret(p.Unknown())
		return "", out, nil
	}
	in := req.News
	special := specialChars
	if s, ok := p.Str(in, "overrideSpecial"); ok && s != "" {
		special = s
	}
	result, err := generate(int(p.Num(in, "length", 0)), []class{
		{lowerChars, p.Bool(in, "lower", true), int(p.Num(in, "minLower", 0))},
		{upperChars, p.Bool(in, "upper", true), int(p.Num(in, "minUpper", 0))},
		{numericChars, p.Bool(in, "numeric", true), int(p.Num(in, "minNumeric", 0))},
		{special, p.Bool(in, "special", true), int(p.Num(in, "minSpecial", 0))},
	})
	if err != nil {
		return "", nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(result), bcrypt.DefaultCost)
	if err != nil {
		return "", nil, fmt.Errorf("bcrypt: %w", err)
	}
	out["result"] = p.Secret(resource.NewStringProperty(result))
	out["bcryptHash"] = p.Secret(resource.NewStringProperty(string(hash)))
	return "none", out, nil
}

type class struct {
	chars   string
	enabled bool
	min     int
}

// generate draws each class's minimum first, fills up to length from the enabled classes, then
// shuffles, all with crypto/rand (the real provider's algorithm, in outline).
func generate(length int, classes []class) (string, error) {
	var pool string
	var out []byte
	for _, c := range classes {
		if c.enabled {
			pool += c.chars
		}
		for range c.min {
			b, err := pick(c.chars)
			if err != nil {
				return "", err
			}
			out = append(out, b)
		}
	}
	if pool == "" {
		return "", errors.New("the character set specified is empty")
	}
	for len(out) < length {
		b, err := pick(pool)
		if err != nil {
			return "", err
		}
		out = append(out, b)
	}
	for i := len(out) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return string(out), nil
}

func pick(chars string) (byte, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
	if err != nil {
		return 0, err
	}
	return chars[n.Int64()], nil
}

type uuid struct{ stateless }

func (uuid) Check(_ context.Context, req p.CheckRequest) (resource.PropertyMap, []*pulumirpc.CheckFailure, error) {
	return req.News, nil, nil
}

func (uuid) Create(_ context.Context, req p.CreateRequest) (string, resource.PropertyMap, error) {
	out := p.Copy(req.News)
	if req.Preview {
		out["result"] = p.Unknown()
		return "", out, nil
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	s := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	out["result"] = resource.NewStringProperty(s)
	return s, out, nil
}
