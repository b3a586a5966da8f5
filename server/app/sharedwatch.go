package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
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
type sharedSource struct {
	src    watch.TaskSource
	c      redis.UniversalClient
	prefix string // e.g. "gpubms:watch:task:"
	ttl    time.Duration
	token  string
}

func newSharedSource(src watch.TaskSource, c redis.UniversalClient, prefix string, interval time.Duration) *sharedSource {
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	return &sharedSource{src: src, c: c, prefix: prefix, ttl: 2 * interval, token: hex.EncodeToString(tok)}
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

// publishIfOwner writes the state only while the writer still owns the key.
var publishIfOwner = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`)

func (s *sharedSource) DescribeTask(ctx context.Context, id string) (watch.Task, error) {
	owner, state := s.prefix+id+":owner", s.prefix+id+":state"
	mine, err := ownOrRenew.Run(ctx, s.c, []string{owner}, s.token, s.ttl.Milliseconds()).Int()
	if err != nil {
		return watch.Task{}, status.Errorf(codes.Unavailable, "watch: the store (redis) cannot be reached: %v", err)
	}
	if mine == 0 {
		v, err := s.c.Get(ctx, state).Bytes()
		switch {
		case errors.Is(err, redis.Nil):
			// The owner has not published yet: nothing new this turn.
			return watch.Task{}, status.Error(codes.Unavailable, "watch: the task's owner has not reported yet")
		case err != nil:
			return watch.Task{}, status.Errorf(codes.Unavailable, "watch: the store (redis) cannot be reached: %v", err)
		}
		var st sharedState
		if err := json.Unmarshal(v, &st); err != nil {
			return watch.Task{}, status.Errorf(codes.Internal, "watch: a shared state that does not decode: %v", err)
		}
		if st.Code != 0 {
			return watch.Task{}, status.Error(codes.Code(st.Code), st.Message)
		}
		return watch.Task{Status: st.Status, ResourceIDs: st.ResourceIDs}, nil
	}
	t, err := s.src.DescribeTask(ctx, id)
	st := sharedState{Status: t.Status, ResourceIDs: t.ResourceIDs}
	if err != nil {
		ss := status.Convert(err)
		st = sharedState{Code: int(ss.Code()), Message: ss.Message()}
	}
	if b, merr := json.Marshal(st); merr == nil {
		// Kept a while after the task ends, for late watchers elsewhere.
		_ = publishIfOwner.Run(ctx, s.c, []string{owner, state}, s.token, string(b), (10 * s.ttl).Milliseconds()).Err()
	}
	return t, err
}
