package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"google.golang.org/protobuf/proto"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// FileName is the store's file in its directory.
const FileName = "gpubms.db"

var (
	bucketRecords    = []byte("requests")
	bucketAudit      = []byte("audit")
	bucketProtection = []byte("protection")
	bucketLeases     = []byte("leases")
	bucketLeaseTasks = []byte("lease_tasks")
	bucketCreations  = []byte("creations")
)

// maxScan bounds the events one ListAudit reads, so a selective filter over
// a long trail answers a short page with a token rather than reading all.
const maxScan = 10000

// Bolt is the store in one bbolt file. It is safe for concurrent use.
type Bolt struct {
	db        *bolt.DB
	path      string
	now       func() time.Time
	retention time.Duration
	log       *slog.Logger
}

// BoltOption configures Open.
type BoltOption func(*Bolt)

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) BoltOption { return func(b *Bolt) { b.now = now } }

// WithAuditRetention sets how long audit events are kept. Default: 90 days.
func WithAuditRetention(d time.Duration) BoltOption {
	return func(b *Bolt) {
		if d > 0 {
			b.retention = d
		}
	}
}

// WithLogger logs what Sweep removes. Default: discard.
func WithLogger(l *slog.Logger) BoltOption { return func(b *Bolt) { b.log = l } }

// DefaultAuditRetention is how long audit events are kept by default.
const DefaultAuditRetention = 90 * 24 * time.Hour

// Open opens (creating it if need be) the store in dir. Only one process
// may have it open: a second gets ErrLocked within a second. A file that is
// not a store, or is damaged, is an error: nothing is dropped silently.
//
// Records that were in flight when the store was last closed belonged to a
// process that is gone, so their outcome is unknown: Open marks them so.
func Open(dir string, opts ...BoltOption) (*Bolt, error) {
	b := &Bolt{now: time.Now, retention: DefaultAuditRetention, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(b)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	b.path = filepath.Join(dir, FileName)
	db, err := bolt.Open(b.path, 0o600, &bolt.Options{Timeout: time.Second})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("store %s: %w (its file lock is held: is another gpubmsd using this data directory?)", b.path, ErrLocked)
	case err != nil:
		return nil, fmt.Errorf("store %s cannot be opened (%w); move it aside to start afresh", b.path, err)
	}
	b.db = db
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketRecords, bucketAudit, bucketProtection, bucketLeases, bucketLeaseTasks, bucketCreations} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return b.orphans(tx)
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", b.path, err)
	}
	return b, nil
}

// orphans marks the records left in flight as unknown.
func (b *Bolt) orphans(tx *bolt.Tx) error {
	bk := tx.Bucket(bucketRecords)
	now := b.now()
	var fixed [][2][]byte
	err := bk.ForEach(func(k, v []byte) error {
		var r Record
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("record %q: %w", k, err)
		}
		if r.State != InFlight {
			return nil
		}
		r.State, r.Updated = Unknown, now
		nv, err := json.Marshal(r)
		if err != nil {
			return err
		}
		fixed = append(fixed, [2][]byte{slices.Clone(k), nv})
		return nil
	})
	if err != nil {
		return err
	}
	for _, kv := range fixed {
		if err := bk.Put(kv[0], kv[1]); err != nil {
			return err
		}
	}
	if len(fixed) > 0 {
		b.log.Warn("store: calls in flight when the server last stopped have an unknown outcome", "records", len(fixed))
	}
	return nil
}

// Path is the store's file.
func (b *Bolt) Path() string { return b.path }

// Close closes the store.
func (b *Bolt) Close() error { return b.db.Close() }

// Check reports whether the store can be read: nil while it is open.
func (b *Bolt) Check(context.Context) error {
	return b.db.View(func(*bolt.Tx) error { return nil })
}

func getRecord(bk *bolt.Bucket, key string) (Record, bool, error) {
	v := bk.Get([]byte(key))
	if v == nil {
		return Record{}, false, nil
	}
	var r Record
	if err := json.Unmarshal(v, &r); err != nil {
		return Record{}, false, fmt.Errorf("store: record %q: %w", key, err)
	}
	r.Key = key
	return r, true, nil
}

func putRecord(bk *bolt.Bucket, r Record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return bk.Put([]byte(r.Key), v)
}

// PutIfAbsent stores r unless a live (unexpired) record has its key, and
// returns the record that is there afterwards and whether it is r.
func (b *Bolt) PutIfAbsent(_ context.Context, r Record) (Record, bool, error) {
	var got Record
	var created bool
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketRecords)
		old, ok, err := getRecord(bk, r.Key)
		if err != nil {
			return err
		}
		if ok && b.now().Before(old.Expires) {
			got = old
			return nil
		}
		got, created = r, true
		return putRecord(bk, r)
	})
	return got, created, err
}

// CompareAndSwap replaces the record of r.Key with r if the record there is
// live, in state from, and the same call's (its Started is r's), and
// reports whether it did. A record that expired, or was replaced by another
// call's after it expired, is left alone.
func (b *Bolt) CompareAndSwap(_ context.Context, from State, r Record) (bool, error) {
	var swapped bool
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketRecords)
		old, ok, err := getRecord(bk, r.Key)
		if err != nil || !ok || old.State != from || !old.Started.Equal(r.Started) || !b.now().Before(old.Expires) {
			return err
		}
		swapped = true
		return putRecord(bk, r)
	})
	return swapped, err
}

