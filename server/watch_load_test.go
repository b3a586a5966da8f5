package server

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/watch"
)

// BenchmarkWatchTask10kStreams opens 10,000 WatchTask streams on 100 tasks
// over a real gRPC connection and reports, once every stream has its first
// event, the heap and goroutine stack held per stream (client and server
// sides together, both being in this process), the process's memory
// obtained from the OS, and the provider polls it took (one per task).
//
//	go test -run '^$' -bench WatchTask10k -benchtime 1x ./server
func BenchmarkWatchTask10kStreams(b *testing.B) {
	const tasks, streams = 100, 10_000
	scripts := make(map[string][]string, tasks)
	for i := range tasks {
		scripts[fmt.Sprint("task-", i)] = []string{"init"}
	}
	// The default interval (5s) is longer than a round: the polls counted
	// are the first one of each task.
	env := startWatchEnv(b, scripts, false, watch.WithPollInterval(watch.DefaultPollInterval),
		watch.WithJitter(watch.DefaultJitter), watch.WithMaxPollRate(1000))
	b.ReportAllocs()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		polls0 := env.prov.totalCalls()

		ctx, cancel := context.WithTimeout(b.Context(), time.Minute)
		var first, done sync.WaitGroup
		first.Add(streams)
		for i := range streams {
			done.Go(func() {
				s, err := env.client.WatchTask(ctx, &gpubmsv1.WatchTaskRequest{TaskId: fmt.Sprint("task-", i%tasks)})
				if err == nil {
					_, err = s.Recv()
				}
				first.Done()
				if err != nil {
					b.Error(err)
					return
				}
				for err == nil {
					_, err = s.Recv()
				}
			})
		}
		first.Wait()
		runtime.GC()
		runtime.ReadMemStats(&after)
		polls := env.prov.totalCalls() - polls0
		cancel()
		done.Wait()

		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/streams, "heap-B/stream")
		b.ReportMetric(float64(int64(after.StackInuse)-int64(before.StackInuse))/streams, "stack-B/stream")
		b.ReportMetric(float64(after.Sys)/(1<<20), "sys-MB")
		b.ReportMetric(float64(polls), "polls")
		if polls > tasks {
			b.Errorf("got %d provider polls for %d streams on %d tasks, want at most %d", polls, streams, tasks, tasks)
		}
	}
}

func (p *watchProvider) totalCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.calls {
		n += c
	}
	return n
}
