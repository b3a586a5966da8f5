package gpubms

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ErrorInfo reasons of the server's idempotency layer, for branching on
// the google.rpc.ErrorInfo of an error (see OutcomeUnknown).
const (
	// ReasonRequestIDReused (codes.AlreadyExists): the request_id was used
	// before, by the same caller and RPC, for a different request. Use a
	// new one (a new message, or clear request_id).
	ReasonRequestIDReused = "REQUEST_ID_REUSED"
	// ReasonRequestOutcomeUnknown (codes.FailedPrecondition): the first call
	// with this request_id may have reached the provider but its reply was
	// lost; the server never sends that request_id to the provider again.
	ReasonRequestOutcomeUnknown = "REQUEST_OUTCOME_UNKNOWN"
)

// DefaultMutationRetries is how many times a mutation is tried again after
// its first attempt (4 attempts in all) unless WithMutationRetries says
// otherwise.
const DefaultMutationRetries = 3

// Default pause before the first retry of a mutation, and its cap.
const (
	defaultMutationBackoffMin = 100 * time.Millisecond
	defaultMutationBackoffMax = 2 * time.Second
)

// requestIDField is the request field that marks a mutating RPC: the server
// deduplicates by it, so only requests that have it are given one and
// retried.
const requestIDField protoreflect.Name = "request_id"

// retryPolicy is the mutation retries of a Client.
type retryPolicy struct {
	retries    int
	backoffMin time.Duration
	backoffMax time.Duration
}

func defaultRetryPolicy() retryPolicy {
	return retryPolicy{retries: DefaultMutationRetries, backoffMin: defaultMutationBackoffMin, backoffMax: defaultMutationBackoffMax}
}

// WithMutationRetries sets how many times a mutating RPC that failed with
// codes.Unavailable or codes.Unknown is tried again, with the same
// request_id (default DefaultMutationRetries, 3: 4 attempts in all). 0 turns
// retrying off; request_id is still filled in, so repeating the same
// message yourself stays safe. Negative values mean 0.
//
// Turn it off against a gpubms server that predates request_id: such a
// server ignores the field, and repeating a call whose reply it lost
// (codes.Unknown) could repeat a paid action.
func WithMutationRetries(n int) Option {
	return func(o *options) { o.retry.retries = max(n, 0) }
}

// WithMutationBackoff sets the pause before each retry of a mutation: a
// random duration (full jitter) between 0 and initial·2^(n-1), capped at
// maxDelay (defaults 100ms and 2s). A retry whose pause would end past the
// context's deadline is not made. Non-positive values keep the defaults.
func WithMutationBackoff(initial, maxDelay time.Duration) Option {
	return func(o *options) {
		if initial > 0 {
			o.retry.backoffMin = initial
		}
		if maxDelay > 0 {
			o.retry.backoffMax = maxDelay
		}
	}
}

// MutationInterceptor returns the unary client interceptor that Dial
// installs (see the package documentation): it gives each mutating request
// a request_id and retries those that fail with codes.Unavailable or
// codes.Unknown. It is for callers who make their own connection for
// NewClient:
//
//	conn, err := grpc.NewClient(target, creds, grpc.WithChainUnaryInterceptor(gpubms.MutationInterceptor()))
//
// Of opts, only WithMutationRetries and WithMutationBackoff have an effect.
func MutationInterceptor(opts ...Option) grpc.UnaryClientInterceptor {
	o := options{retry: defaultRetryPolicy()}
	for _, opt := range opts {
		opt(&o)
	}
	return o.retry.interceptor()
}

// RequestID returns the request_id of req: the one the caller set, or the
// one a Client gave it when it was sent. It is "" for a request that has
// none, or no such field (a read).
func RequestID(req proto.Message) string {
	if req == nil {
		return ""
	}
	m := req.ProtoReflect()
	fd := requestIDDescriptor(m)
	if fd == nil || !m.IsValid() {
		return ""
	}
	return m.Get(fd).String()
}

// EnsureRequestID gives req a new request_id (a random UUID) when it has
// the field and it is unset or empty, and returns req's request_id; "" for
// a request without the field. It writes into req, so req must not be in use
// by another goroutine. A Client does this itself for every mutation; call
// it to learn (and log) the id before the call.
func EnsureRequestID(req proto.Message) string {
	if req == nil {
		return ""
	}
	m := req.ProtoReflect()
	fd := requestIDDescriptor(m)
	if fd == nil || !m.IsValid() {
		return ""
	}
	if id := m.Get(fd).String(); id != "" {
		return id
	}
	id := uuid.NewString()
	m.Set(fd, protoreflect.ValueOfString(id))
	return id
}

