package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/store/redistest"
)

// benchStores are the stores a mutating call's records and audit can live
// in: the embedded file and a Redis on loopback.
func benchStores(b *testing.B) map[string]Store {
	bolt, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bolt.Close() })
	srv := redistest.Start(b)
	rd, err := OpenRedis(context.Background(), srv.URL(0))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rd.Close() })
	return map[string]Store{"bolt": bolt, "redis": rd}
}

// BenchmarkMutationRecord is the store's part of one mutating call with a
// request_id: the record put in flight, moved to done, and the audit event.
// The difference between the two stores is what Redis adds to the call.
func BenchmarkMutationRecord(b *testing.B) {
	for name, s := range benchStores(b) {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			now := time.Now()
			i := 0
			for b.Loop() {
				i++
				r := Record{Key: fmt.Sprintf("bench/CreateGpuInstance/%d", i), Fingerprint: "f", State: InFlight,
					Started: now, Updated: now, Expires: now.Add(time.Hour)}
				if _, _, err := s.PutIfAbsent(ctx, r); err != nil {
					b.Fatal(err)
				}
				done := r
				done.State, done.Reply = Done, []byte("reply")
				if ok, err := s.CompareAndSwap(ctx, InFlight, done); err != nil || !ok {
					b.Fatal(ok, err)
				}
				if err := s.AppendAudit(ctx, &gpubmsv1.AuditEvent{Time: timestamppb.New(now), Caller: "bench", Rpc: "CreateGpuInstance"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
