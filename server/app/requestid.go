package app

import (
	"context"
	"sync"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/gpubms/gpubms/server/gateway"
)

// Request ids. Every call has one: the caller's x-request-id metadata when
// it is sane (gateway.SaneRequestID; over HTTP the gateway has checked or
// made it already), a new one otherwise. It is on every log line of the
// call (callerHandler), in the response header metadata x-request-id, and
// in every error as a google.rpc.RequestInfo detail, beside the ErrorInfo
// that holds the provider's RequestId.

type callKey struct{}

// call is what a call's context carries: its request id and, in a unary
// call until its reply's header is set, the header metadata the chain
// adds (setReplyHeader).
type call struct {
	id     string
	header metadata.MD
}

// requestIDFrom is the request id of a call's context; "" outside a call.
func requestIDFrom(ctx context.Context) string {
	if c, ok := ctx.Value(callKey{}).(*call); ok {
		return c.id
	}
	return ""
}

// setReplyHeader adds key: value to the header metadata of the reply of
// the unary call of ctx, on the call's goroutine before its handler has
// returned; elsewhere it does nothing.
func setReplyHeader(ctx context.Context, key, value string) {
	if c, ok := ctx.Value(callKey{}).(*call); ok && c.header != nil {
		c.header[key] = []string{value}
	}
}

// withRequestID returns ctx with the call's request id.
func withRequestID(ctx context.Context) (context.Context, *call) {
	id := ""
	if vs := metadata.ValueFromIncomingContext(ctx, gateway.RequestIDMetadata); len(vs) == 1 && gateway.SaneRequestID(vs[0]) {
		id = vs[0]
	} else {
		id = gateway.NewRequestID()
	}
	c := &call{id: id}
	return context.WithValue(ctx, callKey{}, c), c
}

// headers holds the maps a reply's header metadata is gathered in: every
// SetHeader copies what it is given (metadata.Join), so the map goes back
// for the next call rather than to the collector, and is not kept for the
// hours a watch stream may last.
var headers = sync.Pool{New: func() any { return metadata.MD{} }}

// replyHeader returns a map from headers holding the request id.
func (c *call) replyHeader() metadata.MD {
	md := headers.Get().(metadata.MD)
	md[gateway.RequestIDMetadata] = []string{c.id}
	return md
}

func putHeader(md metadata.MD) {
	clear(md)
	headers.Put(md)
}

// withRequestInfo adds the request id to an error status.
func withRequestInfo(err error, id string) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	ds, derr := st.WithDetails(&errdetails.RequestInfo{RequestId: id})
	if derr != nil {
		return err
	}
	return ds.Err()
}

// requestIDUnary gives the call its request id and, once the handler has
// returned (a unary reply's header goes out with the reply, or with its
// error), sets the reply's header metadata in one step: the request id and
// what the chain added (setReplyHeader).
func requestIDUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, c := withRequestID(ctx)
	c.header = c.replyHeader()
	resp, err := handler(ctx, req)
	md := c.header
	c.header = nil
	_ = grpc.SetHeader(ctx, md)
	putHeader(md)
	return resp, withRequestInfo(err, c.id)
}

// requestIDStream gives the stream its request id. A stream's header may
// go out with its first message, so it is set before the handler runs.
func requestIDStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, c := withRequestID(ss.Context())
	md := c.replyHeader()
	_ = ss.SetHeader(md)
	putHeader(md)
	return withRequestInfo(handler(srv, &ctxStream{ServerStream: ss, ctx: ctx}), c.id)
}
