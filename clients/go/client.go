// Package gpubms is the Go client of the gpubms service: dialling with TLS,
// client certificates and bearer tokens, every GpuService RPC, and helpers that wait for the provider
// tasks that creating, reinstalling, powering and deleting servers start.
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
// gpubmsv1.GpuServiceClient) plus WaitTask and WaitTasks. It is safe for
// concurrent use; make one and share it.
type Client struct {
	gpubmsv1.GpuServiceClient

	// conn is closed by Close only when Dial made it.
	conn *grpc.ClientConn
}

// NewClient wraps a connection the caller made and still owns: Close on the
// returned Client does not close conn.
func NewClient(conn grpc.ClientConnInterface) *Client {
	return &Client{GpuServiceClient: gpubmsv1.NewGpuServiceClient(conn)}
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
// system's root certificates and sends no credentials.
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
	o := options{userAgent: DefaultUserAgent}
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
	dialOpts = append(dialOpts, o.dialOpts...)
	conn, err := grpc.NewClient(target, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("gpubms: dial %s: %w", target, err)
	}
	return &Client{GpuServiceClient: gpubmsv1.NewGpuServiceClient(conn), conn: conn}, nil
}

// Ptr returns a pointer to v, for the contract's optional fields where the
// zero value is meaningful and must be sent, e.g. Raid: gpubms.Ptr[int32](0).
func Ptr[T any](v T) *T { return &v }
