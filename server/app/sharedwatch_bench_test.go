package app

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gpubms/gpubms/server/store/redistest"
	"github.com/gpubms/gpubms/server/watch"
)

type constSource struct{}

func (constSource) DescribeTask(context.Context, string) (watch.Task, error) {
	return watch.Task{Status: "init", ResourceIDs: []string{"gpu-1"}}, nil
}

// BenchmarkSharedPoll is what Redis adds to one poll of a watched task: the
// owner's turn (renew the owner key, publish the state) and another
// replica's (read the state), against a source that answers at once.
func BenchmarkSharedPoll(b *testing.B) {
	srv := redistest.Start(b)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	b.Cleanup(func() { c.Close() })
	ctx := context.Background()
	owner := newSharedSource(constSource{}, c, "bench:watch:", time.Minute, watch.Terminal)
	other := newSharedSource(constSource{}, c, "bench:watch:", time.Minute, watch.Terminal)
	if _, err := owner.DescribeTask(ctx, "t"); err != nil {
		b.Fatal(err)
	}
	b.Run("owner", func(b *testing.B) {
		for b.Loop() {
			if _, err := owner.DescribeTask(ctx, "t"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("other", func(b *testing.B) {
		for b.Loop() {
			if _, err := other.DescribeTask(ctx, "t"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
