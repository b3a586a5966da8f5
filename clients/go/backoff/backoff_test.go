package backoff

import (
	"math"
	"testing"
	"time"
)

func TestExponential(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		first, max time.Duration
		n          int
		want       time.Duration
	}{
		{100 * time.Millisecond, 5 * time.Second, 0, 100 * time.Millisecond},
		{100 * time.Millisecond, 5 * time.Second, 1, 100 * time.Millisecond},
		{100 * time.Millisecond, 5 * time.Second, 2, 200 * time.Millisecond},
		{100 * time.Millisecond, 5 * time.Second, 4, 800 * time.Millisecond},
		{100 * time.Millisecond, 5 * time.Second, 7, 5 * time.Second},
		{100 * time.Millisecond, 5 * time.Second, 1000, 5 * time.Second},
		{time.Second, math.MaxInt64, 200, math.MaxInt64}, // no overflow
		{time.Second, 500 * time.Millisecond, 1, 500 * time.Millisecond},
	} {
		if got := Exponential(tc.first, tc.max, tc.n); got != tc.want {
			t.Errorf("Exponential(%v, %v, %d) = %v, want %v", tc.first, tc.max, tc.n, got, tc.want)
		}
	}
}

func TestJitter(t *testing.T) {
	t.Parallel()
	const d = 100 * time.Millisecond
	var lo, hi bool
	for range 2000 {
		f := Full(d, nil)
		e := Equal(d)
		u := Up(d, 0.5)
		if f < 0 || f > d {
			t.Fatalf("Full(%v) = %v, outside [0, %v]", d, f, d)
		}
		if e < d/2 || e > d {
			t.Fatalf("Equal(%v) = %v, outside [%v, %v]", d, e, d/2, d)
		}
		if u < d || u > d+d/2 {
			t.Fatalf("Up(%v, 0.5) = %v, outside [%v, %v]", d, u, d, d+d/2)
		}
		lo, hi = lo || f < d/4, hi || f > 3*d/4
	}
	if !lo || !hi {
		t.Errorf("Full never spread over its range (low %v, high %v)", lo, hi)
	}
	if got := Full(d, func(n int64) int64 { return n - 1 }); got != d {
		t.Errorf("Full with the largest draw = %v, want %v", got, d)
	}
	if Full(0, nil) != 0 || Equal(0) != 0 || Up(d, 0) != d {
		t.Error("zero cases")
	}
}
