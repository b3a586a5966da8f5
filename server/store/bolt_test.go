package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

func TestBolt(t *testing.T) {
	testStore(t, func(t *testing.T, now func() time.Time) Store {
		return openBolt(t, t.TempDir(), WithClock(now))
	})
}

// openBolt opens the store in dir and closes it when t ends.
func openBolt(t *testing.T, dir string, opts ...BoltOption) *Bolt {
	t.Helper()
	b, err := Open(dir, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

func TestBoltOpenCreates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "gpubms")
	b := openBolt(t, dir)
	if want := filepath.Join(dir, FileName); b.Path() != want {
		t.Errorf("Path() = %q, want %q", b.Path(), want)
	}
	for _, tc := range []struct {
		path string
		dir  bool
		perm os.FileMode
	}{
		{filepath.Dir(dir), true, 0o700},
		{dir, true, 0o700},
		{filepath.Join(dir, FileName), false, 0o600},
	} {
		fi, err := os.Stat(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.IsDir() != tc.dir || fi.Mode().Perm() != tc.perm {
			t.Errorf("%s: dir %v, mode %v; want dir %v, mode %v", tc.path, fi.IsDir(), fi.Mode().Perm(), tc.dir, tc.perm)
		}
	}
}

// TestBoltReopen: what a store holds survives Close and Open; records in
// flight at Close come back Unknown, as of the reopening, and the others as
// they were.
func TestBoltReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c := newClock()
	b, err := Open(dir, WithClock(c.Now))
	if err != nil {
		t.Fatal(err)
	}
	recs := map[State]Record{}
	for _, st := range []State{InFlight, Done, Unknown} {
		r := record("alice/CreateGpuInstance/"+string(st), c.Now())
		r.State, r.Reply, r.ProviderRequestID = st, []byte("reply of "+st), "prov-"+string(st)
		mustPut(t, b, r)
		recs[st] = r
	}
	// An in-flight record that expired before the restart.
	stale := record("stale", c.Now().Add(-2*time.Hour))
	mustPut(t, b, stale)
	var evs []*gpubmsv1.AuditEvent
	for i := range 3 {
		ev := auditEvent(c.Now().Add(time.Duration(i)*time.Second), "alice", "CreateGpuInstance", "srv-1")
		mustAppend(t, b, ev)
		evs = append(evs, ev)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	c.Advance(time.Minute)
	var logged bytes.Buffer
	b = openBolt(t, dir, WithClock(c.Now), WithLogger(slog.New(slog.NewTextHandler(&logged, nil))))
	want := recs[InFlight]
	want.State, want.Updated = Unknown, c.Now()
	if diff := cmp.Diff(want, mustGet(t, b, want.Key)); diff != "" {
		t.Errorf("in-flight record after reopening (-want +got):\n%s", diff)
	}
	for _, st := range []State{Done, Unknown} {
		if diff := cmp.Diff(recs[st], mustGet(t, b, recs[st].Key)); diff != "" {
			t.Errorf("%s record after reopening (-want +got):\n%s", st, diff)
		}
	}
	if !strings.Contains(logged.String(), "level=WARN") || !strings.Contains(logged.String(), "records=2") {
		t.Errorf("Open logged %q; want a warning of the 2 records left in flight", logged.String())
	}
	// The stale record was in flight too: it is unknown now, and still
	// expired.
	wantAbsent(t, b, "stale")
	var raw Record
	if err := b.db.View(func(tx *bolt.Tx) error {
		var err error
		raw, _, err = getRecord(tx.Bucket(bucketRecords), stale.Key)
		return err
	}); err != nil || raw.State != Unknown {
		t.Errorf("the stale in-flight record after reopening: state %q, %v; want unknown", raw.State, err)
	}

	got, next, err := b.ListAudit(ctx, AuditQuery{})
	if err != nil || next != "" {
		t.Fatalf("ListAudit = next %q, %v", next, err)
	}
	if diff := cmp.Diff(newestFirst(evs), got, protocmp.Transform()); diff != "" {
		t.Errorf("audit trail after reopening (-want +got):\n%s", diff)
	}
	// Ids stay unique across the restart, even for an event of the same
	// time as an old one.
	again := auditEvent(evs[2].GetTime().AsTime(), "bob", "DeleteGpuInstance")
	mustAppend(t, b, again)
	if again.GetId() <= evs[2].GetId() {
		t.Errorf("id after reopening %q is not greater than %q, of an event of the same time before", again.GetId(), evs[2].GetId())
	}

	// A clean reopen changes nothing more.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute)
	logged.Reset()
	b2 := openBolt(t, dir, WithClock(c.Now), WithLogger(slog.New(slog.NewTextHandler(&logged, nil))))
	if diff := cmp.Diff(want, mustGet(t, b2, want.Key)); diff != "" {
		t.Errorf("unknown record after a second reopening (-want +got):\n%s", diff)
	}
	if logged.Len() != 0 {
		t.Errorf("a reopening with nothing in flight logged %q", logged.String())
	}
	// t.Cleanup closes b a second time: bbolt allows it.
}

func TestBoltLocked(t *testing.T) {
	dir := t.TempDir()
	first := openBolt(t, dir)
	mustPut(t, first, record("k", time.Now()))

	start := time.Now()
	b, err := Open(dir)
	took := time.Since(start)
	if err == nil {
		b.Close()
		t.Fatal("a second Open of an open store succeeded")
	}
	if !errors.Is(err, ErrLocked) {
		t.Errorf("second Open: %v; want ErrLocked", err)
	}
	if path := filepath.Join(dir, FileName); !strings.Contains(err.Error(), path) {
		t.Errorf("second Open: %q does not name %s", err, path)
	}
	if took > 3*time.Second {
		t.Errorf("second Open took %v to fail; want about a second", took)
	}
	// The first is unharmed, and once it is closed the store opens.
	mustGet(t, first, "k")
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	b = openBolt(t, dir)
	mustGet(t, b, "k")
}

// TestBoltCorrupt: a file that is not a store, or whose pages are
// damaged, is an error naming it, and is left as it was.
func TestBoltCorrupt(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	garbage := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return b
	}
	// A real store, its two meta pages overwritten.
	damaged := func(t *testing.T) []byte {
		dir := t.TempDir()
		b, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		mustPut(t, b, record("k", time.Now()))
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dir, FileName))
		if err != nil {
			t.Fatal(err)
		}
		pageSize := os.Getpagesize()
		if len(data) < 4*pageSize {
			t.Fatalf("store file of %d bytes, want at least 4 pages of %d", len(data), pageSize)
		}
		copy(data, garbage(2*pageSize))
		return data
	}
	for _, tc := range []struct {
		name string
		data func(t *testing.T) []byte
	}{
		{"Text", func(*testing.T) []byte { return []byte("this is not a bbolt file\n") }},
		{"OneByte", func(*testing.T) []byte { return []byte{0} }},
		{"RandomPages", func(*testing.T) []byte { return garbage(64 << 10) }},
		{"ZeroPages", func(*testing.T) []byte { return make([]byte, 32<<10) }},
		{"DamagedMetaPages", damaged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			data := tc.data(t)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			b, err := Open(dir)
			if err == nil {
				b.Close()
				t.Fatal("Open of a corrupt file succeeded")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("Open: %q does not name %s", err, path)
			}
			if errors.Is(err, ErrLocked) {
				t.Errorf("Open: %v; a corrupt file is not a locked one", err)
			}
			after, rerr := os.ReadFile(path)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if !bytes.Equal(after, data) {
				t.Errorf("Open changed the corrupt file: %d bytes before, %d after", len(data), len(after))
			}
		})
	}
}

