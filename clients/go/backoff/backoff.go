// Package backoff computes the waits between repeated attempts: the one
// backoff of gpubms, used by the Go client's waits, the server's provider
// retries and its task pollers. It has no dependencies.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Exponential is the ceiling before attempt n+1 after n failures: first,
// doubling with each failure, capped at max. n below 1 counts as 1.
func Exponential(first, max time.Duration, n int) time.Duration {
	d := first
	for i := 1; i < n && d < max; i++ {
		if d > max/2 {
			return max
		}
		d *= 2
	}
	return min(d, max)
}

// Full is a uniformly random wait in [0, d] ("full jitter": callers that
// failed together spread out the most). rnd(n) returns a value in [0, n);
// nil is math/rand/v2's Int64N.
func Full(d time.Duration, rnd func(int64) int64) time.Duration {
	if d <= 0 {
		return 0
	}
	if rnd == nil {
		rnd = rand.Int64N
	}
	return time.Duration(rnd(int64(d) + 1))
}

// Equal is d/2 plus a uniformly random part of up to d/2 ("equal jitter":
// never less than half the ceiling).
func Equal(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// Up lengthens d by a random fraction of up to j (0.1: up to 10% longer).
// It never shortens d, so a poll is never sent sooner than d.
func Up(d time.Duration, j float64) time.Duration {
	if j <= 0 || d <= 0 {
		return d
	}
	return d + time.Duration(float64(d)*j*rand.Float64())
}
