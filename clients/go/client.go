// Package gpubms is the Go client of the gpubms service: dialling with TLS,
// client certificates and bearer tokens, every GpuService and NetworkService
// RPC, and helpers that wait for the provider tasks that creating,
// reinstalling, powering and deleting servers start.
//
//	c, err := gpubms.Dial(ctx, "gpubms.example.com:443", gpubms.WithToken(token))
//	if err != nil { ... }
//	defer c.Close()
//	resp, err := c.CreateGpuInstance(ctx, req)
//	if err != nil { ... }
//	ev, err := c.WaitTask(ctx, resp.GetTaskId())
//
// A server with a private CA that authenticates callers by certificate:
//
//	c, err := gpubms.Dial(ctx, "10.0.0.7:9090",
//		gpubms.WithTLSFiles("ca.pem", "client.pem", "client-key.pem"),
//		gpubms.WithServerName("gpubms.internal"))
//
// Errors from RPCs are gRPC status errors: branch on status.Code(err), and
// read google.rpc.ErrorInfo details (reason = the provider's error code) with
// status.Convert(err).Details().
//
// # Mutations: request ids and retries
//
// The mutating RPCs (CreateGpuInstance, ReinstallGpu, OperateGpuPower,
// DeleteGpuInstances; found as the unary RPCs whose request has a request_id
// field, so new ones are covered too) are safe to repeat: the server keeps
// the outcome of each (caller, RPC, request_id) and answers a repeat from
// that record, never asking the provider twice (AIP-155). A Client from Dial
// therefore:
//
//   - gives each mutating request without a request_id (but not a dry run,
//     below) a new UUID, written into the caller's message (so do not share
//     one message between concurrent calls). Sending the same message
//     again, after any error, repeats the same request; RequestID(req)
//     returns the id used. A request_id you set is kept.
//   - retries, with the same request_id, a call that fails with
//     codes.Unavailable (the server or the connection failed, the provider
//     was throttling, the call did not start) or codes.Unknown (the server
//     lost the provider's reply; the retry learns from the server's record
//     what became of it). 4 attempts in all (WithMutationRetries; 0 turns
//     retries off), after a pause drawn at random up to 100ms, doubling to
//     2s (WithMutationBackoff). It never sleeps past ctx's deadline and stops
//     at once when ctx ends or on any other code: a refusal
//     (InvalidArgument, FailedPrecondition, AlreadyExists, ...) would only
//     be refused again, and DeadlineExceeded or Canceled are the caller's.
//     Reads are not retried (WaitTask and WaitTasks ride out restarts on
//     their own).
//
// A validate_only request (AIP-163 dry run) changes nothing; its reply's
// Validation says what the call would do: the Quote and stock of a create,
// the AffectedServer list of the others, and warnings. It is retried in the
// same way but is not given a request_id, so that clearing validate_only
// on the same message and sending it makes the real call with an id of its
// own.
//
// When the outcome stays unknown the caller sees one of:
//
//   - codes.FailedPrecondition with ErrorInfo reason
//     ReasonRequestOutcomeUnknown: the first call may have reached the
//     provider and its reply was lost. The server will never send that
//     request_id again; OutcomeUnknown(err) returns the servers a create may
//     have made (google.rpc.ResourceInfo details), to adopt rather than
//     order again. With none, look (DescribeGpu, DescribeGpuTask) before
//     trying again with a new request_id.
//   - the last attempt's codes.Unavailable or codes.Unknown, its message
//     prefixed with the RPC, the request_id and the attempts made, when the
//     attempts ran out, the deadline was too near for another, or ctx
//     ended. The call may or may not have happened: sending the same
//     message (the same request_id) again later is safe, and says which.
//   - codes.DeadlineExceeded or codes.Canceled when ctx ended during an
//     attempt: the same holds.
//
// Retrying relies on the server honouring request_id; a gpubms server from
// before it ignores the field, so against one use WithMutationRetries(0).
package gpubms

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// DefaultUserAgent is sent as the user agent unless WithUserAgent replaces it
// (gRPC appends its own "grpc-go/<version>").
const DefaultUserAgent = "gpubms-go"

// Client is a gpubms client: every GpuService RPC (through the embedded
// gpubmsv1.GpuServiceClient), every NetworkService RPC (through the
// embedded gpubmsv1.NetworkServiceClient: FindNetworks answers the VPC,
// subnet and EIP ids a create's vpc_network may use), every FleetService
// RPC (through the embedded gpubmsv1.FleetServiceClient: capacity,
// protection, the audit trail, the server's build), plus WaitTask and
// WaitTasks. The services are reached over the same connection. It is safe
// for concurrent use; make one and share it.
type Client struct {
	gpubmsv1.GpuServiceClient
	gpubmsv1.NetworkServiceClient
	gpubmsv1.FleetServiceClient

	// conn is closed by Close only when Dial made it.
	conn *grpc.ClientConn
}

// NewClient wraps a connection the caller made and still owns: Close on the
// returned Client does not close conn. Its mutations get neither a
// request_id nor retries unless conn was made with MutationInterceptor.
func NewClient(conn grpc.ClientConnInterface) *Client {
	return clientOn(conn, nil)
}

// clientOn builds the service clients on conn; closer, if set, is the
// connection Close closes.
func clientOn(conn grpc.ClientConnInterface, closer *grpc.ClientConn) *Client {
	return &Client{
		GpuServiceClient:     gpubmsv1.NewGpuServiceClient(conn),
		NetworkServiceClient: gpubmsv1.NewNetworkServiceClient(conn),
		FleetServiceClient:   gpubmsv1.NewFleetServiceClient(conn),
		conn:                 closer,
	}
}

