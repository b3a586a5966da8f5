package app

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// requestCodec is the server's protobuf codec. grpc-go turns any error of a
// codec's Unmarshal into Internal, as if the server were at fault; a
// request that is not valid protobuf (truncated, a string that is not
// UTF-8) is the caller's mistake, InvalidArgument. So Unmarshal resets the
// message, keeps the error aside keyed by the message, and returns nil;
// checkDecoded, early in the interceptor chain, turns it into
// InvalidArgument before anything reads the (empty) request.
type requestCodec struct {
	encoding.CodecV2
	failed *sync.Map // proto.Message → error
}

func newRequestCodec() requestCodec {
	return requestCodec{CodecV2: encoding.GetCodecV2("proto"), failed: new(sync.Map)}
}

func (c requestCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	m, ok := v.(proto.Message)
	if !ok {
		return err
	}
	proto.Reset(m)
	c.failed.Store(m, err)
	return nil
}

// decodeErr returns (and forgets) the decoding error of m, if any.
func (c requestCodec) decodeErr(m any) error {
	if m == nil {
		return nil
	}
	err, ok := c.failed.LoadAndDelete(m)
	if !ok {
		return nil
	}
	name := "request"
	if pm, ok := m.(proto.Message); ok {
		name = string(pm.ProtoReflect().Descriptor().FullName())
	}
	return status.Errorf(codes.InvalidArgument, "request is not a valid %s: %v", name, err)
}

// checkUnary fails a call whose request did not decode. Every unary call
// passes here, so no entry of failed outlives its call.
func (c requestCodec) checkUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := c.decodeErr(req); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// checkStream checks each message as the handler receives it.
func (c requestCodec) checkStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, decodedStream{ss, c})
}

type decodedStream struct {
	grpc.ServerStream
	c requestCodec
}

func (s decodedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.c.decodeErr(m)
}