// requestIDDescriptor is the request_id field of m, or nil when m has no
// singular string field of that name.
func requestIDDescriptor(m protoreflect.Message) protoreflect.FieldDescriptor {
	fd := m.Descriptor().Fields().ByName(requestIDField)
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.Cardinality() == protoreflect.Repeated {
		return nil
	}
	return fd
}

// OutcomeUnknown reports whether err is the server's answer to a request
// whose first call's outcome is unknown (codes.FailedPrecondition, reason
// ReasonRequestOutcomeUnknown), and returns the resources named by its
// google.rpc.ResourceInfo details: for a create, the servers the first call
// may have made, to adopt rather than order again. No resources means the
// server found none, or does not look (reinstall, power, delete): look
// yourself (DescribeGpu, DescribeGpuTask) before trying with a new
// request_id.
func OutcomeUnknown(err error) (resourceIDs []string, ok bool) {
	st, isStatus := status.FromError(err)
	if !isStatus || st.Code() != codes.FailedPrecondition {
		return nil, false
	}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if d.GetReason() == ReasonRequestOutcomeUnknown {
				ok = true
			}
		case *errdetails.ResourceInfo:
			if name := d.GetResourceName(); name != "" {
				resourceIDs = append(resourceIDs, name)
			}
		}
	}
	if !ok {
		return nil, false
	}
	return resourceIDs, true
}

// interceptor fills request_id and retries.
func (p retryPolicy) interceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		m, ok := req.(proto.Message)
		if !ok || requestIDDescriptor(m.ProtoReflect()) == nil { // a read: not ours to retry
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		// A dry run changes nothing, so it is retried as it is, without an
		// id of its own: its id could otherwise be mistaken for the real
		// call's.
		var id string
		if validateOnly(m) {
			id = RequestID(m)
		} else {
			id = EnsureRequestID(m)
		}
		what := "gpubms: " + method[strings.LastIndex(method, "/")+1:]
		if id != "" {
			what += " with request_id " + id
		} else {
			what += " (validate_only)"
		}
		for attempt := 1; ; attempt++ {
			err := invoker(ctx, method, req, reply, cc, opts...)
			if err == nil {
				return nil
			}
			if !retryable(err) {
				if attempt > 1 {
					return annotate(err, fmt.Sprintf("%s, attempt %d", what, attempt))
				}
				return err
			}
			if attempt > p.retries {
				if attempt > 1 {
					return annotate(err, fmt.Sprintf("%s: gave up after %d attempts", what, attempt))
				}
				return err
			}
			if ctx.Err() != nil {
				return annotate(err, fmt.Sprintf("%s: stopped after %d attempt(s): %v", what, attempt, ctx.Err()))
			}
			d := p.backoff(attempt)
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
				return annotate(err, fmt.Sprintf("%s: stopped after %d attempt(s): the deadline is too near to try again", what, attempt))
			}
			if !sleep(ctx, d) {
				return annotate(err, fmt.Sprintf("%s: stopped after %d attempt(s): %v", what, attempt, ctx.Err()))
			}
		}
	}
}

// validateOnly reports whether m is a dry run: its validate_only is true.
func validateOnly(m proto.Message) bool {
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName("validate_only")
	return fd != nil && fd.Kind() == protoreflect.BoolKind && fd.Cardinality() != protoreflect.Repeated && r.Get(fd).Bool()
}

// retryable reports whether a mutation that failed with err is worth
// sending again with its request_id: the server was not reached, or failed,
// or lost the provider's reply (whose repetition it answers from its
// record). Only gRPC statuses qualify, so a plain error from another
// interceptor (which status.Code calls Unknown) is never retried.
func retryable(err error) bool {
	st, ok := status.FromError(err)
	return ok && (st.Code() == codes.Unavailable || st.Code() == codes.Unknown)
}

// backoff is the pause before retry n (n ≥ 1): full jitter over
// [0, min(max, min·2^(n-1))).
func (p retryPolicy) backoff(n int) time.Duration {
	hi := max(p.backoffMin, time.Nanosecond)
	top := max(p.backoffMax, hi)
	for i := 1; i < n && hi < top; i++ {
		hi *= 2
	}
	hi = min(hi, top)
	return rand.N(hi)
}
