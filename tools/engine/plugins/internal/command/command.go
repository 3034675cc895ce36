// Package command is the engine tier's stand-in for pulumi-command 1.2.1's `command:local:Command`
// and `command:remote:Command`. It follows the real provider's contract:
//
//   - create runs on creation; on an update `update` runs (or `create` again when there is no
//     `update`); `delete` runs on deletion. Changes to `triggers` replace the resource; other
//     input changes update it. Nothing runs on refresh.
//   - The command runs under `interpreter` (default /bin/sh -c) in `dir`, with the provider's
//     environment plus `environment`, `stdin` on its standard input, and (unless
//     addPreviousOutputInEnv is false) PULUMI_COMMAND_STDOUT/PULUMI_COMMAND_STDERR holding the
//     previous run's outputs.
//   - stdout and stderr are outputs, trailing newline removed, and are secret when the command
//     (create/update), its stdin or its environment holds a secret.
//   - `logging` picks which streams are shown while the command runs (none when the outputs
//     are secret).
//   - Remote commands run through the system `ssh` client with the connection's user, port and
//     private key (or password, or agent), checking the host key when `hostKey` is given. A
//     connection that fails before the command starts is dialled again, up to
//     `connection.dialErrorLimit` times (default 10).
//
// assetPaths and archivePaths are not implemented (Check rejects them).
package command

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	p "openwhisk-pulumi/tools/engine/plugins/internal/provider"
)

// Provider returns the command provider.
func Provider() *p.Provider {
	return &p.Provider{
		Name:    "command",
		Version: "1.2.1",
		Resources: map[string]p.Resource{
			"command:local:Command":  command{},
			"command:remote:Command": command{remote: true},
		},
	}
}

type command struct{ remote bool }

// secretKeys are the inputs whose secrets make stdout and stderr secret.
var secretKeys = []string{"create", "update", "stdin", "environment"}

func (c command) Check(_ context.Context, req p.CheckRequest) (resource.PropertyMap, []*pulumirpc.CheckFailure, error) {
	in := req.News
	var failures []*pulumirpc.CheckFailure
	for _, k := range []string{"assetPaths", "archivePaths"} {
		if p.Has(in, k) {
			failures = append(failures, p.Failure(k, "%s is not supported by the engine-tier command provider", k))
		}
	}
	if l, ok := p.Str(in, "logging"); ok && l != "stdout" && l != "stderr" && l != "stdoutAndStderr" && l != "none" {
		failures = append(failures, p.Failure("logging",
			"logging must be one of stdout, stderr, stdoutAndStderr, none, got %q", l))
	}
	if c.remote {
		conn, ok := in["connection"]
		if !ok || conn.IsNull() {
			failures = append(failures, p.Failure("connection", "Missing required argument: connection"))
		} else if !conn.ContainsUnknowns() && !p.Has(p.Plain(conn).ObjectValue(), "host") {
			failures = append(failures, p.Failure("connection.host", "Missing required argument: connection.host"))
		}
	}
	return in, failures, nil
}

func (c command) Diff(_ context.Context, req p.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return p.DiffInputs(req.OldInputs, req.News, func(k string) bool { return k == "triggers" }), nil
}

func (c command) Read(_ context.Context, req p.ReadRequest) (resource.PropertyMap, resource.PropertyMap, error) {
	return req.State, req.Inputs, nil
}

func (c command) Create(ctx context.Context, req p.CreateRequest) (string, resource.PropertyMap, error) {
	out := p.Copy(req.News)
	secret := p.AnySecret(req.News, secretKeys...)
	if req.Preview {
		out["stdout"] = p.SecretIf(secret, p.Unknown())
		out["stderr"] = p.SecretIf(secret, p.Unknown())
		return "", out, nil
	}
	id, err := newID(req.URN)
	if err != nil {
		return "", nil, err
	}
	stdout, stderr, err := c.run(ctx, req.Log, "create", req.News, nil)
	if err != nil {
		return "", nil, err
	}
	out["stdout"] = p.SecretIf(secret, resource.NewStringProperty(stdout))
	out["stderr"] = p.SecretIf(secret, resource.NewStringProperty(stderr))
	return id, out, nil
}

func (c command) Update(ctx context.Context, req p.UpdateRequest) (resource.PropertyMap, error) {
	out := p.Copy(req.News)
	secret := p.AnySecret(req.News, secretKeys...)
	if req.Preview {
		out["stdout"] = p.SecretIf(secret, p.Unknown())
		out["stderr"] = p.SecretIf(secret, p.Unknown())
		return out, nil
	}
	which := "update"
	if !p.Has(req.News, "update") {
		which = "create"
	}
	stdout, stderr, err := c.run(ctx, req.Log, which, req.News, req.OldState)
	if err != nil {
		return nil, err
	}
	out["stdout"] = p.SecretIf(secret, resource.NewStringProperty(stdout))
	out["stderr"] = p.SecretIf(secret, resource.NewStringProperty(stderr))
	return out, nil
}

