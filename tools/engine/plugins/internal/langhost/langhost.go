// Package langhost is the engine tier's own Pulumi language host for Python (the upstream
// pulumi-language-python module is not served by the Go module proxy). It implements what
// `pulumi preview/up/refresh/destroy` and Python policy packs need:
//
//   - Run: runs the program with runner.py under the project's Python (its `virtualenv` option,
//     else PULUMI_PYTHON_CMD or python3), config passed as PULUMI_CONFIG and
//     PULUMI_CONFIG_SECRET_KEYS like upstream.
//   - RunPlugin: runs a Python plugin directory (a policy pack: `python -u <dir>`) with its own
//     virtualenv, streaming its output (the first stdout line is its gRPC port).
//   - InstallDependencies: creates the virtualenv and pip-installs requirements.txt.
//   - GetRequiredPackages/Plugins, GetProgramDependencies, About, GetPluginInfo, Handshake.
package langhost

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

//go:embed runner.py
var runnerSource string

// Version is reported by GetPluginInfo: the CLI version this host is built with.
const Version = "3.274.1"

// reportedExitCode is runner.py's "already reported to the engine" exit code.
const reportedExitCode = 32

// Host implements pulumirpc.LanguageRuntimeServer.
type Host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	EngineAddress string
}

// ---------------------------------------------------------------------------------------------
// Finding the Python interpreter

type pyOptions struct {
	toolchain  string
	virtualenv string // absolute, or ""
}

func optionsOf(info *pulumirpc.ProgramInfo) pyOptions {
	var o pyOptions
	if info == nil || info.GetOptions() == nil {
		return o
	}
	m := info.GetOptions().AsMap()
	if s, ok := m["toolchain"].(string); ok {
		o.toolchain = s
	}
	if s, ok := m["virtualenv"].(string); ok && s != "" {
		o.virtualenv = s
		if !filepath.IsAbs(s) {
			o.virtualenv = filepath.Join(info.GetRootDirectory(), s)
		}
	}
	return o
}

func basePython() string {
	if cmd := os.Getenv("PULUMI_PYTHON_CMD"); cmd != "" {
		return cmd
	}
	return "python3"
}

func isVirtualenv(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "bin", "python"))
	return err == nil
}

// python returns the interpreter and the environment changes for the program's Python.
func (o pyOptions) python() (string, []string, error) {
	switch o.toolchain {
	case "", "pip":
	default:
		if o.virtualenv == "" {
			return "", nil, fmt.Errorf("the %q toolchain is not supported by this engine's Python language host; "+
				"use `toolchain: pip` with a `virtualenv`", o.toolchain)
		}
	}
	if o.virtualenv == "" {
		return basePython(), nil, nil
	}
	if !isVirtualenv(o.virtualenv) {
		return "", nil, fmt.Errorf("the 'virtualenv' option in Pulumi.yaml is set to %q, but it is not a virtual "+
			"environment (no bin/python); run `pulumi install`", o.virtualenv)
	}
	env := []string{
		"VIRTUAL_ENV=" + o.virtualenv,
		"PATH=" + filepath.Join(o.virtualenv, "bin") + string(os.PathListSeparator) + os.Getenv("PATH"),
	}
	return filepath.Join(o.virtualenv, "bin", "python"), env, nil
}

