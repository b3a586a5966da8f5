package gateway

import (
	"math/rand/v2"
	"net/http"
)

// RequestIDHeader is the request id's HTTP header; its gRPC metadata key is
// RequestIDMetadata. A caller may send its own; the server answers with the
// one it used.
const (
	RequestIDHeader   = "X-Request-Id"
	RequestIDMetadata = "x-request-id"
)

// SaneRequestID reports whether a caller's request id may be used as is:
// 1 to 128 characters of letters, digits and "-", "_", ".", ":", "/", "+",
// "=". Anything else (empty, too long, spaces, control characters, quotes)
// is replaced by a new one rather than logged.
func SaneRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '/', c == '+', c == '=':
		default:
			return false
		}
	}
	return true
}

// NewRequestID returns a new random request id: 26 characters of the
// base32 alphabet, 130 random bits. A request id must be unique, not
// secret, so the bits come from the runtime's generator (ChaCha8, seeded by
// the system), which every call may use without a lock or a system call.
func NewRequestID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var b [26]byte
	var r uint64
	n := 0 // bits left in r
	for i := range b {
		if n < 5 {
			r, n = rand.Uint64(), 64
		}
		b[i] = alphabet[r&31]
		r >>= 5
		n -= 5
	}
	return string(b[:])
}

// requestID gives every request an id: the caller's X-Request-Id when it
// is sane, a new one otherwise. The id is set on the request (the gateway
// forwards it as RequestIDMetadata) and on the response at once, so a
// request the gateway refuses itself carries it too.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if len(r.Header.Values(RequestIDHeader)) != 1 || !SaneRequestID(id) {
			id = NewRequestID()
		}
		r.Header.Set(RequestIDHeader, id)
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r)
	})
}
