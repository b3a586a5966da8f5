package upstream

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	json "github.com/go-json-experiment/json/v1"
)

// The package's JSON is github.com/go-json-experiment/json/v1: the API and
// the behaviour of encoding/json (keys matched case-insensitively, the same
// handling of odd values, which the provider's quirks rely on) on the v2
// implementation that is the standard library's from Go 1.27. It decodes a
// provider's reply in about half the time of encoding/json's, with a third
// of the allocations (BenchmarkDecodeReplyDetail). Where the comments here
// say encoding/json, they mean those semantics.
//
// Every decoding here goes through unmarshal, so that
// FuzzDecoderMatchesEncodingJSON can run the same replies through
// encoding/json itself and compare. The two differ only where one object
// gives a key twice, in spellings that differ in case: which field the
// second fills.
func unmarshal(b []byte, v any) error { return (*decoder.Load())(b, v) }

// decoder is the JSON decoding every reply goes through; the test swaps
// in encoding/json's.
var decoder atomic.Pointer[func([]byte, any) error]

func init() {
	f := json.Unmarshal
	decoder.Store(&f)
}

// envelope is the provider's reply: {"Code", "Message" or "Msg", "Data",
// sometimes "RequestId"}. The text fields are raw so that a null, a number or
// any other odd value degrades to text instead of failing the whole reply.
// It is the slow path's shape (see decodeEnvelope): Data stays raw until Code
// has been checked.
type envelope struct {
	Code      *string         `json:"Code"`
	Message   json.RawMessage `json:"Message"`
	Msg       json.RawMessage `json:"Msg"`
	RequestID json.RawMessage `json:"RequestId"`
	Data      json.RawMessage `json:"Data"`
}

// successEnvelope is the fast path's shape: Data holds the caller's decode
// target (a non-nil pointer), which the decoder fills in place, so a
// successful reply is decoded in one pass. A JSON null in Data sets the
// field to nil and leaves the target alone. The messages are not needed on
// success and are skipped.
type successEnvelope struct {
	Code      string          `json:"Code"`
	RequestID json.RawMessage `json:"RequestId"`
	Data      any             `json:"Data"`
}

var errNoCode = errors.New("reply has no Code")

// wired is implemented by replies whose quirks need a decode target of
// another shape (two spellings of one key in one object, deep down): Data is
// decoded into the wire value in the same pass as the envelope, and finish
// then moves it into the reply. The reply is written only by finish.
type wired interface {
	wire() wireTarget
}

type wireTarget interface {
	finish()
}

// decodeReply turns one HTTP reply into the call's outcome: nil with out
// filled from Data (left as is when Data is null or missing), an *Error when
// Code is not "Success" (whatever the HTTP status), or a *TransportError of
// KindMalformed. It never panics, whatever body holds. Attempts are filled
// in by the caller. It also returns the reply's request id, when there is
// one.
//
// A 2xx reply is first decoded in one pass, envelope and Data together
// (decodeSuccess). Only when that does not yield a success (another Code, a
// body that does not decode, a Data of the wrong shape) is out reset to its
// zero value and the reply decoded again the careful way (decodeEnvelope),
// which tells the cases apart exactly as it always has.
func decodeReply(action string, status int, header http.Header, body []byte, out any) (string, error) {
	body = bytes.TrimPrefix(bytes.TrimSpace(body), []byte("\xef\xbb\xbf"))
	if status >= 200 && status <= 299 && out != nil && len(body) > 0 {
		if rid, ok := decodeSuccess(body, header, out); ok {
			return rid, nil
		}
	}
	var rid string
	err := decodeEnvelope(action, status, header, body, out, &rid)
	return rid, err
}

