package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/upstream"
)

func errorInfo(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			return ei
		}
	}
	return nil
}

func info(reason, action string, kv ...string) *errdetails.ErrorInfo {
	md := map[string]string{"action": action}
	for i := 0; i+1 < len(kv); i += 2 {
		md[kv[i]] = kv[i+1]
	}
	return &errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: md}
}

func envelope(code, msg, requestID string) string {
	return fmt.Sprintf(`{"Code":%q,"Message":%q,"RequestId":%q,"Data":null}`, code, msg, requestID)
}

// TestErrorMapping drives each row of Status through a real RPC against a
// provider that answers with that failure, and checks the gRPC code, the
// message (provider code and message kept) and the ErrorInfo.
func TestErrorMapping(t *testing.T) {
	t.Parallel()
	const action = "DescribeGpuDetail"
	type row struct {
		name     string
		reply    providerReply
		upOpts   []upstream.Option
		want     codes.Code
		wantMsg  []string // substrings of the status message
		wantInfo *errdetails.ErrorInfo
		errorLog bool // logged at Error level
	}
	provider := func(code string, want codes.Code) row {
		return row{
			name: code, reply: providerReply{status: 400, body: envelope(code, "提供方消息 "+code, "rid-"+code)}, want: want,
			wantMsg:  []string{action, code, "提供方消息 " + code},
			wantInfo: info(code, action, "request_id", "rid-"+code, "http_status", "400"),
		}
	}
	credential := func(code string) row {
		r := provider(code, codes.Internal)
		r.wantMsg = append(r.wantMsg, "the server's provider credentials or clock are wrong")
		r.errorLog = true
		return r
	}
	ourBug := func(code string) row {
		r := provider(code, codes.Internal)
		r.wantMsg = append(r.wantMsg, "the provider rejected the request this server built")
		r.errorLog = true
		return r
	}
	rows := []row{
		provider("ParameterInvalid", codes.InvalidArgument),
		provider("ParameterIsEmpty", codes.InvalidArgument),
		provider("AmountOversize", codes.InvalidArgument),
		ourBug("MalformedJSON"),
		ourBug("InvalidVersion"),
		ourBug("InvalidAction"),
		ourBug("SignatureNonceUsed"),
		provider("DataNotExists", codes.NotFound),
		provider("InstanceNotFound", codes.NotFound),
		provider("ImageNotFound", codes.NotFound),
		provider("VdcNotFound", codes.NotFound),
		provider("PipeIdNotFound", codes.NotFound),
		provider("NotSufficient", codes.ResourceExhausted),
		provider("IpNotEnough", codes.ResourceExhausted),
		provider("Throttling", codes.Unavailable),
		provider("Throttling.User", codes.Unavailable),
		provider("InternalError", codes.Unavailable),
		provider("TaskToCoreFaild", codes.FailedPrecondition),
		provider("RebuildFailed", codes.FailedPrecondition),
		provider("OrderUpdateError", codes.FailedPrecondition),
		provider("OrderResourceError", codes.FailedPrecondition),
		provider("OrderGoodsConfEmpty", codes.FailedPrecondition),
		provider("LogicError", codes.FailedPrecondition),
		provider("InstanceError", codes.FailedPrecondition),
		provider("SomethingNew", codes.Unknown),
		credential("SignatureDoesNotMatch"),
		credential("InvalidAccessKeyId"),
		credential("AccessDenied"),
		credential("RequestExpired"),
		{
			name:  "InternalError under HTTP 200",
			reply: providerReply{status: 200, body: `{"Code":"InternalError","Msg":"内部错误"}`}, want: codes.Unavailable,
			wantMsg:  []string{"InternalError", "内部错误"},
			wantInfo: info("InternalError", action, "http_status", "200"),
		},
		{
			name:  "unknown code under HTTP 503",
			reply: providerReply{status: 503, body: envelope("ServiceBusy", "busy", "")}, want: codes.Unavailable,
			wantMsg:  []string{"ServiceBusy", "busy"},
			wantInfo: info("ServiceBusy", action, "http_status", "503"),
		},
		{
			name:  "HTTP 429 without envelope",
			reply: providerReply{status: 429, body: "Too Many Requests"}, want: codes.Unavailable,
			wantMsg:  []string{"malformed reply", "429"},
			wantInfo: info(ReasonUpstreamMalformed, action, "http_status", "429"),
		},
		{
			name:  "HTTP 502 html page",
			reply: providerReply{status: 502, body: "<html>bad gateway</html>"}, want: codes.Unavailable,
			wantMsg:  []string{"malformed reply", "502"},
			wantInfo: info(ReasonUpstreamMalformed, action, "http_status", "502"),
		},
		{
			name:  "non-JSON body under 200",
			reply: providerReply{status: 200, body: "not json"}, want: codes.Unavailable,
			wantMsg:  []string{"malformed reply"},
			wantInfo: info(ReasonUpstreamMalformed, action, "http_status", "200"),
		},
		{
			name:   "oversized body",
			reply:  providerReply{status: 200, body: `{"Code":"Success","Data":{"Name":"` + strings.Repeat("x", 600) + `"}}`},
			upOpts: []upstream.Option{upstream.WithMaxResponseBytes(512)}, want: codes.Unavailable,
			wantMsg:  []string{"reply too large"},
			wantInfo: info(ReasonUpstreamTooLarge, action, "http_status", "200"),
		},
		{
			name:  "network failure",
			reply: providerReply{abort: true}, want: codes.Unavailable,
			wantMsg:  []string{"network error"},
			wantInfo: info(ReasonUpstreamNetwork, action),
		},
		{
			name:  "provider too slow for the default timeout",
			reply: providerReply{block: true}, upOpts: []upstream.Option{upstream.WithDefaultTimeout(50 * time.Millisecond)},
			want: codes.DeadlineExceeded, wantMsg: []string{"timeout"},
			wantInfo: info(ReasonUpstreamTimeout, action),
		},
	}
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tt.upOpts, tt.reply)
			_, err := h.client.DescribeGpuDetail(t.Context(), &gpubmsv1.DescribeGpuDetailRequest{ResourceId: "19cd"})
			st := status.Convert(err)
			if st.Code() != tt.want {
				t.Fatalf("got code %v (%q), want %v", st.Code(), st.Message(), tt.want)
			}
			for _, sub := range tt.wantMsg {
				if !strings.Contains(st.Message(), sub) {
					t.Errorf("got message %q, want it to contain %q", st.Message(), sub)
				}
			}
			if diff := cmp.Diff(tt.wantInfo, errorInfo(st), protocmp.Transform()); diff != "" {
				t.Errorf("ErrorInfo mismatch (-want +got):\n%s", diff)
			}
			logs := h.logs.String()
			if gotErr := strings.Contains(logs, `"level":"ERROR"`); gotErr != tt.errorLog {
				t.Errorf("got Error-level log %v, want %v:\n%s", gotErr, tt.errorLog, logs)
			}
			for _, bad := range []string{testSecret, "Signature="} {
				if strings.Contains(st.Message(), bad) || strings.Contains(logs, bad) {
					t.Errorf("status or log leaks %q", bad)
				}
			}
		})
	}
}

