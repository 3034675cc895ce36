// Command pulumi-resource-tls is the engine tier's stand-in for pulumi-tls 5.6.2's provider
// (PrivateKey, SelfSignedCert, CertRequest, LocallySignedCert); see tools/engine/README.md.
package main

import (
	"openwhisk-pulumi/tools/engine/plugins/internal/provider"
	"openwhisk-pulumi/tools/engine/plugins/internal/tls"
)

func main() { provider.Main(tls.Provider()) }
