// Package provider is a small gRPC ResourceProvider server for the engine tier's stand-in providers
// (random, tls, command). Each provider registers its resource types; this package does the plugin
// protocol: the port handshake on stdout, Handshake/Configure, property (un)marshalling with secrets
// and unknowns kept, dispatch by type token, and logging back to the engine.
package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Resource is one resource type of a provider. Property maps keep secrets (resource.Secret) and
// unknowns (resource.Computed) as the engine sent them.
type Resource interface {
	// Check validates news and returns them with defaults applied.
	Check(ctx context.Context, req CheckRequest) (resource.PropertyMap, []*pulumirpc.CheckFailure, error)
	// Diff compares the new checked inputs with the old state and inputs.
	Diff(ctx context.Context, req DiffRequest) (*pulumirpc.DiffResponse, error)
	// Create makes the resource; with Preview set it only predicts the outputs (unknowns allowed).
	Create(ctx context.Context, req CreateRequest) (string, resource.PropertyMap, error)
	// Read refreshes the state of an existing resource; it returns the new state and inputs.
	Read(ctx context.Context, req ReadRequest) (resource.PropertyMap, resource.PropertyMap, error)
	// Update changes the resource in place.
	Update(ctx context.Context, req UpdateRequest) (resource.PropertyMap, error)
	// Delete removes the resource.
	Delete(ctx context.Context, req DeleteRequest) error
}

type CheckRequest struct {
	URN        resource.URN
	Olds, News resource.PropertyMap
}

type DiffRequest struct {
	URN       resource.URN
	ID        string
	OldState  resource.PropertyMap
	OldInputs resource.PropertyMap // the old inputs, or the old state when the engine sent none
	News      resource.PropertyMap
}

type CreateRequest struct {
	URN     resource.URN
	News    resource.PropertyMap
	Preview bool
	Log     *Logger
}

type ReadRequest struct {
	URN           resource.URN
	ID            string
	State, Inputs resource.PropertyMap
}

type UpdateRequest struct {
	URN                 resource.URN
	ID                  string
	OldState, OldInputs resource.PropertyMap
	News                resource.PropertyMap
	Preview             bool
	Log                 *Logger
}

type DeleteRequest struct {
	URN       resource.URN
	ID        string
	State     resource.PropertyMap
	OldInputs resource.PropertyMap
	Log       *Logger
}

// Provider describes one stand-in provider.
type Provider struct {
	Name      string // package name, e.g. "random"
	Version   string // the version of the real provider whose contract this one follows
	Resources map[string]Resource
}

type server struct {
	pulumirpc.UnimplementedResourceProviderServer
	p *Provider

	mu     sync.Mutex
	engine pulumirpc.EngineClient
}

var unmarshalOpts = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, SkipNulls: true}
var marshalOpts = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true}

// StandinBuild is the semver build metadata that marks our stand-ins' versions in GetPluginInfo
// (build metadata does not change a version's precedence).
const StandinBuild = "+engine.standin"

func (s *server) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: s.p.Version + StandinBuild}, nil
}

func (s *server) Handshake(_ context.Context, req *pulumirpc.ProviderHandshakeRequest) (*pulumirpc.ProviderHandshakeResponse, error) {
	if req.GetEngineAddress() != "" {
		s.connectEngine(req.GetEngineAddress())
	}
	return &pulumirpc.ProviderHandshakeResponse{AcceptSecrets: true}, nil
}

func (s *server) Attach(_ context.Context, req *pulumirpc.PluginAttach) (*emptypb.Empty, error) {
	s.connectEngine(req.GetAddress())
	return &emptypb.Empty{}, nil
}

func (s *server) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	// A minimal package spec: the engine needs no more for CRUD. Resource tokens are listed so that
	// tools reading it see what the stand-in serves.
	resources := map[string]any{}
	for tok := range s.p.Resources {
		resources[tok] = map[string]any{"description": "engine-tier stand-in"}
	}
	b, err := json.Marshal(map[string]any{
		"name": s.p.Name, "version": s.p.Version, "resources": resources,
		"description": fmt.Sprintf("Engine-tier stand-in for the %s provider %s", s.p.Name, s.p.Version),
	})
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetSchemaResponse{Schema: string(b)}, nil
}

