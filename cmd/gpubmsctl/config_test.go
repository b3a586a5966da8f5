package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// configEnv is an environment whose config file lives in a fresh
// XDG_CONFIG_HOME, with a home of its own.
func configEnv(t *testing.T) (env map[string]string, path string) {
	t.Helper()
	dir := t.TempDir()
	env = map[string]string{"XDG_CONFIG_HOME": filepath.Join(dir, "xdg"), "HOME": filepath.Join(dir, "home")}
	return env, filepath.Join(dir, "xdg", "gpubms", "config.yaml")
}

// writeToken writes a token file readable by its owner only.
func writeToken(t *testing.T, token string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustRun(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	res := runCLI(t, env, "", args...)
	if res.code != exitOK {
		t.Fatalf("%v: exit %d; stderr:\n%s", args, res.code, res.stderr)
	}
	return res
}

func TestContexts(t *testing.T) {
	t.Parallel()
	const tokenA, tokenB = "tok-ctx-a-91", "tok-ctx-b-27"
	recA, recB := &recorder{}, &recorder{}
	addrA, addrB := serve(t, recA), serve(t, recB)
	env, path := configEnv(t)
	fileA, fileB := writeToken(t, tokenA), writeToken(t, tokenB)

	res := mustRun(t, env, "config", "set-context", "alpha", "--addr", addrA, "--token-file", fileA, "--current")
	if !strings.Contains(res.stdout, `Context "alpha" created`) || !strings.Contains(res.stdout, `Switched to context "alpha"`) {
		t.Errorf("set-context: got %q", res.stdout)
	}
	mustRun(t, env, "config", "set-context", "beta", "--addr", addrB, "--token-file", fileB)

	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the config file is not at $XDG_CONFIG_HOME/gpubms/config.yaml: %v", err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("config file mode: got %04o, want 0600", perm)
	}
	if dst, err := os.Stat(filepath.Dir(path)); err != nil || dst.Mode().Perm() != 0o700 {
		t.Errorf("config directory: %v, mode %04o, want 0700", err, dst.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), tokenA) || strings.Contains(string(raw), tokenB) {
		t.Errorf("the config file holds a token:\n%s", raw)
	}
	if !strings.Contains(string(raw), "token-file: "+fileA) {
		t.Errorf("the config file lacks the token file's path:\n%s", raw)
	}

	// The current context: its address and its token.
	mustRun(t, env, "regions")
	// --context picks another; GPUBMS_CONTEXT too.
	mustRun(t, env, "--context", "beta", "regions")
	envCtx := map[string]string{"GPUBMS_CONTEXT": "beta"}
	for k, v := range env {
		envCtx[k] = v
	}
	mustRun(t, envCtx, "regions")
	if diff := cmp.Diff([]string{"Bearer " + tokenA}, recA.tokens()); diff != "" {
		t.Errorf("server A (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Bearer " + tokenB, "Bearer " + tokenB}, recB.tokens()); diff != "" {
		t.Errorf("server B (-want +got):\n%s", diff)
	}

	// Flags and the environment win over the context.
	envOver := map[string]string{"GPUBMS_ADDR": addrB, "GPUBMS_TOKEN": "tok-env-5"}
	for k, v := range env {
		envOver[k] = v
	}
	res = mustRun(t, envOver, "--context", "alpha", "regions")
	if !strings.Contains(res.stderr, `GPUBMS_ADDR overrides the addr of context "alpha"`) {
		t.Errorf("stderr: got %q, want a note that GPUBMS_ADDR overrides the context", res.stderr)
	}
	mustRun(t, envOver, "--addr", addrA, "--token", "tok-flag-6", "regions")
	if got := recB.tokens(); len(got) != 3 || got[2] != "Bearer tok-env-5" {
		t.Errorf("server B: got %v, want the environment's token last", got)
	}
	if got := recA.tokens(); len(got) != 2 || got[1] != "Bearer tok-flag-6" {
		t.Errorf("server A: got %v, want the flag's token last", got)
	}

	// get-contexts, current-context, use-context, delete-context.
	res = mustRun(t, env, "config", "get-contexts")
	want := "" +
		"CURRENT  NAME   ADDR  TOKEN FILE  TLS\n" +
		"*        alpha  A     FA          auto\n" +
		"         beta   B     FB          auto\n"
	got := strings.NewReplacer(addrA, "A", addrB, "B", fileA, "FA", fileB, "FB").Replace(res.stdout)
	// The columns were aligned on the real values.
	if strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(want), " ") {
		t.Errorf("get-contexts: got\n%s\nwant\n%s", got, want)
	}
	res = mustRun(t, env, "-o", "json", "config", "get-contexts")
	var doc struct {
		File     string `json:"file"`
		Current  string `json:"current-context"`
		Contexts []struct {
			Name      string `json:"name"`
			Addr      string `json:"addr"`
			TokenFile string `json:"token-file"`
		} `json:"contexts"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil {
		t.Fatalf("get-contexts -o json: %v\n%s", err, res.stdout)
	}
	if doc.File != path || doc.Current != "alpha" || len(doc.Contexts) != 2 || doc.Contexts[1].Addr != addrB {
		t.Errorf("get-contexts -o json: got %+v", doc)
	}
	if res := mustRun(t, env, "config", "current-context"); res.stdout != "alpha\n" {
		t.Errorf("current-context: got %q, want alpha", res.stdout)
	}
	if res := mustRun(t, env, "config", "use-context", "beta"); res.stdout != "Switched to context \"beta\".\n" {
		t.Errorf("use-context: got %q", res.stdout)
	}
	if res := mustRun(t, env, "config", "current-context"); res.stdout != "beta\n" {
		t.Errorf("current-context after use-context: got %q, want beta", res.stdout)
	}
	mustRun(t, env, "config", "delete-context", "beta")
	if res := runCLI(t, env, "", "config", "current-context"); res.code != exitFailure || !strings.Contains(res.stderr, "no current context") {
		t.Errorf("current-context after deleting it: exit %d, %q", res.code, res.stderr)
	}

	// No output, file or message ever shows a token.
	for _, args := range [][]string{{"config", "get-contexts"}, {"-o", "yaml", "config", "get-contexts"}, {"--context", "alpha", "version"}} {
		res := runCLI(t, env, "", args...)
		if strings.Contains(res.stdout+res.stderr, tokenA) {
			t.Errorf("%v shows the token:\n%s%s", args, res.stdout, res.stderr)
		}
	}
}

func TestContextErrors(t *testing.T) {
	t.Parallel()
	env, path := configEnv(t)
	mustRun(t, env, "config", "set-context", "prod", "--addr", "127.0.0.1:1")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"unknown --context", []string{"--context", "prdo", "regions"}, exitUsage, `--context "prdo": no such context in config file ` + path + `; did you mean "prod"?`},
		{"use-context of an unknown one", []string{"config", "use-context", "nope"}, exitFailure, `no context "nope"`},
		{"set-context with a token", []string{"--token", "secret-77", "config", "set-context", "prod"}, exitUsage, "stores no token"},
		{"set-context with half a certificate", []string{"config", "set-context", "x", "--cert", "c.pem"}, exitUsage, "--cert and --key go together"},
		{"set-context insecure with TLS", []string{"config", "set-context", "x", "--insecure", "--cacert", "ca.pem"}, exitUsage, "--insecure conflicts"},
		{"bad context name", []string{"config", "set-context", "a b"}, exitUsage, "context name"},
		{"config without a subcommand", []string{"config"}, exitUsage, "config needs a subcommand"},
	}
	for _, tt := range tests {
		res := runCLI(t, env, "", tt.args...)
		if res.code != tt.wantCode || !strings.Contains(res.stderr, tt.wantErr) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", tt.name, res.code, res.stderr, tt.wantCode, tt.wantErr)
		}
		if strings.Contains(res.stdout+res.stderr, "secret-77") {
			t.Errorf("%s: the token was printed", tt.name)
		}
	}

	// A broken file is a failure (1) of the commands that connect, and
	// leaves the others alone.
	if err := os.WriteFile(path, []byte("contexts: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if res := runCLI(t, env, "", "regions"); res.code != exitFailure || !strings.Contains(res.stderr, "config file "+path) {
		t.Errorf("broken config file: exit %d, %q", res.code, res.stderr)
	}
	if res := runCLI(t, env, "", "completion", "bash"); res.code != exitOK {
		t.Errorf("completion with a broken config file: exit %d, %q", res.code, res.stderr)
	}
	// A token in the file is refused, and not echoed.
	if err := os.WriteFile(path, []byte("contexts:\n  - name: x\n    token: secret-77\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if res := runCLI(t, env, "", "regions"); res.code != exitFailure || !strings.Contains(res.stderr, "holds no token, only token-file") ||
		strings.Contains(res.stderr, "secret-77") {
		t.Errorf("a token in the config file: exit %d, %q", res.code, res.stderr)
	}
	// --context "" uses none, whatever the file says.
	if err := os.WriteFile(path, []byte("current-context: gone\ncontexts: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if res := runCLI(t, env, "", "--timeout", "1s", "regions"); res.code != exitFailure || !strings.Contains(res.stderr, `current-context "gone"`) {
		t.Errorf("a current-context that is not there: exit %d, %q", res.code, res.stderr)
	}
	addr := serve(t, &recorder{})
	if res := runCLI(t, env, "", "--context", "", "--addr", addr, "regions"); res.code != exitOK {
		t.Errorf("--context \"\": exit %d, %q", res.code, res.stderr)
	}
}

// TestConfigPath: GPUBMS_CONFIG, else XDG_CONFIG_HOME, else ~/.config.
func TestConfigPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"GPUBMS_CONFIG": "/etc/g.yaml", "XDG_CONFIG_HOME": "/x", "HOME": "/h"}, "/etc/g.yaml"},
		{map[string]string{"XDG_CONFIG_HOME": "/x", "HOME": "/h"}, "/x/gpubms/config.yaml"},
		{map[string]string{"XDG_CONFIG_HOME": "relative", "HOME": "/h"}, "/h/.config/gpubms/config.yaml"},
		{map[string]string{"HOME": "/h"}, "/h/.config/gpubms/config.yaml"},
		{map[string]string{}, ""},
	}
	for _, tt := range tests {
		if got := configPath(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("configPath(%v): got %q, want %q", tt.env, got, tt.want)
		}
	}

	// GPUBMS_CONFIG is read and written.
	p := filepath.Join(t.TempDir(), "elsewhere.yaml")
	env := map[string]string{"GPUBMS_CONFIG": p}
	mustRun(t, env, "config", "set-context", "x", "--addr", "127.0.0.1:1")
	if _, err := os.Stat(p); err != nil {
		t.Errorf("GPUBMS_CONFIG not written: %v", err)
	}
}

// TestContextTLS: a context's CA file, client certificate and server name,
// with paths relative to the config file; a flag that means TLS outranks a
// context's insecure.
func TestContextTLS(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	rec := &recorder{}
	addr := serve(t, rec, grpc.Creds(credentials.NewTLS(p.server)))
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	// The CA by a path relative to the config file.
	if err := os.Link(p.ca, filepath.Join(dir, "ca.pem")); err != nil {
		t.Fatal(err)
	}
	cfg := "current-context: tls\ncontexts:\n" +
		"  - name: tls\n    addr: " + addr + "\n    cacert: ca.pem\n    cert: " + p.cert + "\n    key: " + p.key + "\n    server-name: gpubms.test\n" +
		"  - name: plain\n    addr: " + addr + "\n    insecure: true\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GPUBMS_CONFIG": path}
	mustRun(t, env, "--timeout", "10s", "regions")
	mustRun(t, env, "--timeout", "10s", "--context", "plain", "--cacert", p.ca, "--cert", p.cert, "--key", p.key, "regions")
	if diff := cmp.Diff([]string{clientCN, clientCN}, rec.clientCerts()); diff != "" {
		t.Errorf("client certificates (-want +got):\n%s", diff)
	}
	res := runCLI(t, env, "", "--timeout", "10s", "--context", "plain", "regions")
	if res.code != exitFailure || !strings.Contains(res.stderr, "Unavailable") {
		t.Errorf("plaintext to a TLS server: exit %d, %q", res.code, res.stderr)
	}
	res = mustRun(t, env, "config", "get-contexts")
	if !strings.Contains(res.stdout, "tls: ca ca.pem, client cert, name gpubms.test") || !strings.Contains(res.stdout, "plaintext") {
		t.Errorf("get-contexts: got\n%s", res.stdout)
	}
}
