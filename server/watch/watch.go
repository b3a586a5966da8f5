// Package watch shares one poller per provider task among any number of
// watchers.
//
// A Hub keeps, for every task id somebody watches, a single goroutine that
// asks a TaskSource for the task's status every poll interval (with jitter,
// under one rate limit for the whole hub) and hands each change to every
// subscriber of that task. N watchers of one task cost the provider exactly
// what one watcher costs. The poller stops when the task reaches a terminal
// status or its last subscriber leaves.
//
// Each subscriber has a one-slot mailbox: because events are states, a
// subscriber that falls behind gets the latest state rather than a backlog,
// and never slows the poller or the other subscribers. The terminal event is
// never dropped.
package watch

import (
	"context"
	"errors"
	"iter"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/gpubms/gpubms/clients/go/backoff"
)

// The provider's task statuses. Other values pass through as non-terminal.
const (
	StatusInit    = "init"
	StatusSucceed = "succeed"
	StatusFailed  = "failed"
)

// Terminal reports whether status is one after which a task never changes.
func Terminal(status string) bool { return status == StatusSucceed || status == StatusFailed }

// ErrHubClosed ends every subscription when the hub is closed. The task may
// still be running: watching is idempotent, so callers can subscribe again
// (elsewhere).
var ErrHubClosed = errors.New("watch: hub closed")

// Task is what a TaskSource reports about one task.
type Task struct {
	// Status is the provider's raw status: init, succeed, failed, or any
	// other value, which is passed on unchanged and treated as running.
	Status string
	// ResourceIDs are the resources the task works on.
	ResourceIDs []string
}

// TaskSource describes one task. Its errors are classified by the hub's
// classifier (see PermanentError): permanent ones end the watch of that task,
// the rest are retried with backoff. Implementations must be safe for
// concurrent use and should return promptly when ctx is done.
type TaskSource interface {
	DescribeTask(ctx context.Context, taskID string) (Task, error)
}

// Event is one observation of a task, as delivered to one subscriber.
type Event struct {
	TaskID string
	// Status is the provider's raw status.
	Status string
	// ResourceIDs is shared between the subscribers of a task: read it, do
	// not modify it.
	ResourceIDs []string
	// ObservedAt is when the source last reported this state.
	ObservedAt time.Time
	// WatchedFor is how long this subscriber had been subscribed when the
	// event was made.
	WatchedFor time.Duration
	// Heartbeat marks a repeat of the last state, sent only to keep an idle
	// stream alive.
	Heartbeat bool
}

// Stats counts what a hub is doing at one moment.
type Stats struct {
	// Tasks is the number of tasks being polled (one poller each).
	Tasks int
	// Watchers is the number of open subscriptions.
	Watchers int
}

// Hub runs the shared pollers. All its methods are safe for concurrent use.
type Hub struct {
	src TaskSource
	o   options
	lim *rate.Limiter

	ctx    context.Context // cancelled by Close; parent of every poller's context
	cancel context.CancelFunc
	wg     sync.WaitGroup // running pollers

	// mu guards the fields below and the state of every poller and
	// subscription. One lock keeps the ordering simple; nothing slow runs
	// under it (no source calls, no blocking channel sends).
	mu       sync.Mutex
	closed   bool
	pollers  map[string]*poller
	watchers int
}

// NewHub returns a hub polling src, configured by opts over the defaults.
// It panics if src is nil or an option value cannot work. Call Close to stop
// it.
func NewHub(src TaskSource, opts ...Option) *Hub {
	if src == nil {
		panic("watch: nil TaskSource")
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		panic("watch: " + err.Error())
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Hub{
		src:     src,
		o:       o,
		lim:     o.limiter(),
		ctx:     ctx,
		cancel:  cancel,
		pollers: make(map[string]*poller),
	}
}

// Subscribe starts watching taskID until ctx is done or the returned
// subscription is closed. The first event is the task's current status:
// at once if the task is already being polled, else after the first poll,
// which starts immediately. After it, an event arrives only when the status
// or the resource ids change, plus heartbeats. The subscription ends (its
// Events channel is closed) after a terminal status, on a permanent source
// error, when ctx is done, at the hub's maximum watch time, or when the hub
// is closed; Err then says which.
//
// The caller must call Close on the subscription, or cancel ctx, when it
// stops reading.
func (h *Hub) Subscribe(ctx context.Context, taskID string) *Subscription {
	s := &Subscription{h: h, ch: make(chan Event, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.end(ErrHubClosed)
		return s
	}
	if err := ctx.Err(); err != nil {
		s.end(err)
		return s
	}
	s.start = h.o.clock.Now()
	p := h.pollers[taskID]
	if p == nil {
		p = h.startPoller(taskID)
	}
	p.add(s)
	h.watchers++
	if p.known {
		s.offer(p.event(s, s.start, false))
	}
	// The callback runs on its own goroutine, so registering it under the
	// lock cannot deadlock even when ctx is already done. A context that is
	// never done needs none.
	if ctx.Done() != nil {
		s.stopCtx = context.AfterFunc(ctx, func() { s.cancel(ctx.Err()) })
	}
	return s
}

// Stats reports the number of pollers and subscriptions.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Stats{Tasks: len(h.pollers), Watchers: h.watchers}
}

// Close ends every subscription with ErrHubClosed, stops every poller and
// waits for them to return. Later subscriptions end at once with
// ErrHubClosed. Close is idempotent.
func (h *Hub) Close() {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		for _, p := range h.pollers {
			p.retire(ErrHubClosed)
		}
	}
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
}

