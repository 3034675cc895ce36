// Package tls is the engine tier's stand-in for the resources of pulumi-tls 5.6.2 that the OpenWhisk
// program uses: PrivateKey, SelfSignedCert, CertRequest and LocallySignedCert. It follows the real
// provider's contract: the same input and output names and defaults, changes to inputs replace the
// resource (except `earlyRenewalHours`, which is updated in place), private keys are secret outputs,
// and a certificate inside its early-renewal window is replaced on the next update.
package tls

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/ssh"

	p "openwhisk-pulumi/tools/engine/plugins/internal/provider"
)

// Provider returns the tls provider.
func Provider() *p.Provider {
	return &p.Provider{
		Name:    "tls",
		Version: "5.6.2",
		Resources: map[string]p.Resource{
			"tls:index/privateKey:PrivateKey":               privateKey{},
			"tls:index/selfSignedCert:SelfSignedCert":       cert{selfSigned: true},
			"tls:index/certRequest:CertRequest":             certRequest{},
			"tls:index/locallySignedCert:LocallySignedCert": cert{},
		},
	}
}

// stateless implements Read and Delete: these resources exist only in the state.
type stateless struct{}

func (stateless) Read(_ context.Context, req p.ReadRequest) (resource.PropertyMap, resource.PropertyMap, error) {
	return req.State, req.Inputs, nil
}

func (stateless) Delete(context.Context, p.DeleteRequest) error { return nil }

func (stateless) Update(context.Context, p.UpdateRequest) (resource.PropertyMap, error) {
	return nil, errors.New("this resource is replaced, never updated")
}

// ---------------------------------------------------------------------------------------------
// PrivateKey

type privateKey struct{ stateless }

var curves = map[string]elliptic.Curve{
	"P224": elliptic.P224(), "P256": elliptic.P256(), "P384": elliptic.P384(), "P521": elliptic.P521(),
}

func (privateKey) Check(_ context.Context, req p.CheckRequest) (resource.PropertyMap, []*pulumirpc.CheckFailure, error) {
	in := p.Copy(req.News)
	var failures []*pulumirpc.CheckFailure
	if !p.Has(in, "algorithm") {
		return nil, []*pulumirpc.CheckFailure{p.Failure("algorithm", "Missing required argument: algorithm")}, nil
	}
	if !p.Has(in, "rsaBits") {
		in["rsaBits"] = resource.NewNumberProperty(2048)
	}
	if !p.Has(in, "ecdsaCurve") {
		in["ecdsaCurve"] = resource.NewStringProperty("P224")
	}
	if alg, ok := p.Str(in, "algorithm"); ok && alg != "RSA" && alg != "ECDSA" && alg != "ED25519" {
		failures = append(failures, p.Failure("algorithm",
			"algorithm must be one of RSA, ECDSA, ED25519, got: %q", alg))
	}
	if c, ok := p.Str(in, "ecdsaCurve"); ok {
		if _, known := curves[c]; !known {
			failures = append(failures, p.Failure("ecdsaCurve",
				"ecdsaCurve must be one of P224, P256, P384, P521, got: %q", c))
		}
	}
	return in, failures, nil
}

func (privateKey) Diff(_ context.Context, req p.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return p.DiffInputs(req.OldInputs, req.News, p.All), nil
}