// TestBoltCorruptRecord: a record Open cannot read is an error, not a
// record dropped; the file keeps it and is not left locked.
func TestBoltCorruptRecord(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	b := openBolt(t, dir)
	mustPut(t, b, record("good", time.Now()))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	rawPut(t, path, bucketRecords, "bad", []byte("{not json"))

	if b, err := Open(dir); err == nil {
		b.Close()
		t.Fatal("Open with an unreadable record succeeded")
	} else if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"bad"`) {
		t.Errorf("Open: %q; want it to name %s and the record \"bad\"", err, path)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("the failed Open left the file unopenable: %v", err)
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketRecords)
		if got := bk.Get([]byte("bad")); string(got) != "{not json" {
			t.Errorf("record \"bad\" is now %q", got)
		}
		if bk.Get([]byte("good")) == nil {
			t.Error("record \"good\" is gone")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// rawPut writes k=v in bucket of the bbolt file at path, behind the
// store's back.
func rawPut(t *testing.T, path string, bucket []byte, k string, v []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Put([]byte(k), v)
	}); err != nil {
		t.Fatal(err)
	}
}

func TestBoltAuditRetention(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		opts      []BoltOption
		retention time.Duration
	}{
		{"Hour", []BoltOption{WithAuditRetention(time.Hour)}, time.Hour},
		{"Default", nil, DefaultAuditRetention},
		{"ZeroKeepsDefault", []BoltOption{WithAuditRetention(0)}, DefaultAuditRetention},
		{"NegativeKeepsDefault", []BoltOption{WithAuditRetention(-time.Hour)}, DefaultAuditRetention},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			b := openBolt(t, t.TempDir(), append(tc.opts, WithClock(c.Now))...)
			now := c.Now()
			gone := []*gpubmsv1.AuditEvent{
				auditEvent(now.Add(-tc.retention-time.Nanosecond), "alice", "CreateGpuInstance"),
				auditEvent(now.Add(-tc.retention-24*time.Hour), "alice", "CreateGpuInstance"),
			}
			kept := []*gpubmsv1.AuditEvent{
				auditEvent(now.Add(-tc.retention), "alice", "CreateGpuInstance"),
				auditEvent(now.Add(-tc.retention/2), "alice", "CreateGpuInstance"),
				auditEvent(now, "alice", "CreateGpuInstance"),
			}
			mustAppend(t, b, append(gone, kept...)...)
			if r, e, err := b.Sweep(ctx); err != nil || r != 0 || e != len(gone) {
				t.Fatalf("Sweep = %d records, %d events, %v; want 0 and %d", r, e, err, len(gone))
			}
			got, _, err := b.ListAudit(ctx, AuditQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(ids(newestFirst(kept)), ids(got)); diff != "" {
				t.Errorf("events after Sweep (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBoltRun(t *testing.T) {
	c := newClock()
	b := openBolt(t, t.TempDir(), WithClock(c.Now))
	mustPut(t, b, record("k", c.Now()))
	c.Advance(2 * time.Hour)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Run(ctx, time.Millisecond)
	}()
	// Run sweeps: the expired record goes from the file.
	deadline := time.Now().Add(5 * time.Second)
	for rawHas(t, b, "k") {
		if time.Now().After(deadline) {
			t.Fatal("Run did not sweep the expired record within 5s")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of its context's cancellation")
	}

	// Cancelled before it starts, it returns at once.
	done2 := make(chan struct{})
	go func() {
		defer close(done2)
		b.Run(ctx, time.Hour)
	}()
	select {
	case <-done2:
	case <-time.After(5 * time.Second):
		t.Fatal("Run with a cancelled context did not return within 5s")
	}
}

// rawHas reports whether the store's file holds a record of key, expired
// or not.
func rawHas(t *testing.T, b *Bolt, key string) bool {
	t.Helper()
	var has bool
	if err := b.db.View(func(tx *bolt.Tx) error {
		has = tx.Bucket(bucketRecords).Get([]byte(key)) != nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return has
}

// TestBoltNoSecrets is a sanity check: the store's file holds what it was
// given, so a password never given to it is not in it.
func TestBoltNoSecrets(t *testing.T) {
	const (
		password = "Pa55-w0rd!never-given-to-the-store"
		never    = "a-secret-string-nobody-ever-wrote"
		marker   = "marker-instance-name-4f1c"
	)
	dir := t.TempDir()
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	req := &gpubmsv1.CreateGpuInstanceRequest{
		RegionId: "cn-north-1", InstanceName: marker, Password: password, Amount: 1, ImageId: "img-1",
	}
	req.Password = "" // what the server does before auditing
	a, err := anypb.New(req)
	if err != nil {
		t.Fatal(err)
	}
	ev := auditEvent(time.Now(), "alice", "CreateGpuInstance", "srv-1")
	ev.Request = a
	mustAppend(t, b, ev)
	r := record("alice/CreateGpuInstance/req-1", time.Now())
	r.State, r.Reply = Done, []byte(marker)
	mustPut(t, b, r)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	data, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(marker)) {
		t.Fatalf("the store file does not hold %q, which it was given: the check below proves nothing", marker)
	}
	for _, s := range []string{password, never} {
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("the store file holds %q, never given to it", s)
		}
	}
}

// bulkAppend appends evs as AppendAudit does, some hundreds a
// transaction: ten thousand AppendAudit calls, each synced to disk, would
// take seconds, and so would one transaction of them all (bbolt splits its
// nodes only at commit, and an insert into a large node is slow).
func bulkAppend(t *testing.T, b *Bolt, evs []*gpubmsv1.AuditEvent) {
	t.Helper()
	for chunk := range slices.Chunk(evs, 250) {
		if err := b.db.Update(func(tx *bolt.Tx) error {
			bk := tx.Bucket(bucketAudit)
			for _, ev := range chunk {
				seq, err := bk.NextSequence()
				if err != nil {
					return err
				}
				k := auditKey(ev.GetTime().AsTime(), seq)
				ev.Id = hex.EncodeToString(k)
				v, err := proto.Marshal(ev)
				if err != nil {
					return err
				}
				if err := bk.Put(k, v); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBoltListAuditMaxScan: a selective filter over a trail longer than
// maxScan answers a short page and a token, and the token's page goes on
// from the first event not looked at, skipping none and repeating none.
func TestBoltListAuditMaxScan(t *testing.T) {
	c := newClock()
	b := openBolt(t, t.TempDir(), WithClock(c.Now))
	top := c.Now()
	// Positions counted from the newest (1) down: alice's events at 1, at
	// maxScan (the last one page looks at) and maxScan+1 (the first it does
	// not), and at the oldest; noise everywhere else.
	const n = maxScan + 5
	alice := map[int]bool{1: true, maxScan: true, maxScan + 1: true, n: true}
	at := func(pos int) time.Time { return top.Add(-time.Duration(pos) * time.Second) }
	var noise, mine, all []*gpubmsv1.AuditEvent
	for pos := 1; pos <= n; pos++ {
		if alice[pos] {
			mine = append(mine, auditEvent(at(pos), "alice", "CreateGpuInstance", "srv-a"))
		} else {
			noise = append(noise, auditEvent(at(pos), "noise", "RebootGpuInstance", "srv-n"))
		}
	}
	bulkAppend(t, b, noise)
	// alice's after the noise, by AppendAudit itself: the oldest one last.
	mustAppend(t, b, mine...)
	all = append(noise, mine...)
	byPos := func(pos ...int) []string {
		var out []string
		for _, p := range pos {
			for _, ev := range all {
				if ev.GetTime().AsTime().Equal(at(p)) {
					out = append(out, ev.GetId())
				}
			}
		}
		return out
	}

	// The shape of the pages shows the scan limit at work.
	pages := checkPaging(t, b, all, AuditQuery{Caller: "alice"}, 10)
	want := []page{
		{byPos(1, maxScan), byPos(maxScan)[0]},
		{byPos(maxScan+1, n), ""},
	}
	if diff := cmp.Diff(want, pages, cmp.AllowUnexported(page{})); diff != "" {
		t.Errorf("pages of alice's events (-want +got):\n%s", diff)
	}

	// As the brief puts it: many newer events that do not match, then an
	// older one that does: an empty page with a token, then the event.
	late := auditEvent(at(n+1), "dave", "StopGpuInstance")
	mustAppend(t, b, late)
	all = append(all, late)
	pages = checkPaging(t, b, all, AuditQuery{Caller: "dave"}, 10)
	if len(pages) != 2 || len(pages[0].ids) != 0 || pages[0].next == "" {
		t.Errorf("pages of dave's event: %+v; want an empty one with a token, then the event", pages)
	}

	for _, q := range []AuditQuery{
		{Caller: "alice", PageSize: 1},
		{Caller: "alice", PageSize: 2},
		{Caller: "alice", PageSize: 3},
		{ResourceID: "srv-a", PageSize: 50},
		{RPC: "CreateGpuInstance", PageSize: 1000},
		{Caller: "alice", Start: at(maxScan + 1)},          // stops at the start, no token
		{Caller: "alice", End: at(maxScan)},                // events at and after End are looked at, not returned
		{End: at(maxScan - 2), PageSize: 3},                // unfiltered after End
		{Caller: "alice", Start: at(n), End: at(1)},        // both bounds
		{Caller: "noise", PageSize: 5000},                  // full pages over the limit
		{Caller: "noise", Start: at(maxScan + 3)},          // a page within the limit
		{Caller: "alice", End: at(n).Add(time.Nanosecond)}, // only the oldest
	} {
		t.Run(fmt.Sprintf("%+v", q), func(t *testing.T) {
			checkPaging(t, b, all, q, n)
		})
	}
	// Nothing matches: a page that stops at the limit, then the rest.
	pages = checkPaging(t, b, all, AuditQuery{Caller: "nobody"}, 5)
	if len(pages) != 2 || pages[0].next == "" {
		t.Errorf("pages of no events over %d: %+v; want an empty one with a token, then an empty last one", len(all), pages)
	}
}

// TestBoltListAuditLongTrail pages a sparse filter over a trail of twice
// times maxScan, the matches spread at random and on the limit's edges.
func TestBoltListAuditLongTrail(t *testing.T) {
	if testing.Short() {
		t.Skip("a trail of twice maxScan events: a couple of seconds under -race")
	}
	c := newClock()
	b := openBolt(t, t.TempDir(), WithClock(c.Now))
	rnd := rand.New(rand.NewPCG(7, 11))
	const n = 2*maxScan + 7
	top := c.Now()
	var all []*gpubmsv1.AuditEvent
	for pos := 1; pos <= n; pos++ {
		caller := "noise"
		if rnd.IntN(200) == 0 || pos%maxScan == 0 || pos%maxScan == 1 || pos == n {
			caller = "alice"
		}
		// Some events share a time.
		all = append(all, auditEvent(top.Add(-time.Duration(pos/3)*time.Millisecond), caller, "CreateGpuInstance"))
	}
	// Appended oldest first, as a trail grows (and as bbolt fills its pages
	// fastest).
	slices.Reverse(all)
	bulkAppend(t, b, all)
	for _, q := range []AuditQuery{
		{Caller: "alice", PageSize: 1},
		{Caller: "alice", PageSize: 7},
		{Caller: "alice", PageSize: 50},
		{Caller: "nobody"},
		{Caller: "alice", Start: top.Add(-5 * time.Second), End: top.Add(-2 * time.Second), PageSize: 7},
	} {
		t.Run(fmt.Sprintf("%+v", q), func(t *testing.T) {
			checkPaging(t, b, all, q, n)
		})
	}
}

// TestBoltAuditEventBefore1970: an event dated before 1970 (a negative
// UnixNano) sorts as the oldest: it does not list as the newest, does not
// hide the others from a query with a Start, and is swept.
func TestBoltAuditEventBefore1970(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	b := openBolt(t, t.TempDir(), WithClock(c.Now))
	recent := auditEvent(c.Now().Add(-time.Hour), "alice", "CreateGpuInstance")
	ancient := auditEvent(time.Date(1969, time.July, 20, 20, 17, 0, 0, time.UTC), "alice", "CreateGpuInstance")
	mustAppend(t, b, recent, ancient)

	got, _, err := b.ListAudit(ctx, AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{recent.GetId(), ancient.GetId()}, ids(got)); diff != "" {
		t.Errorf("ListAudit, newest first (-want +got):\n%s", diff)
	}
	got, _, err = b.ListAudit(ctx, AuditQuery{Start: c.Now().Add(-2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{recent.GetId()}, ids(got)); diff != "" {
		t.Errorf("ListAudit of the last two hours (-want +got):\n%s", diff)
	}
	if _, e, err := b.Sweep(ctx); err != nil || e != 1 {
		t.Errorf("Sweep = %d events, %v; want the event of 1969 swept", e, err)
	}
}
