package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/auth"
)

// panickyGpuService panics on the first call of each method it implements
// and answers the later ones.
type panickyGpuService struct {
	gpubmsv1.UnimplementedGpuServiceServer
	regions, watches atomic.Int64
}

const (
	regionsPanic = "regions handler exploded"
	watchPanic   = "watch handler exploded"
)

func (s *panickyGpuService) DescribeGpuRegions(context.Context, *gpubmsv1.DescribeGpuRegionsRequest) (*gpubmsv1.DescribeGpuRegionsResponse, error) {
	if s.regions.Add(1) == 1 {
		panic(regionsPanic)
	}
	return &gpubmsv1.DescribeGpuRegionsResponse{Regions: []*gpubmsv1.Region{{RegionId: "CN_Hohhot_B", RegionName: "Hohhot B"}}}, nil
}

func (s *panickyGpuService) WatchTask(_ *gpubmsv1.WatchTaskRequest, stream grpc.ServerStreamingServer[gpubmsv1.WatchTaskResponse]) error {
	if s.watches.Add(1) == 1 {
		panic(errors.New(watchPanic))
	}
	return stream.Send(&gpubmsv1.WatchTaskResponse{Event: &gpubmsv1.TaskEvent{TaskId: "t1", RawStatus: "succeed"}})
}

// logBuffer collects log output written from the server's goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the JSON log records written so far.
func (l *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	sc.Buffer(nil, 1<<20) // stack traces make long lines
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPanicIsRecovered: a handler that panics, unary or streaming, answers
// Internal without the panic's text, is logged at Error with the panic and a
// stack trace through the handler, and the server goes on serving: the next
// call on the same connection succeeds.
func TestPanicIsRecovered(t *testing.T) {
	logs := &logBuffer{}
	logger := slog.New(callerHandler{slog.NewJSONHandler(logs, nil)})
	authn, err := auth.New(auth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	d := &door{authn: authn}
	gs, _, _, err := newGRPCServer(logger, LogCallsAll, nil, d, newLimits(0, 0, 0), nil, DefaultHTTPMaxBodyBytes, noop.NewTracerProvider(), false)
	if err != nil {
		t.Fatal(err)
	}
	svc := &panickyGpuService{}
	gpubmsv1.RegisterGpuServiceServer(gs, svc)
	d.roles = methodRoles(gs)
	ln := bufconn.Listen(1 << 20)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = gs.Serve(ln)
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-served
	})
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := gpubmsv1.NewGpuServiceClient(conn)

	tests := []struct {
		name, panicText, frame string
		call                   func(context.Context) error
	}{
		{"unary", regionsPanic, "app.(*panickyGpuService).DescribeGpuRegions", func(ctx context.Context) error {
			resp, err := c.DescribeGpuRegions(ctx, &gpubmsv1.DescribeGpuRegionsRequest{})
			if err == nil && (len(resp.GetRegions()) != 1 || resp.GetRegions()[0].GetRegionId() != "CN_Hohhot_B") {
				t.Errorf("got regions %v, want CN_Hohhot_B", resp.GetRegions())
			}
			return err
		}},
		{"stream", watchPanic, "app.(*panickyGpuService).WatchTask", func(ctx context.Context) error {
			s, err := c.WatchTask(ctx, &gpubmsv1.WatchTaskRequest{TaskId: "t1"})
			if err != nil {
				return err
			}
			var got []string
			for {
				m, err := s.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return err
				}
				got = append(got, m.GetEvent().GetRawStatus())
			}
			if len(got) != 1 || got[0] != "succeed" {
				t.Errorf("got events %q, want one succeed", got)
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(t.Context())
			st := status.Convert(err)
			if st.Code() != codes.Internal {
				t.Fatalf("call that panics: got %v, want Internal", err)
			}
			if strings.Contains(st.Message(), tt.panicText) {
				t.Errorf("the caller sees the panic: %q", st.Message())
			}

			var rec map[string]any
			for _, l := range logs.lines(t) {
				if p, _ := l["panic"].(string); strings.Contains(p, tt.panicText) {
					rec = l
				}
			}
			if rec == nil {
				t.Fatalf("no log record names the panic %q; log:\n%s", tt.panicText, logs.b.String())
			}
			if rec["level"] != "ERROR" || !strings.Contains(rec["msg"].(string), "panic") {
				t.Errorf("panic logged as %v %q, want ERROR with a message saying panic", rec["level"], rec["msg"])
			}
			stack, _ := rec["stack"].(string)
			if !strings.Contains(stack, tt.frame) || !strings.Contains(stack, "recovery_test.go") {
				t.Errorf("stack trace does not go through the handler %s in recovery_test.go:\n%s", tt.frame, stack)
			}

			// The server survived: the same call on the same connection
			// succeeds.
			if err := tt.call(t.Context()); err != nil {
				t.Fatalf("call after the panic: %v, want success", err)
			}
		})
	}
	if n, w := svc.regions.Load(), svc.watches.Load(); n != 2 || w != 2 {
		t.Errorf("handler ran %d and %d times, want 2 each", n, w)
	}
}
