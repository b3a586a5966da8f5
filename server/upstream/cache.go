package upstream

import (
	"container/list"
	"context"
	"encoding/binary"
	"net/http"
	"sync"
	"time"
)

// The catalogue cache and the coalescing of reads.
//
// Every read (the seven Describe actions) goes through Client.read: a cached
// kind may be answered from the cache; otherwise the caller joins the flight
// of identical reads in progress, or starts one. A flight runs on its own
// goroutine and context, detached from its callers' cancellation and bounded
// by the client's default timeout; each caller waits for it until its own
// context ends. Mutating actions take neither path.

// defaultCacheEntries bounds the cache: past it, the oldest entry goes.
const defaultCacheEntries = 4096

// The events of WithCacheObserver.
const (
	// CacheHit: a reply served from the cache.
	CacheHit = "hit"
	// CacheMiss: a read of a cached kind the cache could not answer (no
	// entry, an expired one, or a caller that refused cached data).
	CacheMiss = "miss"
	// CacheCoalesced: a read that joined an identical one in progress
	// instead of sending its own request.
	CacheCoalesced = "coalesced"
	// CacheEviction: an entry dropped because the cache was full (expired
	// entries are dropped silently).
	CacheEviction = "eviction"
)

// CacheTTLs is how long a reply of each catalogue action stays fresh in the
// cache: DescribeGpuRegions, DescribeGpuGoods, DescribeGpuImage and
// DescribeGpuGoodsPrice, and the network reads DescribeVPC and
// DescribeSubnet. 0 leaves that kind uncached. DescribeEIP is never cached:
// whether an EIP is bound is server state, which changes as servers are
// created and deleted.
type CacheTTLs struct {
	Regions, Goods, Images, Prices, Networks time.Duration
}

// ttl is the time to live of the action's replies; 0 for an action that is
// not cached.
func (t CacheTTLs) ttl(action string) time.Duration {
	switch action {
	case ActionDescribeGpuRegions:
		return t.Regions
	case ActionDescribeGpuGoods:
		return t.Goods
	case ActionDescribeGpuImage:
		return t.Images
	case ActionDescribeGpuGoodsPrice:
		return t.Prices
	case ActionDescribeVPC, ActionDescribeSubnet:
		return t.Networks
	}
	return 0
}

// changedByOrders reports whether replies of the action change when servers
// are created or deleted: the goods' stock, a subnet's used addresses.
func changedByOrders(action string) bool {
	return action == ActionDescribeGpuGoods || action == ActionDescribeSubnet
}

// changesOrders reports whether the mutating action creates or deletes
// servers.
func changesOrders(action string) bool {
	return action == ActionCreateGpuInstance || action == ActionDeleteGpuInstances
}

// WithCache caches the successful replies of the catalogue actions for the
// given times (by default nothing is cached), keyed by the action and the
// full request. DescribeGpu, DescribeGpuDetail, DescribeGpuTask,
// DescribeEIP and the mutating actions are never cached, nor is any
// failure. When a create or delete ends, the cached goods and subnets are
// dropped (their stock and used addresses change), and a read of those kinds
// begun before it does not store its reply. The cache holds at
// most 4096 replies, dropping the oldest first. The clock is the one of
// WithNow. A caller can refuse cached data with NoCache.
//
// Replies served from the cache, like those of a coalesced read, are shared
// between callers: they must be treated as read-only (see Client).
func WithCache(ttl CacheTTLs) Option {
	return func(o *options) { o.cacheTTL = ttl }
}

// WithCacheObserver calls f for every cache and coalescing event: kind is
// the action (one of the Action* constants) and event one of CacheHit,
// CacheMiss, CacheCoalesced and CacheEviction. f must be safe for concurrent
// use and quick: it runs inside the call. A nil f observes nothing (the
// default).
func WithCacheObserver(f func(kind, event string)) Option {
	return func(o *options) { o.cacheObserver = f }
}

