package store

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	neturl "net/url"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// Redis is the store on a Redis server shared by several gpubmsd replicas:
// the same behaviour as Bolt, with every check-then-write done in a
// WATCH/MULTI transaction, so replicas agree on each record. Keys are under
// a prefix ("gpubms:" by default). It is safe for concurrent use.
type Redis struct {
	c         redis.UniversalClient
	prefix    string
	now       func() time.Time
	retention time.Duration
	log       *slog.Logger
	// clusterTag: every key is in one Cluster slot (the prefix is a hash tag).
	clusterTag bool
}

// The client library's own log (dial failures and the like, written to
// stderr by default) goes to slog at debug: the store's callers report the
// failures that matter, with their context.
func init() { redis.SetLogger(slogLogger{}) }

type slogLogger struct{}

func (slogLogger) Printf(ctx context.Context, format string, v ...any) {
	slog.Default().DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// namingHook says "redis" in every failure of the client (a dial error
// alone names only an address), keeping redis.Nil and the transaction
// errors recognisable with errors.Is.
type namingHook struct{}

func (namingHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
		return c, nil
	}
}

func (namingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (namingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// RedisOption configures OpenRedis.
type RedisOption func(*Redis)

// WithRedisClock replaces time.Now, for tests.
func WithRedisClock(now func() time.Time) RedisOption { return func(r *Redis) { r.now = now } }

// WithRedisPrefix sets the prefix of every key (default "gpubms:"), so
// several deployments can share one Redis.
func WithRedisPrefix(p string) RedisOption { return func(r *Redis) { r.prefix = p } }

// WithRedisAuditRetention sets how long audit events are kept (default 90 days).
func WithRedisAuditRetention(d time.Duration) RedisOption {
	return func(r *Redis) {
		if d > 0 {
			r.retention = d
		}
	}
}

// WithRedisLogger logs what Sweep removes.
func WithRedisLogger(l *slog.Logger) RedisOption { return func(r *Redis) { r.log = l } }

// OpenRedis connects to the Redis of url and checks that it answers:
//
//   - redis://[user:password@]host:port/db (rediss:// for TLS): one server;
//   - with ?master_name=NAME (and more sentinels as &addr=host:port): the
//     master Sentinel names (go-redis's ParseFailoverURL);
//   - with more nodes as &addr=host:port and no master_name: a Cluster
//     (ParseClusterURL). Every key then carries the hash tag of the prefix,
//     so a record's and the audit trail's keys share a slot.
func OpenRedis(ctx context.Context, url string, opts ...RedisOption) (*Redis, error) {
	// The URL may hold a password: errors say what is wrong without it.
	bad := errors.New("store: GPUBMS_REDIS_URL is not a redis:// or rediss:// URL go-redis can read")
	u, err := neturl.Parse(url)
	if err != nil {
		return nil, bad
	}
	q := u.Query()
	switch {
	case q.Has("master_name"):
		o, err := redis.ParseFailoverURL(url)
		if err != nil {
			return nil, bad
		}
		return NewRedis(ctx, redis.NewFailoverClient(o), opts...)
	case q.Has("addr"):
		o, err := redis.ParseClusterURL(url)
		if err != nil {
			return nil, bad
		}
		return NewRedis(ctx, redis.NewClusterClient(o), append([]RedisOption{withClusterTag()}, opts...)...)
	}
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, bad
	}
	return NewRedis(ctx, redis.NewClient(o), opts...)
}

// withClusterTag puts the prefix in braces (a Cluster hash tag), applied
// after the other options.
func withClusterTag() RedisOption { return func(r *Redis) { r.clusterTag = true } }

// NewRedis is the store on a client made by the caller (a Sentinel or
// Cluster client, say).
func NewRedis(ctx context.Context, c redis.UniversalClient, opts ...RedisOption) (*Redis, error) {
	c.AddHook(namingHook{})
	r := &Redis{c: c, prefix: "gpubms:", now: time.Now, retention: DefaultAuditRetention, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(r)
	}
	if r.clusterTag && !strings.HasPrefix(r.prefix, "{") {
		r.prefix = "{" + strings.TrimSuffix(r.prefix, ":") + "}:"
	}
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("store: redis does not answer: %w", err)
	}
	return r, nil
}

