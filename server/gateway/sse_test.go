package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// watchFake is a GpuService whose task RPCs follow the task id:
//
//	unknown  WatchTask fails before any event (NotFound)
//	breaks   one init event, then Unavailable
//	hangs    one init event, then waits for the caller to leave
//	other    init, then succeed
//
// and which records which RPC saw which task id.
type watchFake struct {
	gpubmsv1.UnimplementedGpuServiceServer
	left chan struct{} // closed when a "hangs" watch sees its caller leave

	mu        sync.Mutex
	described []string
	watched   []string
}

func (f *watchFake) DescribeGpuTask(_ context.Context, req *gpubmsv1.DescribeGpuTaskRequest) (*gpubmsv1.DescribeGpuTaskResponse, error) {
	f.mu.Lock()
	f.described = append(f.described, req.GetTaskId())
	f.mu.Unlock()
	return &gpubmsv1.DescribeGpuTaskResponse{Status: "init", TaskStatus: gpubmsv1.TaskStatus_TASK_STATUS_INIT}, nil
}

func fakeEvent(id, raw string) *gpubmsv1.TaskEvent {
	st := map[string]gpubmsv1.TaskStatus{"init": gpubmsv1.TaskStatus_TASK_STATUS_INIT, "succeed": gpubmsv1.TaskStatus_TASK_STATUS_SUCCEED}[raw]
	return &gpubmsv1.TaskEvent{TaskId: id, Status: st, RawStatus: raw, ResourceIds: []string{"gpu-" + id}}
}

func (f *watchFake) WatchTask(req *gpubmsv1.WatchTaskRequest, stream grpc.ServerStreamingServer[gpubmsv1.WatchTaskResponse]) error {
	id := req.GetTaskId()
	f.mu.Lock()
	f.watched = append(f.watched, id)
	f.mu.Unlock()
	send := func(raw string) error { return stream.Send(&gpubmsv1.WatchTaskResponse{Event: fakeEvent(id, raw)}) }
	switch id {
	case "unknown":
		return status.Errorf(codes.NotFound, "task %s does not exist", id)
	case "breaks":
		if err := send("init"); err != nil {
			return err
		}
		return status.Error(codes.Unavailable, "server shutting down; watch again")
	case "hangs":
		if err := send("init"); err != nil {
			return err
		}
		<-stream.Context().Done()
		close(f.left)
		return stream.Context().Err()
	}
	if err := send("init"); err != nil {
		return err
	}
	return send("succeed")
}

func (f *watchFake) WatchTasks(req *gpubmsv1.WatchTasksRequest, stream grpc.ServerStreamingServer[gpubmsv1.WatchTasksResponse]) error {
	for _, raw := range []string{"init", "succeed"} {
		for _, id := range req.GetTaskIds() {
			if err := stream.Send(&gpubmsv1.WatchTasksResponse{Event: fakeEvent(id, raw)}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *watchFake) calls() (described, watched []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.described), slices.Clone(f.watched)
}

// startWatchGateway serves f over bufconn and the gateway in front of it
// over an httptest server.
func startWatchGateway(t *testing.T, f *watchFake) *httptest.Server {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	gpubmsv1.RegisterGpuServiceServer(gs, f)
	go func() { _ = gs.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(t.Context(), conn)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		ts.Close()
		_ = conn.Close()
		gs.Stop()
	})
	return ts
}

func doRequest(t *testing.T, method, url, accept, body string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// chunk is one NDJSON line or one SSE event, reduced to what tests compare.
type chunk struct {
	Kind    string // "result" or "error"
	TaskID  string
	Status  string
	Raw     string
	Code    int // of an error
	Message string
}

// wireEvent is the JSON of a WatchTask(s)Response.
type wireEvent struct {
	Event struct {
		TaskID      string   `json:"task_id"`
		Status      string   `json:"status"`
		RawStatus   string   `json:"raw_status"`
		ResourceIDs []string `json:"resource_ids"`
		ObservedAt  *string  `json:"observed_at"`
		WatchedFor  *string  `json:"watched_for"`
		Heartbeat   bool     `json:"heartbeat"`
	} `json:"event"`
}

type wireStatus struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func resultChunk(t *testing.T, data []byte) chunk {
	t.Helper()
	var ev wireEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatalf("event %q: %v", data, err)
	}
	return chunk{Kind: "result", TaskID: ev.Event.TaskID, Status: ev.Event.Status, Raw: ev.Event.RawStatus}
}

func errorChunk(t *testing.T, data []byte) chunk {
	t.Helper()
	var st wireStatus
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("error %q: %v", data, err)
	}
	return chunk{Kind: "error", Code: st.Code, Message: st.Message}
}

