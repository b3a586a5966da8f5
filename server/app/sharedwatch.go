package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gpubms/gpubms/server/watch"
)

// sharedSource makes the pollers of several replicas poll the provider once
// for them all. Each replica's hub keeps its own poller per task (or
// server) for its own watchers; a poller's turn goes to the provider only
// on the replica that owns the task: a key taken with SET NX PX for two
// poll intervals, renewed at each turn. The owner keeps what it saw in a
// state key; the other replicas read that key instead. When an owner dies,
// its key expires within two intervals and the next replica to poll takes
// it over, reading the provider afresh. An owner that lost its key (its
// renewal came too late) does not write (the token is the fence): what it
// saw is not published over the new owner's.
//
// Each change the owner sees is also appended to a stream per task, and
// another replica's poller takes the changes from it one at a time, in
// order, after the current state it started from: its watchers see every
// change the owner saw, not only the latest.
type sharedSource struct {
	src      watch.TaskSource
	c        redis.UniversalClient
	prefix   string // e.g. "gpubms:watch:task:"
	ttl      time.Duration
	token    string
	terminal func(string) bool

	mu     sync.Mutex
	cursor map[string]following // task → where this replica's poller is in the owner's stream
}

// following is a follower's place in a task's stream: the last entry it
// took, and that state (every change is in the stream, so while nothing
// new is there, the state is still this one).
type following struct {
	id   string
	last []byte
}

func newSharedSource(src watch.TaskSource, c redis.UniversalClient, prefix string, interval time.Duration, terminal func(string) bool) *sharedSource {
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	return &sharedSource{src: src, c: c, prefix: prefix, ttl: 2 * interval, token: hex.EncodeToString(tok),
		terminal: terminal, cursor: map[string]following{}}
}

// sharedState is what the owner saw, as the state key holds it.
type sharedState struct {
	Status      string   `json:"status,omitempty"`
	ResourceIDs []string `json:"resource_ids,omitempty"`
	Code        int      `json:"code,omitempty"` // a failure's gRPC code; 0 for none
	Message     string   `json:"message,omitempty"`
}

// ownOrRenew takes the owner key, or renews it when it is ours; it reports
// whether this replica owns the task now.
var ownOrRenew = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`)

// publishIfOwner writes the state only while the writer still owns the
// key, and appends it to the task's stream of changes when it changed.
var publishIfOwner = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local prev = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
if prev ~= ARGV[2] then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', 64, '*', 's', ARGV[2])
end
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return 1`)

func (s *sharedSource) DescribeTask(ctx context.Context, id string) (watch.Task, error) {
	owner, state, changes := s.prefix+id+":owner", s.prefix+id+":state", s.prefix+id+":changes"
	mine, err := ownOrRenew.Run(ctx, s.c, []string{owner}, s.token, s.ttl.Milliseconds()).Int()
	if err != nil {
		return watch.Task{}, unreachable(err)
	}
	if mine == 0 {
		return s.follow(ctx, id, state, changes)
	}
	s.forget(id) // an owner reads the provider itself
	t, err := s.src.DescribeTask(ctx, id)
	st := sharedState{Status: t.Status, ResourceIDs: t.ResourceIDs}
	if err != nil {
		ss := status.Convert(err)
		st = sharedState{Code: int(ss.Code()), Message: ss.Message()}
	}
	if b, merr := json.Marshal(st); merr == nil {
		// Kept a while after the task ends, for late watchers elsewhere.
		_ = publishIfOwner.Run(ctx, s.c, []string{owner, state, changes}, s.token, string(b), (10 * s.ttl).Milliseconds()).Err()
	}
	return t, err
}

// follow is a poll of a task another replica owns: the next change this
// replica's poller has not taken, or, the first time, the current state.
func (s *sharedSource) follow(ctx context.Context, id, state, changes string) (watch.Task, error) {
	s.mu.Lock()
	f, ok := s.cursor[id]
	s.mu.Unlock()
	cur := f.id
	var raw []byte
	if ok {
		entries, err := s.c.XRangeN(ctx, changes, "("+cur, "+", 1).Result()
		if err != nil {
			return watch.Task{}, unreachable(err)
		}
		raw = f.last
		if len(entries) == 1 {
			cur = entries[0].ID
			v, _ := entries[0].Values["s"].(string)
			raw = []byte(v)
		}
	}
	if raw == nil {
		if !ok {
			// Start after the changes that led to the state read next (read
			// in this order, a change published in between is taken again,
			// never missed).
			last, err := s.c.XRevRangeN(ctx, changes, "+", "-", 1).Result()
			if err != nil {
				return watch.Task{}, unreachable(err)
			}
			cur = "0-0"
			if len(last) == 1 {
				cur = last[0].ID
			}
		}
		v, err := s.c.Get(ctx, state).Bytes()
		switch {
		case errors.Is(err, redis.Nil):
			// The owner has not published yet: nothing new this turn.
			return watch.Task{}, status.Error(codes.Unavailable, "watch: the task's owner has not reported yet")
		case err != nil:
			return watch.Task{}, unreachable(err)
		}
		raw = v
	}
	var st sharedState
	if err := json.Unmarshal(raw, &st); err != nil {
		return watch.Task{}, status.Errorf(codes.Internal, "watch: a shared state that does not decode: %v", err)
	}
	if st.Code != 0 || (s.terminal != nil && s.terminal(st.Status)) {
		s.forget(id) // the watch ends here
	} else {
		s.mu.Lock()
		s.cursor[id] = following{id: cur, last: raw}
		s.mu.Unlock()
	}
	if st.Code != 0 {
		return watch.Task{}, status.Error(codes.Code(st.Code), st.Message)
	}
	return watch.Task{Status: st.Status, ResourceIDs: st.ResourceIDs}, nil
}

func (s *sharedSource) forget(id string) {
	s.mu.Lock()
	delete(s.cursor, id)
	s.mu.Unlock()
}

func unreachable(err error) error {
	return status.Errorf(codes.Unavailable, "watch: the store (redis) cannot be reached: %v", err)
}
