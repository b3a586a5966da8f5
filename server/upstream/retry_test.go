package upstream

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gpubms/gpubms/server/signature"
)

// sleeps records the waits between attempts instead of sleeping, with the
// number of requests the provider had seen when each began.
type sleeps struct {
	mu    sync.Mutex
	waits []time.Duration
	seen  []int64
}

func (s *sleeps) install(c *Client, p *provider) {
	c.opts.sleep = func(_ context.Context, d time.Duration) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.waits = append(s.waits, d)
		s.seen = append(s.seen, p.n.Load())
		return true
	}
}

// TestRetryAfterWaits: the wait before a retry is the provider's Retry-After
// when it sent one (capped at the backoff's cap), else the jittered backoff.
func TestRetryAfterWaits(t *testing.T) {
	t.Parallel()
	const base, capped = 100 * time.Millisecond, 5 * time.Second
	tests := []struct {
		name       string
		retryAfter string // "" sends none
		jitter     func(n int64) int64
		want       time.Duration
	}{
		// The jitter would say 0: Retry-After wins.
		{name: "Retry-After 2", retryAfter: "2", jitter: func(int64) int64 { return 0 }, want: 2 * time.Second},
		{name: "Retry-After above the cap", retryAfter: "120", jitter: func(int64) int64 { return 0 }, want: capped},
		// The jitter's draw is in [0, base] for the first retry.
		{name: "no Retry-After", jitter: func(n int64) int64 { return n / 2 }, want: base / 2},
		{name: "Retry-After below the jitter", retryAfter: "1", jitter: func(n int64) int64 { return n - 1 }, want: time.Second},
		{name: "Retry-After not in seconds", retryAfter: "Wed, 21 Oct 2015 07:28:00 GMT", jitter: func(n int64) int64 { return n / 4 }, want: base / 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			throttled := reply{status: 429, body: "slow down"}
			if tt.retryAfter != "" {
				throttled.header = map[string]string{"Retry-After": tt.retryAfter}
			}
			p := newProvider(t, throttled, ok(`[]`))
			c := p.client(t, WithRetry(3, base, capped))
			c.opts.jitter = tt.jitter
			var s sleeps
			s.install(c, p)
			if _, err := c.DescribeGpuRegions(t.Context(), nil); err != nil {
				t.Fatalf("got %v, want success after one retry", err)
			}
			if n := p.n.Load(); n != 2 {
				t.Errorf("got %d requests, want 2", n)
			}
			if len(s.waits) != 1 {
				t.Fatalf("got waits %v, want one", s.waits)
			}
			if s.waits[0] != tt.want {
				t.Errorf("waited %v, want %v", s.waits[0], tt.want)
			}
			if tt.retryAfter == "2" && s.waits[0] < 2*time.Second {
				t.Errorf("waited %v, less than the provider's Retry-After of 2s", s.waits[0])
			}
			if s.seen[0] != 1 {
				t.Errorf("the wait began after %d requests, want 1 (before the retry)", s.seen[0])
			}
		})
	}
}

// TestSleepCtx: the default wait sleeps, and stops when the context ends.
func TestSleepCtx(t *testing.T) {
	t.Parallel()
	start := time.Now()
	if !sleepCtx(t.Context(), 2*time.Millisecond) || time.Since(start) < 2*time.Millisecond {
		t.Error("sleepCtx did not sleep")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if sleepCtx(ctx, time.Hour) {
		t.Error("sleepCtx: got true with a cancelled context")
	}
}

// TestRetriesFresh: each attempt of a retried read is stamped by the clock
// as it is then and carries a nonce of its own, and its signature verifies.
func TestRetriesFresh(t *testing.T) {
	t.Parallel()
	var (
		mu   sync.Mutex
		tick time.Time = testNow
	)
	clock := func() time.Time { // a second passes between two readings
		mu.Lock()
		defer mu.Unlock()
		tick = tick.Add(time.Second)
		return tick
	}
	p := newProvider(t, reply{status: 503, body: "busy"}, reply{status: 502, body: "bad gateway"}, ok(`{"Status":"init"}`))
	c := p.client(t, WithNow(clock))
	if _, err := c.DescribeGpuTask(t.Context(), &DescribeGpuTaskRequest{TaskID: "t"}); err != nil {
		t.Fatal(err)
	}
	reqs := p.requests()
	if len(reqs) != 3 {
		t.Fatalf("got %d requests, want 3", len(reqs))
	}
	stamps, nonces := map[string]bool{}, map[string]bool{}
	for i, r := range reqs {
		if r.SigErr != nil {
			t.Errorf("attempt %d: signature does not verify: %v", i+1, r.SigErr)
		}
		ts := r.Query.Get(signature.ParamTimestamp)
		if want := testNow.Add(time.Duration(i+1) * time.Second).Format(signature.TimestampForm); ts != want {
			t.Errorf("attempt %d: got Timestamp %s, want %s", i+1, ts, want)
		}
		stamps[ts] = true
		nonces[r.Query.Get(signature.ParamSignatureNonce)] = true
	}
	if len(stamps) != 3 || len(nonces) != 3 {
		t.Errorf("got %d timestamps and %d nonces over 3 attempts, want a new one of each per attempt", len(stamps), len(nonces))
	}
}
