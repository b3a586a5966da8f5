package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/app"
)

// TestLoadReport is `make bench`'s load run, not a test: with
// GPUBMS_LOAD_REPORT=FILE it builds gpubmsd, runs it against a stand-in
// provider, drives it with ghz (gRPC) and a Go loop (HTTP and the direct
// call) at 1 and 16 concurrent callers, opens 10,000 watch streams, and
// writes the figures, as ratios to the direct call and to the floor proxy,
// to FILE (Markdown). GPUBMS_BENCH_OUTPUT names the `go test -bench`
// output to append.
func TestLoadReport(t *testing.T) {
	out := os.Getenv("GPUBMS_LOAD_REPORT")
	if out == "" {
		t.Skip("the load run of make bench; set GPUBMS_LOAD_REPORT=FILE")
	}
	ghz := findGhz(t)
	dur := 5 * time.Second
	if d, err := time.ParseDuration(os.Getenv("GPUBMS_LOAD_DURATION")); err == nil {
		dur = d
	}
	bin := filepath.Join(t.TempDir(), "gpubmsd")
	if b, err := exec.Command("go", "build", "-o", bin, "../../../cmd/gpubmsd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}

	rounds := 3
	if n, err := strconv.Atoi(os.Getenv("GPUBMS_LOAD_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}

	// The stand-in provider and the floor proxy run in processes of their
	// own, as gpubmsd does, so that every path crosses the same process
	// boundaries. The paths take turns, round after round, and each figure
	// is the median of its rounds, so that a moment of noise on the machine
	// does not fall on one path only.
	var runs []loadRow
	for _, delay := range []time.Duration{0, 20 * time.Millisecond} {
		provider := "http://" + startHelper(t, "standin", "GPUBMS_BENCH_DELAY="+delay.String()) + "/gpubms/v1"
		var floorPid int
		srv := startLoadServer(t, bin, provider)
		direct := &directCall{base: provider, hc: benchHTTPClient()}
		auth := `{"authorization":"Bearer ` + benchToken + `"}`
		var floor string
		if delay == 0 {
			fl := runHelper(t, "floor", "GPUBMS_BENCH_PROVIDER="+provider)
			floor, floorPid = fl.addr, fl.pid
			sameReply(t, gpubmsv1.NewGpuServiceClient(dialLoad(t, floor)), gpubmsv1.NewGpuServiceClient(dialLoad(t, srv.grpc)),
				metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+benchToken))
		}
		for round := range rounds {
			for _, c := range []int{1, 16} {
				if delay == 0 {
					runs = append(runs,
						loopRun(t, "direct", "DescribeGpuDetail", delay, c, dur, 0, func(i int) error {
							return direct.detail(context.Background(), resourceIDs[i%len(resourceIDs)])
						}),
						loopRun(t, "floor", "DescribeGpuDetail", delay, c, dur, floorPid, grpcDetail(t, floor, "")),
						loopRun(t, "gpubms", "DescribeGpuDetail", delay, c, dur, srv.pid(), grpcDetail(t, srv.grpc, benchToken)),
						loopRun(t, "json", "DescribeGpuDetail", delay, c, dur, srv.pid(), jsonDetail(srv.http)),
					)
				}
				runs = append(runs,
					loopRun(t, "direct", "DescribeGpuRegions", delay, c, dur, 0, func(int) error { return direct.regions() }),
					loopRun(t, "gpubms (cached)", "DescribeGpuRegions", delay, c, dur, srv.pid(), grpcRegions(t, srv.grpc)),
					loopRun(t, "json (cached)", "DescribeGpuRegions", delay, c, dur, srv.pid(), jsonGet(srv.http, func(int) string { return "/v1/regions" })),
				)
				if delay == 0 {
					// A bare grpc-go server (default options) answering
					// from memory, beside gpubms's cached reads.
					runs = append(runs, loopRun(t, "floor (from memory)", "DescribeGpuRegions", delay, c, dur, floorPid, grpcRegions(t, floor)))
				}
				if round == 0 {
					if delay == 0 {
						runs = append(runs,
							ghzRun(t, ghz, "ghz: floor", floor, "", "DescribeGpuDetail", `{"resource_id":"gpu-{{.RequestNumber}}"}`, delay, c, dur),
							ghzRun(t, ghz, "ghz: gpubms", srv.grpc, auth, "DescribeGpuDetail", `{"resource_id":"gpu-{{.RequestNumber}}"}`, delay, c, dur),
						)
					}
					runs = append(runs, ghzRun(t, ghz, "ghz: gpubms (cached)", srv.grpc, auth, "DescribeGpuRegions", `{}`, delay, c, dur))
				}
			}
		}
		srv.stop(t)
	}
	rows := medians(runs)
	writeReport(t, out, rows, watchRuns(t, bin))
}

// medians folds the rounds of each (path, rpc, delay, c) into one row:
// the median p50, p99 and calls/s.
func medians(runs []loadRow) []loadRow {
	type key struct {
		path, rpc string
		delay     time.Duration
		c         int
	}
	var order []key
	groups := map[key][]loadRow{}
	for _, r := range runs {
		k := key{r.path, r.rpc, r.delay, r.c}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	med := func(rs []loadRow, f func(loadRow) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	out := make([]loadRow, 0, len(order))
	for _, k := range order {
		rs := groups[k]
		out = append(out, loadRow{path: k.path, rpc: k.rpc, delay: k.delay, c: k.c,
			p50:    time.Duration(med(rs, func(r loadRow) float64 { return float64(r.p50) })),
			p99:    time.Duration(med(rs, func(r loadRow) float64 { return float64(r.p99) })),
			rps:    med(rs, func(r loadRow) float64 { return r.rps }),
			cpu:    time.Duration(med(rs, func(r loadRow) float64 { return float64(r.cpu) })),
			rounds: len(rs),
		})
	}
	return out
}

func findGhz(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("ghz"); err == nil {
		return p
	}
	p, _ := filepath.Abs(filepath.Join("..", "..", "..", ".tools", "bin", "ghz"))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("ghz not found on PATH or in .tools/bin (make bench installs it)")
	}
	return p
}

// loadServer is a gpubmsd process.
type loadServer struct {
	cmd        *exec.Cmd
	grpc, http string
	done       chan struct{}
}

func startLoadServer(t *testing.T, bin, provider string, env ...string) *loadServer {
	t.Helper()
	cmd := exec.Command(bin, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-format", "json")
	cmd.Env = append(os.Environ(),
		"GPUBMS_ACCESS_KEY_ID="+emulatorKeyID, "GPUBMS_ACCESS_KEY_SECRET="+emulatorSecret,
		"GPUBMS_UPSTREAM_URL="+provider, "GPUBMS_AUTH_TOKEN="+benchToken,
		"GPUBMS_DATA_DIR="+t.TempDir(), "GPUBMS_MAX_WATCHES_PER_CALLER=20000",
	)
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &loadServer{cmd: cmd, done: make(chan struct{})}
	ready := make(chan [2]string, 1)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var rec struct{ Msg, GRPC, HTTP string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "gpubms serving" {
				ready <- [2]string{rec.GRPC, rec.HTTP}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	select {
	case a := <-ready:
		s.grpc, s.http = a[0], a[1]
	case <-time.After(30 * time.Second):
		t.Fatal("gpubmsd did not start")
	}
	return s
}

func (s *loadServer) pid() int { return s.cmd.Process.Pid }

func (s *loadServer) stop(t *testing.T) {
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Error("gpubmsd did not stop")
	}
}

// cpuTime is the CPU time (user and system) a process has used; 0 for pid
// 0 or when it cannot be read.
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := bytes.LastIndexByte(b, ')')
	if err != nil || i < 0 {
		return 0
	}
	// After the command: state, then 10 fields, then utime and stime in
	// clock ticks, which /proc gives at 100 a second.
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// rss is the resident set of a process, in MB.
func rss(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			var kb float64
			fmt.Sscan(f[1], &kb)
			return kb / 1024
		}
	}
	return 0
}

// TestBenchHelper is not a test: run by startHelper in a process of its
// own (GPUBMS_BENCH_ROLE set), it serves the stand-in provider or the floor
// proxy on a loopback port, prints the address, and serves until its stdin
// closes.
func TestBenchHelper(t *testing.T) {
	role := os.Getenv("GPUBMS_BENCH_ROLE")
	if role == "" {
		t.Skip("a helper process of TestLoadReport")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch role {
	case "standin":
		delay, _ := time.ParseDuration(os.Getenv("GPUBMS_BENCH_DELAY"))
		go http.Serve(ln, standInHandler(delay, nil))
	case "floor":
		fs := grpc.NewServer()
		d := &directCall{base: os.Getenv("GPUBMS_BENCH_PROVIDER"), hc: benchHTTPClient()}
		gpubmsv1.RegisterGpuServiceServer(fs, &floorServer{d: d, tasks: &floorTasks{d: d, interval: app.DefaultWatchPollInterval}})
		reflection.Register(fs)
		go fs.Serve(ln)
		// Its goroutine stacks and heap in use, as gpubmsd's /metrics says them.
		ml, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go http.Serve(ml, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			fmt.Fprintf(w, "go_memstats_stack_inuse_bytes %d\ngo_memstats_heap_inuse_bytes %d\n", m.StackInuse, m.HeapInuse)
		}))
		fmt.Println("ADDR", ln.Addr().String(), ml.Addr().String())
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	fmt.Println("ADDR", ln.Addr().String())
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// startHelper runs this test binary as a helper process in role and
// returns the address it serves.
func startHelper(t *testing.T, role string, env ...string) string {
	t.Helper()
	return runHelper(t, role, env...).addr
}

// helperProc is a helper process.
type helperProc struct {
	addr    string
	metrics string // the address of the floor's memory figures, which it serves as gpubmsd's /metrics does
	pid     int
	stop    func() // ends it and waits for it
}

// runHelper starts a helper process in role; it is stopped when the test
// ends, if not before.
func runHelper(t *testing.T, role string, env ...string) helperProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchHelper$")
	cmd.Env = append(append(os.Environ(), "GPUBMS_BENCH_ROLE="+role), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			stdin.Close()
			_ = cmd.Wait()
		})
	}
	t.Cleanup(stop)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if addrs, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			go io.Copy(io.Discard, stdout)
			addr, metrics, _ := strings.Cut(addrs, " ")
			return helperProc{addr: addr, metrics: metrics, pid: cmd.Process.Pid, stop: stop}
		}
	}
	t.Fatalf("helper %s gave no address", role)
	return helperProc{}
}

