package app

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"

	grpcauth "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/gpubms/gpubms/server/auth"
)

// Metadata the in-process gateway sets on each call: the caller it
// authenticated. The gRPC side believes it only on the gateway's own
// in-memory connection (gatewayAuthInfo); the gateway forwards no request
// header as metadata, so an HTTP caller cannot set these.
const (
	mdGatewayCaller = "gpubms-gateway-caller"
	mdGatewayRole   = "gpubms-gateway-role"
	mdGatewayVia    = "gpubms-gateway-via"
	// mdGatewayPeer is the HTTP client's address (host:port), so that the
	// logs and limits of a gateway call see the real peer rather than the
	// gateway.
	mdGatewayPeer = "gpubms-gateway-peer"
)

type httpPeerKey struct{}

// callerMetadata is the gateway's metadata for the caller of ctx.
func callerMetadata(ctx context.Context) metadata.MD {
	c, ok := auth.FromContext(ctx)
	if !ok {
		return nil
	}
	md := metadata.Pairs(mdGatewayCaller, c.Name, mdGatewayRole, c.Role.String(), mdGatewayVia, c.Via)
	if p, ok := ctx.Value(httpPeerKey{}).(string); ok {
		md.Set(mdGatewayPeer, p)
	}
	return md
}

// gatewayPeer returns ctx with the HTTP client's address as the call's
// peer when the call comes from the gateway; other calls keep theirs.
func gatewayPeer(ctx context.Context) context.Context {
	p, ok := peer.FromContext(ctx)
	if !ok || !fromGateway(p.AuthInfo) {
		return ctx
	}
	vs := metadata.ValueFromIncomingContext(ctx, mdGatewayPeer)
	if len(vs) != 1 {
		return ctx
	}
	ap, err := netip.ParseAddrPort(vs[0])
	if err != nil {
		return ctx
	}
	return peer.NewContext(ctx, &peer.Peer{Addr: net.TCPAddrFromAddrPort(ap), LocalAddr: p.LocalAddr, AuthInfo: p.AuthInfo})
}

// fromGateway reports whether a call's AuthInfo is that of the gateway's
// in-process channel (gatewayChannel, and the inprocgrpc channel under it),
// which only the gateway uses: no network connection has it.
func fromGateway(info credentials.AuthInfo) bool {
	return info != nil && info.AuthType() == "inproc"
}

// callerErrKey holds, in a call's context, why its caller was not
// recognised; enforce returns it as Unauthenticated.
type callerErrKey struct{}

// tapCallerKey holds, in a call's context, the caller the tap recognised
// from the call's headers; only the tap sets it.
type tapCallerKey struct{}

// door recognises callers and decides what they may call.
type door struct {
	authn   *auth.Authenticator
	roles   map[string]auth.Role // full method → least role
	refused func()               // counts a call refused before it reached the interceptors; may be nil
	// audit appends the audit events of mutating calls refused on their
	// way to the service; may be nil.
	audit grpc.UnaryServerInterceptor
}

// methodRoles reads the required_role option of every method gs serves.
// Reflection needs any recognised caller; health is never guarded (see
// apiMethod).
func methodRoles(gs *grpc.Server) map[string]auth.Role {
	roles := map[string]auth.Role{}
	for svc, info := range gs.GetServiceInfo() {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
		sd, _ := d.(protoreflect.ServiceDescriptor)
		for _, m := range info.Methods {
			full := "/" + svc + "/" + m.Name
			switch {
			case strings.HasPrefix(svc, "grpc.reflection."):
				roles[full] = auth.Reader
			case err != nil || sd == nil || sd.Methods().ByName(protoreflect.Name(m.Name)) == nil:
				roles[full] = auth.Operator
			default:
				roles[full] = auth.RequiredRole(sd.Methods().ByName(protoreflect.Name(m.Name)))
			}
		}
	}
	return roles
}

// identify recognises the caller of ctx and records it, or why it was not
// recognised, in the returned context. It refuses nothing: enforce does,
// after the call is logged, so refused calls are logged with their caller
// (or its absence).
func (d *door) identify(ctx context.Context) context.Context {
	if c, ok := ctx.Value(tapCallerKey{}).(auth.Caller); ok {
		if p, ok := peer.FromContext(ctx); ok && !fromGateway(p.AuthInfo) {
			return auth.NewContext(ctx, c) // recognised by the tap, from the same headers
		}
	}
	ctx = gatewayPeer(ctx)
	c, err := d.caller(ctx)
	if err != nil {
		return context.WithValue(ctx, callerErrKey{}, err)
	}
	return auth.NewContext(ctx, c)
}

