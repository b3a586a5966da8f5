package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: testNow} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// cacheEvents records what a cache observer sees.
type cacheEvents struct {
	mu sync.Mutex
	n  map[[2]string]int
}

func (e *cacheEvents) observe(kind, event string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == nil {
		e.n = map[[2]string]int{}
	}
	e.n[[2]string{kind, event}]++
}

func (e *cacheEvents) count(kind, event string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n[[2]string{kind, event}]
}

func (e *cacheEvents) all() map[[2]string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[[2]string]int{}
	for k, v := range e.n {
		out[k] = v
	}
	return out
}

// waitUntil polls cond every millisecond for at most 10 s.
func waitUntil(cond func() bool) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// withRID is a success reply with a request id.
func withRID(rid, data string) reply {
	return reply{status: 200, body: `{"Code":"Success","RequestId":"` + rid + `","Data":` + data + `}`}
}

var allTTLs = CacheTTLs{Regions: time.Minute, Goods: time.Minute, Images: time.Minute, Prices: time.Minute}

// TestCacheTTL: a reply is served from the cache until its TTL passes on the
// client's clock, with its age and request id, and counts no request.
func TestCacheTTL(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var ev cacheEvents
	p := newProvider(t, withRID("rid-1", `{"PrePaid":[{"GoodsId":1}]}`), withRID("rid-2", `{"PrePaid":[{"GoodsId":2}]}`))
	c := p.client(t, WithNow(clock.now), WithCache(CacheTTLs{Goods: 15 * time.Second}), WithCacheObserver(ev.observe))
	req := &DescribeGpuGoodsRequest{RegionID: "CN_Hohhot_B"}

	ctx, first := WithAttemptCounter(t.Context())
	g1, err := c.DescribeGpuGoods(ctx, req)
	if err != nil || g1.PrePaid[0].GoodsID != 1 {
		t.Fatalf("first call: got %+v, %v; want goods 1", g1, err)
	}
	if _, ok := first.CacheAge(); ok || first.Load() != 1 {
		t.Errorf("first call: got %d requests, cached %v; want 1 request, not cached", first.Load(), ok)
	}

	clock.advance(10 * time.Second)
	ctx, second := WithAttemptCounter(t.Context())
	g2, err := c.DescribeGpuGoods(ctx, req)
	if err != nil || g2 != g1 {
		t.Fatalf("second call: got %p %v, want the cached %p", g2, err, g1)
	}
	if age, ok := second.CacheAge(); !ok || age != 10*time.Second {
		t.Errorf("second call: got cache age %v, %v; want 10s, true", age, ok)
	}
	if second.Load() != 0 || second.RequestID() != "rid-1" {
		t.Errorf("second call: got %d requests, request id %q; want 0, rid-1", second.Load(), second.RequestID())
	}

	clock.advance(5 * time.Second) // the TTL has passed
	g3, err := c.DescribeGpuGoods(t.Context(), req)
	if err != nil || g3.PrePaid[0].GoodsID != 2 {
		t.Fatalf("after the TTL: got %+v, %v; want goods 2", g3, err)
	}
	if n := p.n.Load(); n != 2 {
		t.Errorf("got %d requests, want 2", n)
	}
	want := map[[2]string]int{{ActionDescribeGpuGoods, CacheMiss}: 2, {ActionDescribeGpuGoods, CacheHit}: 1}
	if diff := cmp.Diff(want, ev.all()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestCacheKeys: the key is the action and the whole request: different
// parameters are different entries, the same ones the same entry.
func TestCacheKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		call    func(ctx context.Context, c *Client, i int) (any, error)
		replies []reply
	}{
		{
			name: "goods by region",
			call: func(ctx context.Context, c *Client, i int) (any, error) {
				return c.DescribeGpuGoods(ctx, &DescribeGpuGoodsRequest{RegionID: []string{"CN_Hohhot_B", "CN_SJZ_B"}[i]})
			},
			replies: []reply{ok(`{"PrePaid":[{"GoodsId":1}]}`), ok(`{"PrePaid":[{"GoodsId":2}]}`)},
		},
		{
			name: "images by compute",
			call: func(ctx context.Context, c *Client, i int) (any, error) {
				return c.DescribeGpuImage(ctx, &DescribeGpuImageRequest{ImageType: "public", RegionID: "CN_SJZ_B", ComputeID: []string{"c1", "c2"}[i]})
			},
			replies: []reply{ok(`{"Ubuntu":[{"Id":"1"}]}`), ok(`{"Ubuntu":[{"Id":"2"}]}`)},
		},
		{
			name: "prices by compute",
			call: func(ctx context.Context, c *Client, i int) (any, error) {
				return c.DescribeGpuGoodsPrice(ctx, &DescribeGpuGoodsPriceRequest{
					RegionID: "CN_SJZ_B", GoodsID: 7, ComputeID: []string{"c1", "c2"}[i], InstanceChargeType: "PostPaid", Amount: 1,
				})
			},
			replies: []reply{ok(`{"TradeAmount":"1.00"}`), ok(`{"TradeAmount":"2.00"}`)},
		},
		{
			name: "prices by amount",
			call: func(ctx context.Context, c *Client, i int) (any, error) {
				return c.DescribeGpuGoodsPrice(ctx, &DescribeGpuGoodsPriceRequest{
					RegionID: "CN_SJZ_B", GoodsID: 7, ComputeID: "c1", InstanceChargeType: "PostPaid", Amount: int32(i + 1),
				})
			},
			replies: []reply{ok(`{"TradeAmount":"1.00"}`), ok(`{"TradeAmount":"2.00"}`)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t, tt.replies...)
			c := p.client(t, WithCache(allTTLs))
			var first [2]any
			for round := range 3 {
				for i := range 2 {
					got, err := tt.call(t.Context(), c, i)
					if err != nil {
						t.Fatalf("round %d, request %d: %v", round, i, err)
					}
					if round == 0 {
						first[i] = got
					} else if diff := cmp.Diff(first[i], got); diff != "" {
						t.Errorf("round %d, request %d: not the first reply (-want +got):\n%s", round, i, diff)
					}
				}
			}
			if cmp.Equal(first[0], first[1]) {
				t.Errorf("two requests got one reply: %+v", first[0])
			}
			if n := p.n.Load(); n != 2 {
				t.Errorf("got %d provider requests, want 2 (one per distinct request)", n)
			}
		})
	}

	t.Run("regions", func(t *testing.T) {
		t.Parallel()
		p := newProvider(t, ok(`[{"RegionId":"r1"}]`))
		c := p.client(t, WithCache(allTTLs))
		for range 3 {
			if got, err := c.DescribeGpuRegions(t.Context(), nil); err != nil || len(got) != 1 {
				t.Fatalf("got %v, %v", got, err)
			}
		}
		if n := p.n.Load(); n != 1 {
			t.Errorf("got %d provider requests, want 1", n)
		}
	})
}

