package app

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// limits are the rate limits (the whole server's and each caller's) and the
// cap on each caller's watch streams. A refusal is ResourceExhausted with a
// google.rpc.RetryInfo saying when to try again (HTTP 429 with
// Retry-After through the gateway).
type limits struct {
	global *rate.Limiter // nil: no server-wide limit
	// shared, when set, counts the limits in Redis for every replica at
	// once (the local buckets stand in while Redis cannot be reached).
	shared       *redis_rate.Limiter
	sharedPrefix string
	globalRate   float64

	perCaller rate.Limit // 0: no per-caller limit
	burst     int
	mu        sync.Mutex
	callers   map[string]*rate.Limiter

	maxWatches int // 0: no cap
	wmu        sync.Mutex
	watches    map[string]int
}

func newLimits(global, perCaller float64, maxWatches int) *limits {
	l := &limits{perCaller: rate.Limit(perCaller), burst: burstOf(perCaller), maxWatches: maxWatches,
		callers: map[string]*rate.Limiter{}, watches: map[string]int{}}
	if global > 0 {
		l.global = rate.NewLimiter(rate.Limit(global), burstOf(global))
	}
	return l
}

// burstOf lets a caller spend one second's worth at once.
func burstOf(perSecond float64) int { return max(1, int(math.Ceil(perSecond))) }

// maxBuckets is how many callers' buckets are kept before the full ones
// (whose callers have been quiet for a second or more) are dropped: a
// bucket that is full is the same as a new one.
const maxBuckets = 4096

// limiter returns caller's bucket.
func (l *limits) limiter(caller string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.callers[caller]
	if !ok {
		if len(l.callers) >= maxBuckets {
			for name, b := range l.callers {
				if b.TokensAt(now) >= float64(l.burst) {
					delete(l.callers, name)
				}
			}
		}
		lim = rate.NewLimiter(l.perCaller, l.burst)
		l.callers[caller] = lim
	}
	return lim
}

// share counts the limits in Redis, under prefix, for every replica.
func (l *limits) share(c redis.UniversalClient, prefix string, global float64) {
	l.shared, l.sharedPrefix, l.globalRate = redis_rate.NewLimiter(c), prefix, global
}

// sharedLimit is a per-second rate as redis_rate counts it: whole calls
// per period, a second or, below one call a second, longer.
func sharedLimit(perSecond float64) redis_rate.Limit {
	if perSecond >= 1 {
		n := int(math.Ceil(perSecond))
		return redis_rate.Limit{Rate: n, Burst: n, Period: time.Second}
	}
	return redis_rate.Limit{Rate: 1, Burst: 1, Period: time.Duration(float64(time.Second) / perSecond)}
}

// allowShared is allow with the buckets in Redis; decided is false when
// Redis could not be asked (the local buckets decide then).
func (l *limits) allowShared(ctx context.Context) (decided bool, err error) {
	if l.perCaller > 0 {
		name := callerName(ctx)
		r, rerr := l.shared.Allow(ctx, l.sharedPrefix+"caller:"+name, sharedLimit(float64(l.perCaller)))
		if rerr != nil {
			return false, nil
		}
		if r.Allowed == 0 {
			return true, retryLater(max(r.RetryAfter, time.Millisecond), fmt.Sprintf("caller %q is over its rate limit of %g calls per second", name, float64(l.perCaller)))
		}
	}
	if l.globalRate > 0 {
		r, rerr := l.shared.Allow(ctx, l.sharedPrefix+"server", sharedLimit(l.globalRate))
		if rerr != nil {
			return false, nil
		}
		if r.Allowed == 0 {
			return true, retryLater(max(r.RetryAfter, time.Millisecond), "server rate limit reached")
		}
	}
	return true, nil
}

// allow takes one call from caller's bucket, then from the server's. A
// caller over its own limit takes nothing from the server's, so a noisy
// caller cannot use up the quiet ones' share.
func (l *limits) allow(ctx context.Context) error {
	if l.shared != nil && (l.perCaller > 0 || l.globalRate > 0) {
		if decided, err := l.allowShared(ctx); decided {
			return err
		}
	}
	now := time.Now()
	if l.perCaller > 0 {
		name := callerName(ctx)
		if wait, ok := take(l.limiter(name, now), now); !ok {
			return retryLater(wait, fmt.Sprintf("caller %q is over its rate limit of %g calls per second", name, float64(l.perCaller)))
		}
	}
	if l.global != nil {
		if wait, ok := take(l.global, now); !ok {
			return retryLater(wait, "server rate limit reached")
		}
	}
	return nil
}

// take takes a token if one is there now, else says how long until one is.
func take(lim *rate.Limiter, now time.Time) (time.Duration, bool) {
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return time.Second, false
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

func retryLater(wait time.Duration, msg string) error {
	st := status.New(codes.ResourceExhausted, msg)
	if ds, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(wait)}); err == nil {
		st = ds
	}
	return st.Err()
}

// openWatch counts one more watch stream of the caller of ctx, or refuses it
// when the caller has maxWatches open. done ends it.
func (l *limits) openWatch(ctx context.Context) (done func(), err error) {
	if l.maxWatches <= 0 {
		return func() {}, nil
	}
	name := callerName(ctx)
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.watches[name] >= l.maxWatches {
		return nil, retryLater(time.Second, fmt.Sprintf("caller %q has %d watch streams open, the most allowed (GPUBMS_MAX_WATCHES_PER_CALLER)", name, l.maxWatches))
	}
	l.watches[name]++
	return func() {
		l.wmu.Lock()
		defer l.wmu.Unlock()
		if l.watches[name]--; l.watches[name] <= 0 {
			delete(l.watches, name)
		}
	}, nil
}