func (privateKey) Create(_ context.Context, req p.CreateRequest) (string, resource.PropertyMap, error) {
	out := p.Copy(req.News)
	if req.Preview || p.AnyUnknown(req.News, "algorithm", "rsaBits", "ecdsaCurve") {
		for _, k := range []string{"privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh"} {
			out[resource.PropertyKey(k)] = p.Secret(p.Unknown())
		}
		for _, k := range []string{"publicKeyPem", "publicKeyOpenssh", "publicKeyFingerprintMd5",
			"publicKeyFingerprintSha256"} {
			out[resource.PropertyKey(k)] = p.Unknown()
		}
		return "", out, nil
	}
	alg, _ := p.Str(req.News, "algorithm")
	var key crypto.Signer
	var keyPEM *pem.Block
	var err error
	switch alg {
	case "RSA":
		var k *rsa.PrivateKey
		if k, err = rsa.GenerateKey(rand.Reader, int(p.Num(req.News, "rsaBits", 2048))); err == nil {
			key = k
			keyPEM = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
		}
	case "ECDSA":
		curveName, _ := p.Str(req.News, "ecdsaCurve")
		var k *ecdsa.PrivateKey
		if k, err = ecdsa.GenerateKey(curves[curveName], rand.Reader); err == nil {
			key = k
			var der []byte
			if der, err = x509.MarshalECPrivateKey(k); err == nil {
				keyPEM = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
			}
		}
	case "ED25519":
		var k ed25519.PrivateKey
		if _, k, err = ed25519.GenerateKey(rand.Reader); err == nil {
			key = k
			var der []byte
			if der, err = x509.MarshalPKCS8PrivateKey(k); err == nil {
				keyPEM = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
			}
		}
	default:
		err = fmt.Errorf("unsupported algorithm %q", alg)
	}
	if err != nil {
		return "", nil, fmt.Errorf("generating the %s key: %w", alg, err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return "", nil, err
	}
	pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))

	// OpenSSH forms exist for every key but ECDSA P-224; the real provider leaves them empty there.
	var privSSH, pubSSH, md5FP, sha256FP string
	if sshPub, err := ssh.NewPublicKey(key.Public()); err == nil {
		pubSSH = string(ssh.MarshalAuthorizedKey(sshPub))
		md5FP = ssh.FingerprintLegacyMD5(sshPub)
		sha256FP = ssh.FingerprintSHA256(sshPub)
		if block, err := ssh.MarshalPrivateKey(key, ""); err == nil {
			privSSH = string(pem.EncodeToMemory(block))
		}
	}

	out["privateKeyPem"] = p.Secret(resource.NewStringProperty(string(pem.EncodeToMemory(keyPEM))))
	out["privateKeyPemPkcs8"] = p.Secret(resource.NewStringProperty(
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))))
	out["privateKeyOpenssh"] = p.Secret(resource.NewStringProperty(privSSH))
	out["publicKeyPem"] = resource.NewStringProperty(pubPEM)
	out["publicKeyOpenssh"] = resource.NewStringProperty(pubSSH)
	out["publicKeyFingerprintMd5"] = resource.NewStringProperty(md5FP)
	out["publicKeyFingerprintSha256"] = resource.NewStringProperty(sha256FP)
	return sha1Hex(pubPEM), out, nil
}

func sha1Hex(s string) string {
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// ---------------------------------------------------------------------------------------------
// Shared certificate pieces

func parsePrivateKey(pemText string) (crypto.Signer, string, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, "", errors.New("failed to decode the private key PEM")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, "", fmt.Errorf("parsing the private key: %w", err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, "RSA", nil
	case *ecdsa.PrivateKey:
		return k, "ECDSA", nil
	case ed25519.PrivateKey:
		return k, "ED25519", nil
	}
	return nil, "", fmt.Errorf("unsupported private key type %T", key)
}

func subjectOf(in resource.PropertyMap) pkix.Name {
	s := p.Obj(in, "subject")
	one := func(k string) []string {
		if v, ok := p.Str(s, k); ok && v != "" {
			return []string{v}
		}
		return nil
	}
	name := pkix.Name{
		Country: one("country"), Organization: one("organization"),
		OrganizationalUnit: one("organizationalUnit"), Locality: one("locality"),
		Province: one("province"), StreetAddress: p.StrList(s, "streetAddresses"),
		PostalCode: one("postalCode"),
	}
	name.CommonName, _ = p.Str(s, "commonName")
	name.SerialNumber, _ = p.Str(s, "serialNumber")
	if email, ok := p.Str(s, "emailAddress"); ok && email != "" {
		// emailAddress (1.2.840.113549.1.9.1) has no pkix.Name field.
		name.ExtraNames = append(name.ExtraNames, pkix.AttributeTypeAndValue{
			Type: []int{1, 2, 840, 113549, 1, 9, 1}, Value: email})
	}
	return name
}

func sans(in resource.PropertyMap) ([]string, []net.IP, []*url.URL, error) {
	dns := p.StrList(in, "dnsNames")
	var ips []net.IP
	for _, s := range p.StrList(in, "ipAddresses") {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, nil, nil, fmt.Errorf("invalid IP address %q", s)
		}
		ips = append(ips, ip)
	}
	var uris []*url.URL
	for _, s := range p.StrList(in, "uris") {
		u, err := url.Parse(s)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("invalid URI %q: %w", s, err)
		}
		uris = append(uris, u)
	}
	return dns, ips, uris, nil
}

