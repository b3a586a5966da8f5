package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// fakeClock is a clock the tests move by hand. It is safe for concurrent
// use: the store reads it from many goroutines.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// t0 is the fake clock's start: a fixed instant with nanoseconds, so
// times that lose precision show.
var t0 = time.Date(2030, time.March, 14, 15, 9, 26, 535897932, time.UTC)

func newClock() *fakeClock { return &fakeClock{t: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// record is a fresh in-flight record of key, live for an hour.
func record(key string, now time.Time) Record {
	return Record{
		Key: key, Fingerprint: "fp-" + key, State: InFlight,
		Started: now, Updated: now, Expires: now.Add(time.Hour),
	}
}

func auditEvent(at time.Time, caller, rpc string, resources ...string) *gpubmsv1.AuditEvent {
	return &gpubmsv1.AuditEvent{
		Time: timestamppb.New(at), Caller: caller, Rpc: rpc,
		ResourceIds: resources, Code: "OK",
	}
}

func mustPut(t *testing.T, s Store, r Record) Record {
	t.Helper()
	got, created, err := s.PutIfAbsent(context.Background(), r)
	if err != nil || !created {
		t.Fatalf("PutIfAbsent(%q) = created %v, %v; want a new record", r.Key, created, err)
	}
	return got
}

func mustGet(t *testing.T, s Store, key string) Record {
	t.Helper()
	got, ok, err := s.Get(context.Background(), key)
	if err != nil || !ok {
		t.Fatalf("Get(%q) = ok %v, %v; want the record", key, ok, err)
	}
	return got
}

func wantAbsent(t *testing.T, s Store, key string) {
	t.Helper()
	if got, ok, err := s.Get(context.Background(), key); err != nil || ok {
		t.Fatalf("Get(%q) = %+v, ok %v, %v; want no record", key, got, ok, err)
	}
}

func mustAppend(t *testing.T, s Store, evs ...*gpubmsv1.AuditEvent) {
	t.Helper()
	for _, ev := range evs {
		if err := s.AppendAudit(context.Background(), ev); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
		if ev.GetId() == "" {
			t.Fatalf("AppendAudit gave the event no id")
		}
	}
}

// newestFirst sorts evs as ListAudit returns them: by time, newest first;
// events of the same time by id, the last appended first.
func newestFirst(evs []*gpubmsv1.AuditEvent) []*gpubmsv1.AuditEvent {
	evs = slices.Clone(evs)
	sort.SliceStable(evs, func(i, j int) bool {
		ti, tj := evs[i].GetTime().AsTime(), evs[j].GetTime().AsTime()
		if !ti.Equal(tj) {
			return ti.After(tj)
		}
		return evs[i].GetId() > evs[j].GetId()
	})
	return evs
}

// selected is what q selects of evs (page fields aside), newest first: the
// reference the store's ListAudit is held to.
func selected(evs []*gpubmsv1.AuditEvent, q AuditQuery) []string {
	var ids []string
	for _, ev := range newestFirst(evs) {
		t := ev.GetTime().AsTime()
		if (q.Caller == "" || ev.GetCaller() == q.Caller) &&
			(q.RPC == "" || ev.GetRpc() == q.RPC) &&
			(q.ResourceID == "" || slices.Contains(ev.GetResourceIds(), q.ResourceID)) &&
			(q.Start.IsZero() || !t.Before(q.Start)) &&
			(q.End.IsZero() || t.Before(q.End)) {
			ids = append(ids, ev.GetId())
		}
	}
	return ids
}

func ids(evs []*gpubmsv1.AuditEvent) []string {
	var out []string // nil when there are none, as selected's
	for _, ev := range evs {
		out = append(out, ev.GetId())
	}
	return out
}

// page is one answer of ListAudit.
type page struct {
	ids  []string
	next string
}

// listAll follows q's page tokens to the end and returns the pages. It
// fails the test on an error, a page larger than asked for, or more pages
// than limit (a token that never ends).
func listAll(t *testing.T, s Store, q AuditQuery, limit int) []page {
	t.Helper()
	size := q.PageSize
	if size <= 0 {
		size = 50
	}
	var pages []page
	for {
		evs, next, err := s.ListAudit(context.Background(), q)
		if err != nil {
			t.Fatalf("ListAudit(%+v) after %d pages: %v", q, len(pages), err)
		}
		if len(evs) > size {
			t.Fatalf("ListAudit(%+v) returned %d events, more than the page size %d", q, len(evs), size)
		}
		pages = append(pages, page{ids(evs), next})
		if next == "" {
			return pages
		}
		if len(pages) >= limit {
			t.Fatalf("ListAudit(%+v): still a next page token after %d pages", q, len(pages))
		}
		q.PageToken = next
	}
}

// checkPaging follows q's pages and checks they visit every event q
// selects of all exactly once, newest first.
func checkPaging(t *testing.T, s Store, all []*gpubmsv1.AuditEvent, q AuditQuery, limit int) []page {
	t.Helper()
	pages := listAll(t, s, q, limit)
	var got []string
	for _, p := range pages {
		got = append(got, p.ids...)
	}
	if diff := cmp.Diff(selected(all, q), got); diff != "" {
		t.Fatalf("ListAudit(%+v) over %d pages (-want +got):\n%s", q, len(pages), diff)
	}
	return pages
}

// testStore is the behavioural suite of a Store. open returns a new, empty
// store that reads the time from now and keeps audit events for
// DefaultAuditRetention; it closes the store when t ends.
func testStore(t *testing.T, open func(t *testing.T, now func() time.Time) Store) {
	ctx := context.Background()
	// env is a new store with its own clock.
	env := func(t *testing.T) (*fakeClock, Store) {
		c := newClock()
		return c, open(t, c.Now)
	}

	t.Run("Protection", func(t *testing.T) {
		c, s := env(t)
		got, err := s.SetProtection(ctx, []string{"gpu-1", "gpu-2"}, true, "training until Friday", "alice")
		if err != nil || len(got) != 2 || !got[0].GetProtected() || got[1].GetReason() != "training until Friday" ||
			got[0].GetCaller() != "alice" || !got[0].GetUpdateTime().AsTime().Equal(c.Now()) {
			t.Fatalf("SetProtection = %v, %v", got, err)
		}
		p, err := s.Protected(ctx, []string{"gpu-1", "gpu-3", "gpu-2"})
		if err != nil || len(p) != 2 || p["gpu-1"].GetReason() != "training until Friday" || p["gpu-3"] != nil {
			t.Fatalf("Protected = %v, %v; want gpu-1 and gpu-2", p, err)
		}
		c.Advance(time.Minute)
		if _, err := s.SetProtection(ctx, []string{"gpu-1"}, false, "", "bob"); err != nil {
			t.Fatal(err)
		}
		all, err := s.ListProtections(ctx)
		if err != nil || len(all) != 1 || all[0].GetResourceId() != "gpu-2" {
			t.Fatalf("ListProtections after lifting gpu-1 = %v, %v; want gpu-2 only", all, err)
		}
		if p, _ := s.Protected(ctx, []string{"gpu-1"}); len(p) != 0 {
			t.Errorf("gpu-1 still protected: %v", p)
		}
	})

	t.Run("Leases", func(t *testing.T) {
		c, s := env(t)
		lease := func(id string, expire time.Duration, created time.Time) *gpubmsv1.Lease {
			return &gpubmsv1.Lease{ResourceId: id, ExpireAt: timestamppb.New(c.Now().Add(expire)), CreateTime: timestamppb.New(created),
				State: gpubmsv1.LeaseState_LEASE_STATE_ACTIVE}
		}
		if err := s.PutLeases(ctx, []*gpubmsv1.Lease{lease("late", 2*time.Hour, c.Now()), lease("soon", time.Hour, c.Now())}); err != nil {
			t.Fatal(err)
		}
		ls, err := s.Leases(ctx)
		if err != nil || len(ls) != 2 || ls[0].GetResourceId() != "soon" {
			t.Fatalf("Leases = %v, %v; want soon first", ls, err)
		}
		// UpdateLease changes the lease it read, not one set since.
		done := proto.CloneOf(ls[0])
		done.State = gpubmsv1.LeaseState_LEASE_STATE_DONE
		if ok, err := s.UpdateLease(ctx, done); !ok || err != nil {
			t.Fatalf("UpdateLease = %v, %v", ok, err)
		}
		c.Advance(time.Second)
		if err := s.PutLeases(ctx, []*gpubmsv1.Lease{lease("soon", 3*time.Hour, c.Now())}); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.UpdateLease(ctx, done); ok || err != nil {
			t.Errorf("UpdateLease of a replaced lease = %v, %v; want not done", ok, err)
		}
		if l, ok, err := s.GetLease(ctx, "soon"); !ok || err != nil || !l.GetExpireAt().AsTime().Equal(c.Now().Add(3*time.Hour)) {
			t.Errorf("GetLease(soon) = %v, %v, %v; want the lease set last", l, ok, err)
		}
		if _, ok, err := s.GetLease(ctx, "never"); ok || err != nil {
			t.Errorf("GetLease(never) = %v, %v; want none", ok, err)
		}
		had, err := s.DeleteLeases(ctx, []string{"soon", "never"})
		if err != nil || len(had) != 1 || had[0] != "soon" {
			t.Errorf("DeleteLeases = %v, %v", had, err)
		}
		if ok, _ := s.UpdateLease(ctx, done); ok {
			t.Error("UpdateLease of a cleared lease was done")
		}

		if err := s.PutLeaseTask(ctx, LeaseTask{TaskID: "t1", TTL: time.Hour, Caller: "ci", Created: c.Now()}); err != nil {
			t.Fatal(err)
		}
		lt, err := s.LeaseTasks(ctx)
		if err != nil || len(lt) != 1 || lt[0].TTL != time.Hour || lt[0].Caller != "ci" {
			t.Fatalf("LeaseTasks = %v, %v", lt, err)
		}
		if err := s.DeleteLeaseTask(ctx, "t1"); err != nil {
			t.Fatal(err)
		}
		if lt, _ := s.LeaseTasks(ctx); len(lt) != 0 {
			t.Errorf("LeaseTasks after delete = %v", lt)
		}
		if err := s.PutCreations(ctx, []Creation{{ResourceID: "g1", Caller: "ci", TaskID: "t1", Time: c.Now()}}); err != nil {
			t.Fatal(err)
		}
		cs, err := s.Creations(ctx)
		if err != nil || cs["g1"].Caller != "ci" || !cs["g1"].Time.Equal(c.Now()) {
			t.Errorf("Creations = %v, %v", cs, err)
		}
	})

	t.Run("PutIfAbsent", func(t *testing.T) {
		t.Run("CreatesWhenAbsent", func(t *testing.T) {
			c, s := env(t)
			r := record("alice/CreateGpuInstance/req-1", c.Now())
			got, created, err := s.PutIfAbsent(ctx, r)
			if err != nil || !created {
				t.Fatalf("PutIfAbsent = created %v, %v; want created", created, err)
			}
			if diff := cmp.Diff(r, got); diff != "" {
				t.Errorf("PutIfAbsent returned (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(r, mustGet(t, s, r.Key)); diff != "" {
				t.Errorf("Get after PutIfAbsent (-want +got):\n%s", diff)
			}
		})

		t.Run("ReturnsTheLiveRecord", func(t *testing.T) {
			c, s := env(t)
			first := mustPut(t, s, record("k", c.Now()))
			c.Advance(59 * time.Minute)
			second := record("k", c.Now())
			second.Fingerprint = "another request"
			got, created, err := s.PutIfAbsent(ctx, second)
			if err != nil || created {
				t.Fatalf("PutIfAbsent over a live record = created %v, %v; want the existing record", created, err)
			}
			if diff := cmp.Diff(first, got); diff != "" {
				t.Errorf("PutIfAbsent over a live record returned (-want first +got):\n%s", diff)
			}
			if diff := cmp.Diff(first, mustGet(t, s, "k")); diff != "" {
				t.Errorf("the live record changed (-want +got):\n%s", diff)
			}
		})

		t.Run("ExpiredIsAbsent", func(t *testing.T) {
			for _, past := range []time.Duration{time.Hour, time.Hour + time.Millisecond, 48 * time.Hour} {
				t.Run(past.String(), func(t *testing.T) {
					c, s := env(t)
					old := record("k", c.Now()) // expires after an hour
					old.State = Done
					mustPut(t, s, old)
					c.Advance(past)
					fresh := record("k", c.Now())
					fresh.Fingerprint = "fresh"
					got, created, err := s.PutIfAbsent(ctx, fresh)
					if err != nil || !created {
						t.Fatalf("PutIfAbsent over a record expired %v ago = created %v, %v; want created", past-time.Hour, created, err)
					}
					if diff := cmp.Diff(fresh, got); diff != "" {
						t.Errorf("PutIfAbsent returned (-want +got):\n%s", diff)
					}
					if diff := cmp.Diff(fresh, mustGet(t, s, "k")); diff != "" {
						t.Errorf("Get after replacing an expired record (-want +got):\n%s", diff)
					}
				})
			}
		})

		t.Run("JustBeforeExpiryIsLive", func(t *testing.T) {
			c, s := env(t)
			first := mustPut(t, s, record("k", c.Now()))
			c.Advance(time.Hour - time.Millisecond)
			got, created, err := s.PutIfAbsent(ctx, record("k", c.Now()))
			if err != nil || created {
				t.Fatalf("PutIfAbsent 1ms before expiry = created %v, %v; want the existing record", created, err)
			}
			if diff := cmp.Diff(first, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})

		t.Run("RoundTrip", func(t *testing.T) {
			c, s := env(t)
			loc := time.FixedZone("UTC+5:30", 5*3600+1800)
			keys := []string{
				"alice\x00CreateGpuInstance\x00550e8400-e29b-41d4-a716-446655440000",
				"bob/DeleteGpuInstance/req_1",
				"ünï/cødé/ключ",
				"k",
			}
			for i, key := range keys {
				r := Record{
					Key:               key,
					Fingerprint:       fmt.Sprintf("hmac-sha256:%064x", i+1),
					State:             []State{InFlight, Done, Unknown, Done}[i],
					Reply:             []byte{0x00, 0x0a, 0xff, 0xfe, '"', '\\', byte(i)},
					ProviderRequestID: fmt.Sprintf("B3D1C0DE-%d", i),
					Started:           c.Now().Add(-time.Duration(i) * time.Nanosecond),
					Updated:           c.Now().In(loc).Add(time.Duration(i) * time.Microsecond),
					Expires:           c.Now().Add(24*time.Hour + time.Duration(i)),
				}
				if i == 3 {
					r.Reply, r.ProviderRequestID = nil, "" // the empty ones
				}
				got := mustPut(t, s, r)
				if got.Key != key {
					t.Errorf("PutIfAbsent returned Key %q, want %q", got.Key, key)
				}
				// cmp compares times with Equal: the instant, not the zone.
				if diff := cmp.Diff(r, mustGet(t, s, key)); diff != "" {
					t.Errorf("Get(%q) (-want +got):\n%s", key, diff)
				}
				// And the existing record, as PutIfAbsent returns it.
				again, created, err := s.PutIfAbsent(ctx, record(key, c.Now()))
				if err != nil || created {
					t.Fatalf("second PutIfAbsent(%q) = created %v, %v", key, created, err)
				}
				if diff := cmp.Diff(r, again); diff != "" {
					t.Errorf("second PutIfAbsent(%q) (-want +got):\n%s", key, diff)
				}
			}
		})

		t.Run("KeysAreDistinct", func(t *testing.T) {
			c, s := env(t)
			a := mustPut(t, s, record("alice/Create/1", c.Now()))
			b := mustPut(t, s, record("alice/Create/10", c.Now()))
			if diff := cmp.Diff(a, mustGet(t, s, a.Key)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(b, mustGet(t, s, b.Key)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			wantAbsent(t, s, "alice/Create/")
		})

		t.Run("Concurrent", func(t *testing.T) {
			c, s := env(t)
			const n = 50
			type answer struct {
				rec     Record
				created bool
				err     error
			}
			answers := make([]answer, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					r := record("same", c.Now())
					r.Fingerprint = fmt.Sprintf("fp-%d", i)
					<-start
					rec, created, err := s.PutIfAbsent(ctx, r)
					answers[i] = answer{rec, created, err}
				})
			}
			close(start)
			wg.Wait()
			winner := -1
			for i, a := range answers {
				if a.err != nil {
					t.Fatalf("PutIfAbsent %d: %v", i, a.err)
				}
				if a.created {
					if winner >= 0 {
						t.Fatalf("PutIfAbsent %d and %d both created the record", winner, i)
					}
					winner = i
				}
			}
			if winner < 0 {
				t.Fatal("no PutIfAbsent created the record")
			}
			want := answers[winner].rec
			if want.Fingerprint != fmt.Sprintf("fp-%d", winner) {
				t.Fatalf("the creator got back fingerprint %q, want its own fp-%d", want.Fingerprint, winner)
			}
			for i, a := range answers {
				if diff := cmp.Diff(want, a.rec); diff != "" {
					t.Errorf("PutIfAbsent %d saw another record than the winner's (-want +got):\n%s", i, diff)
				}
			}
			if diff := cmp.Diff(want, mustGet(t, s, "same")); diff != "" {
				t.Errorf("Get (-want +got):\n%s", diff)
			}
		})
	})

	t.Run("CompareAndSwap", func(t *testing.T) {
		t.Run("FromTheExpectedState", func(t *testing.T) {
			c, s := env(t)
			r := mustPut(t, s, record("k", c.Now()))
			c.Advance(time.Second)
			r.State, r.Updated = Done, c.Now()
			r.Reply, r.ProviderRequestID = []byte{1, 2, 3}, "prov-1"
			r.Expires = c.Now().Add(24 * time.Hour)
			if ok, err := s.CompareAndSwap(ctx, InFlight, r); err != nil || !ok {
				t.Fatalf("CompareAndSwap(InFlight → Done) = %v, %v; want swapped", ok, err)
			}
			if diff := cmp.Diff(r, mustGet(t, s, "k")); diff != "" {
				t.Errorf("after the swap (-want +got):\n%s", diff)
			}
			// Done is not InFlight any more.
			again := r
			again.State, again.Reply = Unknown, nil
			if ok, err := s.CompareAndSwap(ctx, InFlight, again); err != nil || ok {
				t.Fatalf("second CompareAndSwap from InFlight = %v, %v; want not swapped", ok, err)
			}
			if diff := cmp.Diff(r, mustGet(t, s, "k")); diff != "" {
				t.Errorf("a refused swap changed the record (-want +got):\n%s", diff)
			}
		})

		t.Run("AnotherState", func(t *testing.T) {
			for _, tc := range []struct{ have, from State }{
				{InFlight, Done}, {InFlight, Unknown}, {Done, InFlight}, {Unknown, InFlight}, {Done, Unknown},
			} {
				t.Run(fmt.Sprintf("%s/from_%s", tc.have, tc.from), func(t *testing.T) {
					c, s := env(t)
					r := record("k", c.Now())
					r.State = tc.have
					mustPut(t, s, r)
					nr := r
					nr.State, nr.Fingerprint = Done, "changed"
					if ok, err := s.CompareAndSwap(ctx, tc.from, nr); err != nil || ok {
						t.Fatalf("CompareAndSwap(from %s) of a %s record = %v, %v; want not swapped", tc.from, tc.have, ok, err)
					}
					if diff := cmp.Diff(r, mustGet(t, s, "k")); diff != "" {
						t.Errorf("a refused swap changed the record (-want +got):\n%s", diff)
					}
				})
			}
		})

		t.Run("Missing", func(t *testing.T) {
			c, s := env(t)
			r := record("missing", c.Now())
			for _, from := range []State{InFlight, Done, Unknown, ""} {
				if ok, err := s.CompareAndSwap(ctx, from, r); err != nil || ok {
					t.Fatalf("CompareAndSwap(from %q) of a missing key = %v, %v; want not swapped", from, ok, err)
				}
			}
			wantAbsent(t, s, "missing")
		})

		t.Run("Concurrent", func(t *testing.T) {
			c, s := env(t)
			mustPut(t, s, record("k", c.Now()))
			const n = 50
			swapped := make([]bool, n)
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					r := record("k", c.Now())
					r.State, r.ProviderRequestID = Done, fmt.Sprintf("prov-%d", i)
					<-start
					swapped[i], errs[i] = s.CompareAndSwap(ctx, InFlight, r)
				})
			}
			close(start)
			wg.Wait()
			winner := -1
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("CompareAndSwap %d: %v", i, errs[i])
				}
				if swapped[i] {
					if winner >= 0 {
						t.Fatalf("CompareAndSwap %d and %d both swapped", winner, i)
					}
					winner = i
				}
			}
			if winner < 0 {
				t.Fatal("no CompareAndSwap swapped")
			}
			got := mustGet(t, s, "k")
			if got.State != Done || got.ProviderRequestID != fmt.Sprintf("prov-%d", winner) {
				t.Errorf("record after the race = %s %q, want done by the winner prov-%d", got.State, got.ProviderRequestID, winner)
			}
		})
	})

	t.Run("DeleteIf", func(t *testing.T) {
		c, s := env(t)
		for _, st := range []State{InFlight, Done, Unknown} {
			r := record(string(st), c.Now())
			r.State = st
			mustPut(t, s, r)
		}
		for _, st := range []State{InFlight, Done, Unknown} {
			key := string(st)
			for _, other := range []State{InFlight, Done, Unknown, ""} {
				if other == st {
					continue
				}
				if ok, err := s.DeleteIf(ctx, key, other); err != nil || ok {
					t.Fatalf("DeleteIf(%q, %q) of a %s record = %v, %v; want kept", key, other, st, ok, err)
				}
				mustGet(t, s, key)
			}
			if ok, err := s.DeleteIf(ctx, key, st); err != nil || !ok {
				t.Fatalf("DeleteIf(%q, %s) = %v, %v; want deleted", key, st, ok, err)
			}
			wantAbsent(t, s, key)
			if ok, err := s.DeleteIf(ctx, key, st); err != nil || ok {
				t.Fatalf("DeleteIf(%q, %s) again = %v, %v; want nothing deleted", key, st, ok, err)
			}
			// Gone, not hidden: the key is free again.
			mustPut(t, s, record(key, c.Now()))
		}
		if ok, err := s.DeleteIf(ctx, "never", InFlight); err != nil || ok {
			t.Fatalf("DeleteIf of a missing key = %v, %v; want nothing deleted", ok, err)
		}
	})

	t.Run("Get", func(t *testing.T) {
		c, s := env(t)
		wantAbsent(t, s, "k")
		r := mustPut(t, s, record("k", c.Now()))
		if diff := cmp.Diff(r, mustGet(t, s, "k")); diff != "" {
			t.Errorf("live record (-want +got):\n%s", diff)
		}
		c.Advance(time.Hour - time.Millisecond)
		mustGet(t, s, "k")
		c.Advance(time.Millisecond) // now == Expires
		wantAbsent(t, s, "k")
		c.Advance(time.Hour)
		wantAbsent(t, s, "k")
	})

	t.Run("AuditIDs", func(t *testing.T) {
		c, s := env(t)
		base := c.Now()
		// Appended out of time order, two of the same time.
		offsets := []time.Duration{3, 1, 2, 1, 0, 5, 4}
		evs := make([]*gpubmsv1.AuditEvent, len(offsets))
		for i, off := range offsets {
			evs[i] = auditEvent(base.Add(off*time.Second), "alice", "CreateGpuInstance")
			mustAppend(t, s, evs[i])
		}
		seen := map[string]bool{}
		for _, ev := range evs {
			if seen[ev.GetId()] {
				t.Fatalf("id %q given twice", ev.GetId())
			}
			seen[ev.GetId()] = true
		}
		// Ordered by time: sorting the ids sorts the events by time, and
		// of two events of the same time the later appended is greater.
		byID := slices.Clone(evs)
		slices.SortFunc(byID, func(a, b *gpubmsv1.AuditEvent) int { return strings.Compare(a.GetId(), b.GetId()) })
		wantOrder := []int{4, 1, 3, 2, 0, 6, 5} // indexes into evs
		for i, w := range wantOrder {
			if byID[i] != evs[w] {
				t.Fatalf("events in id order: position %d is %s, want the event appended %d-th (%s)",
					i, byID[i].GetTime().AsTime(), w, evs[w].GetTime().AsTime())
			}
		}
		// Appended in time order, ids increase.
		prev := byID[len(byID)-1].GetId()
		for i := range 5 {
			ev := auditEvent(base.Add(time.Minute+time.Duration(i)*time.Millisecond), "bob", "RebootGpuInstance")
			mustAppend(t, s, ev)
			if ev.GetId() <= prev {
				t.Fatalf("id %q of a later event is not greater than %q", ev.GetId(), prev)
			}
			prev = ev.GetId()
		}
	})

	t.Run("ListAudit", func(t *testing.T) {
		c, s := env(t)
		base := c.Now()
		anyReq, err := anypb.New(&gpubmsv1.CreateGpuInstanceRequest{RegionId: "cn-1", InstanceName: "node", Amount: 2})
		if err != nil {
			t.Fatal(err)
		}
		callers := []string{"alice", "bob", "carol"}
		rpcs := []string{"CreateGpuInstance", "DeleteGpuInstance", "RebootGpuInstance", "StopGpuInstance"}
		var all []*gpubmsv1.AuditEvent
		// 40 events a minute apart, appended out of order (a permutation of
		// 0..39), some of the same minute, with 0 to 2 resource ids.
		for i := range 40 {
			j := (i * 17) % 40
			at := base.Add(time.Duration(j/2*2) * time.Minute) // pairs share a time
			ev := auditEvent(at, callers[j%3], rpcs[j%4])
			switch j % 5 {
			case 1:
				ev.ResourceIds = []string{"srv-a"}
			case 2:
				ev.ResourceIds = []string{"srv-b", "srv-a"}
			case 3:
				ev.ResourceIds = []string{"srv-c"}
			}
			if j%7 == 0 {
				ev.Request, ev.RequestId = anyReq, fmt.Sprintf("req-%d", j)
				ev.TaskIds = []string{"task-1", "task-2"}
				ev.Duration = durationpb.New(1500 * time.Millisecond)
				ev.Code, ev.Reason, ev.Message = "FailedPrecondition", "SPEND_LIMIT", "too dear"
				ev.ProviderRequestId, ev.ValidateOnly, ev.Replayed = "prov-x", true, true
			}
			mustAppend(t, s, ev)
			all = append(all, ev)
		}

		t.Run("NewestFirstAndWhole", func(t *testing.T) {
			got, next, err := s.ListAudit(ctx, AuditQuery{PageSize: 100})
			if err != nil || next != "" {
				t.Fatalf("ListAudit = next %q, %v", next, err)
			}
			if diff := cmp.Diff(newestFirst(all), got, protocmp.Transform()); diff != "" {
				t.Errorf("ListAudit (-want +got):\n%s", diff)
			}
		})

		at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
		for _, q := range []AuditQuery{
			{},
			{Caller: "alice"},
			{Caller: "nobody"},
			{RPC: "DeleteGpuInstance"},
			{RPC: "deletegpuinstance"}, // exact, not folded
			{ResourceID: "srv-a"},
			{ResourceID: "srv-b"},
			{ResourceID: "srv"}, // whole ids only
			{Start: at(10)},
			{End: at(10)},
			{Start: at(10), End: at(20)},
			{Start: at(10).Add(time.Nanosecond), End: at(20).Add(time.Nanosecond)},
			{Start: at(10), End: at(10)},
			{Start: at(20), End: at(10)},
			{Start: at(-100), End: at(1000)},
			{Start: at(1000)},
			{End: at(-1)},
			{Caller: "bob", RPC: "CreateGpuInstance"},
			{Caller: "alice", ResourceID: "srv-a"},
			{RPC: "RebootGpuInstance", ResourceID: "srv-a", Start: at(4)},
			{Caller: "carol", Start: at(6), End: at(30)},
			{Caller: "alice", RPC: "DeleteGpuInstance", ResourceID: "srv-b", Start: at(0), End: at(40)},
		} {
			t.Run(fmt.Sprintf("Filter/%+v", q), func(t *testing.T) {
				q.PageSize = 100
				got, next, err := s.ListAudit(ctx, q)
				if err != nil || next != "" {
					t.Fatalf("ListAudit = next %q, %v", next, err)
				}
				if diff := cmp.Diff(selected(all, q), ids(got)); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
				// The same, a page at a time.
				q.PageSize = 3
				checkPaging(t, s, all, q, 50)
			})
		}
		// A sanity check of the reference itself.
		if n := len(selected(all, AuditQuery{Caller: "alice", ResourceID: "srv-a"})); n == 0 || n == len(all) {
			t.Fatalf("the filter test data select %d of %d events; make them selective", n, len(all))
		}
	})

	t.Run("ListAuditPaging", func(t *testing.T) {
		c, s := env(t)
		base := c.Now()
		var all []*gpubmsv1.AuditEvent
		for i := range 130 {
			// Out of order; every tenth pair of the same time.
			j := (i * 53) % 130
			ev := auditEvent(base.Add(time.Duration(j/10*10+j%10/2)*time.Second), []string{"alice", "bob"}[j%2], "CreateGpuInstance", fmt.Sprintf("srv-%d", j%3))
			mustAppend(t, s, ev)
			all = append(all, ev)
		}

		t.Run("DefaultSize", func(t *testing.T) {
			for _, size := range []int{0, -1} {
				got, next, err := s.ListAudit(ctx, AuditQuery{PageSize: size})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 50 || next == "" {
					t.Fatalf("ListAudit(PageSize %d) = %d events, next %q; want 50 and a next page", size, len(got), next)
				}
				if diff := cmp.Diff(selected(all, AuditQuery{})[:50], ids(got)); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			}
		})

		t.Run("ExplicitSize", func(t *testing.T) {
			for _, size := range []int{1, 7, 49, 51, 129} {
				got, next, err := s.ListAudit(ctx, AuditQuery{PageSize: size})
				if err != nil || len(got) != size || next == "" {
					t.Fatalf("ListAudit(PageSize %d) = %d events, next %q, %v; want %d and a next page", size, len(got), next, err, size)
				}
			}
			for _, size := range []int{130, 131, 1000} {
				got, next, err := s.ListAudit(ctx, AuditQuery{PageSize: size})
				if err != nil || len(got) != 130 || next != "" {
					t.Fatalf("ListAudit(PageSize %d) = %d events, next %q, %v; want all 130 and no next page", size, len(got), next, err)
				}
			}
		})

		for _, q := range []AuditQuery{
			{PageSize: 1}, {PageSize: 7}, {PageSize: 50}, {PageSize: 0}, {PageSize: 10}, {PageSize: 65}, {PageSize: 130},
			{Caller: "alice", PageSize: 7},
			{Caller: "bob", ResourceID: "srv-1", PageSize: 4},
			{Start: base.Add(30 * time.Second), End: base.Add(100 * time.Second), PageSize: 7},
			{Caller: "alice", Start: base.Add(31 * time.Second), PageSize: 1},
		} {
			t.Run(fmt.Sprintf("Pages/%+v", q), func(t *testing.T) {
				want := len(selected(all, q))
				size := q.PageSize
				if size <= 0 {
					size = 50
				}
				pages := checkPaging(t, s, all, q, want+2)
				// Every page but the last is full, and the last is not
				// empty: there is a next page token exactly when there is a
				// next page.
				if n := max((want+size-1)/size, 1); len(pages) != n {
					t.Errorf("%d events in pages of %d took %d pages, want %d", want, size, len(pages), n)
				}
				for i, p := range pages[:len(pages)-1] {
					if len(p.ids) != size {
						t.Errorf("page %d of %d has %d events, want %d", i, len(pages), len(p.ids), size)
					}
				}
			})
		}

		t.Run("TokenKeepsItsPlaceAsEventsArrive", func(t *testing.T) {
			c, s := env(t)
			var all []*gpubmsv1.AuditEvent
			for i := range 10 {
				ev := auditEvent(c.Now().Add(time.Duration(i)*time.Second), "alice", "CreateGpuInstance")
				mustAppend(t, s, ev)
				all = append(all, ev)
			}
			first, next, err := s.ListAudit(ctx, AuditQuery{PageSize: 4})
			if err != nil || next == "" {
				t.Fatalf("ListAudit = next %q, %v", next, err)
			}
			// Newer events come in between the pages: they are not on the
			// later pages, and nothing older is skipped or repeated.
			mustAppend(t, s, auditEvent(c.Now().Add(time.Hour), "alice", "CreateGpuInstance"))
			rest := listAll(t, s, AuditQuery{PageSize: 4, PageToken: next}, 10)
			got := ids(first)
			for _, p := range rest {
				got = append(got, p.ids...)
			}
			if diff := cmp.Diff(selected(all, AuditQuery{}), got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	})

	t.Run("BadPageToken", func(t *testing.T) {
		c, s := env(t)
		mustAppend(t, s, auditEvent(c.Now(), "alice", "CreateGpuInstance"))
		for _, tok := range []string{"garbage", "zz", "abcd", "not-a-token-at-all-but-long-enough-0123456789", "\x00\x01", " "} {
			evs, next, err := s.ListAudit(ctx, AuditQuery{PageToken: tok})
			if !errors.Is(err, ErrBadPageToken) {
				t.Errorf("ListAudit(PageToken %q) = %d events, next %q, %v; want ErrBadPageToken", tok, len(evs), next, err)
			}
		}
	})

	t.Run("Sweep", func(t *testing.T) {
		c, s := env(t)
		now := c.Now()
		// Records: one expiring in a minute, one in exactly two minutes, one
		// in a day.
		for key, ttl := range map[string]time.Duration{"soon": time.Minute, "edge": 2 * time.Minute, "later": 24 * time.Hour} {
			r := record(key, now)
			r.Expires = now.Add(ttl)
			mustPut(t, s, r)
		}
		// Events, by age once the clock has moved two minutes: older than
		// the retention, exactly its age, younger.
		later := now.Add(2 * time.Minute)
		old := auditEvent(later.Add(-DefaultAuditRetention-time.Second), "alice", "CreateGpuInstance")
		older := auditEvent(later.Add(-2*DefaultAuditRetention), "alice", "CreateGpuInstance")
		edge := auditEvent(later.Add(-DefaultAuditRetention), "alice", "CreateGpuInstance")
		young := auditEvent(later.Add(-time.Hour), "bob", "DeleteGpuInstance")
		mustAppend(t, s, old, young, older, edge)

		// Now, only the oldest event is past the retention.
		if r, e, err := s.Sweep(ctx); err != nil || r != 0 || e != 1 {
			t.Fatalf("Sweep before any record expired = %d records, %d events, %v; want 0 and 1", r, e, err)
		}
		c.Advance(2 * time.Minute)
		r, e, err := s.Sweep(ctx)
		if err != nil || r != 2 || e != 1 {
			t.Fatalf("Sweep = %d records, %d events, %v; want 2 and 1", r, e, err)
		}
		wantAbsent(t, s, "soon")
		wantAbsent(t, s, "edge")
		mustGet(t, s, "later")
		got, _, err := s.ListAudit(ctx, AuditQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{young.GetId(), edge.GetId()}, ids(got)); diff != "" {
			t.Errorf("events after Sweep (-want +got):\n%s", diff)
		}
		if r, e, err := s.Sweep(ctx); err != nil || r != 0 || e != 0 {
			t.Fatalf("second Sweep = %d records, %d events, %v; want nothing", r, e, err)
		}
		// The swept keys are free.
		mustPut(t, s, record("soon", c.Now()))
	})
}
