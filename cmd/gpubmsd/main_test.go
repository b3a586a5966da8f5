package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/gpubms/gpubms/server/emulator"
	"github.com/gpubms/gpubms/server/upstream"
)

// TestBinaryServesREADME builds gpubmsd, starts it as the README says
// (--emulator, on free loopback ports), runs the README's "Try it" block
// verbatim but for the ports, checks what it printed, and stops the server
// with SIGTERM, which must exit 0.
func TestBinaryServesREADME(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	grpcurl := findTool(t, "grpcurl")
	srv := startBinary(t, buildBinary(t), nil)
	script := readmeBlock(t, "## Try it")
	script = strings.ReplaceAll(script, "localhost:9090", srv.grpc)
	script = strings.ReplaceAll(script, "localhost:8080", srv.http)
	script = "set -eu -o pipefail\n" + script + "\necho \"TASK=$TASK ID=$ID POWER=$POWER\"\n"

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(grpcurl)+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("README block failed: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{
		"gpubms.v1.GpuService.CreateGpuInstance", // grpcurl list, through reflection
		`"regionName": "中国大陆-呼和浩特-可用区B"`,         // grpcurl DescribeGpuRegions
		`"goods_id":"7685"`,                      // curl goods
		`"trade_amount":"`,                       // curl price
		`"osFamily": "Ubuntu"`,                   // grpcurl images
		`"status": "TASK_STATUS_SUCCEED"`,        // grpcurl WatchTask
		`{"result":{"event":{"task_id":"`,        // curl NDJSON watch
		`"status":"TASK_STATUS_SUCCEED"`,         // ... to the end
		`"total_count":2`,                        // curl list
		`"state":"running"`,                      // curl detail
		"data: {\"event\":",                      // SSE
		"amount",                                 // the violation names the field
		`"code":3`,                               // InvalidArgument
	} {
		if !strings.Contains(got, want) {
			t.Errorf("README output lacks %q\n%s", want, got)
		}
	}
	m := regexp.MustCompile(`TASK=(\S+) ID=(\S+) POWER=(\S+)`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("README block left TASK, ID or POWER empty:\n%s", got)
	}
	deleted := m[2]
	if strings.Contains(got, "Example-passw0rd") {
		t.Error("a reply echoed the instance password")
	}

	// Plain HTTP JSON from Go, too.
	resp, err := http.Get("http://" + srv.http + "/v1/gpus?name=train")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Records []struct {
			ResourceID string `json:"resource_id"`
			State      string `json:"state"`
		} `json:"records"`
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/gpus: status %d, %v", resp.StatusCode, err)
	}
	// The emulator deletes behind a task, as the provider does: the deleted
	// server is "deleting" or already gone; the other one still runs.
	running := 0
	for _, r := range list.Records {
		switch {
		case r.ResourceID == deleted && r.State != "deleting":
			t.Errorf("deleted server %s is %q, want deleting or gone", r.ResourceID, r.State)
		case r.ResourceID != deleted && r.State == "running":
			running++
		case r.ResourceID != deleted:
			t.Errorf("server %s is %q, want running", r.ResourceID, r.State)
		}
	}
	if running != 1 {
		t.Errorf("%d servers named train are running, want 1: %+v", running, list.Records)
	}

	code := srv.stop(t)
	if code != 0 {
		t.Errorf("exit status after SIGTERM = %d, want 0\n%s", code, srv.log())
	}
	logs := srv.log()
	if strings.Contains(logs, "Example-passw0rd") {
		t.Error("the log holds the instance password")
	}
	if !strings.Contains(logs, "EMULATOR") {
		t.Error("the log does not say loudly that the emulator is in use")
	}
	if !strings.Contains(logs, `"provider.requests"`) {
		t.Error("call logs lack provider.requests")
	}
}

type binary struct {
	cmd        *exec.Cmd
	grpc, http string
	mu         sync.Mutex
	buf        strings.Builder
	done       chan struct{}
}

func (b *binary) log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// buildBinary builds gpubmsd once for the test binary's run.
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gpubmsd-test")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "gpubmsd")
		if out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// command is bin --emulator on loopback port 0 with a JSON log, then
