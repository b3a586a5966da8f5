package gpubms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// redacted is what TokenCredentials print as, whatever the verb or encoder.
const redacted = "gpubms.TokenCredentials{token: [REDACTED]}"

// TokenCredentials sends a bearer token with every RPC, as the metadata
// `authorization: Bearer <token>`. It implements
// credentials.PerRPCCredentials, so it also serves callers who dial
// themselves (grpc.WithPerRPCCredentials).
//
// By default it refuses to travel over a connection without transport
// security: gRPC rejects the pairing (at grpc.NewClient for plaintext
// transport, otherwise at the call) before anything is sent. AllowInsecure
// lifts that for plaintext loopback or development connections.
//
// Every way of printing it (fmt verbs, %#v, JSON, slog) yields a redaction;
// the token leaves the process only in the request metadata. The token is
// held behind a pointer so that even a struct that embeds the credentials in
// an unexported field prints an address, not the token. A TokenCredentials is
// immutable and safe for concurrent use.
type TokenCredentials struct {
	token         *string
	allowInsecure bool
}

// NewTokenCredentials returns credentials that send token as a bearer token
// over connections with transport security only.
func NewTokenCredentials(token string) TokenCredentials {
	return TokenCredentials{token: &token}
}

// AllowInsecure returns a copy of c that may also be sent over a plaintext
// connection, where anyone on the path can read it. Use it for loopback and
// development only.
func (c TokenCredentials) AllowInsecure() TokenCredentials {
	c.allowInsecure = true
	return c
}

// errNoToken is returned when credentials without a token are asked for
// metadata, so a zero TokenCredentials fails loudly instead of sending
// "Bearer ".
var errNoToken = errors.New("gpubms: token credentials have no token")

// GetRequestMetadata returns the authorization header for one RPC.
func (c TokenCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	if c.token == nil || *c.token == "" {
		return nil, errNoToken
	}
	return map[string]string{"authorization": "Bearer " + *c.token}, nil
}

// RequireTransportSecurity reports whether the token needs a secure
// connection: true unless AllowInsecure was used.
func (c TokenCredentials) RequireTransportSecurity() bool { return !c.allowInsecure }

// String returns a redaction, never the token.
func (TokenCredentials) String() string { return redacted }

// GoString returns a redaction, never the token (for %#v).
func (TokenCredentials) GoString() string { return redacted }

// Format writes a redaction for every verb, so %s, %q, %x, %d and %+v are
// all safe.
func (TokenCredentials) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON encodes a redaction, never the token.
func (TokenCredentials) MarshalJSON() ([]byte, error) { return []byte(`"[REDACTED]"`), nil }

// LogValue makes slog record a redaction, never the token.
func (TokenCredentials) LogValue() slog.Value { return slog.StringValue(redacted) }
