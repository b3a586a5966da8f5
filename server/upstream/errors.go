package upstream

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Codes the provider documents (README of the upstream digest). The HTTP
// status says little (the provider answers most errors with 400), so callers
// decide from the code.
const (
	CodeSuccess = "Success"

	// The caller's parameters are wrong.
	CodeParameterInvalid = "ParameterInvalid"
	CodeParameterIsEmpty = "ParameterIsEmpty"
	CodeAmountOversize   = "AmountOversize"

	// The provider could not accept the request this server built: a bug
	// here, not the caller's fault.
	CodeMalformedJSON      = "MalformedJSON"
	CodeInvalidVersion     = "InvalidVersion"
	CodeInvalidAction      = "InvalidAction"
	CodeSignatureNonceUsed = "SignatureNonceUsed"

	// Something named does not exist.
	CodeDataNotExists    = "DataNotExists"
	CodeInstanceNotFound = "InstanceNotFound"
	CodeImageNotFound    = "ImageNotFound"
	CodeVdcNotFound      = "VdcNotFound"
	CodePipeIDNotFound   = "PipeIdNotFound"

	// Stock or addresses ran out.
	CodeNotSufficient = "NotSufficient"
	CodeIPNotEnough   = "IpNotEnough"

	// The order or the instance is in a state that forbids the action.
	CodeTaskToCoreFaild     = "TaskToCoreFaild" // sic: the provider's spelling
	CodeRebuildFailed       = "RebuildFailed"
	CodeOrderUpdateError    = "OrderUpdateError"
	CodeOrderResourceError  = "OrderResourceError"
	CodeOrderGoodsConfEmpty = "OrderGoodsConfEmpty"
	CodeLogicError          = "LogicError"
	CodeInstanceError       = "InstanceError"

	// The provider rejected this server's credentials or clock.
	CodeAccessDenied          = "AccessDenied"
	CodeInvalidAccessKeyID    = "InvalidAccessKeyId"
	CodeSignatureDoesNotMatch = "SignatureDoesNotMatch"
	CodeRequestExpired        = "RequestExpired"

	// The provider failed; trying again later may work.
	CodeInternalError = "InternalError"
	CodeThrottling    = "Throttling"
)

// IsThrottling reports whether code is one of the provider's rate-limit
// codes: Throttling and its dotted variants (Throttling.User, ...), and the
// spellings seen across the provider's APIs.
func IsThrottling(code string) bool {
	switch code {
	case CodeThrottling, "RequestLimitExceeded", "TooManyRequests", "RateLimitExceeded", "FlowLimitExceeded":
		return true
	}
	return strings.HasPrefix(code, CodeThrottling+".")
}

// Error is a reply from the provider that is not Code == "Success", whatever
// its HTTP status. Its message holds the provider's code and message (passed
// on unchanged, often Chinese) but never the request, its URL or signature.
type Error struct {
	Action     string // the provider action, e.g. "DescribeGpuDetail"
	HTTPStatus int    // the reply's HTTP status
	Code       string // the provider's Code, e.g. "InstanceNotFound"
	Message    string // the provider's Message (or Msg)
	RequestID  string // the provider's RequestId, when it sends one
	Attempts   int    // HTTP requests made for this call
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("upstream: ")
	b.WriteString(e.Action)
	b.WriteString(": provider error ")
	b.WriteString(e.Code)
	if e.HTTPStatus != 0 {
		b.WriteString(" (http ")
		b.WriteString(strconv.Itoa(e.HTTPStatus))
		b.WriteByte(')')
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id ")
		b.WriteString(e.RequestID)
		b.WriteByte(')')
	}
	return b.String()
}

// Throttled reports whether the provider refused the call for its rate
// limit (HTTP 429 or a throttling code).
func (e *Error) Throttled() bool {
	return e.HTTPStatus == http.StatusTooManyRequests || IsThrottling(e.Code)
}