var keyUsages = map[string]x509.KeyUsage{
	"digital_signature":  x509.KeyUsageDigitalSignature,
	"content_commitment": x509.KeyUsageContentCommitment,
	"key_encipherment":   x509.KeyUsageKeyEncipherment,
	"data_encipherment":  x509.KeyUsageDataEncipherment,
	"key_agreement":      x509.KeyUsageKeyAgreement,
	"cert_signing":       x509.KeyUsageCertSign,
	"crl_signing":        x509.KeyUsageCRLSign,
	"encipher_only":      x509.KeyUsageEncipherOnly,
	"decipher_only":      x509.KeyUsageDecipherOnly,
}

var extKeyUsages = map[string]x509.ExtKeyUsage{
	"any_extended":                      x509.ExtKeyUsageAny,
	"server_auth":                       x509.ExtKeyUsageServerAuth,
	"client_auth":                       x509.ExtKeyUsageClientAuth,
	"code_signing":                      x509.ExtKeyUsageCodeSigning,
	"email_protection":                  x509.ExtKeyUsageEmailProtection,
	"ipsec_end_system":                  x509.ExtKeyUsageIPSECEndSystem,
	"ipsec_tunnel":                      x509.ExtKeyUsageIPSECTunnel,
	"ipsec_user":                        x509.ExtKeyUsageIPSECUser,
	"timestamping":                      x509.ExtKeyUsageTimeStamping,
	"ocsp_signing":                      x509.ExtKeyUsageOCSPSigning,
	"microsoft_server_gated_crypto":     x509.ExtKeyUsageMicrosoftServerGatedCrypto,
	"netscape_server_gated_crypto":      x509.ExtKeyUsageNetscapeServerGatedCrypto,
	"microsoft_commercial_code_signing": x509.ExtKeyUsageMicrosoftCommercialCodeSigning,
	"microsoft_kernel_code_signing":     x509.ExtKeyUsageMicrosoftKernelCodeSigning,
}

func keyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	// The SHA-1 of the subjectPublicKey BIT STRING (RFC 5280 4.2.1.2, method 1), taken here over
	// the whole SubjectPublicKeyInfo for simplicity: any stable, unique value is valid.
	h := sha1.Sum(der)
	return h[:], nil
}

// readyForRenewal: the certificate is past its end, or within earlyRenewalHours of it.
func readyForRenewal(state resource.PropertyMap, earlyRenewalHours float64) bool {
	end, ok := p.Str(state, "validityEndTime")
	if !ok {
		return false
	}
	t, err := time.Parse(time.RFC3339, end)
	if err != nil {
		return false
	}
	return !time.Now().Before(t.Add(-time.Duration(earlyRenewalHours) * time.Hour))
}

// ---------------------------------------------------------------------------------------------
// SelfSignedCert and LocallySignedCert

type cert struct {
	stateless
	selfSigned bool
}

func (c cert) Check(_ context.Context, req p.CheckRequest) (resource.PropertyMap, []*pulumirpc.CheckFailure, error) {
	in := p.Copy(req.News)
	var failures []*pulumirpc.CheckFailure
	required := []string{"validityPeriodHours", "allowedUses"}
	if c.selfSigned {
		if !p.Has(in, "privateKeyPem") && !p.Has(in, "privateKeyPemWo") {
			failures = append(failures, p.Failure("privateKeyPem",
				"exactly one of privateKeyPem or privateKeyPemWo must be set"))
		}
	} else {
		required = append(required, "certRequestPem", "caCertPem")
		if !p.Has(in, "caPrivateKeyPem") && !p.Has(in, "caPrivateKeyPemWo") {
			failures = append(failures, p.Failure("caPrivateKeyPem",
				"exactly one of caPrivateKeyPem or caPrivateKeyPemWo must be set"))
		}
	}
	for _, k := range required {
		if !p.Has(in, k) {
			failures = append(failures, p.Failure(k, "Missing required argument: %s", k))
		}
	}
	for _, u := range p.StrList(in, "allowedUses") {
		_, ku := keyUsages[u]
		_, eku := extKeyUsages[u]
		if !ku && !eku {
			failures = append(failures, p.Failure("allowedUses", "unknown allowed use %q", u))
		}
	}
	defaults := map[string]resource.PropertyValue{
		"earlyRenewalHours": resource.NewNumberProperty(0),
		"isCaCertificate":   resource.NewBoolProperty(false),
		"setSubjectKeyId":   resource.NewBoolProperty(false),
	}
	if c.selfSigned {
		defaults["setAuthorityKeyId"] = resource.NewBoolProperty(false)
	}
	for k, v := range defaults {
		if !p.Has(in, k) {
			in[resource.PropertyKey(k)] = v
		}
	}
	// Private keys are secrets whether or not the program marked them.
	for _, k := range []string{"privateKeyPem", "privateKeyPemWo", "caPrivateKeyPem", "caPrivateKeyPemWo"} {
		if v, ok := in[resource.PropertyKey(k)]; ok && !v.IsNull() {
			in[resource.PropertyKey(k)] = p.Secret(v)
		}
	}
	return in, failures, nil
}