// Client is the Redis client, for the other shared state of a replica
// (poller ownership, the lease executor's lock, rate limits).
func (r *Redis) Client() redis.UniversalClient { return r.c }

// Prefix is the prefix of every key.
func (r *Redis) Prefix() string { return r.prefix }

// Path names the store in logs.
func (r *Redis) Path() string { return "redis" }

// Close closes the client.
func (r *Redis) Close() error { return r.c.Close() }

// Check reports whether Redis answers.
func (r *Redis) Check(ctx context.Context) error { return r.c.Ping(ctx).Err() }

func (r *Redis) key(parts ...string) string {
	k := r.prefix
	for i, p := range parts {
		if i > 0 {
			k += ":"
		}
		k += p
	}
	return k
}

func (r *Redis) recordKey(key string) string { return r.key("rec", hex.EncodeToString([]byte(key))) }

// readRecord reads a record inside a transaction.
func readRecord(ctx context.Context, tx *redis.Tx, k, key string) (Record, bool, error) {
	v, err := tx.Get(ctx, k).Bytes()
	if errors.Is(err, redis.Nil) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, err
	}
	var rec Record
	if err := json.Unmarshal(v, &rec); err != nil {
		return Record{}, false, fmt.Errorf("record %q: %w", key, err)
	}
	rec.Key = key
	return rec, true, nil
}

// keep is how long Redis keeps a record past now: to its expiry, and a
// minute more (the store's clock decides what is live; Redis only cleans).
func (r *Redis) keep(rec Record) time.Duration {
	return max(rec.Expires.Sub(r.now()), 0) + time.Minute
}

// atomically runs f in a WATCH transaction on k, again when another
// client changed k meanwhile (at most 50 times).
func (r *Redis) atomically(ctx context.Context, k string, f func(tx *redis.Tx) error) error {
	for range 50 {
		err := r.c.Watch(ctx, f, k)
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
	}
	return errors.New("store: redis: too much contention on one record")
}

// PutIfAbsent stores r unless a live record of r.Key exists, which it
// returns instead.
func (r *Redis) PutIfAbsent(ctx context.Context, rec Record) (Record, bool, error) {
	k := r.recordKey(rec.Key)
	var got Record
	var created bool
	err := r.atomically(ctx, k, func(tx *redis.Tx) error {
		old, ok, err := readRecord(ctx, tx, k, rec.Key)
		if err != nil {
			return err
		}
		if ok && r.now().Before(old.Expires) {
			got, created = old, false
			return nil
		}
		v, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error { return p.Set(ctx, k, v, r.keep(rec)).Err() })
		got, created = rec, err == nil
		return err
	})
	return got, created, err
}

// CompareAndSwap replaces the live record of r.Key, in state from and of
// the same call (its Started), with r.
func (r *Redis) CompareAndSwap(ctx context.Context, from State, rec Record) (bool, error) {
	k := r.recordKey(rec.Key)
	var swapped bool
	err := r.atomically(ctx, k, func(tx *redis.Tx) error {
		swapped = false
		old, ok, err := readRecord(ctx, tx, k, rec.Key)
		if err != nil || !ok || old.State != from || !old.Started.Equal(rec.Started) || !r.now().Before(old.Expires) {
			return err
		}
		v, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error { return p.Set(ctx, k, v, r.keep(rec)).Err() })
		swapped = err == nil
		return err
	})
	return swapped, err
}

