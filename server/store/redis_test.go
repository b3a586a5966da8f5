package store

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpubms/gpubms/server/store/redistest"
)

// TestRedis runs the store's suite against a real redis-server, each store
// under a prefix of its own.
func TestRedis(t *testing.T) {
	srv := redistest.Start(t)
	var n atomic.Int64
	testStore(t, func(t *testing.T, now func() time.Time) Store {
		r, err := OpenRedis(context.Background(), srv.URL(0), WithRedisClock(now), WithRedisPrefix(fmt.Sprintf("t%d:", n.Add(1))))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	})
}

// TestRedisURLNotQuoted: a bad URL's error does not quote it (it may hold a
// password).
func TestRedisURLNotQuoted(t *testing.T) {
	_, err := OpenRedis(context.Background(), "redis//user:s3cret@host")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("OpenRedis(bad URL) = %v, want an error without the password", err)
	}
}