// TestNeverCached: server state and mutations are never served from the
// cache, whatever the TTLs.
func TestNeverCached(t *testing.T) {
	t.Parallel()
	calls := map[string]func(context.Context, *Client) error{
		ActionDescribeGpu: func(ctx context.Context, c *Client) error {
			_, err := c.DescribeGpu(ctx, &DescribeGpuRequest{Name: "n"})
			return err
		},
		ActionDescribeGpuDetail: func(ctx context.Context, c *Client) error {
			_, err := c.DescribeGpuDetail(ctx, &DescribeGpuDetailRequest{ResourceID: "r"})
			return err
		},
		ActionDescribeGpuTask: func(ctx context.Context, c *Client) error {
			_, err := c.DescribeGpuTask(ctx, &DescribeGpuTaskRequest{TaskID: "t"})
			return err
		},
		ActionDeleteGpuInstances: func(ctx context.Context, c *Client) error {
			_, err := c.DeleteGpuInstances(ctx, &DeleteGpuInstancesRequest{ResourceIDs: []string{"r"}})
			return err
		},
		ActionDescribeEIP: func(ctx context.Context, c *Client) error {
			_, err := c.DescribeEIP(ctx, &DescribeEIPRequest{RegionCode: "CN_Hohhot"})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t, ok(`{}`))
			var ev cacheEvents
			ttls := allTTLs
			ttls.Networks = time.Minute
			c := p.client(t, WithCache(ttls), WithVPCBaseURL(p.srv.URL+"/vpc"), WithCacheObserver(ev.observe))
			for i := range 3 {
				if err := call(t.Context(), c); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
			}
			if n := p.n.Load(); n != 3 {
				t.Errorf("got %d provider requests, want 3", n)
			}
			if got := ev.all(); len(got) != 0 {
				t.Errorf("got cache events %v, want none", got)
			}
		})
	}
}

