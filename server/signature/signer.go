package signature

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Param is one query parameter of a request to sign.
type Param struct{ Name, Value string }

// redacted is what a Signer prints as, whatever the verb or encoder.
const redacted = "[REDACTED]"

// Signer signs requests with one access key secret without the allocations of
// the url.Values functions (Sign, SignedQuery): it keeps a pool of HMAC-SHA1
// states keyed with the secret, streams the string to sign into the HMAC
// instead of building it, and appends the signed query to a caller's buffer.
// Its output is byte for byte that of SignedQuery.
//
// A Signer is safe for concurrent use; make it with NewSigner (the zero value
// panics). It never reveals the secret: every way of printing it yields a
// redaction.
type Signer struct {
	// pool holds *signState. The secret lives only in pool.New's closure
	// and, derived, inside the HMAC states: no field of Signer holds it.
	pool sync.Pool
}

// NewSigner returns a Signer for the access key secret.
func NewSigner(secret string) *Signer {
	key := []byte(secret)
	s := &Signer{}
	s.pool.New = func() any {
		// hmac.New once per pooled state; Reset (which restores the keyed
		// state without rehashing the key) between uses.
		return &signState{mac: hmac.New(sha1.New, key)}
	}
	return s
}

// signState is one pooled HMAC with a chunk buffer that feeds it.
type signState struct {
	mac hash.Hash
	n   int       // bytes pending in buf
	buf [512]byte // pending input for mac: one Write per 512 bytes, not per piece
	sum [sha1.Size]byte
	str []byte // scratch for SignedQuery
}

// maxPooledScratch bounds the SignedQuery scratch kept in the pool, so one huge
// request does not pin its buffer for ever.
const maxPooledScratch = 16 << 10

func (s *Signer) get() *signState {
	st, _ := s.pool.Get().(*signState)
	if st == nil {
		panic("signature: Signer not made by NewSigner")
	}
	return st
}

func (s *Signer) put(st *signState) {
	st.mac.Reset()
	st.n = 0
	if cap(st.str) > maxPooledScratch {
		st.str = nil
	}
	s.pool.Put(st)
}

// AppendSignedQuery appends the signed query of a request to dst and returns
// the extended buffer: the canonical query (every name and value encoded with
// Encode, sorted by name in byte order, joined as name=value pairs with '&')
// followed by "&Signature=" and the encoded signature. It is exactly what
// SignedQuery returns for the same parameters in url.Values, so a request
// with no parameters gives "&Signature=…" as SignedQuery does.
//
// params must hold the common parameters (see AppendCommon). It is sorted in
// place, so do not share one slice between goroutines. A parameter named
// Signature is skipped. When a name repeats, only its first occurrence in
// params counts and the later ones are dropped, as url.Values.Get takes the
// first value: the sort is stable, so the first in params is the first in
// sorted order.
func (s *Signer) AppendSignedQuery(dst []byte, method string, params []Param) []byte {
	st := s.get()
	dst = st.appendSigned(dst, method, params)
	s.put(st)
	return dst
}

// SignedQuery returns the signed query of a request as AppendSignedQuery
// appends it: the string is its only allocation (the work buffer is pooled).
// It sorts params in place.
func (s *Signer) SignedQuery(method string, params []Param) string {
	st := s.get()
	st.str = st.appendSigned(st.str[:0], method, params)
	q := string(st.str)
	s.put(st)
	return q
}

func byName(a, b Param) int { return strings.Compare(a.Name, b.Name) }

func (st *signState) appendSigned(dst []byte, method string, params []Param) []byte {
	// Stable, so that of repeated names the first one given is kept. For
	// the short lists of a request (≤ 20) this is one insertion sort, as
	// slices.SortFunc would do for ≤ 12, and neither allocates.
	slices.SortStableFunc(params, byName)

	start := len(dst)
	first := true
	for i, p := range params {
		if p.Name == ParamSignature || i > 0 && p.Name == params[i-1].Name {
			continue
		}
		if !first {
			dst = append(dst, '&')
		}
		first = false
		dst = appendEncode(dst, p.Name)
		dst = append(dst, '=')
		dst = appendEncode(dst, p.Value)
	}

	// The string to sign, METHOD&%2F&Encode(canonical query), goes into the
	// HMAC in pieces and is never built.
	st.writeUpper(method)
	st.writeString("&%2F&")
	st.writeEncoded(dst[start:])
	st.flush()
	mac := st.mac.Sum(st.sum[:0])

	var b64 [28]byte // base64 of 20 bytes
	base64.StdEncoding.Encode(b64[:], mac)
	dst = append(dst, "&"+ParamSignature+"="...)
	return appendEncodeBytes(dst, b64[:])
}