func (c command) Delete(ctx context.Context, req p.DeleteRequest) error {
	_, _, err := c.run(ctx, req.Log, "delete", req.State, req.State)
	return err
}

func newID(urn resource.URN) (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return urn.Name() + hex.EncodeToString(b[:]), nil
}

// dialFailure matches what the system ssh client prints when the connection fails before the
// command starts (a refused or reset connection, or sshd's MaxStartups dropping it during the
// key exchange): the real provider's dial errors, which it retries.
var dialFailure = regexp.MustCompile(`kex_exchange_identification|Connection (refused|reset|closed|timed out)|` +
	`ssh_exchange_identification|No route to host`)

// run runs the command in the property `which` of in (nothing when it is empty). prev holds the
// previous outputs for PULUMI_COMMAND_STDOUT/STDERR. Like the real provider, a remote command
// whose connection fails is dialled again, up to connection.dialErrorLimit times (default 10),
// waiting a second longer after each failure.
func (c command) run(ctx context.Context, log *p.Logger, which string, in, prev resource.PropertyMap,
) (string, string, error) {
	attempts := 1
	if c.remote {
		attempts = int(p.Num(p.Obj(in, "connection"), "dialErrorLimit", 10))
		if attempts < 1 {
			attempts = 1000
		}
	}
	for attempt := 1; ; attempt++ {
		stdout, stderr, code, err := c.runOnce(ctx, log, which, in, prev)
		if err == nil || code != 255 || stdout != "" || !dialFailure.MatchString(stderr) || attempt >= attempts {
			return stdout, stderr, err
		}
		select {
		case <-ctx.Done():
			return stdout, stderr, err
		case <-time.After(time.Duration(attempt) * time.Second):
		}
	}
}

// runOnce runs the command once; code is its exit status (-1 when it did not exit).
func (c command) runOnce(ctx context.Context, log *p.Logger, which string, in, prev resource.PropertyMap,
) (string, string, int, error) {
	script, ok := p.Str(in, which)
	if !ok || script == "" {
		return "", "", 0, nil
	}
	env, envKeys := p.StrMap(in, "environment")
	var extra []string
	for _, k := range envKeys {
		extra = append(extra, k+"="+env[k])
	}
	if prev != nil && p.Bool(in, "addPreviousOutputInEnv", true) {
		so, _ := p.Str(prev, "stdout")
		se, _ := p.Str(prev, "stderr")
		extra = append(extra, "PULUMI_COMMAND_STDOUT="+so, "PULUMI_COMMAND_STDERR="+se)
	}

	var cmd *exec.Cmd
	var cleanup func()
	var err error
	if c.remote {
		cmd, cleanup, err = sshCommand(ctx, p.Obj(in, "connection"), script, extra, log)
		if err != nil {
			return "", "", -1, err
		}
		defer cleanup()
	} else {
		interp := p.StrList(in, "interpreter")
		if len(interp) == 0 {
			interp = []string{"/bin/sh", "-c"}
		}
		cmd = exec.CommandContext(ctx, interp[0], append(interp[1:], script)...)
		cmd.Env = append(os.Environ(), extra...)
		if dir, ok := p.Str(in, "dir"); ok && dir != "" {
			cmd.Dir = dir
		}
	}
	if stdin, ok := p.Str(in, "stdin"); ok {
		cmd.Stdin = strings.NewReader(stdin)
	}

	logging, _ := p.Str(in, "logging")
	if logging == "" {
		logging = "stdoutAndStderr"
	}
	if p.AnySecret(in, secretKeys...) {
		// The outputs are secret: do not show them while the command runs either.
		logging = "none"
	}
	var outBuf, errBuf bytes.Buffer
	var wg sync.WaitGroup
	stream := func(r io.Reader, buf *bytes.Buffer, show bool) {
		defer wg.Done()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
		for sc.Scan() {
			line := sc.Text()
			buf.WriteString(line)
			buf.WriteByte('\n')
			if show {
				log.Status(ctx, line)
			}
		}
		_, _ = io.Copy(buf, r)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return "", "", -1, err
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		return "", "", -1, err
	}
	if err := cmd.Start(); err != nil {
		return "", "", -1, fmt.Errorf("starting the %s command: %w", which, err)
	}
	wg.Add(2)
	go stream(outPipe, &outBuf, logging == "stdout" || logging == "stdoutAndStderr")
	go stream(errPipe, &errBuf, logging == "stderr" || logging == "stdoutAndStderr")
	wg.Wait()
	runErr := cmd.Wait()
	stdout := strings.TrimSuffix(outBuf.String(), "\n")
	stderr := strings.TrimSuffix(errBuf.String(), "\n")
	if runErr != nil {
		shown := fmt.Sprintf("%q", script)
		if p.AnySecret(in, which) {
			shown = "[secret]"
		}
		msg := fmt.Sprintf("%v: running %s", runErr, shown)
		if !p.AnySecret(in, secretKeys...) {
			msg += fmt.Sprintf(":\n%s\n%s", stdout, stderr)
		}
		return stdout, stderr, cmd.ProcessState.ExitCode(), errors.New(strings.TrimRight(msg, "\n"))
	}
	return stdout, stderr, 0, nil
}