// Temporary reports whether the same call may succeed later: throttling,
// InternalError, or an HTTP 5xx.
func (e *Error) Temporary() bool {
	return e.Throttled() || e.Code == CodeInternalError || e.HTTPStatus >= 500
}

// Kind says what went wrong on the way to or from the provider when no
// provider reply could be read.
type Kind int

// The kinds of TransportError.
const (
	// KindNetwork: the request could not be sent or the reply not read.
	KindNetwork Kind = iota + 1
	// KindTimeout: the call's deadline passed (the caller's, or the default
	// timeout when the caller set none).
	KindTimeout
	// KindCanceled: the caller canceled the call.
	KindCanceled
	// KindMalformed: the reply is not a well-formed envelope (not JSON, no
	// Code, a Data of the wrong shape).
	KindMalformed
	// KindTooLarge: the reply body exceeds the client's limit.
	KindTooLarge
)

func (k Kind) String() string {
	switch k {
	case KindNetwork:
		return "network error"
	case KindTimeout:
		return "timeout"
	case KindCanceled:
		return "canceled"
	case KindMalformed:
		return "malformed reply"
	case KindTooLarge:
		return "reply too large"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// TransportError is a failure without a usable provider reply. For
// KindTimeout and KindCanceled it unwraps to context.DeadlineExceeded or
// context.Canceled, so errors.Is works as for any context error.
type TransportError struct {
	Action     string
	Kind       Kind
	HTTPStatus int // the reply's status, when one arrived (KindMalformed, KindTooLarge)
	Attempts   int // HTTP requests made for this call
	Err        error
	// OutcomeUnknown is set on a mutating action's failure after its
	// request may have reached the provider (a lost or unreadable reply):
	// the provider may have acted, so the call must not be repeated blindly.
	OutcomeUnknown bool

	unsent bool // the connection was never made
}

func (e *TransportError) Error() string {
	var b strings.Builder
	b.WriteString("upstream: ")
	b.WriteString(e.Action)
	b.WriteString(": ")
	b.WriteString(e.Kind.String())
	if e.HTTPStatus != 0 {
		b.WriteString(" (http ")
		b.WriteString(strconv.Itoa(e.HTTPStatus))
		b.WriteByte(')')
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *TransportError) Unwrap() error { return e.Err }

// Temporary reports whether the same call may succeed later: network
// failures, and malformed or oversized replies that came with an HTTP 5xx or
// 429 (a proxy's error page rather than the provider's answer).
func (e *TransportError) Temporary() bool {
	switch e.Kind {
	case KindNetwork:
		return true
	case KindMalformed, KindTooLarge:
		return e.HTTPStatus >= 500 || e.HTTPStatus == http.StatusTooManyRequests
	}
	return false
}

// AsError returns the provider error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// AsTransportError returns the transport or decode error in err's chain, if
// any.
func AsTransportError(err error) (*TransportError, bool) {
	var e *TransportError
	ok := errors.As(err, &e)
	return e, ok
}

// CredentialCode reports whether a provider code says the provider refused
// the client's credentials or clock (AccessDenied, InvalidAccessKeyId,
// SignatureDoesNotMatch, RequestExpired).
func CredentialCode(code string) bool {
	switch code {
	case CodeSignatureDoesNotMatch, CodeInvalidAccessKeyID, CodeAccessDenied, CodeRequestExpired:
		return true
	}
	return false
}

// Code returns the provider's code carried by err, or "" when err is not a
// provider error.
func Code(err error) string {
	if e, ok := AsError(err); ok {
		return e.Code
	}
	return ""
}

// IsTemporary reports whether err is a provider or transport error after
// which the same call may succeed later.
func IsTemporary(err error) bool {
	if e, ok := AsError(err); ok {
		return e.Temporary()
	}
	if e, ok := AsTransportError(err); ok {
		return e.Temporary()
	}
	return false
}