// DeleteIf removes the live record of key if it is in state.
func (r *Redis) DeleteIf(ctx context.Context, key string, state State) (bool, error) {
	k := r.recordKey(key)
	var deleted bool
	err := r.atomically(ctx, k, func(tx *redis.Tx) error {
		deleted = false
		old, ok, err := readRecord(ctx, tx, k, key)
		if err != nil || !ok || old.State != state || !r.now().Before(old.Expires) {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error { return p.Del(ctx, k).Err() })
		deleted = err == nil
		return err
	})
	return deleted, err
}

// Get returns the live record of key.
func (r *Redis) Get(ctx context.Context, key string) (Record, bool, error) {
	v, err := r.c.Get(ctx, r.recordKey(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, err
	}
	var rec Record
	if err := json.Unmarshal(v, &rec); err != nil {
		return Record{}, false, err
	}
	rec.Key = key
	if !r.now().Before(rec.Expires) {
		return Record{}, false, nil
	}
	return rec, true, nil
}

// The audit trail: a sorted set of event keys (hex of auditKey, all of
// score 0, so ordered by the key: by time, then sequence) and a hash of the
// events by key.
func (r *Redis) auditIndex() string  { return r.key("audit", "index") }
func (r *Redis) auditEvents() string { return r.key("audit", "events") }

// AppendAudit adds ev to the trail, giving it its id.
func (r *Redis) AppendAudit(ctx context.Context, ev *gpubmsv1.AuditEvent) error {
	seq, err := r.c.Incr(ctx, r.key("audit", "seq")).Uint64()
	if err != nil {
		return err
	}
	k := hex.EncodeToString(auditKey(ev.GetTime().AsTime(), seq))
	ev.Id = k
	v, err := proto.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, r.auditEvents(), k, v)
		p.ZAdd(ctx, r.auditIndex(), redis.Z{Member: k})
		return nil
	})
	return err
}

// ListAudit returns the events q selects, newest first, and a token for the
// next page, as Bolt does.
func (r *Redis) ListAudit(ctx context.Context, q AuditQuery) ([]*gpubmsv1.AuditEvent, string, error) {
	maxKey := "+"
	switch {
	case q.PageToken != "":
		k, err := hex.DecodeString(q.PageToken)
		if err != nil || len(k) != 16 {
			return nil, "", ErrBadPageToken
		}
		maxKey = "(" + q.PageToken
	case !q.End.IsZero():
		maxKey = "(" + hex.EncodeToString(auditKey(q.End, 0))
	}
	size := q.PageSize
	if size <= 0 {
		size = 50
	}
	var out []*gpubmsv1.AuditEvent
	scanned := 0
	prev := ""
	for {
		keys, err := r.c.ZRevRangeByLex(ctx, r.auditIndex(), &redis.ZRangeBy{Max: maxKey, Min: "-", Count: 500}).Result()
		if err != nil {
			return nil, "", fmt.Errorf("store: %w", err)
		}
		if len(keys) == 0 {
			return out, "", nil
		}
		vals, err := r.c.HMGet(ctx, r.auditEvents(), keys...).Result()
		if err != nil {
			return nil, "", fmt.Errorf("store: %w", err)
		}
		for i, k := range keys {
			kb, _ := hex.DecodeString(k)
			t := auditTime(kb)
			if !q.Start.IsZero() && t.Before(q.Start) {
				return out, "", nil
			}
			if scanned++; scanned > maxScan {
				return out, prev, nil
			}
			prev = k
			if !q.End.IsZero() && !t.Before(q.End) {
				continue
			}
			s, ok := vals[i].(string)
			if !ok {
				continue // swept meanwhile
			}
			ev := new(gpubmsv1.AuditEvent)
			if err := proto.Unmarshal([]byte(s), ev); err != nil {
				return nil, "", fmt.Errorf("audit event %s: %w", k, err)
			}
			if !matches(ev, q) {
				continue
			}
			if len(out) == size {
				return out, out[len(out)-1].GetId(), nil
			}
			out = append(out, ev)
		}
		maxKey = "(" + keys[len(keys)-1]
	}
}

