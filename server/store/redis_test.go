package store

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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

// TestRedisURLKinds: a master_name is Sentinel, more nodes are a Cluster
// (its keys under one hash tag); each fails here, with no server, saying
// so without the password.
func TestRedisURLKinds(t *testing.T) {
	srv := redistest.Start(t)
	r, err := OpenRedis(context.Background(), srv.URL(0))
	if err != nil || r.Prefix() != "gpubms:" {
		t.Fatalf("one server: %v, prefix %q", err, r.Prefix())
	}
	r.Close()
	// A Cluster's keys share one hash tag (the test server is no cluster:
	// the tag is shown on a plain client).
	c, err := NewRedis(context.Background(), redis.NewClient(&redis.Options{Addr: srv.Addr}), withClusterTag())
	if err != nil || c.Prefix() != "{gpubms}:" {
		t.Fatalf("cluster tag: %v, prefix %q; want {gpubms}:", err, c.Prefix())
	}
	c.Close()
	// More nodes mean a Cluster: this server answers that it is none.
	if _, err := OpenRedis(context.Background(), "redis://127.0.0.1:1?addr="+srv.Addr+"&dial_timeout=1"); err == nil {
		t.Error("a Cluster URL opened on a server that is not a cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := OpenRedis(ctx, "redis://u:s3cret@127.0.0.1:1?master_name=mymaster&dial_timeout=1"); err == nil ||
		strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Sentinel with no sentinel: %v, want an error without the password", err)
	}
}