// args, with env added to the test's environment.
func command(bin string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, append([]string{"--emulator", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	cmd.Env = append(os.Environ(),
		"GPUBMS_EMULATOR_TASK_DELAY=300ms",
		"GPUBMS_WATCH_POLL_INTERVAL=100ms",
	)
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// startBinary runs command(bin, env, args...) and reads the addresses it
// serves from its log.
func startBinary(t *testing.T, bin string, env []string, args ...string) *binary {
	t.Helper()
	cmd := command(bin, env, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &binary{cmd: cmd, done: make(chan struct{})}
	ready := make(chan [2]string, 1)
	go func() {
		defer close(b.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			b.mu.Lock()
			b.buf.WriteString(line + "\n")
			b.mu.Unlock()
			var rec struct {
				Msg  string `json:"msg"`
				GRPC string `json:"grpc"`
				HTTP string `json:"http"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "gpubms serving" {
				ready <- [2]string{rec.GRPC, rec.HTTP}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	select {
	case addrs := <-ready:
		b.grpc, b.http = addrs[0], addrs[1]
	case <-b.done:
		t.Fatalf("gpubmsd exited before serving:\n%s", b.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("gpubmsd did not start serving within 30s:\n%s", b.log())
	}
	return b
}

// stop sends SIGTERM and returns the exit status.
func (b *binary) stop(t *testing.T) int {
	t.Helper()
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("gpubmsd did not exit within 30s of SIGTERM:\n%s", b.log())
	}
	err := b.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// readmeBlock returns the first ```sh block after heading in README.md.
func readmeBlock(t *testing.T, heading string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	i := strings.Index(s, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README has no %q section", heading)
	}
	s = s[i:]
	start := strings.Index(s, "```sh\n")
	if start < 0 {
		t.Fatalf("README section %q has no sh block", heading)
	}
	s = s[start+len("```sh\n"):]
	end := strings.Index(s, "\n```")
	if end < 0 {
		t.Fatalf("README section %q: sh block does not end", heading)
	}
	return s[:end]
}

// findTool finds a tool on PATH or in the repository's .tools/bin (where
// make tools installs it).
func findTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	p, err := filepath.Abs(filepath.Join("..", "..", ".tools", "bin", name))
	if err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("%s not found on PATH or in .tools/bin: run make tools (make test does)", name)
	return ""
}

// TestEmulatorSubcommand runs `gpubmsd emulator` alone and drives it as a
// direct client of the provider API would: signed with the credentials it
// was given. It refuses to start without credentials.
func TestEmulatorSubcommand(t *testing.T) {
	t.Setenv("GPUBMS_EMULATOR_ACCESS_KEY_ID", "")
	t.Setenv("GPUBMS_EMULATOR_ACCESS_KEY_SECRET", "")
	var stderr strings.Builder
	err := run(t.Context(), []string{"emulator", "--addr", "127.0.0.1:0"}, io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "GPUBMS_EMULATOR_ACCESS_KEY_ID") {
		t.Fatalf("without credentials: err = %v, want one naming GPUBMS_EMULATOR_ACCESS_KEY_ID", err)
	}

	t.Setenv("GPUBMS_EMULATOR_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("GPUBMS_EMULATOR_ACCESS_KEY_SECRET", "emulator-test-secret")
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"emulator", "--addr", "127.0.0.1:0"}, io.Discard, pw)
		_ = pw.Close()
		done <- err
	}()
	urlc := make(chan [2]string, 1)
	logc := make(chan string, 1)
	go func() {
		var all strings.Builder
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if m := regexp.MustCompile(` url=(\S+) vpc_url=(\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				urlc <- [2]string{m[1], m[2]}
			}
		}
		logc <- all.String()
	}()
	var base, vpcBase string
	select {
	case u := <-urlc:
		base, vpcBase = u[0], u[1]
	case err := <-done:
		t.Fatalf("emulator exited early: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("emulator did not report its URL within 30s")
	}

	good, err := upstream.New(base, "AKIDTEST", "emulator-test-secret", upstream.WithVPCBaseURL(vpcBase))
	if err != nil {
		t.Fatal(err)
	}
	regions, err := good.DescribeGpuRegions(t.Context(), &upstream.DescribeGpuRegionsRequest{})
	if err != nil || len(regions) == 0 {
		t.Fatalf("DescribeGpuRegions = %v, %v; want regions", regions, err)
	}
	vpcs, err := good.DescribeVPC(t.Context(), &upstream.DescribeVPCRequest{RegionCode: emulator.RegionCode(regions[0].RegionID)})
	if err != nil || len(vpcs.VPCList) == 0 {
		t.Fatalf("DescribeVPC at the logged vpc_url %s = %v, %v; want the region's VPC", vpcBase, vpcs, err)
	}
	bad, err := upstream.New(base, "AKIDTEST", "wrong-secret", upstream.WithRetry(1, time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.DescribeGpuRegions(t.Context(), &upstream.DescribeGpuRegionsRequest{}); upstream.Code(err) != upstream.CodeSignatureDoesNotMatch {
		t.Errorf("wrong secret: err = %v, want %s", err, upstream.CodeSignatureDoesNotMatch)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("emulator after cancel: %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("emulator did not stop within 30s of cancel")
	}
	if logs := <-logc; strings.Contains(logs, "emulator-test-secret") {
		t.Errorf("the emulator logged its secret:\n%s", logs)
	}
}

// TestVersion: --version prints the build and exits without serving.
func TestVersion(t *testing.T) {
	var stdout, stderr strings.Builder
	if err := run(t.Context(), []string{"--version"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if out := stdout.String(); !strings.HasPrefix(out, "gpubmsd ") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("--version printed %q, want gpubmsd, its version and %s", out, runtime.Version())
	}
	if stderr.Len() != 0 {
		t.Errorf("--version wrote to stderr: %q", stderr.String())
	}
}

// TestREADMEListsEveryFlag: the README's configuration table names every
// flag of gpubmsd.
func TestREADMEListsEveryFlag(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	if err := run(t.Context(), []string{"--help"}, &stdout, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	flags := regexp.MustCompile(`(?m)^\s+(--[a-z0-9-]+)`).FindAllStringSubmatch(stderr.String(), -1)
	if len(flags) < 20 {
		t.Fatalf("--help listed %d flags:\n%s", len(flags), stderr.String())
	}
	for _, f := range flags {
		if !strings.Contains(string(readme), "`"+f[1]+"`") {
			t.Errorf("README.md does not name %s", f[1])
		}
	}
}