// TestMutationFailureKeepsPassword checks that a failed create, retried
// never, leaks the password neither into the status nor into the logs.
func TestMutationFailureKeepsPassword(t *testing.T) {
	t.Parallel()
	for _, rep := range []providerReply{
		{status: 503, body: "down"},
		{status: 400, body: envelope("SignatureDoesNotMatch", "bad", "r")},
		{abort: true},
	} {
		h := newHarness(t, nil, rep)
		req := validCreate()
		_, err := h.client.CreateGpuInstance(t.Context(), req)
		if err == nil {
			t.Fatal("got no error, want one")
		}
		if n := len(h.prov.requests()); n != 1 {
			t.Errorf("got %d provider requests for a create, want exactly 1", n)
		}
		if strings.Contains(err.Error(), req.Password) || strings.Contains(h.logs.String(), req.Password) {
			t.Errorf("password leaked: %v\n%s", err, h.logs.String())
		}
	}
}

// TestStatus covers the rows of Status that a provider reply cannot reach.
func TestStatus(t *testing.T) {
	t.Parallel()
	const action = "DescribeGpu"
	passthrough := status.New(codes.PermissionDenied, "no")
	tests := []struct {
		name     string
		err      error
		want     codes.Code
		wantMsg  string
		wantInfo *errdetails.ErrorInfo
	}{
		{name: "nil", err: nil, want: codes.OK},
		{name: "grpc status passes through", err: passthrough.Err(), want: codes.PermissionDenied, wantMsg: "no"},
		{name: "bare deadline", err: context.DeadlineExceeded, want: codes.DeadlineExceeded, wantMsg: "DescribeGpu: context deadline exceeded"},
		{name: "wrapped cancel", err: fmt.Errorf("x: %w", context.Canceled), want: codes.Canceled, wantMsg: "DescribeGpu: x: context canceled"},
		{name: "plain error", err: errors.New("boom"), want: codes.Internal, wantMsg: "DescribeGpu: boom"},
		{
			name: "caller deadline", err: &upstream.TransportError{Action: action, Kind: upstream.KindTimeout, Err: context.DeadlineExceeded},
			want: codes.DeadlineExceeded, wantMsg: "DescribeGpu: provider timeout: context deadline exceeded",
			wantInfo: info(ReasonUpstreamTimeout, action),
		},
		{
			name: "caller canceled", err: &upstream.TransportError{Action: action, Kind: upstream.KindCanceled, Err: context.Canceled},
			want: codes.Canceled, wantMsg: "DescribeGpu: provider canceled: context canceled",
			wantInfo: info(ReasonUpstreamCanceled, action),
		},
		{
			name: "create reply lost", err: &upstream.TransportError{Action: action, Kind: upstream.KindNetwork, Err: errors.New("EOF"), OutcomeUnknown: true},
			want:     codes.Unknown,
			wantMsg:  "DescribeGpu: the provider may have carried this out, but its reply was lost (network error: EOF); check before trying again",
			wantInfo: info(ReasonUpstreamOutcomeUnknown, action),
		},
		{
			name: "network error, outcome known", err: &upstream.TransportError{Action: action, Kind: upstream.KindNetwork, Err: errors.New("connection refused")},
			want: codes.Unavailable, wantMsg: "DescribeGpu: provider network error: connection refused",
			wantInfo: info(ReasonUpstreamNetwork, action),
		},
		{
			name: "wrapped provider error", err: fmt.Errorf("ctx: %w", &upstream.Error{Action: action, HTTPStatus: 429, Code: "Busy"}),
			want: codes.Unavailable, wantMsg: "DescribeGpu: provider error Busy",
			wantInfo: info("Busy", action, "http_status", "429"),
		},
		{
			name: "not found without message or status", err: &upstream.Error{Action: action, Code: "GoodsNotFound"},
			want: codes.NotFound, wantMsg: "DescribeGpu: provider error GoodsNotFound",
			wantInfo: info("GoodsNotFound", action),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := Status(action, tt.err)
			if st.Code() != tt.want {
				t.Errorf("got code %v, want %v", st.Code(), tt.want)
			}
			if st.Message() != tt.wantMsg {
				t.Errorf("got message %q, want %q", st.Message(), tt.wantMsg)
			}
			if diff := cmp.Diff(tt.wantInfo, errorInfo(st), protocmp.Transform()); diff != "" {
				t.Errorf("ErrorInfo mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if got := Status(action, passthrough.Err()); got.Proto() == nil || got.Code() != codes.PermissionDenied || len(got.Details()) != 0 {
		t.Errorf("passthrough: got %v, want the same status", got)
	}
}