// loadRow is one run's figures.
type loadRow struct {
	path, rpc string
	delay     time.Duration
	c         int
	p50, p99  time.Duration
	rps       float64
	cpu       time.Duration // the server process's CPU time per call; 0: not measured
	rounds    int
}

func ghzRun(t *testing.T, ghz, path, addr, md, rpc, data string, delay time.Duration, c int, dur time.Duration) loadRow {
	t.Helper()
	args := []string{"--insecure", "--call", "gpubms.v1.GpuService/" + rpc, "-d", data,
		"-c", fmt.Sprint(c), "-z", dur.String(), "--connections", fmt.Sprint(min(c, 4)), "--format", "json"}
	if md != "" {
		args = append(args, "--metadata", md, "--reflect-metadata", md)
	}
	args = append(args, addr)
	b, err := exec.Command(ghz, args...).Output()
	if err != nil {
		t.Fatalf("ghz %v: %v\n%s", args, err, b)
	}
	var rep struct {
		RPS                 float64 `json:"rps"`
		LatencyDistribution []struct {
			Percentage int   `json:"percentage"`
			Latency    int64 `json:"latency"`
		} `json:"latencyDistribution"`
		StatusCodeDistribution map[string]int `json:"statusCodeDistribution"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("ghz output: %v", err)
	}
	for code, n := range rep.StatusCodeDistribution {
		// -z ends the calls in flight when the time is up (Canceled, or
		// Unavailable as their connections close): a few per caller, one
		// in flight and one starting as the time runs out.
		if code != "OK" && (n > 2*c || (code != "Canceled" && code != "Unavailable")) {
			t.Errorf("%s %s c=%d: %d calls ended %s", path, rpc, c, n, code)
		}
	}
	row := loadRow{path: path, rpc: rpc, delay: delay, c: c, rps: rep.RPS}
	for _, l := range rep.LatencyDistribution {
		switch l.Percentage {
		case 50:
			row.p50 = time.Duration(l.Latency)
		case 99:
			row.p99 = time.Duration(l.Latency)
		}
	}
	t.Logf("%-16s %-20s delay=%-5v c=%-2d p50=%-10v rps=%.0f", path, rpc, delay, c, row.p50, row.rps)
	return row
}

// loopRun calls call from c goroutines for dur, and measures its latency,
// calls/s and, when pid is not 0, the CPU time per call of that process
// (the server).
func loopRun(t *testing.T, path, rpc string, delay time.Duration, c int, dur time.Duration, pid int, call func(int) error) loadRow {
	t.Helper()
	cpu0 := cpuTime(pid)
	var mu sync.Mutex
	var lat []time.Duration
	var n atomic.Int64
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				i := int(n.Add(1))
				start := time.Now()
				if err := call(i); err != nil {
					t.Errorf("%s %s: %v", path, rpc, err)
					return
				}
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	row := loadRow{path: path, rpc: rpc, delay: delay, c: c, rps: float64(len(lat)) / dur.Seconds()}
	if len(lat) > 0 {
		row.p50, row.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
		if pid != 0 {
			row.cpu = (cpuTime(pid) - cpu0) / time.Duration(len(lat))
		}
	}
	t.Logf("%-16s %-20s delay=%-5v c=%-2d p50=%-10v rps=%-6.0f cpu/call=%v", path, rpc, delay, c, row.p50, row.rps, row.cpu)
	return row
}

func grpcDetail(t *testing.T, addr, token string) func(int) error {
	c := gpubmsv1.NewGpuServiceClient(dialLoad(t, addr))
	ctx := context.Background()
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	return func(i int) error {
		_, err := c.DescribeGpuDetail(ctx, &gpubmsv1.DescribeGpuDetailRequest{ResourceId: resourceIDs[i%len(resourceIDs)]})
		return err
	}
}

func grpcRegions(t *testing.T, addr string) func(int) error {
	c := gpubmsv1.NewGpuServiceClient(dialLoad(t, addr))
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+benchToken)
	return func(int) error {
		_, err := c.DescribeGpuRegions(ctx, &gpubmsv1.DescribeGpuRegionsRequest{})
		return err
	}
}

func jsonDetail(addr string) func(int) error {
	return jsonGet(addr, func(i int) string { return "/v1/gpus/" + resourceIDs[i%len(resourceIDs)] })
}

// jsonGet GETs path(i) from the JSON face at addr.
func jsonGet(addr string, path func(int) string) func(int) error {
	hc := benchHTTPClient()
	return func(i int) error {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path(i), nil)
		req.Header.Set("Authorization", "Bearer "+benchToken)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	}
}

// watchFigures are one watch run's, on one server.
type watchFigures struct {
	server         string // "floor" or "gpubms"
	streams, tasks int
	polls          float64 // provider task polls per poll interval, in steady state
	idleMB         float64 // RSS before the streams
	rssMB          float64 // RSS with every stream open
	stackMB        float64 // goroutine stacks in use
	heapMB         float64 // heap spans in use
}

// The watch runs: streams on loadTasks tasks that never end.
var loadStreams = []int{1000, 5000, 10000}

const loadTasks = 100

// watchRuns opens each count of WatchTask streams, on a fresh floor and
// then a fresh gpubmsd, and measures for each the provider polls per
// interval, the RSS before the streams and with every stream open, and
// from the server's metrics its goroutine stacks and heap.
func watchRuns(t *testing.T, bin string) []watchFigures {
	t.Helper()
	var polls atomic.Int64
	provider := standInTasks(t, &polls)
	var out []watchFigures
	for _, n := range loadStreams {
		fl := runHelper(t, "floor", "GPUBMS_BENCH_PROVIDER="+provider)
		out = append(out, watchLoad(t, "floor", n, fl.addr, "", fl.pid, fl.metrics, &polls))
		fl.stop()
		srv := startLoadServer(t, bin, provider)
		out = append(out, watchLoad(t, "gpubms", n, srv.grpc, benchToken, srv.cmd.Process.Pid, srv.http, &polls))
		srv.stop(t)
	}
	return out
}

// watchLoad opens n streams on the server at addr (process pid, metrics at
// metricsAddr) over 20 connections, waits for each's first event, measures
// over three intervals of the default 5 s, then closes them.
func watchLoad(t *testing.T, server string, n int, addr, token string, pid int, metricsAddr string, polls *atomic.Int64) watchFigures {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	f := watchFigures{server: server, streams: n, tasks: loadTasks, idleMB: rss(pid)}
	var conns []*grpc.ClientConn
	for range 20 {
		conns = append(conns, dialLoad(t, addr))
	}
	var wg sync.WaitGroup
	var opened atomic.Int64
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := gpubmsv1.NewGpuServiceClient(conns[i%len(conns)])
			s, err := c.WatchTask(ctx, &gpubmsv1.WatchTaskRequest{TaskId: fmt.Sprintf("task-%03d", i%loadTasks)})
			if err != nil {
				return
			}
			if _, err := s.Recv(); err == nil {
				opened.Add(1)
			}
			for {
				if _, err := s.Recv(); err != nil {
					return
				}
			}
		}()
	}
	for range 600 {
		if opened.Load() == int64(n) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if opened.Load() != int64(n) {
		t.Errorf("%s: %d of %d watch streams opened", server, opened.Load(), n)
	}
	before := polls.Load()
	time.Sleep(3 * app.DefaultWatchPollInterval)
	f.polls = float64(polls.Load()-before) / 3
	f.rssMB = rss(pid)
	f.stackMB, f.heapMB = goMemory(t, metricsAddr)
	cancel()
	wg.Wait()
	for _, c := range conns {
		c.Close()
	}
	t.Logf("%s: %d streams on %d tasks: %.0f polls per interval, RSS %.0f MB idle, %.0f MB (stacks %.0f MB, heap %.0f MB)",
		server, n, loadTasks, f.polls, f.idleMB, f.rssMB, f.stackMB, f.heapMB)
	return f
}

// goMemory reads the server's goroutine stacks and heap in use, in MB,
// from its metrics.
func goMemory(t *testing.T, httpAddr string) (stackMB, heapMB float64) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+httpAddr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+benchToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("metrics: %v", err)
		return 0, 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "go_memstats_stack_inuse_bytes":
			stackMB = v / (1 << 20)
		case "go_memstats_heap_inuse_bytes":
			heapMB = v / (1 << 20)
		}
	}
	if stackMB == 0 || heapMB == 0 {
		t.Errorf("metrics: no go_memstats_stack_inuse_bytes or go_memstats_heap_inuse_bytes (HTTP %d)", resp.StatusCode)
	}
	return stackMB, heapMB
}

func dialLoad(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecureCreds()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func writeReport(t *testing.T, path string, rows []loadRow, watches []watchFigures) {
	t.Helper()
	find := func(p, rpc string, delay time.Duration, c int) *loadRow {
		for i := range rows {
			if r := &rows[i]; r.path == p && r.rpc == rpc && r.delay == delay && r.c == c {
				return r
			}
		}
		return nil
	}
	ratio := func(a, b float64) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f×", a/b)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# gpubms benchmarks\n\nWritten by `make bench` on %s. Do not edit: run it again.\n\n", time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&b, "## The machine\n\n- %s, %d CPUs (GOMAXPROCS %d), %s/%s\n- %s\n\n", cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())
	b.WriteString("## What runs\n\n" +
		"A stand-in provider (an `httptest` server on loopback that checks every signature and answers a canned reply, at once or after 20 ms) " +
		"serves four paths to one `DescribeGpuDetail` (never cached, resource ids rotating so that coalescing does not help):\n\n" +
		"- **direct**: a Go caller signing its own GET and decoding the reply;\n" +
		"- **floor**: a bare grpc-go server with the generated service, one signed GET, one JSON decode (encoding/json), one conversion, no middleware (in `server/app/e2e/bench_test.go`);\n" +
		"- **gpubms**: the built `gpubmsd`, with caller authentication, metrics, a log line per failed or slow call, validation, the store and the cache on; it decodes the provider's reply with encoding/json's v1 API on the v2 implementation (`github.com/go-json-experiment/json/v1`, the standard library's from Go 1.27), in about half encoding/json's time;\n" +
		"- **json**: the same `gpubmsd`'s JSON face.\n\n" +
		"Every path is driven by the same Go loop (one connection), each for the same time at 1 and 16 concurrent callers, the paths taking turns over several rounds; each figure is the median of its rounds. The gRPC ones are also driven once by [ghz](https://ghz.sh). " +
		"`DescribeGpuRegions` compares a cached read, over gRPC and over the JSON face, with the direct call, and with the floor answering from memory what it fetched once (`floorServer.DescribeGpuRegions`): a bare grpc-go server's least work for a call.\n\n" +
		"Commands: `make bench` (= `go test -bench . -benchmem` over the packages below, then " +
		"`GPUBMS_LOAD_REPORT=docs/BENCHMARKS.md go test -run TestLoadReport ./server/app/e2e/`).\n\n")

	writeTargets(&b, find, watches)

	cpu := func(r *loadRow) string {
		if r.cpu == 0 {
			return ""
		}
		return fmt.Sprintf("%.0f µs", float64(r.cpu)/float64(time.Microsecond))
	}
	b.WriteString("## DescribeGpuDetail (uncached)\n\n| path | c | p50 | p99 | calls/s | p50 ÷ floor | calls/s ÷ floor | p50 ÷ direct | calls/s ÷ direct | server CPU per call |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range []int{1, 16} {
		fl, dr := find("floor", "DescribeGpuDetail", 0, c), find("direct", "DescribeGpuDetail", 0, c)
		for _, p := range []string{"direct", "floor", "gpubms", "json"} {
			r := find(p, "DescribeGpuDetail", 0, c)
			if r == nil || fl == nil || dr == nil {
				continue
			}
			fmt.Fprintf(&b, "| %s | %d | %v | %v | %.0f | %s | %s | %s | %s | %s |\n", p, c, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.rps,
				ratio(float64(r.p50), float64(fl.p50)), ratio(r.rps, fl.rps), ratio(float64(r.p50), float64(dr.p50)), ratio(r.rps, dr.rps), cpu(r))
		}
	}
	if g1, j1, g16, j16 := find("gpubms", "DescribeGpuDetail", 0, 1), find("json", "DescribeGpuDetail", 0, 1), find("gpubms", "DescribeGpuDetail", 0, 16), find("json", "DescribeGpuDetail", 0, 16); g1 != nil && j1 != nil && g16 != nil && j16 != nil {
		fmt.Fprintf(&b, "\nThe JSON face against the gRPC path: p50 at c=1 %s, calls/s at c=16 %s.\n",
			ratio(float64(j1.p50), float64(g1.p50)), ratio(j16.rps, g16.rps))
	}
	b.WriteString("\nThe server's CPU per call is the proxy process's user and system time over the run (from `/proc`), divided by its calls: " +
		"with 1 caller it counts the scheduler's spinning between calls too, so it is higher than with 16.\n")
	b.WriteString("\n## DescribeGpuRegions (cached by gpubms)\n\n| provider delay | path | c | p50 | calls/s | p50 ÷ direct | calls/s ÷ direct | server CPU per call |\n|---|---|---|---|---|---|---|---|\n")
	for _, d := range []time.Duration{0, 20 * time.Millisecond} {
		for _, c := range []int{1, 16} {
			dr := find("direct", "DescribeGpuRegions", d, c)
			for _, p := range []string{"direct", "floor (from memory)", "gpubms (cached)", "json (cached)"} {
				r := find(p, "DescribeGpuRegions", d, c)
				if r == nil || dr == nil {
					continue
				}
				fmt.Fprintf(&b, "| %v | %s | %d | %v | %.0f | %s | %s | %s |\n", d, p, c, r.p50.Round(time.Microsecond), r.rps,
					ratio(float64(r.p50), float64(dr.p50)), ratio(r.rps, dr.rps), cpu(r))
			}
		}
	}
	b.WriteString("\n## The same through ghz\n\n| path | rpc | provider delay | c | p50 | p99 | calls/s |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		if strings.HasPrefix(r.path, "ghz: ") {
			fmt.Fprintf(&b, "| %s | %s | %v | %d | %v | %v | %.0f |\n", strings.TrimPrefix(r.path, "ghz: "), r.rpc, r.delay, r.c,
				r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.rps)
		}
	}
	b.WriteString("\nghz builds each message dynamically from reflection, so its own cost is in these figures; the ratios above come from the Go loop, the same for every path.\n")
	b.WriteString("\nFrom 1 to 16 callers, calls/s grows by ")
	for i, p := range []string{"direct", "floor", "gpubms", "json"} {
		r1, r16 := find(p, "DescribeGpuDetail", 0, 1), find(p, "DescribeGpuDetail", 0, 16)
		if r1 == nil || r16 == nil {
			continue
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s for %s", ratio(r16.rps, r1.rps), p)
	}
	b.WriteString(" (2 cores: the stand-in, the client and the server share them).\n")
	b.WriteString("\n## Watchers\n\n`WatchTask` streams on 100 running tasks, over 20 connections, each count on a fresh server; polls in steady state over three 5 s intervals, memory with every stream open. " +
		"The floor is a bare grpc-go server with the generated service: one poller per task, and per stream the status then each change, no middleware (`floorServer.WatchTask`).\n\n" +
		"| server | streams | provider polls per interval | RSS idle | RSS | RSS ÷ floor | per stream | goroutine stacks | heap in use |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, w := range watches {
		vs := "-"
		if fl := findWatch(watches, "floor", w.streams); fl != nil {
			vs = ratio(w.rssMB, fl.rssMB)
		}
		fmt.Fprintf(&b, "| %s | %d | %.0f | %.0f MB | %.0f MB | %s | %.1f KB | %.0f MB | %.0f MB |\n", w.server, w.streams, w.polls, w.idleMB, w.rssMB, vs,
			(w.rssMB-w.idleMB)*1024/float64(w.streams), w.stackMB, w.heapMB)
	}
	b.WriteString("\ngpubms polls each task at most once an interval, whoever watches it, so its polls do not grow with its watchers. In both servers each stream's handler goroutine waits for its task's next change " +
		"and keeps a stack of 8 KiB, the least that holds grpc-go's frames (gpubms's interceptor chain adds a few hundred bytes to them, under the same 8 KiB); " +
		"what gpubms adds is heap: per stream its caller, request id, metrics and subscription, and the garbage of opening the stream, which the collector " +
		"lets grow by as much as the stacks and the live heap together (GOGC 100) before it collects.\n")
	if bo := os.Getenv("GPUBMS_BENCH_OUTPUT"); bo != "" {
		if raw, err := os.ReadFile(bo); err == nil {
			b.WriteString("\n## Go benchmarks\n\n`go test -run '^$' -bench . -benchmem` (ns/op, B/op, allocs/op, and p50/p99 where reported):\n\n```\n")
			for _, line := range strings.Split(string(raw), "\n") {
				if strings.HasPrefix(line, "Benchmark") || strings.HasPrefix(line, "pkg:") {
					b.WriteString(line + "\n")
				}
			}
			b.WriteString("```\n")
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

// findWatch is the figures of server with n streams, or nil.
func findWatch(watches []watchFigures, server string, n int) *watchFigures {
	for i := range watches {
		if watches[i].server == server && watches[i].streams == n {
			return &watches[i]
		}
	}
	return nil
}

// target is one of the performance goals the report checks: a measured
// ratio (or figure) and the bound it must keep.
type target struct {
	what   string
	got    float64 // NaN: not measured in this run
	bound  float64
	atMost bool   // got ≤ bound; else got ≥ bound
	unit   string // "×" for a ratio, shown to three places; else a whole figure
}

func (g target) met() bool {
	if g.atMost {
		return g.got <= g.bound
	}
	return g.got >= g.bound
}

// writeTargets writes the goals' table: each measured in this run, against
// its bound.
func writeTargets(b *bytes.Buffer, find func(p, rpc string, delay time.Duration, c int) *loadRow, watches []watchFigures) {
	p50 := func(r *loadRow) float64 { return float64(r.p50) }
	rps := func(r *loadRow) float64 { return r.rps }
	ratio := func(a, b *loadRow, of func(*loadRow) float64) float64 {
		if a == nil || b == nil || of(b) == 0 {
			return math.NaN()
		}
		return of(a) / of(b)
	}
	const detail, regions, slow = "DescribeGpuDetail", "DescribeGpuRegions", 20 * time.Millisecond
	gs := []target{
		{"gRPC, uncached: p50 at c=1 ÷ the floor's", ratio(find("gpubms", detail, 0, 1), find("floor", detail, 0, 1), p50), 1.10, true, "×"},
		{"gRPC, uncached: calls/s at c=16 ÷ the floor's", ratio(find("gpubms", detail, 0, 16), find("floor", detail, 0, 16), rps), 0.90, false, "×"},
		{"JSON face: p50 at c=1 ÷ the gRPC path's", ratio(find("json", detail, 0, 1), find("gpubms", detail, 0, 1), p50), 1.15, true, "×"},
		{"JSON face: calls/s at c=16 ÷ the gRPC path's", ratio(find("json", detail, 0, 16), find("gpubms", detail, 0, 16), rps), 0.75, false, "×"},
		{"cached DescribeGpuRegions, provider at once: calls/s at c=16 ÷ direct", ratio(find("gpubms (cached)", regions, 0, 16), find("direct", regions, 0, 16), rps), 1, false, "×"},
		{"cached DescribeGpuRegions, provider at once: p50 at c=1 ÷ direct", ratio(find("gpubms (cached)", regions, 0, 1), find("direct", regions, 0, 1), p50), 1, true, "×"},
		{"cached DescribeGpuRegions, provider in 20 ms: p50 at c=1 ÷ direct", ratio(find("gpubms (cached)", regions, slow, 1), find("direct", regions, slow, 1), p50), 0.1, true, "×"},
	}
	if w := findWatch(watches, "gpubms", 10000); w != nil {
		gs = append(gs,
			target{"10,000 WatchTask streams on 100 tasks: provider polls per interval", w.polls, 100, true, ""},
			target{"10,000 WatchTask streams on 100 tasks: the server's RSS", w.rssMB, 150, true, " MB"})
	}
	b.WriteString("## Targets\n\nEach measured in this run, as the tables below show it.\n\n| target | measured | bound | met |\n|---|---|---|---|\n")
	for _, g := range gs {
		op := "≥"
		if g.atMost {
			op = "≤"
		}
		got, met := "not measured", "-"
		if !math.IsNaN(g.got) {
			places := 0
			if g.unit == "×" {
				places = 3
			}
			got = strconv.FormatFloat(g.got, 'f', places, 64) + g.unit
			met = "no"
			if g.met() {
				met = "yes"
			}
		}
		fmt.Fprintf(b, "| %s | %s | %s %s%s | %s |\n", g.what, got, op, strconv.FormatFloat(g.bound, 'f', -1, 64), g.unit, met)
	}
	mem1, mem16, dr1, dr16 := find("floor (from memory)", regions, 0, 1), find("floor (from memory)", regions, 0, 16), find("direct", regions, 0, 1), find("direct", regions, 0, 16)
	if mem1 != nil && mem16 != nil && dr1 != nil && dr16 != nil {
		fmt.Fprintf(b, "\nThe floor answering DescribeGpuRegions from memory, against direct: p50 at c=1 %.3f×, calls/s at c=16 %.3f×.\n",
			ratio(mem1, dr1, p50), ratio(mem16, dr16, rps))
	}
	if fl := findWatch(watches, "floor", 10000); fl != nil {
		fmt.Fprintf(b, "\nThe floor's RSS with the same 10,000 streams: %.0f MB.\n", fl.rssMB)
	}
	b.WriteString("\n")
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
