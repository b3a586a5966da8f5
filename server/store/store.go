// Package store keeps what gpubms must not forget across calls and
// restarts: the idempotency records of mutating calls with a request_id,
// and the audit trail. Bolt is the embedded implementation, one bbolt file
// owned by one process; the interfaces the rest of the server uses are
// defined where they are used (package server, package fleet) and are
// narrow enough for a shared implementation (Redis) to follow.
//
// Nothing secret is stored: a record holds a fingerprint of its request,
// never the request, and an audit event holds the request without its
// passwords.
package store

import (
	"errors"
	"time"
)

// State is where a recorded call stands.
type State string

const (
	// InFlight: the call is being sent to the provider, or waits for its
	// reply.
	InFlight State = "in_flight"
	// Done: the provider answered with success; Reply holds the reply.
	Done State = "done"
	// Unknown: the request may have reached the provider, but its reply was
	// lost. It is never sent again.
	Unknown State = "unknown"
)

// Record is what the server keeps of one mutating call with a request_id.
type Record struct {
	// Key is (caller, RPC, request_id), joined by the server.
	Key string `json:"-"`
	// Fingerprint identifies the request's content (a keyed hash, without
	// the request_id), so a request_id reused for another request is told
	// apart.
	Fingerprint string `json:"fingerprint"`
	State       State  `json:"state"`
	// Reply is the reply of a Done call, as protobuf bytes.
	Reply []byte `json:"reply,omitempty"`
	// ProviderRequestID is the provider's RequestId of its reply.
	ProviderRequestID string `json:"provider_request_id,omitempty"`
	// Started is when the first call began; Updated when the record last
	// changed; Expires when it is forgotten.
	Started time.Time `json:"started"`
	Updated time.Time `json:"updated"`
	Expires time.Time `json:"expires"`
}

// AuditQuery selects audit events. Zero fields select everything.
type AuditQuery struct {
	Caller     string
	RPC        string
	ResourceID string
	Start, End time.Time // [Start, End)
	// PageSize caps the events returned; PageToken continues after the last
	// event of a previous page.
	PageSize  int
	PageToken string
}

// Errors of the store.
var (
	// ErrLocked: another process holds the store.
	ErrLocked = errors.New("store is in use by another process")
	// ErrBadPageToken: a page token this store cannot read.
	ErrBadPageToken = errors.New("invalid page token")
)