// startPoller registers and starts the poller of taskID. h.mu is held.
func (h *Hub) startPoller(taskID string) *poller {
	ctx, cancel := context.WithCancel(h.ctx)
	p := &poller{h: h, id: taskID, cancel: cancel}
	h.pollers[taskID] = p
	h.wg.Add(1)
	go p.run(ctx)
	return p
}

// Subscription is one watcher of one task. Its methods are safe for
// concurrent use.
type Subscription struct {
	h       *Hub
	ch      chan Event // the one-slot mailbox; closed when the subscription ends
	start   time.Time
	stopCtx func() bool

	// Guarded by h.mu.
	p          *poller
	prev, next *Subscription // in p's list, oldest first
	ended      bool
	err        error
}

// Events returns the channel of events. It is closed when the subscription
// ends; Err then tells why.
func (s *Subscription) Events() <-chan Event { return s.ch }

// Until yields the subscription's events as they come, until it ends or
// ctx is done; ctx's end ends the subscription (Err then returns ctx's
// error). A reader that waits on a context of its own anyway, as a stream
// does on the stream's, subscribes on context.Background() and reads with
// Until: then nothing is registered on its context, which a stream open for
// hours would keep.
func (s *Subscription) Until(ctx context.Context) iter.Seq[Event] {
	return func(yield func(Event) bool) {
		for {
			select {
			case ev, ok := <-s.ch:
				if !ok || !yield(ev) {
					return
				}
			case <-ctx.Done():
				s.cancel(ctx.Err())
				return
			}
		}
	}
}

// Err returns nil while the subscription is open and when it ended cleanly
// (after a terminal status or at the maximum watch time). Otherwise it is the
// permanent source error, ErrHubClosed, ctx.Err() of the subscribing context,
// or context.Canceled after Close.
func (s *Subscription) Err() error {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	return s.err
}

// Close unsubscribes. The last subscriber of a task to leave stops its
// poller. Close is idempotent.
func (s *Subscription) Close() { s.cancel(context.Canceled) }

func (s *Subscription) cancel(err error) {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	if s.ended {
		return
	}
	p := s.p
	p.remove(s)
	s.end(err)
	if p.head == nil {
		p.retire(nil)
	}
}

// offer puts ev in the mailbox, replacing an event not yet read. h.mu is
// held, so this is the only sender and the final send cannot block.
func (s *Subscription) offer(ev Event) {
	select {
	case s.ch <- ev:
		return
	default:
	}
	select {
	case <-s.ch:
	default:
	}
	s.ch <- ev
}

// end closes the subscription with err. s must already be out of its
// poller's list. h.mu is held.
func (s *Subscription) end(err error) {
	if s.ended {
		return
	}
	s.ended, s.err = true, err
	if s.stopCtx != nil {
		s.stopCtx()
	}
	close(s.ch)
}

// poller polls one task for its subscribers.
type poller struct {
	h      *Hub
	id     string
	cancel context.CancelFunc

	// Guarded by h.mu.
	retired    bool
	head, tail *Subscription // oldest first, so the first deadline is head's
	known      bool          // whether task holds a successful observation
	task       Task
	observedAt time.Time
}

func (p *poller) add(s *Subscription) {
	s.p = p
	s.prev = p.tail
	if p.tail != nil {
		p.tail.next = s
	} else {
		p.head = s
	}
	p.tail = s
}

func (p *poller) remove(s *Subscription) {
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		p.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		p.tail = s.prev
	}
	s.prev, s.next = nil, nil
	p.h.watchers--
}

// retire ends every remaining subscription with err, unregisters the poller
// and cancels its goroutine. h.mu is held.
func (p *poller) retire(err error) {
	if p.retired {
		return
	}
	p.retired = true
	for s := p.head; s != nil; {
		next := s.next
		p.remove(s)
		s.end(err)
		s = next
	}
	if p.h.pollers[p.id] == p {
		delete(p.h.pollers, p.id)
	}
	p.cancel()
}

// event makes the event of the current state for s. h.mu is held.
func (p *poller) event(s *Subscription, now time.Time, heartbeat bool) Event {
	return Event{
		TaskID:      p.id,
		Status:      p.task.Status,
		ResourceIDs: p.task.ResourceIDs,
		ObservedAt:  p.observedAt,
		WatchedFor:  now.Sub(s.start),
		Heartbeat:   heartbeat,
	}
}