// readNDJSON reads newline-delimited JSON: {"result": ...} or {"error": ...}
// per line.
func readNDJSON(t *testing.T, body io.Reader) []chunk {
	t.Helper()
	var out []chunk
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		var line map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %q is not one JSON object: %v", sc.Text(), err)
		}
		switch {
		case line["result"] != nil && len(line) == 1:
			out = append(out, resultChunk(t, line["result"]))
		case line["error"] != nil && len(line) == 1:
			out = append(out, errorChunk(t, line["error"]))
		default:
			t.Fatalf("line %q has neither result nor error", sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// readSSE parses Server-Sent Events strictly: "event:" and "data:" lines,
// each event ended by a blank line, nothing left over.
func readSSE(t *testing.T, body io.Reader) []chunk {
	t.Helper()
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if !strings.HasSuffix(text, "\n\n") {
		t.Fatalf("SSE body %q does not end with a blank line", text)
	}
	var out []chunk
	for _, block := range strings.Split(strings.TrimSuffix(text, "\n\n"), "\n\n") {
		name, data := "", []string(nil)
		for _, line := range strings.Split(block, "\n") {
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			default:
				t.Fatalf("unexpected SSE line %q in %q", line, text)
			}
		}
		joined := []byte(strings.Join(data, "\n"))
		switch name {
		case "":
			out = append(out, resultChunk(t, joined))
		case "error":
			out = append(out, errorChunk(t, joined))
		default:
			t.Fatalf("unexpected event name %q", name)
		}
	}
	return out
}

func initSucceed(id string) []chunk {
	return []chunk{
		{Kind: "result", TaskID: id, Status: "TASK_STATUS_INIT", Raw: "init"},
		{Kind: "result", TaskID: id, Status: "TASK_STATUS_SUCCEED", Raw: "succeed"},
	}
}

func TestWatchRouteIsNotDescribeGpuTask(t *testing.T) {
	t.Parallel()
	f := &watchFake{}
	ts := startWatchGateway(t, f)

	resp := doRequest(t, http.MethodGet, ts.URL+"/v1/tasks/t1:watch", "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET :watch: got HTTP %d, want 200", resp.StatusCode)
	}
	if diff := cmp.Diff(initSucceed("t1"), readNDJSON(t, resp.Body)); diff != "" {
		t.Errorf("GET :watch stream (-want +got):\n%s", diff)
	}
	described, watched := f.calls()
	if len(described) != 0 || !slices.Equal(watched, []string{"t1"}) {
		t.Fatalf("after GET /v1/tasks/t1:watch: got DescribeGpuTask%q WatchTask%q, want none and [t1]", described, watched)
	}

	// The plain route still reaches DescribeGpuTask, with the bare id.
	resp = doRequest(t, http.MethodGet, ts.URL+"/v1/tasks/t1", "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET task: got HTTP %d, want 200", resp.StatusCode)
	}
	described, watched = f.calls()
	if !slices.Equal(described, []string{"t1"}) || len(watched) != 1 {
		t.Errorf("after GET /v1/tasks/t1: got DescribeGpuTask%q WatchTask%q, want [t1] and still one watch", described, watched)
	}
}

