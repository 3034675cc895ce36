// Command pulumi-resource-random is the engine tier's stand-in for pulumi-random 4.21.4's provider
// (RandomPassword and RandomUuid only); see tools/engine/README.md.
package main

import (
	"openwhisk-pulumi/tools/engine/plugins/internal/provider"
	"openwhisk-pulumi/tools/engine/plugins/internal/random"
)

func main() { provider.Main(random.Provider()) }