func (c cert) Diff(_ context.Context, req p.DiffRequest) (*pulumirpc.DiffResponse, error) {
	resp := p.DiffInputs(req.OldInputs, req.News, func(k string) bool { return k != "earlyRenewalHours" })
	early := p.Num(req.News, "earlyRenewalHours", 0)
	if !p.AnyUnknown(req.News, "earlyRenewalHours") && readyForRenewal(req.OldState, early) {
		resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
		resp.Replaces = append(resp.Replaces, "readyForRenewal")
		resp.Diffs = append(resp.Diffs, "readyForRenewal")
		resp.DetailedDiff["readyForRenewal"] = &pulumirpc.PropertyDiff{Kind: pulumirpc.PropertyDiff_UPDATE_REPLACE}
	}
	return resp, nil
}

func (c cert) Update(_ context.Context, req p.UpdateRequest) (resource.PropertyMap, error) {
	// Only earlyRenewalHours changes in place; everything else replaces.
	out := p.Copy(req.OldState)
	for k, v := range req.News {
		out[k] = v
	}
	if req.Preview && p.AnyUnknown(req.News, "earlyRenewalHours") {
		out["readyForRenewal"] = p.Unknown()
		return out, nil
	}
	out["readyForRenewal"] = resource.NewBoolProperty(readyForRenewal(req.OldState, p.Num(req.News, "earlyRenewalHours", 0)))
	return out, nil
}

func (c cert) Read(_ context.Context, req p.ReadRequest) (resource.PropertyMap, resource.PropertyMap, error) {
	state := p.Copy(req.State)
	state["readyForRenewal"] = resource.NewBoolProperty(readyForRenewal(state, p.Num(state, "earlyRenewalHours", 0)))
	return state, req.Inputs, nil
}