// DeleteIf removes the live record of key if it is in state, and reports
// whether it did.
func (b *Bolt) DeleteIf(_ context.Context, key string, state State) (bool, error) {
	var deleted bool
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketRecords)
		old, ok, err := getRecord(bk, key)
		if err != nil || !ok || old.State != state || !b.now().Before(old.Expires) {
			return err
		}
		deleted = true
		return bk.Delete([]byte(key))
	})
	return deleted, err
}

// Get returns the live record of key.
func (b *Bolt) Get(_ context.Context, key string) (Record, bool, error) {
	var r Record
	var ok bool
	err := b.db.View(func(tx *bolt.Tx) error {
		var err error
		r, ok, err = getRecord(tx.Bucket(bucketRecords), key)
		if ok && !b.now().Before(r.Expires) {
			r, ok = Record{}, false
		}
		return err
	})
	return r, ok, err
}

// The times an audit key can hold: those of Unix nanoseconds in an int64.
var (
	minAuditTime = time.Unix(0, math.MinInt64)
	maxAuditTime = time.Unix(0, math.MaxInt64)
)

// auditKey orders events by time: 8 bytes of Unix nanoseconds (the sign
// bit flipped, so times before 1970 sort first; times beyond what
// nanoseconds hold are clamped), then 8 of a sequence number.
func auditKey(t time.Time, seq uint64) []byte {
	switch {
	case t.Before(minAuditTime):
		t = minAuditTime
	case t.After(maxAuditTime):
		t = maxAuditTime
	}
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k[:8], uint64(t.UnixNano())^(1<<63))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
}

// auditTime is the time of an audit key.
func auditTime(k []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(k[:8])^(1<<63)))
}

// AppendAudit adds ev to the trail, giving it its id.
func (b *Bolt) AppendAudit(_ context.Context, ev *gpubmsv1.AuditEvent) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketAudit)
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
		return bk.Put(k, v)
	})
}

// ListAudit returns the events q selects, newest first, and a token for the
// next page ("" when there is none).
func (b *Bolt) ListAudit(_ context.Context, q AuditQuery) ([]*gpubmsv1.AuditEvent, string, error) {
	var from []byte
	switch {
	case q.PageToken != "":
		k, err := hex.DecodeString(q.PageToken)
		if err != nil || len(k) != 16 {
			return nil, "", ErrBadPageToken
		}
		from = k
	case !q.End.IsZero():
		// Strictly before the first key at End.
		from = auditKey(q.End, 0)
	}
	size := q.PageSize
	if size <= 0 {
		size = 50
	}
	var out []*gpubmsv1.AuditEvent
	var next string
	err := b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		var k, v []byte
		if from == nil {
			k, v = c.Last()
		} else {
			// Strictly before the token's event.
			k, v = c.Seek(from)
			if k == nil {
				k, v = c.Last()
			}
			for k != nil && bytes.Compare(k, from) >= 0 {
				k, v = c.Prev()
			}
		}
		var prev []byte // the last key looked at
		for scanned := 0; k != nil; k, v = c.Prev() {
			t := auditTime(k)
			if !q.Start.IsZero() && t.Before(q.Start) {
				return nil // older ones are older still
			}
			if scanned++; scanned > maxScan {
				// The next page goes on strictly before prev, from k.
				next = hex.EncodeToString(prev)
				return nil
			}
			prev = k
			if !q.End.IsZero() && !t.Before(q.End) {
				continue
			}
			ev := new(gpubmsv1.AuditEvent)
			if err := proto.Unmarshal(v, ev); err != nil {
				return fmt.Errorf("audit event %x: %w", k, err)
			}
			if !matches(ev, q) {
				continue
			}
			if len(out) == size {
				next = out[len(out)-1].GetId()
				return nil
			}
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("store: %w", err)
	}
	return out, next, nil
}

func matches(ev *gpubmsv1.AuditEvent, q AuditQuery) bool {
	return (q.Caller == "" || ev.GetCaller() == q.Caller) &&
		(q.RPC == "" || ev.GetRpc() == q.RPC) &&
		(q.ResourceID == "" || slices.Contains(ev.GetResourceIds(), q.ResourceID))
}

// Sweep forgets expired records and audit events older than the retention,
// and reports how many of each it removed.
func (b *Bolt) Sweep(_ context.Context) (records, events int, err error) {
	now := b.now()
	err = b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketRecords)
		var expired [][]byte
		if err := bk.ForEach(func(k, v []byte) error {
			var r Record
			if json.Unmarshal(v, &r) == nil && !now.Before(r.Expires) {
				expired = append(expired, slices.Clone(k))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range expired {
			if err := bk.Delete(k); err != nil {
				return err
			}
		}
		records = len(expired)

		cutoff := auditKey(now.Add(-b.retention), 0)
		ab := tx.Bucket(bucketAudit)
		var old [][]byte
		c := ab.Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k, cutoff) < 0; k, _ = c.Next() {
			old = append(old, slices.Clone(k))
		}
		for _, k := range old {
			if err := ab.Delete(k); err != nil {
				return err
			}
		}
		events = len(old)
		return nil
	})
	return records, events, err
}

// Run sweeps every interval (a minute when it is not positive) until ctx
// is done.
func (b *Bolt) Run(ctx context.Context, interval time.Duration) {
	sweepEvery(ctx, interval, b.Sweep, b.log)
}

// sweepEvery runs sweep every interval (a minute when it is not positive)
// until ctx is done, logging what it removed and its failures.
func sweepEvery(ctx context.Context, interval time.Duration, sweep func(context.Context) (int, int, error), log *slog.Logger) {
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r, e, err := sweep(ctx)
		switch {
		case err != nil:
			log.Error("store: sweep failed", "error", err)
		case r+e > 0:
			log.Debug("store: swept", "records", r, "audit_events", e)
		}
	}
}
