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
	"context"
	"errors"
	"time"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
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

// Store is everything a store keeps: Bolt embedded, Redis shared by
// replicas. The server's packages use narrow parts of it, defined where
// they are used; the store's own suite runs this whole interface against
// each implementation.
type Store interface {
	PutIfAbsent(ctx context.Context, r Record) (Record, bool, error)
	CompareAndSwap(ctx context.Context, from State, r Record) (bool, error)
	DeleteIf(ctx context.Context, key string, state State) (bool, error)
	Get(ctx context.Context, key string) (Record, bool, error)
	AppendAudit(ctx context.Context, ev *gpubmsv1.AuditEvent) error
	ListAudit(ctx context.Context, q AuditQuery) ([]*gpubmsv1.AuditEvent, string, error)
	Sweep(ctx context.Context) (records, events int, err error)
	SetProtection(ctx context.Context, ids []string, protected bool, reason, caller string) ([]*gpubmsv1.Protection, error)
	Protected(ctx context.Context, ids []string) (map[string]*gpubmsv1.Protection, error)
	ListProtections(ctx context.Context) ([]*gpubmsv1.Protection, error)
	PutLeases(ctx context.Context, leases []*gpubmsv1.Lease) error
	Leases(ctx context.Context) ([]*gpubmsv1.Lease, error)
	GetLease(ctx context.Context, id string) (*gpubmsv1.Lease, bool, error)
	DeleteLeases(ctx context.Context, ids []string) ([]string, error)
	UpdateLease(ctx context.Context, l *gpubmsv1.Lease) (bool, error)
	PutLeaseTask(ctx context.Context, t LeaseTask) error
	LeaseTasks(ctx context.Context) ([]LeaseTask, error)
	DeleteLeaseTask(ctx context.Context, taskID string) error
	PutCreations(ctx context.Context, cs []Creation) error
	Creations(ctx context.Context) (map[string]Creation, error)
	// Check is nil while the store can be used; Run sweeps until ctx ends;
	// Path names it in logs.
	Check(ctx context.Context) error
	Run(ctx context.Context, interval time.Duration)
	Path() string
	Close() error
}

var (
	_ Store = (*Bolt)(nil)
	_ Store = (*Redis)(nil)
)