// Close releases the connection made by Dial. It does nothing for a Client
// made by NewClient, whose connection belongs to the caller.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

// Option configures Dial.
type Option func(*options)

type options struct {
	insecure   bool
	tlsConfig  *tls.Config
	tlsFiles   *tlsFiles
	serverName *string
	token      *string // behind a pointer so printing options never shows it
	userAgent  string
	retry      retryPolicy
	dialOpts   []grpc.DialOption
}

// WithInsecure dials without transport security (plaintext). Use it for
// loopback and development servers only. It also allows a WithToken token to
// be sent over that plaintext connection: that is only ever allowed when
// WithInsecure is set explicitly. It conflicts with every TLS option
// (WithTLSConfig, WithTLSFiles, WithServerName).
func WithInsecure() Option { return func(o *options) { o.insecure = true } }

// WithTLSConfig dials with TLS configured by cfg (client certificates, a
// private CA, a server name), for what WithTLSFiles does not cover, such as
// certificates that rotate through GetClientCertificate. Without it, without
// WithTLSFiles and without WithInsecure, Dial uses TLS with the system's root
// certificates. Dial uses a copy: later changes to cfg do not reach the
// connection. It conflicts with WithInsecure and WithTLSFiles.
func WithTLSConfig(cfg *tls.Config) Option { return func(o *options) { o.tlsConfig = cfg } }

// WithToken sends token with every RPC as `authorization: Bearer <token>`
// (see TokenCredentials). The token requires a TLS connection unless
// WithInsecure is also set: plaintext transport slipped in through
// WithDialOptions makes Dial fail rather than expose the token. An empty token
// is an error at Dial.
func WithToken(token string) Option { return func(o *options) { o.token = &token } }

// WithUserAgent replaces DefaultUserAgent.
func WithUserAgent(ua string) Option { return func(o *options) { o.userAgent = ua } }

// WithDialOptions adds gRPC dial options. They are applied after the ones
// Dial derives from the other options, so they win where the two overlap
// (for example a grpc.WithTransportCredentials here replaces TLS).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOpts = append(o.dialOpts, opts...) }
}

// Dial returns a Client for the gpubms server at target (a gRPC target such
// as "host:port" or "dns:///host:port"). By default it uses TLS with the
// system's root certificates and sends no credentials. Its mutations carry a
// request_id and are retried as the package documentation describes
// (WithMutationRetries, WithMutationBackoff).
//
// Dial does not wait for the connection: like grpc.NewClient, which it uses,
// it connects on the first RPC, whose own context bounds the wait. ctx is
// only checked, so an already cancelled caller fails at once. Invalid option
// combinations (WithInsecure with a TLS option, WithTLSConfig with
// WithTLSFiles, an empty WithToken or WithServerName) and WithTLSFiles files
// that do not load are errors here rather than on the first RPC. A failed TLS
// handshake (a server certificate the CA does not vouch for, a server that
// refuses the client certificate) shows on the first RPC, as Unavailable.
func Dial(ctx context.Context, target string, opts ...Option) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("gpubms: dial %s: %w", target, err)
	}
	o := options{userAgent: DefaultUserAgent, retry: defaultRetryPolicy()}
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.checkTLS(); err != nil {
		return nil, err
	}
	var dialOpts []grpc.DialOption
	if o.insecure {
		dialOpts = append(dialOpts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	} else {
		cfg, err := o.clientTLSConfig()
		if err != nil {
			return nil, err
		}
		// A nil config means TLS 1.2+ with the system roots.
		dialOpts = append(dialOpts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	}
	if o.token != nil {
		if *o.token == "" {
			return nil, errors.New("gpubms: dial: WithToken with an empty token")
		}
		creds := NewTokenCredentials(*o.token)
		if o.insecure {
			creds = creds.AllowInsecure()
		}
		dialOpts = append(dialOpts, grpc.WithPerRPCCredentials(creds))
	}
	if o.userAgent != "" {
		dialOpts = append(dialOpts, grpc.WithUserAgent(o.userAgent))
	}
	// Fixed receive windows: with grpc-go's dynamic ones the client pings
	// the server on nearly every reply to size them (bandwidth-delay
	// estimation), a frame each way per call. Replies up to gRPC's default
	// limit of 4 MiB arrive in one go.
	dialOpts = append(dialOpts, grpc.WithStaticStreamWindowSize(replyWindow), grpc.WithStaticConnWindowSize(connWindow))
	// A chained interceptor, so that a grpc.WithUnaryInterceptor in
	// WithDialOptions runs around it rather than replacing it.
	dialOpts = append(dialOpts, grpc.WithChainUnaryInterceptor(o.retry.interceptor()))
	dialOpts = append(dialOpts, o.dialOpts...)
	conn, err := grpc.NewClient(target, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("gpubms: dial %s: %w", target, err)
	}
	return clientOn(conn, conn), nil
}

// The receive windows of Dial's connections: a stream's holds the largest
// reply gRPC accepts by default and its 5-byte prefix; a connection's, about
// four of them.
const (
	replyWindow = 4<<20 + 5
	connWindow  = 16 << 20
)

// Ptr returns a pointer to v, for the contract's optional fields where the
// zero value is meaningful and must be sent, e.g. Raid: gpubms.Ptr[int32](0).
func Ptr[T any](v T) *T { return &v }
