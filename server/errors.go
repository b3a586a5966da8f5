package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gpubms/gpubms/server/upstream"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of every provider failure.
const ErrorDomain = "gpubms.v1"

// ErrorInfo reasons for failures that carry no provider code. Provider codes
// are CamelCase and never start with "Upstream".
const (
	ReasonUpstreamNetwork   = "UpstreamNetworkError"
	ReasonUpstreamTimeout   = "UpstreamTimeout"
	ReasonUpstreamCanceled  = "UpstreamCanceled"
	ReasonUpstreamMalformed = "UpstreamMalformedReply"
	ReasonUpstreamTooLarge  = "UpstreamReplyTooLarge"
	// ReasonUpstreamOutcomeUnknown: a mutating action's reply was lost or
	// unreadable after its request may have reached the provider.
	ReasonUpstreamOutcomeUnknown = "UpstreamOutcomeUnknown"
)

// Status is the one mapping from an error met while serving action to the
// gRPC status the caller sees.
//
// Provider replies (*upstream.Error) are mapped by their Code, not their
// HTTP status (the provider answers most errors with 400):
//
//	ParameterInvalid, ParameterIsEmpty, AmountOversize  InvalidArgument
//	DataNotExists, *NotFound (InstanceNotFound,
//	  ImageNotFound, VdcNotFound, PipeIdNotFound, ...)   NotFound
//	NotSufficient, IpNotEnough                          ResourceExhausted
//	Throttling, Throttling.*, RequestLimitExceeded, ...
//	  or HTTP 429                                        Unavailable (1)
//	InternalError (any HTTP status)                      Unavailable
//	SignatureDoesNotMatch, InvalidAccessKeyId,
//	  AccessDenied, RequestExpired                       Internal (2)
//	MalformedJSON, InvalidVersion, InvalidAction,
//	  SignatureNonceUsed                                 Internal (4)
//	TaskToCoreFaild, RebuildFailed, Order*,
//	  LogicError, InstanceError                          FailedPrecondition (3)
//	any other code under HTTP 5xx                        Unavailable
//	any other code                                       Unknown, carrying the code
//
// Failures without a provider reply (*upstream.TransportError):
//
//	network error, malformed or oversized reply          Unavailable
//	  ... of a mutating action after its request
//	  may have reached the provider                      Unknown (5)
//	deadline passed (the caller's or the default)        DeadlineExceeded
//	canceled                                             Canceled
//
// An error that already is a gRPC status passes through unchanged; a bare
// context error maps to DeadlineExceeded or Canceled; anything else is
// Internal.
//
// (1) Provider throttling limits this server's account as a whole, not the
// caller: Unavailable says "back off and retry", which is right, whereas
// ResourceExhausted would read as the caller's own quota (the server's own
// per-caller rate limit uses that).
//
// (2) Never Unauthenticated or PermissionDenied: the caller did nothing
// wrong. The server's provider credentials or its clock are; the message
// says so and the service logs it at Error.
//
// (3) The order or the server is in a state that forbids the action;
// retrying the same call will not help until that state changes, which is
// FailedPrecondition rather than Aborted (a concurrency conflict worth an
// immediate retry).
//
// (5) Creating, reinstalling, powering and deleting are never retried, and
// Unavailable would tell callers (and gRPC retry policies) that retrying is
// safe. When the request may have reached the provider and only its reply
// was lost, the outcome is unknown: the caller must look (DescribeGpu,
// DescribeGpuTask) before repeating a paid action. A failure to connect stays
// Unavailable.
//
// (4) The provider could not accept a request this server built (its JSON,
// version, action or nonce): a bug on this side, which the caller can neither
// cause nor fix, so Internal rather than InvalidArgument.
//
// Every provider or transport failure carries a google.rpc.ErrorInfo with
// Domain ErrorDomain, Reason the provider's code (or one of the Reason*
// constants) and Metadata "action", plus "request_id" and "http_status" when
// known. The status message keeps the provider's code and message; it never
// holds a URL, a signature, a body or a secret.
func Status(action string, err error) *status.Status {
	if err == nil {
		return status.New(codes.OK, "")
	}
	if e, ok := upstream.AsError(err); ok {
		return providerStatus(action, e)
	}
	if e, ok := upstream.AsTransportError(err); ok {
		return transportStatus(action, e)
	}
	if st, ok := status.FromError(err); ok {
		return st
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, action+": "+err.Error())
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, action+": "+err.Error())
	}
	return status.New(codes.Internal, action+": "+err.Error())
}