func TestWatchStreams(t *testing.T) {
	t.Parallel()
	ts := startWatchGateway(t, &watchFake{})
	ab := []chunk{
		{Kind: "result", TaskID: "a", Status: "TASK_STATUS_INIT", Raw: "init"},
		{Kind: "result", TaskID: "b", Status: "TASK_STATUS_INIT", Raw: "init"},
		{Kind: "result", TaskID: "a", Status: "TASK_STATUS_SUCCEED", Raw: "succeed"},
		{Kind: "result", TaskID: "b", Status: "TASK_STATUS_SUCCEED", Raw: "succeed"},
	}
	tests := []struct {
		name, method, path, accept, body string
		wantHTTP                         int
		wantType                         string
		want                             []chunk
	}{
		{"watch NDJSON", "GET", "/v1/tasks/t1:watch", "", "", 200, "application/json", initSucceed("t1")},
		{"watch SSE", "GET", "/v1/tasks/t1:watch", "text/event-stream", "", 200, "text/event-stream", initSucceed("t1")},
		{"watch SSE in an Accept list", "GET", "/v1/tasks/t1:watch", "text/event-stream, */*;q=0.1", "", 200, "text/event-stream", initSucceed("t1")},
		{"watch many NDJSON", "POST", "/v1/tasks:watch", "", `{"task_ids":["a","b"]}`, 200, "application/json", ab},
		{"watch many SSE", "POST", "/v1/tasks:watch", "text/event-stream", `{"task_ids":["a","b"]}`, 200, "text/event-stream", ab},
		{
			"unknown task NDJSON", "GET", "/v1/tasks/unknown:watch", "", "", 404, "application/json",
			[]chunk{{Kind: "error", Code: 5, Message: "task unknown does not exist"}},
		},
		{
			"unknown task SSE", "GET", "/v1/tasks/unknown:watch", "text/event-stream", "", 404, "text/event-stream",
			[]chunk{{Kind: "error", Code: 5, Message: "task unknown does not exist"}},
		},
		{
			"error after the first event NDJSON", "GET", "/v1/tasks/breaks:watch", "", "", 200, "application/json",
			[]chunk{{Kind: "result", TaskID: "breaks", Status: "TASK_STATUS_INIT", Raw: "init"},
				{Kind: "error", Code: 14, Message: "server shutting down; watch again"}},
		},
		{
			"error after the first event SSE", "GET", "/v1/tasks/breaks:watch", "text/event-stream", "", 200, "text/event-stream",
			[]chunk{{Kind: "result", TaskID: "breaks", Status: "TASK_STATUS_INIT", Raw: "init"},
				{Kind: "error", Code: 14, Message: "server shutting down; watch again"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := doRequest(t, tt.method, ts.URL+tt.path, tt.accept, tt.body)
			if resp.StatusCode != tt.wantHTTP {
				t.Errorf("got HTTP %d, want %d", resp.StatusCode, tt.wantHTTP)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.wantType {
				t.Errorf("got Content-Type %q, want %q", got, tt.wantType)
			}
			var got []chunk
			if tt.wantType == mimeEventStream {
				if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
					t.Errorf("got Cache-Control %q, want no-cache", cc)
				}
				got = readSSE(t, resp.Body)
			} else {
				got = readNDJSON(t, resp.Body)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("stream (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSSEEventsArriveAsSent(t *testing.T) {
	t.Parallel()
	f := &watchFake{left: make(chan struct{})}
	ts := startWatchGateway(t, f)
	resp := doRequest(t, http.MethodGet, ts.URL+"/v1/tasks/hangs:watch", "text/event-stream", "")
	// The first event is flushed while the stream stays open.
	r := bufio.NewReader(resp.Body)
	var lines []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the first event: %v (so far %q)", err, lines)
		}
		if line == "\n" {
			break
		}
		lines = append(lines, line)
	}
	if len(lines) != 1 || !strings.HasPrefix(lines[0], `data: {"event":`) {
		t.Fatalf("got first event %q, want one data line with the event", lines)
	}
	var ev wireEvent
	if err := json.Unmarshal([]byte(strings.TrimPrefix(lines[0], "data: ")), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Event.TaskID != "hangs" || ev.Event.RawStatus != "init" {
		t.Errorf("got event %+v, want task hangs in init", ev.Event)
	}
	// Leaving ends the server's stream.
	_ = resp.Body.Close()
	select {
	case <-f.left:
	case <-time.After(10 * time.Second):
		t.Fatal("the server's stream did not end after the caller left")
	}
}

func TestUnaryIgnoresEventStreamAccept(t *testing.T) {
	t.Parallel()
	ts := startWatchGateway(t, &watchFake{})
	resp := doRequest(t, http.MethodGet, ts.URL+"/v1/tasks/t1", "text/event-stream", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got HTTP %d, want 200", resp.StatusCode)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("got Content-Type %q, want application/json", got)
	}
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if body["status"] != "init" {
		t.Errorf("got body %v, want status init", body)
	}
}

func TestAcceptsEventStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		accept []string
		want   bool
	}{
		{nil, false},
		{[]string{"application/json"}, false},
		{[]string{"*/*"}, false},
		{[]string{"text/event-stream"}, true},
		{[]string{"Text/Event-Stream"}, true},
		{[]string{"application/json, text/event-stream;q=0.5"}, true},
		{[]string{"application/json", "text/event-stream"}, true},
		{[]string{"text/event-stream;q=0"}, false},
		{[]string{"text/event-stream;q=0.0"}, false},
		{[]string{"text/event-stream; q=0.000, application/json"}, false},
		{[]string{"text/event-stream;q=0.001"}, true},
		{[]string{"text/event-stream-ish"}, false},
	}
	for _, tt := range tests {
		if got := acceptsEventStream(tt.accept); got != tt.want {
			t.Errorf("acceptsEventStream(%q) = %v, want %v", tt.accept, got, tt.want)
		}
	}
}

func TestSSEMarshalerFraming(t *testing.T) {
	t.Parallel()
	m := &sseMarshaler{Marshaler: &jsonLines{}}
	got, err := m.Marshal(map[string]any{"result": "x"})
	if err != nil {
		t.Fatal(err)
	}
	// Data holding newlines becomes several data lines, which SSE joins back.
	if want := "data: {\ndata: \"x\"\ndata: }\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// jsonLines is a stand-in marshaler whose output spans lines.
type jsonLines struct{ runtime.JSONPb }

func (*jsonLines) Marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return []byte("{\n" + string(b) + "\n}"), err
}
