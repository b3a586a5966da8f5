package app

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/gpubms/gpubms/server/store"
)

// openStore opens the store of cfg: Redis when GPUBMS_REDIS_URL is set
// (with the fingerprint key kept there, the same for every replica), else
// the bbolt file in dir (with the key beside it).
func openStore(ctx context.Context, cfg Config, dir string, logger *slog.Logger) (store.Store, []byte, error) {
	retention := cmp.Or(cfg.AuditRetention, DefaultAuditRetention)
	if cfg.RedisURL == "" {
		st, err := store.Open(dir, store.WithAuditRetention(retention), store.WithLogger(logger))
		if err != nil {
			return nil, nil, err
		}
		key, err := fingerprintKey(dir)
		if err != nil {
			st.Close()
			return nil, nil, err
		}
		return st, key, nil
	}
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := store.OpenRedis(octx, cfg.RedisURL, store.WithRedisAuditRetention(retention), store.WithRedisLogger(logger))
	if err != nil {
		return nil, nil, err
	}
	key, err := sharedFingerprintKey(octx, st.Client(), st.Prefix()+"fingerprint-key")
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, key, nil
}

// sharedFingerprintKey is the replicas' one fingerprint key: the first
// replica to start makes it (SET NX), the others read it.
func sharedFingerprintKey(ctx context.Context, c redis.UniversalClient, k string) ([]byte, error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	if err := c.SetNX(ctx, k, hex.EncodeToString(fresh), 0).Err(); err != nil {
		return nil, fmt.Errorf("store: redis: the fingerprint key: %w", err)
	}
	v, err := c.Get(ctx, k).Result()
	if err != nil {
		return nil, fmt.Errorf("store: redis: the fingerprint key: %w", err)
	}
	key, err := hex.DecodeString(v)
	if err != nil || len(key) < 32 {
		return nil, errors.New("store: redis: the fingerprint key there is not 32 or more bytes of hex")
	}
	return key, nil
}

// renewLock extends a lock held with token; 0 when another holds it.
var renewLock = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`)

// leader is one replica's claim on a job only one replica may run at a
// time (the lease executor): a key holding the replica's token, taken with
// SET NX PX and renewed while it leads; when the leader stops renewing, the
// key expires and another takes it.
type leader struct {
	c     redis.UniversalClient
	key   string
	token string
	ttl   time.Duration
	log   *slog.Logger
	was   bool
}

func newLeader(c redis.UniversalClient, key string, ttl time.Duration, log *slog.Logger) *leader {
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	return &leader{c: c, key: key, token: hex.EncodeToString(tok), ttl: ttl, log: log}
}

// lead reports whether this replica leads now, taking or renewing the key.
func (l *leader) lead(ctx context.Context) bool {
	ok := false
	if n, err := renewLock.Run(ctx, l.c, []string{l.key}, l.token, l.ttl.Milliseconds()).Int(); err == nil && n == 1 {
		ok = true
	} else if set, err := l.c.SetNX(ctx, l.key, l.token, l.ttl).Result(); err == nil && set {
		ok = true
	}
	if ok != l.was {
		l.log.Info("lease executor", "leading", ok)
		l.was = ok
	}
	return ok
}

// providerGate is GPUBMS_PROVIDER_RATE_LIMIT counted in Redis for every
// replica (upstream.WithRequestGate): a request waits for its turn in the
// shared budget, within its context.
func providerGate(c redis.UniversalClient, key string, perSecond float64) func(context.Context) (bool, error) {
	lim, limit := redis_rate.NewLimiter(c), sharedLimit(perSecond)
	return func(ctx context.Context) (bool, error) {
		for range 1000 {
			r, err := lim.Allow(ctx, key, limit)
			if err != nil {
				if ctx.Err() != nil {
					return true, ctx.Err()
				}
				return false, nil
			}
			if r.Allowed > 0 {
				return true, nil
			}
			wait := max(r.RetryAfter, time.Millisecond)
			if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
				return true, context.DeadlineExceeded
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return true, ctx.Err()
			case <-t.C:
			}
		}
		return true, errors.New("the shared provider request cap did not let the request go")
	}
}