// sshCommand builds the system ssh client's command line for a connection. The returned cleanup
// removes the temporary key, known_hosts and askpass files.
func sshCommand(ctx context.Context, conn resource.PropertyMap, script string, env []string, log *p.Logger,
) (*exec.Cmd, func(), error) {
	dir, err := os.MkdirTemp("", "pulumi-command-ssh-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	args, procEnv, err := sshArgs(conn, dir, "target")
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if strings.ContainsAny(v, "\n\r") {
			log.Warn(ctx, fmt.Sprintf("not passing %s to the remote command: multi-line values cannot be sent", k))
			continue
		}
		// Like the real provider (an SSH "env" request), this only works where the server's
		// AcceptEnv allows the variable.
		v = strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), `"`, `\"`)
		args = append(args, "-o", fmt.Sprintf(`SetEnv=%s="%s"`, k, v))
	}
	host, _ := p.Str(conn, "host")
	args = append(args, "--", host, script)
	cmd := exec.CommandContext(ctx, "ssh", args...)
	cmd.Env = append(os.Environ(), procEnv...)
	return cmd, cleanup, nil
}

// sshArgs returns the options (not the host) for one hop, writing its files into dir.
func sshArgs(conn resource.PropertyMap, dir, name string) ([]string, []string, error) {
	host, ok := p.Str(conn, "host")
	if !ok || host == "" {
		return nil, nil, errors.New("connection.host is required")
	}
	user, ok := p.Str(conn, "user")
	if !ok || user == "" {
		user = "root" // the real provider's default user
	}
	port := int(p.Num(conn, "port", 22))
	timeout := int(p.Num(conn, "perDialTimeout", 15))
	attempts := int(p.Num(conn, "dialErrorLimit", 10))
	if attempts < 1 {
		attempts = 1000
	}
	args := []string{"-F", "none", "-p", fmt.Sprint(port), "-l", user,
		"-o", "LogLevel=ERROR", "-o", fmt.Sprintf("ConnectionAttempts=%d", attempts)}
	if timeout > 0 {
		args = append(args, "-o", fmt.Sprintf("ConnectTimeout=%d", timeout))
	}
	var env []string

	if key, ok := p.Str(conn, "privateKey"); ok && key != "" {
		keyFile := filepath.Join(dir, name+".key")
		if !strings.HasSuffix(key, "\n") {
			key += "\n"
		}
		if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
			return nil, nil, err
		}
		args = append(args, "-i", keyFile, "-o", "IdentitiesOnly=yes")
	}
	if sock, ok := p.Str(conn, "agentSocketPath"); ok && sock != "" {
		env = append(env, "SSH_AUTH_SOCK="+sock)
	}
	password, hasPassword := p.Str(conn, "password")
	keyPassword, hasKeyPassword := p.Str(conn, "privateKeyPassword")
	if hasPassword || hasKeyPassword {
		// ssh reads passwords and key passphrases only from a terminal or SSH_ASKPASS.
		askpass := filepath.Join(dir, name+".askpass")
		script := "#!/bin/sh\ncase \"$1\" in\n*assphrase*) printf '%s\\n' \"$PULUMI_SSH_KEY_PASSWORD\" ;;\n" +
			"*) printf '%s\\n' \"$PULUMI_SSH_PASSWORD\" ;;\nesac\n"
		if err := os.WriteFile(askpass, []byte(script), 0o700); err != nil {
			return nil, nil, err
		}
		env = append(env, "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=none",
			"PULUMI_SSH_PASSWORD="+password, "PULUMI_SSH_KEY_PASSWORD="+keyPassword)
	} else {
		args = append(args, "-o", "BatchMode=yes")
	}

	if hostKey, ok := p.Str(conn, "hostKey"); ok && strings.TrimSpace(hostKey) != "" {
		known := filepath.Join(dir, name+".known_hosts")
		alias := "pulumi-" + name
		if err := os.WriteFile(known, []byte(alias+" "+strings.TrimSpace(hostKey)+"\n"), 0o600); err != nil {
			return nil, nil, err
		}
		args = append(args, "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+known,
			"-o", "GlobalKnownHostsFile=/dev/null", "-o", "HostKeyAlias="+alias)
	} else {
		// No host key given: like the real provider, accept whatever key the host presents.
		args = append(args, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
			"-o", "GlobalKnownHostsFile=/dev/null")
	}

	if proxy := p.Obj(conn, "proxy"); len(proxy) > 0 {
		pargs, penv, err := sshArgs(proxy, dir, name+"-proxy")
		if err != nil {
			return nil, nil, fmt.Errorf("connection.proxy: %w", err)
		}
		phost, _ := p.Str(proxy, "host")
		quoted := []string{"ssh"}
		for _, a := range append(pargs, "-W", "%h:%p", "--", phost) {
			quoted = append(quoted, shellQuote(a))
		}
		args = append(args, "-o", "ProxyCommand="+strings.Join(quoted, " "))
		env = append(env, penv...)
	}
	return args, env, nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