func (s *server) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	// No provider configuration: pass the inputs (version, pluginDownloadURL, ...) through.
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (s *server) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (s *server) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true}, nil
}

func (s *server) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (s *server) resourceFor(urn string, typ string) (Resource, error) {
	if typ == "" {
		typ = string(resource.URN(urn).Type())
	}
	r, ok := s.p.Resources[typ]
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument,
			"the engine-tier %s provider does not implement resource type %q", s.p.Name, typ)
	}
	return r, nil
}

func (s *server) Check(ctx context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	r, err := s.resourceFor(req.GetUrn(), req.GetType())
	if err != nil {
		return nil, err
	}
	olds, err := plugin.UnmarshalProperties(req.GetOlds(), unmarshalOpts)
	if err != nil {
		return nil, err
	}
	news, err := plugin.UnmarshalProperties(req.GetNews(), unmarshalOpts)
	if err != nil {
		return nil, err
	}
	inputs, failures, err := r.Check(ctx, CheckRequest{URN: resource.URN(req.GetUrn()), Olds: olds, News: news})
	if err != nil {
		return nil, err
	}
	if len(failures) > 0 {
		return &pulumirpc.CheckResponse{Failures: failures}, nil
	}
	st, err := plugin.MarshalProperties(inputs, marshalOpts)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: st}, nil
}

// unmarshalChange reads a Diff or Update request's old state, old inputs (the old state when the
// engine sends none) and new inputs.
func unmarshalChange(olds, oldInputs, news *structpb.Struct) (resource.PropertyMap, resource.PropertyMap,
	resource.PropertyMap, error) {
	o, err := plugin.UnmarshalProperties(olds, unmarshalOpts)
	if err != nil {
		return nil, nil, nil, err
	}
	oi := o
	if oldInputs != nil {
		if oi, err = plugin.UnmarshalProperties(oldInputs, unmarshalOpts); err != nil {
			return nil, nil, nil, err
		}
	}
	n, err := plugin.UnmarshalProperties(news, unmarshalOpts)
	if err != nil {
		return nil, nil, nil, err
	}
	return o, oi, n, nil
}

func (s *server) Diff(ctx context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	r, err := s.resourceFor(req.GetUrn(), req.GetType())
	if err != nil {
		return nil, err
	}
	olds, oldInputs, news, err := unmarshalChange(req.GetOlds(), req.GetOldInputs(), req.GetNews())
	if err != nil {
		return nil, err
	}
	for _, k := range req.GetIgnoreChanges() {
		// ignoreChanges is applied by the engine before Diff; top-level keys are dropped here too.
		if v, ok := oldInputs[resource.PropertyKey(k)]; ok {
			news[resource.PropertyKey(k)] = v
		}
	}
	return r.Diff(ctx, DiffRequest{URN: resource.URN(req.GetUrn()), ID: req.GetId(), OldState: olds,
		OldInputs: oldInputs, News: news})
}

func (s *server) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	r, err := s.resourceFor(req.GetUrn(), req.GetType())
	if err != nil {
		return nil, err
	}
	news, err := plugin.UnmarshalProperties(req.GetProperties(), unmarshalOpts)
	if err != nil {
		return nil, err
	}
	id, outs, err := r.Create(ctx, CreateRequest{URN: resource.URN(req.GetUrn()), News: news,
		Preview: req.GetPreview(), Log: s.logger(req.GetUrn())})
	if err != nil {
		return nil, err
	}
	st, err := plugin.MarshalProperties(outs, marshalOpts)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: st}, nil
}

func (s *server) Read(ctx context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	r, err := s.resourceFor(req.GetUrn(), req.GetType())
	if err != nil {
		return nil, err
	}
	state, err := plugin.UnmarshalProperties(req.GetProperties(), unmarshalOpts)
	if err != nil {
		return nil, err
	}
	inputs, err := plugin.UnmarshalProperties(req.GetInputs(), unmarshalOpts)
	if err != nil {
		return nil, err
	}
	newState, newInputs, err := r.Read(ctx, ReadRequest{URN: resource.URN(req.GetUrn()), ID: req.GetId(),
		State: state, Inputs: inputs})
	if err != nil {
		return nil, err
	}
	if newState == nil {
		// Gone: an empty ID tells the engine the resource no longer exists.
		return &pulumirpc.ReadResponse{}, nil
	}
	st, err := plugin.MarshalProperties(newState, marshalOpts)
	if err != nil {
		return nil, err
	}
	in, err := plugin.MarshalProperties(newInputs, marshalOpts)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: st, Inputs: in}, nil
}

