package upstream

import (
	"fmt"
	"log/slog"
)

// redacted is what a Secret prints as, whatever the verb or encoder.
const redacted = "[REDACTED]"

// Secret is a string that must never leave the process: the access key
// secret, or an instance password on its way to the provider. Every way of
// printing it (fmt verbs, %#v, JSON, text marshalling, slog) yields a
// redaction; only an explicit string(s) conversion reveals the value, and the
// client does that only where the value goes on the wire (the HMAC key, the
// JSON body of a create or reinstall).
type Secret string

// String returns a redaction, never the value.
func (Secret) String() string { return redacted }

// GoString returns a redaction, never the value (for %#v).
func (Secret) GoString() string { return redacted }

// Format writes a redaction for every verb, so %s, %q, %x and %v are all safe.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON encodes a redaction, never the value.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText encodes a redaction, never the value.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue makes slog record a redaction, never the value.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// IsZero reports whether the secret is empty, without revealing it.
func (s Secret) IsZero() bool { return s == "" }
