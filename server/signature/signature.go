// Package signature implements the provider's OpenAPI signature v1.0
// (HMAC-SHA1 over a canonical query string).
//
// The same functions sign requests in package upstream and verify them in
// package emulator, so the two cannot drift apart. Everything here is pure and
// safe for concurrent use.
//
// Signer is the allocation-free path for signing many requests with one
// secret (a pooled HMAC, the string to sign streamed into it, the query
// appended to the caller's buffer); it gives the same bytes as SignedQuery.
package signature

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Names and fixed values of the common parameters.
const (
	ParamAction           = "Action"
	ParamAccessKeyID      = "AccessKeyId"
	ParamSignatureMethod  = "SignatureMethod"
	ParamSignatureNonce   = "SignatureNonce"
	ParamSignatureVersion = "SignatureVersion"
	ParamTimestamp        = "Timestamp"
	ParamVersion          = "Version"
	ParamSignature        = "Signature"

	Method        = "HMAC-SHA1"
	Version       = "1.0"
	APIVersion    = "2019-08-08"
	TimestampForm = "2006-01-02T15:04:05Z"
)

// Encode percent-encodes s as the provider expects: RFC 3986 with only
// A-Z a-z 0-9 - _ . ~ left as they are. Every other byte, '/' included,
// becomes %XY with upper-case hex, and a space is %20 (never '+').
func Encode(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// CanonicalQuery sorts params by name (byte order), skips Signature, encodes
// each name and value and joins them as name=value pairs with '&'. Only the
// first value of a repeated name is used: the provider takes single values.
func CanonicalQuery(params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != ParamSignature {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(Encode(k))
		b.WriteByte('=')
		b.WriteString(Encode(params.Get(k)))
	}
	return b.String()
}

// StringToSign is METHOD&%2F&encode(canonical query).
func StringToSign(method, canonicalQuery string) string {
	return strings.ToUpper(method) + "&%2F&" + Encode(canonicalQuery)
}

// Sign returns base64(HMAC-SHA1(secret, string to sign)) for the request.
func Sign(method string, params url.Values, secret string) string {
	return sum(secret, StringToSign(method, CanonicalQuery(params)))
}

func sum(secret, s string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Common fills the common parameters of one request into params (which may be
// nil) and returns them, without the signature. A fresh nonce and timestamp
// must be used for every attempt.
func Common(params url.Values, action, accessKeyID, nonce string, now time.Time) url.Values {
	if params == nil {
		params = url.Values{}
	}
	params.Set(ParamAction, action)
	params.Set(ParamAccessKeyID, accessKeyID)
	params.Set(ParamSignatureMethod, Method)
	params.Set(ParamSignatureNonce, nonce)
	params.Set(ParamSignatureVersion, Version)
	params.Set(ParamTimestamp, now.UTC().Format(TimestampForm))
	params.Set(ParamVersion, APIVersion)
	return params
}

// SignedQuery signs params (which must hold the common parameters) and
// returns the full encoded query string, Signature included, in canonical
// order.
func SignedQuery(method string, params url.Values, secret string) string {
	cq := CanonicalQuery(params)
	return cq + "&" + ParamSignature + "=" + Encode(sum(secret, StringToSign(method, cq)))
}

// Errors returned by Verify.
var (
	ErrMissingSignature = errors.New("signature: missing Signature")
	ErrBadMethod        = errors.New("signature: unsupported SignatureMethod or SignatureVersion")
	ErrMismatch         = errors.New("signature: signature does not match")
)

// Verify checks the Signature parameter of a received request against the
// secret, in constant time. It checks nothing about time or nonces: those are
// the verifier's policy.
func Verify(method string, params url.Values, secret string) error {
	got := params.Get(ParamSignature)
	if got == "" {
		return ErrMissingSignature
	}
	if params.Get(ParamSignatureMethod) != Method || params.Get(ParamSignatureVersion) != Version {
		return ErrBadMethod
	}
	want := Sign(method, params, secret)
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return ErrMismatch
	}
	return nil
}