// Sweep forgets expired records (Redis also expires them itself, a minute
// after) and audit events older than the retention, and reports how many
// of each it removed.
func (r *Redis) Sweep(ctx context.Context) (records, events int, err error) {
	now := r.now()
	iter := r.c.Scan(ctx, 0, r.key("rec", "*"), 500).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		derr := r.atomically(ctx, k, func(tx *redis.Tx) error {
			v, err := tx.Get(ctx, k).Bytes()
			if errors.Is(err, redis.Nil) {
				return nil
			}
			if err != nil {
				return err
			}
			var rec Record
			if json.Unmarshal(v, &rec) != nil || now.Before(rec.Expires) {
				return nil
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error { return p.Del(ctx, k).Err() })
			if err == nil {
				records++
			}
			return err
		})
		if derr != nil {
			return records, 0, derr
		}
	}
	if err := iter.Err(); err != nil {
		return records, 0, err
	}
	cutoff := "(" + hex.EncodeToString(auditKey(now.Add(-r.retention), 0))
	old, err := r.c.ZRangeByLex(ctx, r.auditIndex(), &redis.ZRangeBy{Min: "-", Max: cutoff}).Result()
	if err != nil || len(old) == 0 {
		return records, 0, err
	}
	_, err = r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, r.auditEvents(), old...)
		members := make([]any, len(old))
		for i, k := range old {
			members[i] = k
		}
		p.ZRem(ctx, r.auditIndex(), members...)
		return nil
	})
	return records, len(old), err
}

// Run sweeps every interval until ctx is done.
func (r *Redis) Run(ctx context.Context, interval time.Duration) {
	sweepEvery(ctx, interval, r.Sweep, r.log)
}

// Protection: a hash of protections by resource id.

func (r *Redis) SetProtection(ctx context.Context, ids []string, protected bool, reason, caller string) ([]*gpubmsv1.Protection, error) {
	now := timestamppb.New(r.now())
	out := make([]*gpubmsv1.Protection, 0, len(ids))
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			pr := &gpubmsv1.Protection{ResourceId: id, Protected: protected, Reason: reason, Caller: caller, UpdateTime: now}
			out = append(out, pr)
			if !protected {
				p.HDel(ctx, r.key("protection"), id)
				continue
			}
			v, err := proto.Marshal(pr)
			if err != nil {
				return err
			}
			p.HSet(ctx, r.key("protection"), id, v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (r *Redis) Protected(ctx context.Context, ids []string) (map[string]*gpubmsv1.Protection, error) {
	out := map[string]*gpubmsv1.Protection{}
	if len(ids) == 0 {
		return out, nil
	}
	vals, err := r.c.HMGet(ctx, r.key("protection"), ids...).Result()
	if err != nil {
		return nil, err
	}
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		pr := new(gpubmsv1.Protection)
		if err := proto.Unmarshal([]byte(s), pr); err != nil {
			return nil, err
		}
		out[ids[i]] = pr
	}
	return out, nil
}

func (r *Redis) ListProtections(ctx context.Context) ([]*gpubmsv1.Protection, error) {
	all, err := r.c.HGetAll(ctx, r.key("protection")).Result()
	if err != nil {
		return nil, err
	}
	out := make([]*gpubmsv1.Protection, 0, len(all))
	for _, v := range all {
		pr := new(gpubmsv1.Protection)
		if err := proto.Unmarshal([]byte(v), pr); err != nil {
			return nil, err
		}
		out = append(out, pr)
	}
	slices.SortFunc(out, func(a, b *gpubmsv1.Protection) int { return compareStrings(a.GetResourceId(), b.GetResourceId()) })
	return out, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Leases: a hash of leases by resource id.

func (r *Redis) PutLeases(ctx context.Context, leases []*gpubmsv1.Lease) error {
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, l := range leases {
			v, err := proto.Marshal(l)
			if err != nil {
				return err
			}
			p.HSet(ctx, r.key("leases"), l.GetResourceId(), v)
		}
		return nil
	})
	return err
}

