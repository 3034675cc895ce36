// Command pulumi-resource-command is the engine tier's stand-in for pulumi-command 1.2.1's provider
// (local and remote Command); see tools/engine/README.md.
package main

import (
	"openwhisk-pulumi/tools/engine/plugins/internal/command"
	"openwhisk-pulumi/tools/engine/plugins/internal/provider"
)

func main() { provider.Main(command.Provider()) }
