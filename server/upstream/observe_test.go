package upstream

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// observed is an Attempt reduced to what a test can compare: Err becomes
// "provider CODE", the transport kind, or "".
type observed struct {
	Action     string
	Attempt    int
	HTTPStatus int
	Code       string
	Err        string
}

// recorder collects the attempts an observer sees.
type recorder struct {
	mu  sync.Mutex
	all []Attempt
}

func (r *recorder) observe(a Attempt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, a)
}

func (r *recorder) attempts() []Attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Attempt(nil), r.all...)
}

// TestObserver: every HTTP request is reported once, retries included, in
// order, with the status, code and error of that request alone.
func TestObserver(t *testing.T) {
	t.Parallel()
	const task, del = ActionDescribeGpuTask, ActionDeleteGpuInstances
	okTask := ok(`{"ResourceIds":["r1"],"Status":"init"}`)
	html503 := reply{status: 503, body: "<html>busy</html>"}
	tests := []struct {
		name    string
		replies []reply
		mutate  bool // call DeleteGpuInstances (never retried) instead of DescribeGpuTask
		want    []observed
	}{
		{
			name:    "success at once",
			replies: []reply{okTask},
			want:    []observed{{task, 1, 200, CodeSuccess, ""}},
		},
		{
			name:    "503, throttled, then success",
			replies: []reply{html503, fail(429, CodeThrottling, "请求过于频繁"), okTask},
			want: []observed{
				{task, 1, 503, "", "malformed reply"},
				{task, 2, 429, CodeThrottling, "provider " + CodeThrottling},
				{task, 3, 200, CodeSuccess, ""},
			},
		},
		{
			name:    "network errors exhaust the attempts",
			replies: []reply{{abort: true}},
			want: []observed{
				{task, 1, 0, "", "network error"},
				{task, 2, 0, "", "network error"},
				{task, 3, 0, "", "network error"},
			},
		},
		{
			name:    "InternalError under 400 is retried",
			replies: []reply{fail(400, CodeInternalError, "系统内部错误"), okTask},
			want: []observed{
				{task, 1, 400, CodeInternalError, "provider " + CodeInternalError},
				{task, 2, 200, CodeSuccess, ""},
			},
		},
		{
			name:    "provider error under 200 is final",
			replies: []reply{fail(200, CodeDataNotExists, "任务不存在"), okTask},
			want:    []observed{{task, 1, 200, CodeDataNotExists, "provider " + CodeDataNotExists}},
		},
		{
			name:    "malformed 200 is final",
			replies: []reply{{status: 200, body: `{"Code":"Success","Data":{"Rec`}, okTask},
			want:    []observed{{task, 1, 200, "", "malformed reply"}},
		},
		{
			name:    "a mutating action is sent once",
			replies: []reply{html503, ok(`{"TaskId":"t1"}`)},
			mutate:  true,
			want:    []observed{{del, 1, 503, "", "malformed reply"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t, tt.replies...)
			var rec recorder
			c := p.client(t, WithObserver(rec.observe))
			ctx, counter := WithAttemptCounter(t.Context())
			if tt.mutate {
				_, _ = c.DeleteGpuInstances(ctx, &DeleteGpuInstancesRequest{ResourceIDs: []string{"r1"}})
			} else {
				_, _ = c.DescribeGpuTask(ctx, &DescribeGpuTaskRequest{TaskID: "t1"})
			}

			all := rec.attempts()
			var got []observed
			for _, a := range all {
				got = append(got, reduce(a))
				if a.Duration < 0 {
					t.Errorf("attempt %d: got duration %v, want >= 0", a.Attempt, a.Duration)
				}
				mustNotLeak(t, "observed attempt", fmt.Sprintf("%+v %v", a, a.Err))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("observed attempts (-want +got):\n%s", diff)
			}
			if n := len(p.requests()); n != len(all) {
				t.Errorf("got %d observed attempts, want one per request sent (%d)", len(all), n)
			}
			if n := counter.Load(); n != int64(len(all)) {
				t.Errorf("got %d observed attempts, want the attempt counter's %d", len(all), n)
			}
		})
	}
}

// TestObserverConcurrent: concurrent calls report every attempt (run with
// -race). The tasks differ: identical reads at once would share a request.
func TestObserverConcurrent(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ok(`{"ResourceIds":["r1"],"Status":"init"}`))
	var rec recorder
	c := p.client(t, WithObserver(rec.observe))
	const calls = 8
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			if _, err := c.DescribeGpuTask(context.WithoutCancel(t.Context()), &DescribeGpuTaskRequest{TaskID: fmt.Sprint("t", i)}); err != nil {
				t.Errorf("DescribeGpuTask: %v", err)
			}
		})
	}
	wg.Wait()
	if got := len(rec.attempts()); got != calls {
		t.Errorf("got %d observed attempts, want %d", got, calls)
	}
}

func reduce(a Attempt) observed {
	o := observed{Action: a.Action, Attempt: a.Attempt, HTTPStatus: a.HTTPStatus, Code: a.Code}
	if e, ok := AsError(a.Err); ok {
		o.Err = "provider " + e.Code
	} else if te, ok := AsTransportError(a.Err); ok {
		o.Err = te.Kind.String()
	} else if a.Err != nil {
		o.Err = a.Err.Error()
	}
	return o
}