func (st *signState) flush() {
	if st.n > 0 {
		st.mac.Write(st.buf[:st.n])
		st.n = 0
	}
}

func (st *signState) writeString(s string) {
	for len(s) > 0 {
		if st.n == len(st.buf) {
			st.flush()
		}
		c := copy(st.buf[st.n:], s)
		st.n += c
		s = s[c:]
	}
}

// writeUpper writes strings.ToUpper(method), without allocating when the
// method is ASCII (as every HTTP method is).
func (st *signState) writeUpper(method string) {
	for i := 0; i < len(method); i++ {
		if method[i] >= 0x80 {
			st.writeString(strings.ToUpper(method))
			return
		}
	}
	for i := 0; i < len(method); i++ {
		if st.n == len(st.buf) {
			st.flush()
		}
		c := method[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		st.buf[st.n] = c
		st.n++
	}
}

// writeEncoded writes Encode(p).
func (st *signState) writeEncoded(p []byte) {
	const hex = "0123456789ABCDEF"
	n := st.n // in a local: this loop is a quarter of the signing time
	for _, c := range p {
		if n > len(st.buf)-3 {
			st.mac.Write(st.buf[:n])
			n = 0
		}
		b := st.buf[n : n+3 : n+3] // one bounds check for the three bytes
		if unreservedTab[c] {
			b[0] = c
			n++
			continue
		}
		b[0], b[1], b[2] = '%', hex[c>>4], hex[c&15]
		n += 3
	}
	st.n = n
}

// unreservedTab[c] is unreserved(c).
var unreservedTab = func() (t [256]bool) {
	for c := range t {
		t[c] = unreserved(byte(c))
	}
	return t
}()

// appendEncode appends Encode(s) to dst.
func appendEncode(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	run := 0 // start of the pending run of unreserved bytes
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreservedTab[c] {
			continue
		}
		dst = append(dst, s[run:i]...)
		dst = append(dst, '%', hex[c>>4], hex[c&15])
		run = i + 1
	}
	return append(dst, s[run:]...)
}

func appendEncodeBytes(dst, b []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range b {
		if unreservedTab[c] {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		}
	}
	return dst
}

// AppendCommon appends the common parameters of one request to params, as
// Common sets them in url.Values, and returns the extended slice (pass a
// slice with room for 7 more to avoid growing it). The timestamp is now in
// UTC in TimestampForm; its string is the only allocation. A fresh nonce and
// timestamp must be used for every attempt. AppendCommon does not look for
// names already in params: if one is there, the first occurrence wins when
// signing (see AppendSignedQuery).
func AppendCommon(params []Param, action, accessKeyID, nonce string, now time.Time) []Param {
	var ts [len(TimestampForm) + 8]byte // room for years past 9999
	return append(params,
		Param{ParamAction, action},
		Param{ParamAccessKeyID, accessKeyID},
		Param{ParamSignatureMethod, Method},
		Param{ParamSignatureNonce, nonce},
		Param{ParamSignatureVersion, Version},
		Param{ParamTimestamp, string(appendTimestamp(ts[:0], now))},
		Param{ParamVersion, APIVersion},
	)
}

// appendTimestamp appends now in UTC as TimestampForm. It writes the digits
// itself (time.Format's layout parsing was a tenth of a signed request) and
// leaves years outside 0–9999 to AppendFormat.
func appendTimestamp(dst []byte, now time.Time) []byte {
	t := now.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, TimestampForm)
	}
	hour, min, sec := t.Clock()
	d2 := func(dst []byte, v int) []byte { return append(dst, byte('0'+v/10), byte('0'+v%10)) }
	dst = d2(dst, year/100)
	dst = d2(dst, year%100)
	dst = d2(append(dst, '-'), int(month))
	dst = d2(append(dst, '-'), day)
	dst = d2(append(dst, 'T'), hour)
	dst = d2(append(dst, ':'), min)
	dst = d2(append(dst, ':'), sec)
	return append(dst, 'Z')
}

// String returns a redaction, never the secret.
func (*Signer) String() string { return redacted }

// GoString returns a redaction, never the secret (for %#v).
func (*Signer) GoString() string { return redacted }

// Format writes a redaction for every verb, so %s, %q, %x and %+v are all safe.
func (*Signer) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// MarshalText encodes a redaction, never the secret (so JSON does too).
func (*Signer) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue makes slog record a redaction, never the secret.
func (*Signer) LogValue() slog.Value { return slog.StringValue(redacted) }
