package provider

import (
	"fmt"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// Plain returns v with every secret wrapper removed (unknowns stay).
func Plain(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return Plain(v.SecretValue().Element)
	case v.IsOutput():
		o := v.OutputValue()
		if !o.Known {
			return resource.MakeComputed(resource.NewStringProperty(""))
		}
		return Plain(o.Element)
	case v.IsArray():
		arr := make([]resource.PropertyValue, len(v.ArrayValue()))
		for i, e := range v.ArrayValue() {
			arr[i] = Plain(e)
		}
		return resource.NewArrayProperty(arr)
	case v.IsObject():
		return resource.NewObjectProperty(PlainMap(v.ObjectValue()))
	}
	return v
}

// PlainMap is Plain for a map.
func PlainMap(m resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for k, v := range m {
		out[k] = Plain(v)
	}
	return out
}

// Unknown is the value of an output that is not known during a preview.
func Unknown() resource.PropertyValue { return resource.MakeComputed(resource.NewStringProperty("")) }

// IsUnknown reports whether v (or anything inside it) is not known yet.
func IsUnknown(v resource.PropertyValue) bool { return v.ContainsUnknowns() }

// AnyUnknown reports whether any of keys in m is (or contains) an unknown.
func AnyUnknown(m resource.PropertyMap, keys ...string) bool {
	for _, k := range keys {
		if v, ok := m[resource.PropertyKey(k)]; ok && v.ContainsUnknowns() {
			return true
		}
	}
	return false
}

// AnySecret reports whether any of keys in m is (or contains) a secret.
func AnySecret(m resource.PropertyMap, keys ...string) bool {
	for _, k := range keys {
		if v, ok := m[resource.PropertyKey(k)]; ok && v.ContainsSecrets() {
			return true
		}
	}
	return false
}

// Secret wraps v as a secret (once).
func Secret(v resource.PropertyValue) resource.PropertyValue {
	if v.IsSecret() {
		return v
	}
	return resource.MakeSecret(v)
}

// SecretIf wraps v as a secret when cond holds.
func SecretIf(cond bool, v resource.PropertyValue) resource.PropertyValue {
	if cond {
		return Secret(v)
	}
	return v
}

// Has reports whether m has a non-null value at key.
func Has(m resource.PropertyMap, key string) bool {
	v, ok := m[resource.PropertyKey(key)]
	return ok && !Plain(v).IsNull()
}

// Str returns the string at key ("" and false when absent or null).
func Str(m resource.PropertyMap, key string) (string, bool) {
	v := Plain(m[resource.PropertyKey(key)])
	if v.IsString() {
		return v.StringValue(), true
	}
	return "", false
}

// Bool returns the bool at key, or def.
func Bool(m resource.PropertyMap, key string, def bool) bool {
	v := Plain(m[resource.PropertyKey(key)])
	if v.IsBool() {
		return v.BoolValue()
	}
	return def
}

// Num returns the number at key, or def.
func Num(m resource.PropertyMap, key string, def float64) float64 {
	v := Plain(m[resource.PropertyKey(key)])
	if v.IsNumber() {
		return v.NumberValue()
	}
	return def
}

// StrList returns the list of strings at key (non-strings are skipped).
func StrList(m resource.PropertyMap, key string) []string {
	v := Plain(m[resource.PropertyKey(key)])
	if !v.IsArray() {
		return nil
	}
	var out []string
	for _, e := range v.ArrayValue() {
		if e.IsString() {
			out = append(out, e.StringValue())
		}
	}
	return out
}

// StrMap returns the map of strings at key, sorted keys alongside.
func StrMap(m resource.PropertyMap, key string) (map[string]string, []string) {
	v := Plain(m[resource.PropertyKey(key)])
	if !v.IsObject() {
		return nil, nil
	}
	out := map[string]string{}
	var keys []string
	for k, e := range v.ObjectValue() {
		if e.IsString() {
			out[string(k)] = e.StringValue()
			keys = append(keys, string(k))
		}
	}
	sort.Strings(keys)
	return out, keys
}

// Obj returns the object at key.
func Obj(m resource.PropertyMap, key string) resource.PropertyMap {
	v := Plain(m[resource.PropertyKey(key)])
	if v.IsObject() {
		return v.ObjectValue()
	}
	return resource.PropertyMap{}
}

// Copy returns a shallow copy of m.
func Copy(m resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Failure makes a check failure for a property.
func Failure(prop, format string, args ...any) *pulumirpc.CheckFailure {
	return &pulumirpc.CheckFailure{Property: prop, Reason: fmt.Sprintf(format, args...)}
}

// DiffInputs compares the old and new inputs key by key (secrets compared by value; an unknown new
// value counts as a change). replaces tells which changed keys need a replacement.
func DiffInputs(olds, news resource.PropertyMap, replaces func(key string) bool) *pulumirpc.DiffResponse {
	keys := map[resource.PropertyKey]bool{}
	for k := range olds {
		keys[k] = true
	}
	for k := range news {
		keys[k] = true
	}
	resp := &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE, HasDetailedDiff: true,
		DetailedDiff: map[string]*pulumirpc.PropertyDiff{}}
	var sorted []string
	for k := range keys {
		if len(k) >= 2 && k[:2] == "__" {
			continue
		}
		sorted = append(sorted, string(k))
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		o, hasOld := olds[resource.PropertyKey(k)]
		n, hasNew := news[resource.PropertyKey(k)]
		po, pn := Plain(o), Plain(n)
		hasOld = hasOld && !po.IsNull()
		hasNew = hasNew && !pn.IsNull()
		var kind pulumirpc.PropertyDiff_Kind
		switch {
		case !hasOld && !hasNew:
			continue
		case !hasOld:
			kind = pulumirpc.PropertyDiff_ADD
		case !hasNew:
			kind = pulumirpc.PropertyDiff_DELETE
		case pn.ContainsUnknowns() || !po.DeepEquals(pn):
			kind = pulumirpc.PropertyDiff_UPDATE
		default:
			continue
		}
		replace := replaces(k)
		if replace {
			kind++ // ADD -> ADD_REPLACE, DELETE -> DELETE_REPLACE, UPDATE -> UPDATE_REPLACE
			resp.Replaces = append(resp.Replaces, k)
		}
		resp.Diffs = append(resp.Diffs, k)
		resp.DetailedDiff[k] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
		resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	return resp
}

// All is a replaces function for resources whose every input forces a replacement.
func All(string) bool { return true }