// observe records a successful poll and tells the subscribers if the state
// changed; it reports whether it did. h.mu is held.
func (p *poller) observe(t Task, now time.Time) bool {
	p.observedAt = now
	if p.known && p.task.Status == t.Status && sameIDs(p.task.ResourceIDs, t.ResourceIDs) {
		return false
	}
	p.known = true
	p.task = Task{Status: t.Status, ResourceIDs: slices.Clone(t.ResourceIDs)}
	for s := p.head; s != nil; s = s.next {
		s.offer(p.event(s, now, false))
	}
	return true
}

// beat sends a heartbeat to every subscriber with an empty mailbox: one with
// an unread event needs none. h.mu is held.
func (p *poller) beat(now time.Time) {
	if !p.known {
		return
	}
	for s := p.head; s != nil; s = s.next {
		select {
		case s.ch <- p.event(s, now, true):
		default:
		}
	}
}

// expire ends, cleanly, the subscriptions that reached the maximum watch
// time. h.mu is held.
func (p *poller) expire(now time.Time) {
	max := p.h.o.maxWatch
	if max <= 0 {
		return
	}
	for p.head != nil && !now.Before(p.head.start.Add(max)) {
		s := p.head
		p.remove(s)
		s.end(nil)
	}
	if p.head == nil {
		p.retire(nil)
	}
}

// run is the poller's goroutine. It sleeps until the next of: the poll, the
// heartbeat, the oldest subscriber's deadline; then does what is due.
func (p *poller) run(ctx context.Context) {
	h := p.h
	defer h.wg.Done()
	clk := h.o.clock
	start := clk.Now()
	nextPoll := start
	var nextBeat time.Time
	if h.o.heartbeat > 0 {
		nextBeat = start.Add(h.o.heartbeat)
	}
	var (
		failures int
		res      *rate.Reservation // a turn taken from the limiter, not yet used
	)
	defer func() {
		if res != nil {
			res.CancelAt(clk.Now())
		}
	}()
	for {
		h.mu.Lock()
		if p.retired {
			h.mu.Unlock()
			return
		}
		wake := nextPoll
		if !nextBeat.IsZero() && nextBeat.Before(wake) {
			wake = nextBeat
		}
		if h.o.maxWatch > 0 {
			if d := p.head.start.Add(h.o.maxWatch); d.Before(wake) {
				wake = d
			}
		}
		h.mu.Unlock()

		if !sleepUntil(ctx, clk, wake) {
			return
		}
		now := clk.Now()
		h.mu.Lock()
		if p.retired {
			h.mu.Unlock()
			return
		}
		p.expire(now)
		if !nextBeat.IsZero() && !now.Before(nextBeat) {
			p.beat(now)
			nextBeat = now.Add(h.o.heartbeat)
		}
		retired := p.retired
		h.mu.Unlock()
		if retired {
			return
		}
		if now.Before(nextPoll) {
			continue
		}

		if res == nil {
			res = h.lim.ReserveN(now, 1)
			if d := res.DelayFrom(now); d > 0 {
				// Over the hub's rate: wait for the turn while still
				// serving heartbeats and deadlines.
				nextPoll = now.Add(d)
				continue
			}
		}
		res = nil

		t, err := h.src.DescribeTask(ctx, p.id)
		if ctx.Err() != nil {
			return
		}
		now = clk.Now()
		if err != nil {
			if h.o.permanent(err) {
				h.o.logger.Info("watch: task ends with a permanent error", "task_id", p.id, "error", err)
				h.mu.Lock()
				p.retire(err)
				h.mu.Unlock()
				return
			}
			failures++
			d := backoff.Up(backoff.Exponential(h.o.retryFirst, h.o.retryMax, failures), h.o.jitter)
			h.o.logger.Warn("watch: polling task failed; retrying", "task_id", p.id, "error", err,
				"attempt", failures, "retry_in", d.String())
			nextPoll = now.Add(d)
			continue
		}
		failures = 0
		h.mu.Lock()
		if p.observe(t, now) && !nextBeat.IsZero() {
			nextBeat = now.Add(h.o.heartbeat)
		}
		if h.o.terminal(t.Status) {
			// The terminal event is in every mailbox; ending the
			// subscriptions closes the channels behind it.
			p.retire(nil)
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		nextPoll = now.Add(backoff.Up(h.o.interval, h.o.jitter))
	}
}

// sleepUntil waits on clk until t; it reports false if ctx ended first.
func sleepUntil(ctx context.Context, clk Clock, t time.Time) bool {
	d := t.Sub(clk.Now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := clk.NewTimer(d)
	select {
	case <-tm.C():
		return true
	case <-ctx.Done():
		tm.Stop()
		return false
	}
}

// sameIDs reports whether a and b hold the same ids, in any order.
func sameIDs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	if slices.Equal(a, b) {
		return true
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