// withCacheEntries bounds the cache (a test seam).
func withCacheEntries(n int) Option {
	return func(o *options) { o.cacheEntries = n }
}

type noCacheKey struct{}

// NoCache returns a context whose reads refuse cached data: each gets a
// fresh reply from the provider, which refreshes the cache. Such a read may
// still share an identical read in progress, which is fresh too.
func NoCache(ctx context.Context) context.Context {
	return context.WithValue(ctx, noCacheKey{}, true)
}

func refusesCache(ctx context.Context) bool {
	v, _ := ctx.Value(noCacheKey{}).(bool)
	return v
}

// CacheAge reports how old the reply of the last call under c that was
// answered from the cache was, and whether there was one. A call answered
// from the cache makes no provider request (Load counts none for it); its
// RequestID is that of the cached reply.
func (c *Counter) CacheAge() (time.Duration, bool) {
	if c == nil {
		return 0, false
	}
	n := c.cacheAge.Load()
	return time.Duration(n - 1), n > 0
}

// Coalesced reports whether a call under c was answered by a provider
// request sent for another caller's identical read (so Load counts none for
// it), rather than by its own request or the cache.
func (c *Counter) Coalesced() bool {
	return c != nil && c.shared.Load()
}

func (c *Counter) setCoalesced() {
	for ; c != nil; c = c.parent {
		c.shared.Store(true)
	}
}

func (c *Counter) setCacheAge(age time.Duration) {
	for ; c != nil; c = c.parent {
		c.cacheAge.Store(int64(max(age, 0)) + 1)
	}
}

// readKey identifies a read: its action and a canonical encoding of its
// parameters (the query parameters in the fixed order each action builds
// them, or the JSON body, which encoding/json writes in field order).
func readKey(k call) string {
	n := len(k.action) + 1 + len(k.payload)
	for _, p := range k.query {
		n += len(p.Name) + len(p.Value) + 2 + binary.MaxVarintLen64
	}
	b := make([]byte, 0, n)
	b = append(b, k.action...)
	b = append(b, 0)
	if k.method == http.MethodPost {
		return string(append(b, k.payload...))
	}
	for _, p := range k.query {
		// name, '=', the value's length, the value: no two lists of
		// parameters encode alike.
		b = append(b, p.Name...)
		b = append(b, '=')
		b = binary.AppendUvarint(b, uint64(len(p.Value)))
		b = append(b, p.Value...)
	}
	return string(b)
}

// read answers a read: from the cache when its kind is cached and fresh,
// else from a flight it joins or starts, in which fetch does the provider
// call. The value returned may be shared with other callers.
func (c *Client) read(ctx context.Context, k call, fetch func(ctx, rctx context.Context) (any, error)) (any, error) {
	ttl := c.opts.cacheTTL.ttl(k.action)
	key := readKey(k)
	if ttl > 0 {
		if !refusesCache(ctx) {
			if e, ok := c.cache.get(key, c.opts.now()); ok {
				c.observeCache(k.action, CacheHit)
				counter := AttemptCounterFrom(ctx)
				counter.setCacheAge(e.age)
				counter.setRequestID(e.rid)
				return e.val, nil
			}
		}
		c.observeCache(k.action, CacheMiss)
	}

	f, leader := c.flights.join(ctx, flightKey{key: key, epoch: c.epoch.Load()}, c.opts.defaultTimeout)
	if leader {
		flyers.run(func() { c.fly(f, k.action, key, ttl, fetch) })
	} else {
		c.observeCache(k.action, CacheCoalesced)
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		c.flights.leave(f)
		return nil, ctxError(ctx, k.action, 0)
	}
	if leader {
		// The flight counted its requests into this caller's counter.
		return f.val, f.err
	}
	counter := AttemptCounterFrom(ctx)
	counter.setCoalesced()
	counter.setRequestID(f.rid)
	if f.err != nil {
		return nil, copyError(f.err)
	}
	return f.val, nil
}