func (d *door) caller(ctx context.Context) (auth.Caller, error) {
	p, _ := peer.FromContext(ctx)
	var info credentials.AuthInfo
	if p != nil {
		info = p.AuthInfo
	}
	if fromGateway(info) {
		return gatewayCaller(ctx)
	}
	tok, err := grpcauth.AuthFromMD(ctx, "bearer")
	hasToken := err == nil
	if !hasToken && len(metadata.ValueFromIncomingContext(ctx, "authorization")) > 0 {
		return auth.Caller{}, errors.New("authorization is not a bearer token")
	}
	var cert *x509.Certificate
	if ti, ok := info.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 && len(ti.State.VerifiedChains[0]) > 0 {
		cert = ti.State.VerifiedChains[0][0]
	}
	return d.authn.Authenticate(tok, hasToken, cert)
}

// gatewayCaller is the caller the gateway authenticated, from its metadata.
func gatewayCaller(ctx context.Context) (auth.Caller, error) {
	// One look-up per key: FromIncomingContext would copy every key.
	name := metadata.ValueFromIncomingContext(ctx, mdGatewayCaller)
	role := metadata.ValueFromIncomingContext(ctx, mdGatewayRole)
	via := metadata.ValueFromIncomingContext(ctx, mdGatewayVia)
	if len(name) != 1 || len(role) != 1 || len(via) != 1 {
		return auth.Caller{}, errors.New("gateway call without its caller")
	}
	r, err := auth.ParseRole(role[0])
	if err != nil {
		return auth.Caller{}, err
	}
	return auth.Caller{Name: name[0], Role: r, Via: via[0]}, nil
}

// enforce refuses a call whose caller was not recognised
// (Unauthenticated) or whose role is below the method's (PermissionDenied).
func (d *door) enforce(ctx context.Context, fullMethod string) error {
	if err, ok := ctx.Value(callerErrKey{}).(error); ok {
		return status.Error(codes.Unauthenticated, err.Error())
	}
	c, ok := auth.FromContext(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, auth.ErrNoCredentials.Error())
	}
	need, ok := d.roles[fullMethod]
	if !ok {
		need = auth.Operator
	}
	if !c.Role.Allows(need) {
		return status.Errorf(codes.PermissionDenied, "caller %q is a %s; %s needs the %s role",
			c.Name, c.Role, methodName(fullMethod), need)
	}
	return nil
}

func methodName(fullMethod string) string {
	return fullMethod[strings.LastIndexByte(fullMethod, '/')+1:]
}

// tap refuses a call without known credentials from its headers alone,
// before its message is read or a goroutine serves it. The caller it
// recognises goes into the call's context, which grpc-go keeps for the
// call, so identify does not authenticate it again; enforce still decides
// what it may call. Health is never refused.
func (d *door) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if !d.authn.Enabled() || strings.HasPrefix(info.FullMethodName, "/grpc.health.v1.") {
		return ctx, nil
	}
	c, err := d.caller(metadata.NewIncomingContext(ctx, info.Header))
	if err != nil {
		if d.refused != nil {
			d.refused()
		}
		return ctx, status.Error(codes.Unauthenticated, err.Error())
	}
	return context.WithValue(ctx, tapCallerKey{}, c), nil
}

// callerName is the name logged for the caller of ctx: "" when none was
// recognised.
func callerName(ctx context.Context) string {
	c, _ := auth.FromContext(ctx)
	return c.Name
}

// apiMethod is false for health checks, which caller authentication and
// the rate limits leave alone, so probes work without a token and under
// load.
func apiMethod(fullMethod string) bool {
	return !strings.HasPrefix(fullMethod, "/grpc.health.v1.")
}

// limitedMethod is false for health checks and reflection, which the rate
// limits leave alone, so probes and grpcurl's discovery work under load.
func limitedMethod(fullMethod string) bool {
	return apiMethod(fullMethod) && !strings.HasPrefix(fullMethod, "/grpc.reflection.")
}

// callerHandler adds the request id and the caller of a record's context,
// if any, to every record: the call's own line and whatever the call logs
// on its way.
type callerHandler struct{ slog.Handler }

func (h callerHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := requestIDFrom(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	if c, ok := auth.FromContext(ctx); ok {
		r.AddAttrs(slog.String("caller", c.Name))
	}
	return h.Handler.Handle(ctx, r)
}

func (h callerHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return callerHandler{h.Handler.WithAttrs(as)}
}

func (h callerHandler) WithGroup(name string) slog.Handler {
	return callerHandler{h.Handler.WithGroup(name)}
}

// httpCaller recognises the caller of an HTTP request from its
// Authorization header and verified client certificate, before the body is
// read.
func (d *door) httpCaller(r *http.Request) (context.Context, error) {
	var tok string
	hasToken := false
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "bearer") {
			return nil, errors.New("authorization is not a bearer token")
		}
		tok, hasToken = strings.TrimSpace(rest), true
	}
	var cert *x509.Certificate
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		cert = r.TLS.VerifiedChains[0][0]
	}
	c, err := d.authn.Authenticate(tok, hasToken, cert)
	if err != nil {
		return nil, err
	}
	return context.WithValue(auth.NewContext(r.Context(), c), httpPeerKey{}, r.RemoteAddr), nil
}