// mergeEnv returns base with the KEY=value entries of extra replacing same-named ones.
func mergeEnv(base, extra []string) []string {
	keys := map[string]bool{}
	for _, kv := range extra {
		k, _, _ := strings.Cut(kv, "=")
		keys[k] = true
	}
	out := make([]string, 0, len(base)+len(extra))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !keys[k] && k != "PYTHONHOME" {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// ---------------------------------------------------------------------------------------------
// Plugin surface

func (h *Host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	// Marked as ours with semver build metadata, which does not change the version's precedence.
	return &pulumirpc.PluginInfo{Version: Version + "+engine.standin"}, nil
}

func (h *Host) Handshake(_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	if req.GetEngineAddress() != "" {
		h.EngineAddress = req.GetEngineAddress()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

// ---------------------------------------------------------------------------------------------
// Run

func (h *Host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	if info == nil {
		return nil, errors.New("the engine sent no program info")
	}
	opts := optionsOf(info)
	if opts.virtualenv != "" && !isVirtualenv(opts.virtualenv) {
		// Like upstream, a missing virtualenv is made (and the requirements installed) on first use.
		fmt.Fprintf(os.Stderr, "Creating the virtual environment %s and installing requirements.txt\n", opts.virtualenv)
		if err := installDependencies(ctx, info, os.Stderr, os.Stderr); err != nil {
			return &pulumirpc.RunResponse{Error: err.Error()}, nil
		}
	}
	python, venvEnv, err := opts.python()
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	program := info.GetProgramDirectory()
	if ep := info.GetEntryPoint(); ep != "" && ep != "." {
		program = filepath.Join(program, ep)
	}
	config, err := json.Marshal(nonNilMap(req.GetConfig()))
	if err != nil {
		return nil, err
	}
	secretKeys, err := json.Marshal(nonNilSlice(req.GetConfigSecretKeys()))
	if err != nil {
		return nil, err
	}

	engine := h.EngineAddress
	args := []string{"-u", "-c", runnerSource,
		"--monitor", req.GetMonitorAddress(),
		"--engine", engine,
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--program-directory", info.GetProgramDirectory(),
		"--parallel", fmt.Sprint(req.GetParallel()),
	}
	if req.GetOrganization() != "" {
		args = append(args, "--organization", req.GetOrganization())
	}
	if info.GetRootDirectory() != "" {
		args = append(args, "--root-directory", info.GetRootDirectory())
	}
	if req.GetPwd() != "" {
		args = append(args, "--pwd", req.GetPwd())
	}
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	args = append(args, "--", program)
	args = append(args, req.GetArgs()...)

	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Dir = req.GetPwd()
	cmd.Env = mergeEnv(os.Environ(), append(venvEnv,
		"PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys),
		"PYTHONUNBUFFERED=1",
	))
	// The program's output goes to ours, which the CLI shows.
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			if exit.ExitCode() == reportedExitCode {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exit.ExitCode())}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("running %s: %v", python, err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func nonNilSlice(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ---------------------------------------------------------------------------------------------
// RunPlugin: policy packs (and other plugins) written in Python

func (h *Host) RunPlugin(req *pulumirpc.RunPluginRequest, stream grpc.ServerStreamingServer[pulumirpc.RunPluginResponse]) error {
	info := req.GetInfo()
	if info == nil {
		return errors.New("the engine sent no plugin info")
	}
	ctx := stream.Context()
	var mu sync.Mutex
	send := func(r *pulumirpc.RunPluginResponse) error {
		mu.Lock()
		defer mu.Unlock()
		return stream.Send(r)
	}
	toStderr := writerFunc(func(b []byte) (int, error) {
		err := send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: append([]byte(nil), b...)}})
		return len(b), err
	})
	opts := optionsOf(info)
	if opts.virtualenv != "" && !isVirtualenv(opts.virtualenv) {
		// As for programs: make the plugin's virtualenv on first use. Its output goes to stderr,
		// since the plugin's stdout must start with its port.
		fmt.Fprintf(toStderr, "Creating the virtual environment %s and installing requirements.txt\n", opts.virtualenv)
		if err := installDependencies(ctx, info, toStderr, toStderr); err != nil {
			return err
		}
	}
	python, venvEnv, err := opts.python()
	if err != nil {
		return err
	}
	dir := info.GetProgramDirectory()
	if ep := info.GetEntryPoint(); ep != "" && ep != "." {
		dir = filepath.Join(dir, ep)
	}
	cmd := exec.CommandContext(ctx, python, append([]string{"-u", dir}, req.GetArgs()...)...)
	cmd.Dir = req.GetPwd()
	base := req.GetEnv()
	if len(base) == 0 {
		base = os.Environ()
	}
	cmd.Env = mergeEnv(base, append(venvEnv, "PYTHONUNBUFFERED=1"))

	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s %s: %w", python, dir, err)
	}
	var wg sync.WaitGroup
	pump := func(r io.Reader, wrap func([]byte) *pulumirpc.RunPluginResponse) {
		defer wg.Done()
		buf := make([]byte, 32*1024)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				_ = send(wrap(append([]byte(nil), buf[:n]...)))
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go pump(stdout, func(b []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: b}}
	})
	go pump(stderr, func(b []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: b}}
	})
	wg.Wait()
	code := 0
	if err := cmd.Wait(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return err
		}
		code = exit.ExitCode()
	}
	return send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(code)}})
}

// ---------------------------------------------------------------------------------------------
// Dependencies

// installDependencies makes the virtualenv named by the options (if missing) and installs
// requirements.txt from the program's root into it.
func installDependencies(ctx context.Context, info *pulumirpc.ProgramInfo, stdout, stderr io.Writer) error {
	opts := optionsOf(info)
	if opts.virtualenv == "" {
		fmt.Fprintln(stdout, "No 'virtualenv' runtime option: nothing to install (dependencies come from the ambient Python).")
		return nil
	}
	run := func(name string, args ...string) error {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = info.GetRootDirectory()
		cmd.Stdout, cmd.Stderr = stdout, stderr
		cmd.Env = mergeEnv(os.Environ(), []string{"PIP_DISABLE_PIP_VERSION_CHECK=1"})
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
		}
		return nil
	}
	if !isVirtualenv(opts.virtualenv) {
		if err := run(basePython(), "-m", "venv", opts.virtualenv); err != nil {
			return err
		}
	}
	python := filepath.Join(opts.virtualenv, "bin", "python")
	for _, dir := range []string{info.GetProgramDirectory(), info.GetRootDirectory()} {
		req := filepath.Join(dir, "requirements.txt")
		if _, err := os.Stat(req); err == nil {
			return run(python, "-m", "pip", "install", "-r", req)
		}
	}
	fmt.Fprintln(stdout, "No requirements.txt: nothing to install.")
	return nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