// flyers run flights. A flight's goroutine decodes the provider's reply,
// deep in the JSON decoder: a fresh goroutine grows its stack on every read,
// which costs more than the read's own work. So a goroutine that ran a
// flight waits a little for the next one before it ends, and a new one
// starts only when none is waiting: under load the same few goroutines,
// their stacks grown, run every flight; idle, none is left.
var flyers = &flightWorkers{work: make(chan func())}

// flyerIdle is how long a flyer waits for another flight.
const flyerIdle = 200 * time.Millisecond

type flightWorkers struct{ work chan func() }

func (w *flightWorkers) run(f func()) {
	select {
	case w.work <- f: // an idle flyer took it
	default:
		go w.loop(f)
	}
}

func (w *flightWorkers) loop(f func()) {
	f()
	t := time.NewTimer(flyerIdle)
	defer t.Stop()
	for {
		select {
		case f := <-w.work:
			f()
			t.Reset(flyerIdle)
		case <-t.C:
			return
		}
	}
}

// fly runs a flight and stores a successful reply of a cached kind.
func (c *Client) fly(f *flight, action, key string, ttl time.Duration, fetch func(ctx, rctx context.Context) (any, error)) {
	defer c.flights.finish(f)
	defer f.cancel()
	f.val, f.err = fetch(f.ctx, f.rctx)
	f.rid = f.counter.RequestID()
	if f.err == nil && ttl > 0 {
		var valid func() bool
		if changedByOrders(action) {
			valid = func() bool { return c.epoch.Load() == f.key.epoch }
		}
		for _, kind := range c.cache.put(key, action, f.val, f.rid, c.opts.now(), ttl, valid) {
			c.observeCache(kind, CacheEviction)
		}
	}
}

// mutated ends a mutating call: the epoch moves on (before the entries are
// dropped, so that a read in flight cannot store a reply behind the drop).
func (c *Client) mutated(action string) {
	c.epoch.Add(1)
	if changesOrders(action) && c.cache != nil {
		c.cache.drop(ActionDescribeGpuGoods)
		c.cache.drop(ActionDescribeSubnet)
	}
}

func (c *Client) observeCache(kind, event string) {
	if c.opts.cacheObserver != nil {
		c.opts.cacheObserver(kind, event)
	}
}

// copyError gives a coalesced caller its own copy of the flight's error, so
// that no caller sees another's changes to it.
func copyError(err error) error {
	switch e := err.(type) {
	case *Error:
		cp := *e
		return &cp
	case *TransportError:
		cp := *e
		return &cp
	}
	return err
}

// flightKey is a read and the client's epoch when it started: a mutating
// call moves the epoch on when it ends, so that a read made after it never
// joins one that started before it and may not see its effect.
type flightKey struct {
	key   string
	epoch uint64
}

// flight is one shared provider call. ctx, rctx, cancel and counter are set before
// it is published; val, err and rid are written by the flight and read by
// its callers after done is closed.
type flight struct {
	key     flightKey
	ctx     context.Context // the leader's values, the flight's own deadline
	rctx    context.Context // its requests' (see requestContext), with the same deadline
	cancel  context.CancelFunc
	counter *Counter
	done    chan struct{}
	val     any
	err     error
	rid     string

	waiters  int  // callers still waiting; guarded by flightGroup.mu
	finished bool // guarded by flightGroup.mu
}

// flightGroup holds the flights in progress.
type flightGroup struct {
	mu sync.Mutex
	m  map[flightKey]*flight
}