func (r *Redis) Leases(ctx context.Context) ([]*gpubmsv1.Lease, error) {
	all, err := r.c.HGetAll(ctx, r.key("leases")).Result()
	if err != nil {
		return nil, err
	}
	out := make([]*gpubmsv1.Lease, 0, len(all))
	for _, v := range all {
		l := new(gpubmsv1.Lease)
		if err := proto.Unmarshal([]byte(v), l); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b *gpubmsv1.Lease) int {
		if c := a.GetExpireAt().AsTime().Compare(b.GetExpireAt().AsTime()); c != 0 {
			return c
		}
		return compareStrings(a.GetResourceId(), b.GetResourceId())
	})
	return out, nil
}

// GetLease returns the lease of a server, if it has one.
func (r *Redis) GetLease(ctx context.Context, id string) (*gpubmsv1.Lease, bool, error) {
	v, err := r.c.HGet(ctx, r.key("leases"), id).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	l := new(gpubmsv1.Lease)
	if err := proto.Unmarshal(v, l); err != nil {
		return nil, false, err
	}
	return l, true, nil
}

func (r *Redis) DeleteLeases(ctx context.Context, ids []string) ([]string, error) {
	var had []string
	for _, id := range ids {
		n, err := r.c.HDel(ctx, r.key("leases"), id).Result()
		if err != nil {
			return had, err
		}
		if n > 0 {
			had = append(had, id)
		}
	}
	return had, nil
}

// UpdateLease stores l if the server's lease is still the one created at
// l's create_time.
func (r *Redis) UpdateLease(ctx context.Context, l *gpubmsv1.Lease) (bool, error) {
	k := r.key("leases")
	var ok bool
	err := r.atomically(ctx, k, func(tx *redis.Tx) error {
		ok = false
		v, err := tx.HGet(ctx, k, l.GetResourceId()).Bytes()
		if errors.Is(err, redis.Nil) {
			return nil
		}
		if err != nil {
			return err
		}
		cur := new(gpubmsv1.Lease)
		if err := proto.Unmarshal(v, cur); err != nil {
			return err
		}
		if !cur.GetCreateTime().AsTime().Equal(l.GetCreateTime().AsTime()) {
			return nil
		}
		nv, err := proto.Marshal(l)
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error { return p.HSet(ctx, k, l.GetResourceId(), nv).Err() })
		ok = err == nil
		return err
	})
	return ok, err
}

func (r *Redis) PutLeaseTask(ctx context.Context, t LeaseTask) error {
	v, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return r.c.HSet(ctx, r.key("lease_tasks"), t.TaskID, v).Err()
}

func (r *Redis) LeaseTasks(ctx context.Context) ([]LeaseTask, error) {
	all, err := r.c.HGetAll(ctx, r.key("lease_tasks")).Result()
	if err != nil {
		return nil, err
	}
	out := make([]LeaseTask, 0, len(all))
	for _, v := range all {
		var t LeaseTask
		if err := json.Unmarshal([]byte(v), &t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b LeaseTask) int { return compareStrings(a.TaskID, b.TaskID) })
	return out, nil
}

func (r *Redis) DeleteLeaseTask(ctx context.Context, taskID string) error {
	return r.c.HDel(ctx, r.key("lease_tasks"), taskID).Err()
}

func (r *Redis) PutCreations(ctx context.Context, cs []Creation) error {
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range cs {
			v, err := json.Marshal(c)
			if err != nil {
				return err
			}
			p.HSet(ctx, r.key("creations"), c.ResourceID, v)
		}
		return nil
	})
	return err
}

func (r *Redis) Creations(ctx context.Context) (map[string]Creation, error) {
	all, err := r.c.HGetAll(ctx, r.key("creations")).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string]Creation, len(all))
	for k, v := range all {
		var c Creation
		if err := json.Unmarshal([]byte(v), &c); err != nil {
			return nil, err
		}
		out[k] = c
	}
	return out, nil
}
