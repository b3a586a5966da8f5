package app

import (
	"context"
	"errors"
	"sync"

	"github.com/fullstorydev/grpchan/inprocgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// gatewayChannel is the gateway's way to the services, in process: the
// whole interceptor chain runs, as over the network, with no connection and
// no serialisation. Streams go through inprocgrpc's channel. A unary call
// runs on the caller's goroutine (net/http's, kept for the connection, its
// stack already grown), where inprocgrpc's would start one per call and grow
// its stack through the chain each time; with tracing on, unary calls go
// through inprocgrpc's channel too, which runs the stats handlers.
type gatewayChannel struct {
	*inprocgrpc.Channel
	unary   grpc.UnaryServerInterceptor
	direct  bool                          // unary calls run here (no stats handlers)
	methods map[string]gatewayUnaryMethod // full method → handler
}

type gatewayUnaryMethod struct {
	srv     any
	handler grpc.MethodHandler
}

func newGatewayChannel(inproc *inprocgrpc.Channel, unary grpc.UnaryServerInterceptor, direct bool) *gatewayChannel {
	return &gatewayChannel{Channel: inproc, unary: unary, direct: direct, methods: map[string]gatewayUnaryMethod{}}
}

// RegisterService registers a service on the channel; not safe once calls
// are made.
func (c *gatewayChannel) RegisterService(desc *grpc.ServiceDesc, impl any) {
	c.Channel.RegisterService(desc, impl)
	for _, m := range desc.Methods {
		c.methods["/"+desc.ServiceName+"/"+m.MethodName] = gatewayUnaryMethod{srv: impl, handler: m.Handler}
	}
}

// Invoke makes a unary call. The handler gets its own copy of req, and reply
// its own copy of the response, as from inprocgrpc's channel; the response
// headers and trailers go to the call's grpc.Header and grpc.Trailer
// options.
func (c *gatewayChannel) Invoke(ctx context.Context, method string, req, reply any, opts ...grpc.CallOption) error {
	m, ok := c.methods[method]
	if !ok || !c.direct {
		return c.Channel.Invoke(ctx, method, req, reply, opts...)
	}
	ts := &gatewayStream{method: method}
	sctx := grpc.NewContextWithServerTransportStream(gatewayServerContext(ctx), ts)
	dec := func(out any) error {
		proto.Merge(out.(proto.Message), req.(proto.Message))
		return nil
	}
	resp, err := m.handler(m.srv, sctx, dec, c.unary)
	header, trailer := ts.finish()
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			*o.HeaderAddr = header
		case grpc.TrailerCallOption:
			*o.TrailerAddr = trailer
		case grpc.PeerCallOption:
			*o.PeerAddr = *gatewayPeerInfo
		}
	}
	if err != nil {
		return err
	}
	msg, ok := resp.(proto.Message)
	if !ok || msg == nil || !msg.ProtoReflect().IsValid() {
		return status.Error(codes.Internal, "the handler returned neither a reply nor an error")
	}
	out := reply.(proto.Message)
	proto.Reset(out)
	proto.Merge(out, msg)
	return nil
}

// gatewayServerContext is a call's server-side context: the caller's
// deadline and cancellation but none of its values, its outgoing metadata
// as incoming, and the in-process peer (fromGateway).
func gatewayServerContext(ctx context.Context) context.Context {
	sctx := context.Context(noValues{ctx})
	if md, ok := metadata.FromOutgoingContext(ctx); ok {
		sctx = metadata.NewIncomingContext(sctx, md)
	}
	return peer.NewContext(sctx, gatewayPeerInfo)
}

type noValues struct{ context.Context }

func (noValues) Value(any) any { return nil }

// gatewayPeerInfo is the peer of the gateway's calls: its AuthInfo says
// "inproc", as inprocgrpc's does, which no network connection's can.
var gatewayPeerInfo = &peer.Peer{Addr: inprocAddr{}, AuthInfo: inprocAddr{}}

type inprocAddr struct{}

func (inprocAddr) Network() string  { return "inproc" }
func (inprocAddr) String() string   { return "0" }
func (inprocAddr) AuthType() string { return "inproc" }

var errHeaderSent = errors.New("the call has ended: its headers and trailers are sent")

// gatewayStream is a unary call's grpc.ServerTransportStream: it collects
// the headers and trailers the handler sets.
type gatewayStream struct {
	method string

	mu              sync.Mutex
	header, trailer metadata.MD
	done            bool
}

func (s *gatewayStream) Method() string { return s.method }

func (s *gatewayStream) SetHeader(md metadata.MD) error  { return s.add(&s.header, md) }
func (s *gatewayStream) SendHeader(md metadata.MD) error { return s.add(&s.header, md) }
func (s *gatewayStream) SetTrailer(md metadata.MD) error { return s.add(&s.trailer, md) }

func (s *gatewayStream) add(to *metadata.MD, md metadata.MD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return errHeaderSent
	}
	*to = metadata.Join(*to, md)
	return nil
}

func (s *gatewayStream) finish() (header, trailer metadata.MD) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	return s.header, s.trailer
}