// TestCacheErrorsNotCached: a failure is never stored; the next call asks
// again, and its success is stored.
func TestCacheErrorsNotCached(t *testing.T) {
	t.Parallel()
	p := newProvider(t, fail(400, CodeParameterInvalid, "RegionId 无效"), ok(`{"PrePaid":[{"GoodsId":1}]}`))
	c := p.client(t, WithCache(allTTLs))
	req := &DescribeGpuGoodsRequest{RegionID: "r"}
	if _, err := c.DescribeGpuGoods(t.Context(), req); Code(err) != CodeParameterInvalid {
		t.Fatalf("first call: got %v, want %s", err, CodeParameterInvalid)
	}
	for i := range 2 {
		if g, err := c.DescribeGpuGoods(t.Context(), req); err != nil || g.PrePaid[0].GoodsID != 1 {
			t.Fatalf("call %d: got %+v, %v", i+2, g, err)
		}
	}
	if n := p.n.Load(); n != 2 {
		t.Errorf("got %d provider requests, want 2 (the error, then one success cached)", n)
	}
}

// TestNoCache: a caller that refuses cached data gets a fresh reply, which
// refreshes the cache for the others.
func TestNoCache(t *testing.T) {
	t.Parallel()
	var ev cacheEvents
	p := newProvider(t, ok(`{"PrePaid":[{"GoodsId":1}]}`), ok(`{"PrePaid":[{"GoodsId":2}]}`))
	c := p.client(t, WithCache(allTTLs), WithCacheObserver(ev.observe))
	req := &DescribeGpuGoodsRequest{RegionID: "r"}
	if g, err := c.DescribeGpuGoods(t.Context(), req); err != nil || g.PrePaid[0].GoodsID != 1 {
		t.Fatalf("first call: got %+v, %v", g, err)
	}
	ctx, counter := WithAttemptCounter(NoCache(t.Context()))
	if g, err := c.DescribeGpuGoods(ctx, req); err != nil || g.PrePaid[0].GoodsID != 2 {
		t.Fatalf("NoCache call: got %+v, %v; want the fresh goods 2", g, err)
	}
	if _, cached := counter.CacheAge(); cached || counter.Load() != 1 {
		t.Errorf("NoCache call: got %d requests, cached %v; want 1, false", counter.Load(), cached)
	}
	if g, err := c.DescribeGpuGoods(t.Context(), req); err != nil || g.PrePaid[0].GoodsID != 2 {
		t.Fatalf("third call: got %+v, %v; want the refreshed goods 2 from the cache", g, err)
	}
	if n := p.n.Load(); n != 2 {
		t.Errorf("got %d provider requests, want 2", n)
	}
	want := map[[2]string]int{{ActionDescribeGpuGoods, CacheMiss}: 2, {ActionDescribeGpuGoods, CacheHit}: 1}
	if diff := cmp.Diff(want, ev.all()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestCoalesceConcurrentReads: 1,000 identical reads arriving together make
// one provider request, for a cached kind and an uncached one alike. The
// provider holds the request until every caller has joined it.
func TestCoalesceConcurrentReads(t *testing.T) {
	t.Parallel()
	const callers = 1000
	tests := []struct {
		action string
		call   func(ctx context.Context, c *Client) (any, error)
		data   string
	}{
		{
			action: ActionDescribeGpuGoods,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.DescribeGpuGoods(ctx, &DescribeGpuGoodsRequest{RegionID: "CN_Hohhot_B"})
			},
			data: `{"PrePaid":[{"GoodsId":1}]}`,
		},
		{
			action: ActionDescribeGpuDetail,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.DescribeGpuDetail(ctx, &DescribeGpuDetailRequest{ResourceID: "19cd"})
			},
			data: `{"ResourceId":"19cd","Networks":{"NetworkCards":[{"eipAddress":"1.2.3.4"}]}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			t.Parallel()
			var ev cacheEvents
			p := newProvider(t, withRID("rid-shared", tt.data))
			p.hold = func(*http.Request, int64) {
				if !waitUntil(func() bool { return ev.count(tt.action, CacheCoalesced) == callers-1 }) {
					t.Errorf("only %d callers joined the request", ev.count(tt.action, CacheCoalesced))
				}
			}
			c := p.client(t, WithCache(allTTLs), WithCacheObserver(ev.observe))
			var (
				wg       sync.WaitGroup
				results  [callers]any
				counters [callers]*Counter
			)
			for i := range callers {
				wg.Go(func() {
					ctx, counter := WithAttemptCounter(t.Context())
					counters[i] = counter
					got, err := tt.call(ctx, c)
					if err != nil {
						t.Errorf("caller %d: %v", i, err)
					}
					results[i] = got
				})
			}
			wg.Wait()
			if n := p.n.Load(); n != 1 {
				t.Errorf("got %d provider requests, want 1", n)
			}
			var sent, coalesced int64
			for i := range callers {
				sent += counters[i].Load()
				if counters[i].Coalesced() {
					coalesced++
					if counters[i].Load() != 0 {
						t.Errorf("caller %d: coalesced, yet counted %d requests", i, counters[i].Load())
					}
				}
				if counters[i].RequestID() != "rid-shared" {
					t.Errorf("caller %d: got request id %q, want rid-shared", i, counters[i].RequestID())
				}
				if results[i] != results[0] {
					t.Errorf("caller %d: got another reply than caller 0", i)
				}
			}
			if sent != 1 || coalesced != callers-1 {
				t.Errorf("the callers' counters add up to %d requests and %d coalesced, want 1 (the caller that sent it) and %d", sent, coalesced, callers-1)
			}
		})
	}
}

// TestCoalescedCallerLeaves: the caller whose read started the shared
// request leaves (cancelled); the request goes on for the one that joined.
func TestCoalescedCallerLeaves(t *testing.T) {
	t.Parallel()
	var ev cacheEvents
	release := make(chan struct{})
	requestCancelled := make(chan bool, 1)
	p := newProvider(t, ok(`{"ResourceId":"19cd"}`))
	p.hold = func(r *http.Request, _ int64) {
		select {
		case <-release:
			requestCancelled <- false
		case <-r.Context().Done():
			requestCancelled <- true
		}
	}
	c := p.client(t, WithCacheObserver(ev.observe))
	req := &DescribeGpuDetailRequest{ResourceID: "19cd"}

	ctxA, cancelA := context.WithCancel(t.Context())
	errA := make(chan error, 1)
	go func() {
		_, err := c.DescribeGpuDetail(ctxA, req)
		errA <- err
	}()
	if !waitUntil(func() bool { return p.n.Load() == 1 }) {
		t.Fatal("the first caller's request never reached the provider")
	}
	type result struct {
		d   *DescribeGpuDetailData
		err error
	}
	resB := make(chan result, 1)
	go func() {
		d, err := c.DescribeGpuDetail(t.Context(), req)
		resB <- result{d, err}
	}()
	if !waitUntil(func() bool { return ev.count(ActionDescribeGpuDetail, CacheCoalesced) == 1 }) {
		t.Fatal("the second caller never joined")
	}
	cancelA()
	if err := <-errA; !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller: got %v, want context.Canceled", err)
	}
	close(release)
	r := <-resB
	if r.err != nil || r.d.ResourceID != "19cd" {
		t.Fatalf("second caller: got %+v, %v; want the server", r.d, r.err)
	}
	if <-requestCancelled {
		t.Error("the shared request was cancelled with the first caller")
	}
	if n := p.n.Load(); n != 1 {
		t.Errorf("got %d provider requests, want 1", n)
	}
}

// TestAbandonedReadCancelled: when every caller of a read has left, its
// request is cancelled, and the next caller starts afresh.
func TestAbandonedReadCancelled(t *testing.T) {
	t.Parallel()
	gone := make(chan struct{})
	p := newProvider(t, ok(`{"ResourceId":"19cd"}`))
	p.hold = func(r *http.Request, n int64) {
		if n == 1 {
			<-r.Context().Done()
			close(gone)
		}
	}
	c := p.client(t)
	req := &DescribeGpuDetailRequest{ResourceID: "19cd"}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.DescribeGpuDetail(ctx, req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first call: got %v, want context.DeadlineExceeded", err)
	}
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the abandoned request was never cancelled")
	}
	if d, err := c.DescribeGpuDetail(t.Context(), req); err != nil || d.ResourceID != "19cd" {
		t.Fatalf("second call: got %+v, %v", d, err)
	}
	if n := p.n.Load(); n != 2 {
		t.Errorf("got %d provider requests, want 2", n)
	}
}

// TestCoalescedErrors: the callers of a failed shared read each get the
// error, in a copy of their own.
func TestCoalescedErrors(t *testing.T) {
	t.Parallel()
	var ev cacheEvents
	p := newProvider(t, fail(400, CodeInstanceNotFound, "实例不存在"))
	p.hold = func(*http.Request, int64) {
		waitUntil(func() bool { return ev.count(ActionDescribeGpuDetail, CacheCoalesced) == 1 })
	}
	c := p.client(t, WithCacheObserver(ev.observe))
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := c.DescribeGpuDetail(t.Context(), &DescribeGpuDetailRequest{ResourceID: "x"})
			errs <- err
		}()
	}
	e1, _ := AsError(<-errs)
	e2, _ := AsError(<-errs)
	if e1 == nil || e2 == nil || e1 == e2 {
		t.Fatalf("got %p and %p, want two distinct *Error", e1, e2)
	}
	if diff := cmp.Diff(e1, e2); diff != "" || e1.Code != CodeInstanceNotFound {
		t.Errorf("got %v and %v, want the same error (-1 +2):\n%s", e1, e2, diff)
	}
	if n := p.n.Load(); n != 1 {
		t.Errorf("got %d provider requests, want 1", n)
	}
}

// TestMutatingNotCoalesced: two identical creates at the same time are two
// orders: both reach the provider.
func TestMutatingNotCoalesced(t *testing.T) {
	t.Parallel()
	var ev cacheEvents
	p := newProvider(t, ok(`{"taskId":"t"}`))
	both := make(chan struct{})
	var once sync.Once
	p.hold = func(_ *http.Request, n int64) {
		if n == 2 {
			once.Do(func() { close(both) })
		}
		select {
		case <-both:
		case <-time.After(10 * time.Second):
			t.Error("the second create never reached the provider while the first was held")
		}
	}
	c := p.client(t, WithCache(allTTLs), WithCacheObserver(ev.observe))
	req := &CreateGpuInstanceRequest{RegionID: "r", Password: "pw", InstanceName: "n", Amount: 1}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := c.CreateGpuInstance(t.Context(), req); err != nil {
				t.Errorf("create: %v", err)
			}
		})
	}
	wg.Wait()
	if n := p.n.Load(); n != 2 {
		t.Errorf("got %d provider requests, want 2", n)
	}
	if got := ev.all(); len(got) != 0 {
		t.Errorf("got events %v, want none", got)
	}
}

// TestReadAfterMutationNotJoined: a read made after a mutating call ended
// does not share a read that started before it (whose reply may predate the
// mutation).
func TestReadAfterMutationNotJoined(t *testing.T) {
	t.Parallel()
	var ev cacheEvents
	release := make(chan struct{})
	p := newProvider(t, ok(`{"ResourceId":"r"}`))
	p.hold = func(r *http.Request, n int64) {
		if n == 1 {
			<-release
		}
	}
	c := p.client(t, WithCacheObserver(ev.observe))
	req := &DescribeGpuDetailRequest{ResourceID: "r"}
	errs := make(chan error, 2)
	go func() {
		_, err := c.DescribeGpuDetail(t.Context(), req)
		errs <- err
	}()
	if !waitUntil(func() bool { return p.n.Load() == 1 }) {
		t.Fatal("the first read never reached the provider")
	}
	if _, err := c.OperateGpuPower(t.Context(), &OperateGpuPowerRequest{Operate: "stop", ResourceIDs: []string{"r"}}); err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := c.DescribeGpuDetail(t.Context(), req)
		errs <- err
	}()
	if !waitUntil(func() bool { return p.n.Load() == 3 }) {
		t.Error("the read after the mutation did not send its own request")
	}
	close(release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := ev.count(ActionDescribeGpuDetail, CacheCoalesced); n != 0 {
		t.Errorf("got %d coalesced reads, want 0", n)
	}
}

// TestOrdersDropChangedReplies: a create or a delete drops the cached goods
// (stock) and subnets (used addresses) and keeps the rest; a power
// operation drops nothing.
func TestOrdersDropChangedReplies(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ok(`null`))
	c := p.client(t, WithCache(CacheTTLs{Regions: time.Minute, Goods: time.Minute, Networks: time.Minute}),
		WithVPCBaseURL(p.srv.URL+"/vpc"))
	reads := func() {
		t.Helper()
		if _, err := c.DescribeGpuRegions(t.Context(), &DescribeGpuRegionsRequest{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DescribeGpuGoods(t.Context(), &DescribeGpuGoodsRequest{RegionID: "CN_Hohhot_B"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DescribeSubnet(t.Context(), &DescribeSubnetRequest{RegionCode: "CN_Hohhot"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DescribeVPC(t.Context(), &DescribeVPCRequest{RegionCode: "CN_Hohhot"}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(action string) int {
		n := 0
		for _, s := range p.requests() {
			if s.Query.Get("Action") == action {
				n++
			}
		}
		return n
	}
	reads()
	reads()
	if _, err := c.OperateGpuPower(t.Context(), &OperateGpuPowerRequest{Operate: "stop", ResourceIDs: []string{"r"}}); err != nil {
		t.Fatal(err)
	}
	reads()
	for _, a := range []string{ActionDescribeGpuRegions, ActionDescribeGpuGoods, ActionDescribeSubnet, ActionDescribeVPC} {
		if n := count(a); n != 1 {
			t.Errorf("before any order: %s sent %d times, want 1 (cached)", a, n)
		}
	}
	if _, err := c.DeleteGpuInstances(t.Context(), &DeleteGpuInstancesRequest{ResourceIDs: []string{"r"}}); err != nil {
		t.Fatal(err)
	}
	reads()
	want := map[string]int{ActionDescribeGpuRegions: 1, ActionDescribeVPC: 1, ActionDescribeGpuGoods: 2, ActionDescribeSubnet: 2}
	for a, w := range want {
		if n := count(a); n != w {
			t.Errorf("after a delete: %s sent %d times, want %d", a, n, w)
		}
	}
}

// TestReadBeforeOrderNotStored: a subnet read begun before a create ends
// answers its caller but is not stored; the next read asks again.
func TestReadBeforeOrderNotStored(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	p := newProvider(t, ok(`{"Total":0,"SubnetList":[]}`))
	p.hold = func(r *http.Request, n int64) {
		if n == 1 {
			<-release
		}
	}
	c := p.client(t, WithCache(CacheTTLs{Networks: time.Minute}), WithVPCBaseURL(p.srv.URL+"/vpc"))
	req := &DescribeSubnetRequest{RegionCode: "CN_Hohhot"}
	errs := make(chan error, 1)
	go func() {
		_, err := c.DescribeSubnet(t.Context(), req)
		errs <- err
	}()
	if !waitUntil(func() bool { return p.n.Load() == 1 }) {
		t.Fatal("the read never reached the provider")
	}
	if _, err := c.CreateGpuInstance(t.Context(), &CreateGpuInstanceRequest{}); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeSubnet(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeSubnet(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if n := p.n.Load(); n != 3 { // the held read, the create, one fresh read, then the cache
		t.Errorf("got %d provider requests, want 3", n)
	}
}

// TestCacheEviction: past its bound the cache drops its oldest entry, and
// says so.
func TestCacheEviction(t *testing.T) {
	t.Parallel()
	var ev cacheEvents
	p := newProvider(t, ok(`{}`))
	c := p.client(t, WithCache(allTTLs), WithCacheObserver(ev.observe), withCacheEntries(2))
	goods := func(region string) {
		t.Helper()
		if _, err := c.DescribeGpuGoods(t.Context(), &DescribeGpuGoodsRequest{RegionID: region}); err != nil {
			t.Fatal(err)
		}
	}
	goods("a")
	goods("b")
	goods("c") // evicts a
	if c.cache.evictions != 1 || c.cache.len() != 2 {
		t.Errorf("got %d evictions and %d entries, want 1 and 2", c.cache.evictions, c.cache.len())
	}
	goods("c") // cached
	goods("a") // asked again; evicts b
	if n := p.n.Load(); n != 4 {
		t.Errorf("got %d provider requests, want 4", n)
	}
	want := map[[2]string]int{
		{ActionDescribeGpuGoods, CacheMiss}:     4,
		{ActionDescribeGpuGoods, CacheHit}:      1,
		{ActionDescribeGpuGoods, CacheEviction}: 2,
	}
	if diff := cmp.Diff(want, ev.all()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestCacheOptionsValidated: a negative TTL is refused.
func TestCacheOptionsValidated(t *testing.T) {
	t.Parallel()
	for _, ttls := range []CacheTTLs{{Goods: -time.Second}, {Networks: -time.Second}} {
		if _, err := New("", "AK", "s", WithCache(ttls)); err == nil {
			t.Errorf("New: got no error for the negative TTL of %+v", ttls)
		}
	}
	if _, err := New("", "AK", "s", withCacheEntries(0)); err == nil {
		t.Error("New: got no error for a cache of 0 entries")
	}
	if _, ok := (*Counter)(nil).CacheAge(); ok || (*Counter)(nil).Coalesced() {
		t.Error("nil counter: got a cache age or coalesced")
	}
}

func TestReadKey(t *testing.T) {
	t.Parallel()
	keys := map[string]string{}
	for _, k := range []call{
		getCall(ActionDescribeGpu, nil),
		getCall(ActionDescribeGpuDetail, nil),
		getCall(ActionDescribeGpu, setString(nil, "Name", "a")),
		getCall(ActionDescribeGpu, setString(setString(nil, "AppId", "a"), "Name", "")),
		getCall(ActionDescribeGpu, setString(setString(nil, "AppId", "a="), "Name", "b")),
		getCall(ActionDescribeGpu, setString(setString(nil, "AppId", "a"), "Name", "=b")),
		{action: ActionDescribeGpuImage, method: http.MethodPost, payload: []byte(`{"RegionId":"a"}`)},
		{action: ActionDescribeGpuImage, method: http.MethodPost, payload: []byte(`{"RegionId":"b"}`)},
	} {
		key := readKey(k)
		if prev, dup := keys[key]; dup {
			t.Errorf("%+v and %s share the key %q", k, prev, key)
		}
		keys[key] = fmt.Sprintf("%+v", k)
	}
}
