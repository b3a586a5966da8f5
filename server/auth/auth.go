// Package auth says who is calling and what they may do: named callers with
// a role, found by bearer token (looked up by its SHA-256, so no comparison
// leaks a token's bytes through timing) or by a verified client
// certificate, and the role each RPC needs, read from the contract's
// gpubms.v1.required_role method option.
//
// A Caller travels in the context of a call (NewContext, FromContext), so
// the later parts of the server (logs, idempotency, audit) can key on its
// name. An Authenticator holds the known callers; Reload re-reads its tokens
// file without disturbing calls in flight. Nothing here logs or returns a
// token.
package auth

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// Role is what a caller may do. A role may do everything the roles below it
// may.
type Role int

// Roles, in order.
const (
	// RoleNone may do nothing: the zero Role.
	RoleNone Role = iota
	// Reader may call the RPCs that change nothing (Describe*, Watch*).
	Reader
	// Operator may call every RPC.
	Operator
)

func (r Role) String() string {
	switch r {
	case Reader:
		return "reader"
	case Operator:
		return "operator"
	}
	return "none"
}

// ParseRole parses "reader" or "operator".
func ParseRole(s string) (Role, error) {
	switch s {
	case "reader":
		return Reader, nil
	case "operator":
		return Operator, nil
	}
	return RoleNone, fmt.Errorf("role %q is not reader or operator", s)
}

// Allows reports whether r may do what need requires.
func (r Role) Allows(need Role) bool { return r >= need }

// RequiredRole is the least role that may call m: its
// gpubms.v1.required_role option, or Operator when it has none, so an RPC
// is closed to readers until its contract says otherwise.
func RequiredRole(m protoreflect.MethodDescriptor) Role {
	opts := m.Options()
	if opts == nil || !proto.HasExtension(opts, gpubmsv1.E_RequiredRole) {
		return Operator
	}
	switch proto.GetExtension(opts, gpubmsv1.E_RequiredRole).(gpubmsv1.Role) {
	case gpubmsv1.Role_ROLE_READER:
		return Reader
	default:
		return Operator
	}
}

// How a caller proved who it is.
const (
	ViaToken       = "token"
	ViaCertificate = "certificate"
	ViaNone        = "none" // caller authentication is off
)

// Caller is who is calling.
type Caller struct {
	// Name identifies the caller: the tokens file's NAME, "token-N" for the
	// N-th of GPUBMS_AUTH_TOKENS, "token" for GPUBMS_AUTH_TOKEN, a client
	// certificate's subject, or Anonymous when authentication is off.
	Name string
	Role Role
	// Via is how the caller was recognised: ViaToken, ViaCertificate or
	// ViaNone.
	Via string
}

// Anonymous is the name of every caller when caller authentication is off.
const Anonymous = "anonymous"

// Lease is the name the server's own lease executor acts under; no caller
// may have it.
const Lease = "lease"

type callerKey struct{}

// NewContext returns ctx carrying c.
func NewContext(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// FromContext returns the caller of ctx, if one was recognised.
func FromContext(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}