type streamWriter struct {
	mu     *sync.Mutex
	stream grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse]
	stderr bool
}

func (w streamWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := &pulumirpc.InstallDependenciesResponse{}
	if w.stderr {
		r.Stderr = append([]byte(nil), b...)
	} else {
		r.Stdout = append([]byte(nil), b...)
	}
	if err := w.stream.Send(r); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (h *Host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	stream grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	info := req.GetInfo()
	if info == nil {
		info = &pulumirpc.ProgramInfo{RootDirectory: req.GetDirectory(), ProgramDirectory: req.GetDirectory()}
	}
	var mu sync.Mutex
	return installDependencies(stream.Context(), info,
		streamWriter{&mu, stream, false}, streamWriter{&mu, stream, true})
}

// pythonJSON runs a snippet under the program's Python and decodes its JSON output. It returns
// (nil, nil) when there is no usable Python environment yet.
func pythonJSON(ctx context.Context, info *pulumirpc.ProgramInfo, snippet string, out any) error {
	python, venvEnv, err := optionsOf(info).python()
	if err != nil {
		return nil //nolint:nilerr // no environment yet: nothing is installed
	}
	cmd := exec.CommandContext(ctx, python, "-c", snippet)
	cmd.Env = mergeEnv(os.Environ(), venvEnv)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("inspecting the Python environment with %s: %w: %s", python, err, stderr.String())
	}
	return json.Unmarshal(b, out)
}

const packagesSnippet = `
import json, importlib.metadata as md
out = []
for d in md.distributions():
    for f in d.files or []:
        if f.name != "pulumi-plugin.json":
            continue
        try:
            j = json.loads(f.read_text())
        except Exception:
            continue
        if not j.get("resource"):
            continue
        dist = (d.metadata["Name"] or "").lower().replace("_", "-")
        name = j.get("name") or (dist[len("pulumi-"):] if dist.startswith("pulumi-") else dist)
        out.append({"name": name, "version": j.get("version") or d.version, "server": j.get("server") or ""})
print(json.dumps(out))
`

type pyPackage struct {
	Name, Version, Server string
}

// requiredPackages lists the resource plugins that the installed Python packages declare
// (pulumi-plugin.json), keeping only those whose plugin binary is on PATH: this machine cannot
// download plugins, and a provider the program does not use must not stop the deployment. A
// provider the program does use but that is missing fails when its resource is registered.
func requiredPackages(ctx context.Context, info *pulumirpc.ProgramInfo) ([]*pulumirpc.PackageDependency, error) {
	var pkgs []pyPackage
	if err := pythonJSON(ctx, info, packagesSnippet, &pkgs); err != nil {
		return nil, err
	}
	var out []*pulumirpc.PackageDependency
	seen := map[string]bool{}
	for _, p := range pkgs {
		if seen[p.Name] {
			continue
		}
		seen[p.Name] = true
		if _, err := exec.LookPath("pulumi-resource-" + p.Name); err != nil {
			continue
		}
		out = append(out, &pulumirpc.PackageDependency{Name: p.Name, Kind: "resource", Version: p.Version,
			Server: p.Server})
	}
	return out, nil
}

func (h *Host) GetRequiredPackages(ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	pkgs, err := requiredPackages(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: pkgs}, nil
}

func (h *Host) GetRequiredPlugins(ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	pkgs, err := requiredPackages(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	var out []*pulumirpc.PluginDependency
	for _, p := range pkgs {
		out = append(out, &pulumirpc.PluginDependency{Name: p.Name, Kind: p.Kind, Version: p.Version, Server: p.Server})
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: out}, nil
}

const depsSnippet = `
import json, importlib.metadata as md
print(json.dumps(sorted(({"name": d.metadata["Name"], "version": d.version} for d in md.distributions()),
                        key=lambda x: (x["name"] or "").lower())))
`

func (h *Host) GetProgramDependencies(ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	var deps []struct{ Name, Version string }
	if err := pythonJSON(ctx, req.GetInfo(), depsSnippet, &deps); err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	for _, d := range deps {
		resp.Dependencies = append(resp.Dependencies, &pulumirpc.DependencyInfo{Name: d.Name, Version: d.Version})
	}
	return resp, nil
}

func (h *Host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	python, venvEnv, err := optionsOf(req.GetInfo()).python()
	if err != nil {
		python, venvEnv = basePython(), nil
	}
	cmd := exec.CommandContext(ctx, python, "-c", "import sys; print(sys.executable); print(sys.version.split()[0])")
	cmd.Env = mergeEnv(os.Environ(), venvEnv)
	b, err := cmd.Output()
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "running %s: %v", python, err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	resp := &pulumirpc.AboutResponse{Executable: lines[0]}
	if len(lines) > 1 {
		resp.Version = lines[1]
	}
	return resp, nil
}

func (h *Host) RuntimeOptionsPrompts(context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}
