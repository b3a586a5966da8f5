package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// envelope is the provider's reply: {"Code", "Message" or "Msg", "Data",
// sometimes "RequestId"}. The text fields are raw so that a null, a number or
// any other odd value degrades to text instead of failing the whole reply.
type envelope struct {
	Code      *string         `json:"Code"`
	Message   json.RawMessage `json:"Message"`
	Msg       json.RawMessage `json:"Msg"`
	RequestID json.RawMessage `json:"RequestId"`
	Data      json.RawMessage `json:"Data"`
}

var errNoCode = errors.New("reply has no Code")

// decodeReply turns one HTTP reply into the call's outcome: nil with out
// filled from Data (left as is when Data is null or missing), an *Error when
// Code is not "Success" (whatever the HTTP status), or a *TransportError of
// KindMalformed. It never panics, whatever body holds. Attempts are filled
// in by the caller. It also returns the reply's request id, when there is
// one.
func decodeReply(action string, status int, header http.Header, body []byte, out any) (string, error) {
	var rid string
	err := decodeEnvelope(action, status, header, body, out, &rid)
	return rid, err
}

func decodeEnvelope(action string, status int, header http.Header, body []byte, out any, rid *string) error {
	malformed := func(err error) error {
		return &TransportError{Action: action, Kind: KindMalformed, HTTPStatus: status, Err: err}
	}
	body = bytes.TrimPrefix(bytes.TrimSpace(body), []byte("\xef\xbb\xbf"))
	if len(body) == 0 {
		return malformed(errors.New("empty body"))
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return malformed(fmt.Errorf("decode envelope: %w", err))
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
	if err := json.Unmarshal(env.Data, out); err != nil {
		return malformed(fmt.Errorf("decode data: %w", err))
	}
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
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(bytes.TrimSpace(raw))
}