func providerStatus(action string, e *upstream.Error) *status.Status {
	code := providerCode(e)
	detail := "provider error " + e.Code
	if e.Message != "" {
		detail += ": " + e.Message
	}
	var msg string
	switch {
	case isCredentialCode(e.Code):
		msg = fmt.Sprintf("%s: the server's provider credentials or clock are wrong (%s)", action, detail)
	case code == codes.Internal:
		msg = fmt.Sprintf("%s: the provider rejected the request this server built (%s)", action, detail)
	default:
		msg = action + ": " + detail
	}
	return withInfo(status.New(code, msg), e.Code, action, e.RequestID, e.HTTPStatus)
}

// providerCode is the table of Status for provider codes.
func providerCode(e *upstream.Error) codes.Code {
	switch c := e.Code; {
	case isCredentialCode(c):
		return codes.Internal
	case c == upstream.CodeMalformedJSON, c == upstream.CodeInvalidVersion,
		c == upstream.CodeInvalidAction, c == upstream.CodeSignatureNonceUsed:
		return codes.Internal
	case c == upstream.CodeParameterInvalid, c == upstream.CodeParameterIsEmpty,
		c == upstream.CodeAmountOversize:
		return codes.InvalidArgument
	case c == upstream.CodeDataNotExists, strings.HasSuffix(c, "NotFound"):
		return codes.NotFound
	case c == upstream.CodeNotSufficient, c == upstream.CodeIPNotEnough:
		return codes.ResourceExhausted
	case e.Throttled(), c == upstream.CodeInternalError:
		return codes.Unavailable
	case c == upstream.CodeTaskToCoreFaild, c == upstream.CodeRebuildFailed, strings.HasPrefix(c, "Order"),
		c == upstream.CodeLogicError, c == upstream.CodeInstanceError:
		return codes.FailedPrecondition
	case e.HTTPStatus >= http.StatusInternalServerError:
		return codes.Unavailable
	}
	return codes.Unknown
}

func transportStatus(action string, e *upstream.TransportError) *status.Status {
	if e.OutcomeUnknown {
		msg := action + ": the provider may have carried this out, but its reply was lost (" + e.Kind.String()
		if e.Err != nil {
			msg += ": " + e.Err.Error()
		}
		msg += "); check before trying again"
		return withInfo(status.New(codes.Unknown, msg), ReasonUpstreamOutcomeUnknown, action, "", e.HTTPStatus)
	}
	var code codes.Code
	var reason string
	switch e.Kind {
	case upstream.KindTimeout:
		code, reason = codes.DeadlineExceeded, ReasonUpstreamTimeout
	case upstream.KindCanceled:
		code, reason = codes.Canceled, ReasonUpstreamCanceled
	case upstream.KindMalformed:
		code, reason = codes.Unavailable, ReasonUpstreamMalformed
	case upstream.KindTooLarge:
		code, reason = codes.Unavailable, ReasonUpstreamTooLarge
	default:
		code, reason = codes.Unavailable, ReasonUpstreamNetwork
	}
	msg := action + ": provider " + e.Kind.String()
	if e.HTTPStatus != 0 {
		msg += " (http " + strconv.Itoa(e.HTTPStatus) + ")"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return withInfo(status.New(code, msg), reason, action, "", e.HTTPStatus)
}

func withInfo(st *status.Status, reason, action, requestID string, httpStatus int) *status.Status {
	md := map[string]string{"action": action}
	if requestID != "" {
		md["request_id"] = requestID
	}
	if httpStatus != 0 {
		md["http_status"] = strconv.Itoa(httpStatus)
	}
	ds, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: md})
	if err != nil {
		return st
	}
	return ds
}

func isCredentialCode(code string) bool { return upstream.CredentialCode(code) }

func isCredentialError(err error) bool {
	return isCredentialCode(upstream.Code(err))
}