// join returns the flight of key, starting one (leader) when there is none.
// A new flight's context keeps the values of the leader's (its logger
// attributes, its attempt counter, which counts the flight's requests) but
// not its cancellation or deadline: it is bounded by timeout alone.
func (g *flightGroup) join(ctx context.Context, key flightKey, timeout time.Duration) (*flight, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f := g.m[key]; f != nil {
		f.waiters++
		return f, false
	}
	if g.m == nil {
		g.m = make(map[flightKey]*flight)
	}
	f := &flight{key: key, done: make(chan struct{}), waiters: 1}
	fctx, counter := WithAttemptCounter(context.WithoutCancel(ctx))
	var cancel, rcancel context.CancelFunc
	f.ctx, cancel = context.WithTimeout(fctx, timeout)
	deadline, _ := f.ctx.Deadline()
	// The requests' shallow context ends with the flight's by the same
	// cancel, not by a callback on it as a caller's does.
	f.rctx, rcancel = context.WithDeadline(context.Background(), deadline)
	f.cancel = func() { cancel(); rcancel() }
	f.counter = counter
	g.m[key] = f
	return f, true
}

// leave is called by a caller that stops waiting. When it was the last, the
// flight is cancelled (nobody wants its reply) and forgotten, so that a new
// caller starts afresh rather than join a flight that is ending.
func (g *flightGroup) leave(f *flight) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f.waiters--
	if f.waiters > 0 || f.finished {
		return
	}
	if g.m[f.key] == f {
		delete(g.m, f.key)
	}
	f.cancel()
}

// finish publishes the flight's outcome.
func (g *flightGroup) finish(f *flight) {
	g.mu.Lock()
	f.finished = true
	if g.m[f.key] == f {
		delete(g.m, f.key)
	}
	g.mu.Unlock()
	close(f.done)
}

// replyCache holds successful replies, each fresh until its expiry, at most
// max of them: the oldest stored goes first.
type replyCache struct {
	mu        sync.Mutex
	max       int
	entries   map[string]*list.Element // of *cacheEntry
	order     list.List                // front: the oldest stored
	evictions int                      // entries dropped for room
}

type cacheEntry struct {
	key, action string
	val         any
	rid         string
	stored      time.Time
	expires     time.Time
}

// cached is a cache hit.
type cached struct {
	val any
	rid string
	age time.Duration
}

func newReplyCache(max int) *replyCache {
	return &replyCache{max: max, entries: make(map[string]*list.Element)}
}

// get returns the fresh entry of key at now.
func (rc *replyCache) get(key string, now time.Time) (cached, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	el := rc.entries[key]
	if el == nil {
		return cached{}, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		rc.order.Remove(el)
		delete(rc.entries, key)
		return cached{}, false
	}
	return cached{val: e.val, rid: e.rid, age: now.Sub(e.stored)}, true
}

// put stores a reply and returns the actions of the entries evicted to make
// room for it. A non-nil valid is asked under the cache's lock whether the
// reply may still be stored (see Client.mutated).
func (rc *replyCache) put(key, action string, val any, rid string, now time.Time, ttl time.Duration, valid func() bool) []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if valid != nil && !valid() {
		return nil
	}
	if el := rc.entries[key]; el != nil {
		e := el.Value.(*cacheEntry)
		e.val, e.rid, e.stored, e.expires = val, rid, now, now.Add(ttl)
		rc.order.MoveToBack(el)
		return nil
	}
	rc.entries[key] = rc.order.PushBack(&cacheEntry{key: key, action: action, val: val, rid: rid, stored: now, expires: now.Add(ttl)})
	var evicted []string
	for rc.order.Len() > rc.max {
		e := rc.order.Remove(rc.order.Front()).(*cacheEntry)
		delete(rc.entries, e.key)
		rc.evictions++
		evicted = append(evicted, e.action)
	}
	return evicted
}

// drop removes every entry of the given kind.
func (rc *replyCache) drop(action string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for el := rc.order.Front(); el != nil; {
		next := el.Next()
		if e := el.Value.(*cacheEntry); e.action == action {
			rc.order.Remove(el)
			delete(rc.entries, e.key)
		}
		el = next
	}
}

func (rc *replyCache) len() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.order.Len()
}