// decodeSuccess is the one-pass decoding of a successful reply. It reports
// false, with out as it was before the call, when the reply is anything but
// a well-formed success.
func decodeSuccess(body []byte, header http.Header, out any) (string, bool) {
	var target wireTarget
	env := successEnvelope{Data: out}
	if w, ok := out.(wired); ok {
		target = w.wire()
		env.Data = target
	}
	decodeTo := env.Data
	err := unmarshal(body, &env)
	// A Data that is null and then, under a repeated key, something else
	// replaces the target with a fresh value: leave such a reply to the
	// careful path, which takes the last Data.
	if err != nil || env.Code != CodeSuccess || env.Data != nil && env.Data != decodeTo {
		if target == nil {
			resetValue(out) // the decoder may have filled part of it
		}
		return "", false
	}
	if target != nil && env.Data != nil {
		target.finish()
	}
	rid := text(env.RequestID)
	if rid == "" && header != nil {
		rid = header.Get("X-Request-Id")
	}
	return rid, true
}

// resetValue sets what out points to to its zero value.
func resetValue(out any) {
	if v := reflect.ValueOf(out); v.Kind() == reflect.Pointer && !v.IsNil() {
		v.Elem().SetZero()
	}
}

// decodeEnvelope is the careful two-step decoding: the envelope with Data
// raw, then, on success only, Data into out.
func decodeEnvelope(action string, status int, header http.Header, body []byte, out any, rid *string) error {
	malformed := func(err error) error {
		return &TransportError{Action: action, Kind: KindMalformed, HTTPStatus: status, Err: err}
	}
	if len(body) == 0 {
		return malformed(errors.New("empty body"))
	}
	var env envelope
	if err := unmarshal(body, &env); err != nil {
		return malformed(decodeError("decode envelope", "", err))
	}
	if env.Code == nil || *env.Code == "" {
		return malformed(errNoCode)
	}
	code := *env.Code
	*rid = text(env.RequestID)
	if *rid == "" && header != nil {
		*rid = header.Get("X-Request-Id")
	}
	if code != CodeSuccess {
		msg := text(env.Message)
		if msg == "" {
			msg = text(env.Msg)
		}
		return &Error{Action: action, HTTPStatus: status, Code: code, Message: msg, RequestID: *rid}
	}
	if status < 200 || status > 299 {
		// A success code under an error status is not a reply we can trust.
		return malformed(fmt.Errorf("code %s under http status %d", CodeSuccess, status))
	}
	if isNull(env.Data) || out == nil {
		return nil
	}
	if err := decodeData(env.Data, out); err != nil {
		return malformed(decodeError("decode data", "Data", err))
	}
	return nil
}

// decodeError is what went wrong decoding the reply (what, in its part
// root): for a value of the wrong type, where it is and what belongs there,
// in JSON's terms rather than those of the Go types it was decoded into.
func decodeError(what, root string, err error) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) || te.Type == nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	at := strings.Trim(root+"."+te.Field, ".")
	if at == "" {
		at = "the reply"
	}
	return &wrongType{msg: fmt.Sprintf("%s: %s: a JSON %s where %s belongs", what, at, te.Value, jsonKind(te.Type)), err: err}
}

type wrongType struct {
	msg string
	err error
}

func (e *wrongType) Error() string { return e.msg }
func (e *wrongType) Unwrap() error { return e.err }

// jsonKind is what JSON value decodes into t.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "another value"
}

// decodeData decodes a raw Data into out, through its wire type if it has
// one.
func decodeData(raw []byte, out any) error {
	w, ok := out.(wired)
	if !ok {
		return unmarshal(raw, out)
	}
	target := w.wire()
	if err := unmarshal(raw, target); err != nil {
		return err
	}
	target.finish()
	return nil
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// text renders a raw JSON value as text: a string's contents, "" for null or
// missing, and the raw JSON of anything else.
func text(raw json.RawMessage) string {
	if isNull(raw) {
		return ""
	}
	if s, ok := plainString(raw); ok {
		return s
	}
	var s string
	if unmarshal(raw, &s) == nil {
		return s
	}
	return string(bytes.TrimSpace(raw))
}

// plainString returns the contents of a JSON string that needs no
// unescaping (no backslash, no control character, valid UTF-8): what
// json.Unmarshal would, without its second scan.
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	for _, c := range in {
		if c < 0x20 || c == '\\' || c == '"' {
			return "", false
		}
	}
	if !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}