func (s *server) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	r, err := s.resourceFor(req.GetUrn(), req.GetType())
	if err != nil {
		return nil, err
	}
	olds, oldInputs, news, err := unmarshalChange(req.GetOlds(), req.GetOldInputs(), req.GetNews())
	if err != nil {
		return nil, err
	}
	outs, err := r.Update(ctx, UpdateRequest{URN: resource.URN(req.GetUrn()), ID: req.GetId(), OldState: olds,
		OldInputs: oldInputs, News: news, Preview: req.GetPreview(), Log: s.logger(req.GetUrn())})
	if err != nil {
		return nil, err
	}
	st, err := plugin.MarshalProperties(outs, marshalOpts)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: st}, nil
}

func (s *server) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	r, err := s.resourceFor(req.GetUrn(), req.GetType())
	if err != nil {
		return nil, err
	}
	state, err := plugin.UnmarshalProperties(req.GetProperties(), unmarshalOpts)
	if err != nil {
		return nil, err
	}
	oldInputs, err := plugin.UnmarshalProperties(req.GetOldInputs(), unmarshalOpts)
	if err != nil {
		return nil, err
	}
	err = r.Delete(ctx, DeleteRequest{URN: resource.URN(req.GetUrn()), ID: req.GetId(), State: state,
		OldInputs: oldInputs, Log: s.logger(req.GetUrn())})
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (s *server) connectEngine(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.engine != nil || addr == "" {
		return
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		rpcutil.GrpcChannelOptions())
	if err != nil {
		fmt.Fprintf(os.Stderr, "connecting to the engine at %s: %v\n", addr, err)
		return
	}
	s.engine = pulumirpc.NewEngineClient(conn)
}

func (s *server) logger(urn string) *Logger {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &Logger{engine: s.engine, urn: urn}
}

// Logger sends messages about one resource to the engine.
type Logger struct {
	engine pulumirpc.EngineClient
	urn    string
}

// Status shows a passing message in the resource's row (it is not kept in the summary).
func (l *Logger) Status(ctx context.Context, msg string) {
	l.send(ctx, pulumirpc.LogSeverity_INFO, msg, true)
}

// Warn logs a warning against the resource.
func (l *Logger) Warn(ctx context.Context, msg string) {
	l.send(ctx, pulumirpc.LogSeverity_WARNING, msg, false)
}

func (l *Logger) send(ctx context.Context, sev pulumirpc.LogSeverity, msg string, ephemeral bool) {
	if l == nil || l.engine == nil {
		return
	}
	_, _ = l.engine.Log(ctx, &pulumirpc.LogRequest{Severity: sev, Message: msg, Urn: l.urn, Ephemeral: ephemeral})
}

// Main runs the provider as a plugin: `pulumi-resource-<name> [flags] [engine-address]`. It answers
// `--version` without starting.
func Main(p *Provider) {
	var engineAddr string
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--tracing" || a == "-tracing":
			i++ // its value
		case a == "--version" || a == "-version":
			fmt.Println(p.Version)
			return
		case a == "--engine-info":
			fmt.Printf("pulumi-resource-%s %s (engine-tier stand-in, not the upstream provider)\n", p.Name, p.Version)
			return
		case strings.HasPrefix(a, "-"):
			// --logtostderr, -v=N: logging flags the engine passes; ignored.
		default:
			engineAddr = a
		}
	}
	s := &server{p: p}
	if engineAddr != "" && !strings.Contains(engineAddr, "/") {
		s.connectEngine(engineAddr)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "listen: %v\n", err)
		os.Exit(1)
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(1<<30), grpc.MaxSendMsgSize(1<<30))
	pulumirpc.RegisterResourceProviderServer(srv, s)
	fmt.Printf("%d\n", lis.Addr().(*net.TCPAddr).Port)
	if err := srv.Serve(lis); err != nil {
		fmt.Fprintf(os.Stderr, "serve: %v\n", err)
		os.Exit(1)
	}
}
