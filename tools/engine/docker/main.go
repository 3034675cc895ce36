// Command pulumi-resource-docker serves the kreuzwerker Terraform Docker provider to the Pulumi
// engine through the Pulumi Terraform bridge, with the package name, tokens and property names that
// the pulumi-docker 5.2.0 SDKs use.
//
// This is the engine tier's own stand-in for pulumi-docker's provider binary, whose Go module is not
// served by the module proxy. It bridges the same Terraform provider with the same bridge library;
// what it does not have is pulumi-docker's native `docker:index/image:Image` resource (a Docker
// build written in Go inside pulumi-docker itself, not part of the Terraform provider).
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"unicode"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	bridgetokens "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/terraform-providers/terraform-provider-docker/internal/provider"
)

const (
	pkgName = "docker"
	modName = "index"
	// The pulumi-docker release whose SDK contract this binary serves.
	version = "5.2.0"
)

// resourceToken makes "docker:index/<camelName>:<Name>".
func resourceToken(name string) string {
	lower := string(unicode.ToLower(rune(name[0]))) + name[1:]
	return pkgName + ":" + modName + "/" + lower + ":" + name
}

func providerInfo() tfbridge.ProviderInfo {
	tf := provider.New("engine")()

	info := tfbridge.ProviderInfo{
		P:           shimv2.NewProvider(tf),
		Name:        pkgName,
		Version:     version,
		Description: "Engine-tier bridge of the kreuzwerker Terraform Docker provider (pulumi-docker 5.2.0 contract)",
		License:     "Apache-2.0",
		GitHubOrg:   "kreuzwerker",
		Config: map[string]*tfbridge.SchemaInfo{
			// Like pulumi-docker: DOCKER_HOST, else the platform's default daemon socket.
			"host": {
				Default: &tfbridge.DefaultInfo{
					EnvVars: []string{"DOCKER_HOST"},
					ComputeDefault: func(context.Context, tfbridge.ComputeDefaultOptions) (any, error) {
						if runtime.GOOS == "windows" {
							return "npipe:////./pipe/docker_engine", nil
						}
						return "unix:///var/run/docker.sock", nil
					},
				},
			},
			// A list in the SDKs, under a singular name.
			"registry_auth": {Name: "registryAuth", MaxItemsOne: tfbridge.False()},
		},
		Resources: map[string]*tfbridge.ResourceInfo{
			"docker_config": {Tok: tfTok(resourceToken("ServiceConfig"))},
			"docker_container": {
				Tok: tfTok(resourceToken("Container")),
				// A container has a fixed name (and often fixed host ports): pulumi-docker removes the
				// old one before creating its replacement.
				DeleteBeforeReplace: true,
				Fields: map[string]*tfbridge.SchemaInfo{
					// Lists whose names the SDK keeps singular.
					"command":           {Name: "command"},
					"networks_advanced": {Name: "networksAdvanced"},
				},
			},
			"docker_image": {
				Tok:    tfTok(resourceToken("RemoteImage")),
				Fields: map[string]*tfbridge.SchemaInfo{"name": {Name: "name"}},
			},
			"docker_network":        {Tok: tfTok(resourceToken("Network"))},
			"docker_secret":         {Tok: tfTok(resourceToken("Secret"))},
			"docker_service":        {Tok: tfTok(resourceToken("Service"))},
			"docker_volume":         {Tok: tfTok(resourceToken("Volume"))},
			"docker_registry_image": {Tok: tfTok(resourceToken("RegistryImage"))},
			"docker_plugin":         {Tok: tfTok(resourceToken("Plugin"))},
			"docker_tag":            {Tok: tfTok(resourceToken("Tag"))},
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"docker_network":        {Tok: fnTok("getNetwork")},
			"docker_registry_image": {Tok: fnTok("getRegistryImage")},
			"docker_plugin":         {Tok: fnTok("getPlugin")},
			"docker_image":          {Tok: fnTok("getRemoteImage")},
			"docker_logs":           {Tok: fnTok("getLogs")},
		},
	}

	// Everything not named above gets the standard "docker_foo_bar" -> "docker:index/fooBar:FooBar"
	// token (docker_buildx_builder, docker_registry_image_manifests, ...).
	info.MustComputeTokens(bridgetokens.SingleModule("docker_", modName, bridgetokens.MakeStandard(pkgName)))
	// A resource's `name` input, when left out, is made from the resource name plus a random suffix.
	info.SetAutonaming(255, "-")
	return info
}

func tfTok(s string) tokens.Type { return tokens.Type(s) }

// fnTok makes a data source token, "docker:index/getFoo:getFoo".
func fnTok(name string) tokens.ModuleMember {
	return tokens.ModuleMember(pkgName + ":" + modName + "/" + name + ":" + name)
}

func main() {
	if len(os.Args) > 1 && strings.TrimLeft(os.Args[1], "-") == "engine-info" {
		fmt.Printf("pulumi-resource-docker %s (engine-tier bridge of kreuzwerker/terraform-provider-docker)\n", version)
		return
	}
	// The engine only needs CRUD, Check, Diff and Read; GetSchema answers with this minimal package
	// spec (the bridge skips its schema type checks for resources the spec does not list).
	schema := []byte(fmt.Sprintf(`{"name":%q,"version":%q}`, pkgName, version))
	tfbridge.Main(pkgName, version, providerInfo(), schema)
}