func (c cert) Create(_ context.Context, req p.CreateRequest) (string, resource.PropertyMap, error) {
	in := req.News
	out := p.Copy(in)
	if req.Preview || in.ContainsUnknowns() {
		out["certPem"] = p.Unknown()
		out["validityStartTime"] = p.Unknown()
		out["validityEndTime"] = p.Unknown()
		out["readyForRenewal"] = p.Unknown()
		if c.selfSigned {
			out["keyAlgorithm"] = p.Unknown()
		} else {
			out["caKeyAlgorithm"] = p.Unknown()
		}
		return "", out, nil
	}

	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return "", nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		NotBefore:             now,
		NotAfter:              now.Add(time.Duration(p.Num(in, "validityPeriodHours", 0)) * time.Hour),
		BasicConstraintsValid: true,
		IsCA:                  p.Bool(in, "isCaCertificate", false),
	}
	if tmpl.IsCA && p.Has(in, "maxPathLength") {
		tmpl.MaxPathLen = int(p.Num(in, "maxPathLength", 0))
		tmpl.MaxPathLenZero = tmpl.MaxPathLen == 0
	}
	for _, u := range p.StrList(in, "allowedUses") {
		if ku, ok := keyUsages[u]; ok {
			tmpl.KeyUsage |= ku
		} else if eku, ok := extKeyUsages[u]; ok {
			tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, eku)
		}
	}

	var signer crypto.Signer
	var parent *x509.Certificate
	var pub crypto.PublicKey
	var algo string
	if c.selfSigned {
		keyPEM, ok := p.Str(in, "privateKeyPem")
		if !ok {
			keyPEM, _ = p.Str(in, "privateKeyPemWo")
		}
		if signer, algo, err = parsePrivateKey(keyPEM); err != nil {
			return "", nil, err
		}
		pub = signer.Public()
		tmpl.Subject = subjectOf(in)
		if tmpl.DNSNames, tmpl.IPAddresses, tmpl.URIs, err = sans(in); err != nil {
			return "", nil, err
		}
		parent = tmpl
	} else {
		csrPEM, _ := p.Str(in, "certRequestPem")
		block, _ := pem.Decode([]byte(csrPEM))
		if block == nil {
			return "", nil, errors.New("failed to decode certRequestPem")
		}
		csr, err := x509.ParseCertificateRequest(block.Bytes)
		if err != nil {
			return "", nil, fmt.Errorf("parsing certRequestPem: %w", err)
		}
		if err := csr.CheckSignature(); err != nil {
			return "", nil, fmt.Errorf("certRequestPem signature: %w", err)
		}
		caPEM, _ := p.Str(in, "caCertPem")
		cblock, _ := pem.Decode([]byte(caPEM))
		if cblock == nil {
			return "", nil, errors.New("failed to decode caCertPem")
		}
		if parent, err = x509.ParseCertificate(cblock.Bytes); err != nil {
			return "", nil, fmt.Errorf("parsing caCertPem: %w", err)
		}
		caKey, ok := p.Str(in, "caPrivateKeyPem")
		if !ok {
			caKey, _ = p.Str(in, "caPrivateKeyPemWo")
		}
		if signer, algo, err = parsePrivateKey(caKey); err != nil {
			return "", nil, err
		}
		pub = csr.PublicKey
		tmpl.Subject = csr.Subject
		tmpl.DNSNames, tmpl.IPAddresses, tmpl.URIs = csr.DNSNames, csr.IPAddresses, csr.URIs
	}
	if p.Bool(in, "setSubjectKeyId", false) {
		if tmpl.SubjectKeyId, err = keyID(pub); err != nil {
			return "", nil, err
		}
	}
	if c.selfSigned && p.Bool(in, "setAuthorityKeyId", false) {
		if tmpl.AuthorityKeyId, err = keyID(pub); err != nil {
			return "", nil, err
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return "", nil, fmt.Errorf("creating the certificate: %w", err)
	}
	out["certPem"] = resource.NewStringProperty(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	out["validityStartTime"] = resource.NewStringProperty(tmpl.NotBefore.Format(time.RFC3339))
	out["validityEndTime"] = resource.NewStringProperty(tmpl.NotAfter.Format(time.RFC3339))
	out["readyForRenewal"] = resource.NewBoolProperty(readyForRenewal(out, p.Num(in, "earlyRenewalHours", 0)))
	if c.selfSigned {
		out["keyAlgorithm"] = resource.NewStringProperty(algo)
	} else {
		out["caKeyAlgorithm"] = resource.NewStringProperty(algo)
	}
	return serial.String(), out, nil
}

// ---------------------------------------------------------------------------------------------
// CertRequest

type certRequest struct{ stateless }

func (certRequest) Check(_ context.Context, req p.CheckRequest) (resource.PropertyMap, []*pulumirpc.CheckFailure, error) {
	in := p.Copy(req.News)
	if !p.Has(in, "privateKeyPem") && !p.Has(in, "privateKeyPemWo") {
		return nil, []*pulumirpc.CheckFailure{p.Failure("privateKeyPem",
			"exactly one of privateKeyPem or privateKeyPemWo must be set")}, nil
	}
	for _, k := range []string{"privateKeyPem", "privateKeyPemWo"} {
		if v, ok := in[resource.PropertyKey(k)]; ok && !v.IsNull() {
			in[resource.PropertyKey(k)] = p.Secret(v)
		}
	}
	return in, nil, nil
}

func (certRequest) Diff(_ context.Context, req p.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return p.DiffInputs(req.OldInputs, req.News, p.All), nil
}

func (certRequest) Create(_ context.Context, req p.CreateRequest) (string, resource.PropertyMap, error) {
	in := req.News
	out := p.Copy(in)
	if req.Preview || in.ContainsUnknowns() {
		out["certRequestPem"] = p.Unknown()
		out["keyAlgorithm"] = p.Unknown()
		return "", out, nil
	}
	keyPEM, ok := p.Str(in, "privateKeyPem")
	if !ok {
		keyPEM, _ = p.Str(in, "privateKeyPemWo")
	}
	key, algo, err := parsePrivateKey(keyPEM)
	if err != nil {
		return "", nil, err
	}
	tmpl := &x509.CertificateRequest{Subject: subjectOf(in)}
	if tmpl.DNSNames, tmpl.IPAddresses, tmpl.URIs, err = sans(in); err != nil {
		return "", nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return "", nil, fmt.Errorf("creating the certificate request: %w", err)
	}
	csr := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	out["certRequestPem"] = resource.NewStringProperty(csr)
	out["keyAlgorithm"] = resource.NewStringProperty(algo)
	return sha1Hex(csr), out, nil
}
