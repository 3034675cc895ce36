// Command pulumi-language-python is the engine tier's own Python language host (the upstream one's
// Go module is not served by the module proxy); see tools/engine/README.md.
//
// The CLI starts it as `pulumi-language-python [--logtostderr] [-v=N] [--tracing URL] ENGINE`; it
// prints the port of its LanguageRuntime gRPC server on the first line of stdout.
package main

import (
	"fmt"
	"net"
	"os"
	"strings"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"

	"openwhisk-pulumi/tools/engine/plugins/internal/langhost"
)

func main() {
	host := &langhost.Host{}
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--version" || a == "-version":
			fmt.Println(langhost.Version)
			return
		case a == "--tracing" || a == "-tracing":
			i++
		case strings.HasPrefix(a, "-"):
			// Logging flags (--logtostderr, -v=N) and flags of the upstream host; ignored.
		default:
			host.EngineAddress = a
		}
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "listen: %v\n", err)
		os.Exit(1)
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(1<<30), grpc.MaxSendMsgSize(1<<30))
	pulumirpc.RegisterLanguageRuntimeServer(srv, host)
	fmt.Printf("%d\n", lis.Addr().(*net.TCPAddr).Port)
	if err := srv.Serve(lis); err != nil {
		fmt.Fprintf(os.Stderr, "serve: %v\n", err)
		os.Exit(1)
	}
}
