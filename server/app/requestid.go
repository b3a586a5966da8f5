package app

import (
	"context"

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

type requestIDKey struct{}

// requestIDFrom is the request id of a call's context; "" outside a call.
func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// withRequestID returns ctx with the call's request id.
func withRequestID(ctx context.Context) (context.Context, string) {
	id := ""
	if vs := metadata.ValueFromIncomingContext(ctx, gateway.RequestIDMetadata); len(vs) == 1 && gateway.SaneRequestID(vs[0]) {
		id = vs[0]
	} else {
		id = gateway.NewRequestID()
	}
	return context.WithValue(ctx, requestIDKey{}, id), id
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

func requestIDUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, id := withRequestID(ctx)
	_ = grpc.SetHeader(ctx, metadata.Pairs(gateway.RequestIDMetadata, id))
	resp, err := handler(ctx, req)
	return resp, withRequestInfo(err, id)
}

func requestIDStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, id := withRequestID(ss.Context())
	_ = ss.SetHeader(metadata.Pairs(gateway.RequestIDMetadata, id))
	return withRequestInfo(handler(srv, &ctxStream{ServerStream: ss, ctx: ctx}), id)
}
