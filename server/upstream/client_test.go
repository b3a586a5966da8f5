package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		base    string
		key     string
		secret  Secret
		opts    []Option
		wantErr string // substring; "" means success
	}{
		{name: "defaults", key: "AK", secret: "s"},
		{name: "explicit base with slash", base: "http://127.0.0.1:1/gpubms/v1/", key: "AK", secret: "s"},
		{name: "every option", key: "AK", secret: "s", opts: []Option{
			WithHTTPClient(&http.Client{}), WithDefaultTimeout(time.Second), WithRetry(1, time.Millisecond, time.Millisecond),
			WithLogger(slog.Default()), WithNow(time.Now), WithNonce(func() string { return "n" }), WithMaxResponseBytes(1), nil,
		}},
		{name: "relative base", base: "/gpubms/v1", key: "AK", secret: "s", wantErr: "absolute"},
		{name: "ftp base", base: "ftp://h/x", key: "AK", secret: "s", wantErr: "absolute"},
		{name: "base with query", base: "https://h/x?a=b", key: "AK", secret: "s", wantErr: "no query"},
		{name: "base with user info", base: "https://u:hunter2@h/x", key: "AK", secret: "s", wantErr: "no query, fragment or user info"},
		{name: "vpc base with user info", key: "AK", secret: "s", opts: []Option{WithVPCBaseURL("https://u:hunter2@h/vpc?token=hunter2")}, wantErr: "vpc base url must have no query"},
		{name: "relative vpc base", key: "AK", secret: "s", opts: []Option{WithVPCBaseURL("/vpc")}, wantErr: "vpc base url must be absolute"},
		{name: "no key id", secret: "s", wantErr: "access key id"},
		{name: "no secret", key: "AK", wantErr: "secret is empty"},
		{name: "zero timeout", key: "AK", secret: "s", opts: []Option{WithDefaultTimeout(0)}, wantErr: "default timeout"},
		{name: "zero attempts", key: "AK", secret: "s", opts: []Option{WithRetry(0, time.Millisecond, time.Second)}, wantErr: "max attempts"},
		{name: "cap below base", key: "AK", secret: "s", opts: []Option{WithRetry(3, time.Second, time.Millisecond)}, wantErr: "base <= cap"},
		{name: "zero base", key: "AK", secret: "s", opts: []Option{WithRetry(3, 0, time.Millisecond)}, wantErr: "base <= cap"},
		{name: "zero body limit", key: "AK", secret: "s", opts: []Option{WithMaxResponseBytes(0)}, wantErr: "max response bytes"},
		{name: "nil clock", key: "AK", secret: "s", opts: []Option{WithNow(nil)}, wantErr: "clock"},
		{name: "nil nonce", key: "AK", secret: "s", opts: []Option{WithNonce(nil)}, wantErr: "nonce"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(tt.base, tt.key, tt.secret, tt.opts...)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: got error %v, want none", err)
				}
				if c == nil {
					t.Fatal("New: got nil client")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New: got error %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("New: the error %q quotes the URL's credentials", err)
			}
		})
	}
}

// TestReadRetries covers which failures a read retries and which it does not,
// and that each attempt is signed afresh.
func TestReadRetries(t *testing.T) {
	t.Parallel()
	okTask := ok(`{"ResourceIds":["r1"],"Status":"init"}`)
	tests := []struct {
		name      string
		replies   []reply
		wantReqs  int
		wantErr   bool
		wantCode  string // provider code of the final error
		wantKind  Kind   // transport kind of the final error
		wantAttem int    // Attempts recorded in the final error
	}{
		{name: "5xx then success", replies: []reply{{status: 502, body: "bad gateway"}, {status: 500, body: "{}"}, okTask}, wantReqs: 3},
		{name: "429 then success", replies: []reply{{status: 429, body: "slow down"}, okTask}, wantReqs: 2},
		{name: "throttling code then success", replies: []reply{fail(400, "Throttling.User", "too fast"), okTask}, wantReqs: 2},
		{name: "throttling 429 with envelope then success", replies: []reply{fail(429, "RequestLimitExceeded", ""), okTask}, wantReqs: 2},
		{name: "InternalError under 200 then success", replies: []reply{fail(200, CodeInternalError, "oops"), okTask}, wantReqs: 2},
		{name: "network error then success", replies: []reply{{abort: true}, okTask}, wantReqs: 2},
		{name: "5xx with success code then success", replies: []reply{{status: 503, body: `{"Code":"Success","Data":{}}`}, okTask}, wantReqs: 2},
		{
			name: "5xx exhausts attempts", replies: []reply{fail(503, "ServiceUnavailable", "down")},
			wantReqs: 3, wantErr: true, wantCode: "ServiceUnavailable", wantAttem: 3,
		},
		{
			name: "network errors exhaust attempts", replies: []reply{{abort: true}},
			wantReqs: 3, wantErr: true, wantKind: KindNetwork, wantAttem: 3,
		},
		{
			name: "parameter error is final", replies: []reply{fail(400, CodeParameterInvalid, "TaskId 无效"), okTask},
			wantReqs: 1, wantErr: true, wantCode: CodeParameterInvalid, wantAttem: 1,
		},
		{
			name: "not found under 200 is final", replies: []reply{fail(200, CodeDataNotExists, "任务不存在"), okTask},
			wantReqs: 1, wantErr: true, wantCode: CodeDataNotExists, wantAttem: 1,
		},
		{
			name: "malformed 200 is final", replies: []reply{{status: 200, body: "<html>"}, okTask},
			wantReqs: 1, wantErr: true, wantKind: KindMalformed, wantAttem: 1,
		},
		{
			name: "credential rejection is final", replies: []reply{fail(400, CodeSignatureDoesNotMatch, "bad sig"), okTask},
			wantReqs: 1, wantErr: true, wantCode: CodeSignatureDoesNotMatch, wantAttem: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t, tt.replies...)
			c := p.client(t)
			ctx, counter := WithAttemptCounter(t.Context())
			got, err := c.DescribeGpuTask(ctx, &DescribeGpuTaskRequest{TaskID: "t1"})
			reqs := p.requests()
			if len(reqs) != tt.wantReqs {
				t.Errorf("got %d requests, want %d", len(reqs), tt.wantReqs)
			}
			if counter.Load() != int64(tt.wantReqs) {
				t.Errorf("counter: got %d, want %d", counter.Load(), tt.wantReqs)
			}
			nonces := map[string]bool{}
			for i, r := range reqs {
				if r.SigErr != nil {
					t.Errorf("attempt %d: signature does not verify: %v", i+1, r.SigErr)
				}
				nonces[r.Query.Get("SignatureNonce")] = true
			}
			if len(nonces) != len(reqs) {
				t.Errorf("got %d distinct nonces over %d attempts, want one per attempt", len(nonces), len(reqs))
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				if got.Status != TaskStatusInit {
					t.Errorf("got status %q, want init", got.Status)
				}
				return
			}
			if err == nil {
				t.Fatal("got no error, want one")
			}
			if tt.wantCode != "" {
				e, ok := AsError(err)
				if !ok {
					t.Fatalf("got %T %v, want *Error", err, err)
				}
				if e.Code != tt.wantCode || e.Attempts != tt.wantAttem || e.Action != ActionDescribeGpuTask {
					t.Errorf("got code %q attempts %d action %q, want %q %d %q", e.Code, e.Attempts, e.Action, tt.wantCode, tt.wantAttem, ActionDescribeGpuTask)
				}
			}
			if tt.wantKind != 0 {
				e, ok := AsTransportError(err)
				if !ok {
					t.Fatalf("got %T %v, want *TransportError", err, err)
				}
				if e.Kind != tt.wantKind || e.Attempts != tt.wantAttem {
					t.Errorf("got kind %v attempts %d, want %v %d", e.Kind, e.Attempts, tt.wantKind, tt.wantAttem)
				}
			}
		})
	}
}

// TestEnvelope covers the reply envelope and its failures, one request each.
func TestEnvelope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		rep     reply
		want    *DescribeGpuDetailData
		wantErr error // compared with cmp, ignoring Err
	}{
		{
			name: "error code under 200 with Message and RequestId",
			rep:  reply{status: 200, body: `{"Code":"InstanceNotFound","Message":"实例不存在","RequestId":"req-1","Data":null}`},
			wantErr: &Error{Action: ActionDescribeGpuDetail, HTTPStatus: 200, Code: CodeInstanceNotFound,
				Message: "实例不存在", RequestID: "req-1", Attempts: 1},
		},
		{
			name: "Msg instead of Message, request id from header",
			rep: reply{status: 400, body: `{"Code":"InstanceNotFound","Msg":"实例不存在"}`,
				header: map[string]string{"X-Request-Id": "hdr-7"}},
			wantErr: &Error{Action: ActionDescribeGpuDetail, HTTPStatus: 400, Code: CodeInstanceNotFound,
				Message: "实例不存在", RequestID: "hdr-7", Attempts: 1},
		},
		{
			name: "odd message types degrade to text",
			rep:  reply{status: 400, body: `{"Code":"LogicError","Message":null,"Msg":{"k":1},"RequestId":42}`},
			wantErr: &Error{Action: ActionDescribeGpuDetail, HTTPStatus: 400, Code: CodeLogicError,
				Message: `{"k":1}`, RequestID: "42", Attempts: 1},
		},
		{
			name:    "not JSON",
			rep:     reply{status: 200, body: "<html>oops</html>"},
			wantErr: &TransportError{Action: ActionDescribeGpuDetail, Kind: KindMalformed, HTTPStatus: 200, Attempts: 1},
		},
		{
			name:    "empty body",
			rep:     reply{status: 200},
			wantErr: &TransportError{Action: ActionDescribeGpuDetail, Kind: KindMalformed, HTTPStatus: 200, Attempts: 1},
		},
		{
			name:    "no code",
			rep:     reply{status: 200, body: `{"Data":{"ResourceId":"x"}}`},
			wantErr: &TransportError{Action: ActionDescribeGpuDetail, Kind: KindMalformed, HTTPStatus: 200, Attempts: 1},
		},
		{
			name:    "code is not a string",
			rep:     reply{status: 200, body: `{"Code":0}`},
			wantErr: &TransportError{Action: ActionDescribeGpuDetail, Kind: KindMalformed, HTTPStatus: 200, Attempts: 1},
		},
		{
			name:    "data of the wrong shape",
			rep:     ok(`{"Cpu":"many"}`),
			wantErr: &TransportError{Action: ActionDescribeGpuDetail, Kind: KindMalformed, HTTPStatus: 200, Attempts: 1},
		},
		{
			name:    "oversized body",
			rep:     ok(`{"Name":"` + strings.Repeat("x", 2048) + `"}`),
			wantErr: &TransportError{Action: ActionDescribeGpuDetail, Kind: KindTooLarge, HTTPStatus: 200, Attempts: 1},
		},
		{
			name: "data missing",
			rep:  reply{status: 200, body: `{"Code":"Success","Message":"Success."}`},
			want: &DescribeGpuDetailData{},
		},
		{
			name: "BOM and whitespace tolerated",
			rep:  reply{status: 200, body: "\ufeff  " + `{"Code":"Success","Data":{"ResourceId":"r"}}` + "\n"},
			want: &DescribeGpuDetailData{ResourceID: "r"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t, tt.rep)
			c := p.client(t, WithMaxResponseBytes(1024))
			got, err := c.DescribeGpuDetail(t.Context(), &DescribeGpuDetailRequest{ResourceID: "r"})
			if diff := cmp.Diff(tt.wantErr, err, cmpopts.IgnoreFields(TransportError{}, "Err"), cmpopts.IgnoreUnexported(TransportError{})); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("reply mismatch (-want +got):\n%s", diff)
			}
			if n := len(p.requests()); n != 1 {
				t.Errorf("got %d requests, want 1", n)
			}
		})
	}
}

// TestContext covers deadlines and cancellation: the caller's deadline and
// the default timeout end a call, a retry never waits past the deadline, and
// errors.Is sees the context error.
func TestContext(t *testing.T) {
	t.Parallel()

	t.Run("caller deadline reaches the request", func(t *testing.T) {
		t.Parallel()
		p := newProvider(t, reply{block: true})
		c := p.client(t)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, err := c.DescribeGpu(ctx, nil)
		e, ok := AsTransportError(err)
		if !ok || e.Kind != KindTimeout || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want a KindTimeout error that is context.DeadlineExceeded", err)
		}
		if n := len(p.requests()); n != 1 {
			t.Errorf("got %d requests, want 1", n)
		}
	})

	t.Run("default timeout applies without a deadline", func(t *testing.T) {
		t.Parallel()
		p := newProvider(t, reply{block: true})
		c := p.client(t, WithDefaultTimeout(50*time.Millisecond))
		_, err := c.CreateGpuInstance(context.Background(), &CreateGpuInstanceRequest{Password: "pw-timeout"})
		if e, ok := AsTransportError(err); !ok || e.Kind != KindTimeout {
			t.Fatalf("got %v, want KindTimeout", err)
		}
		mustNotLeak(t, "error", err.Error(), "pw-timeout")
	})

	t.Run("cancel", func(t *testing.T) {
		t.Parallel()
		p := newProvider(t, reply{block: true})
		c := p.client(t)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			_, err := c.DescribeGpuRegions(ctx, nil)
			done <- err
		}()
		// Cancel once the provider holds the request.
		for i := 0; i < 1000 && p.n.Load() == 0; i++ {
			time.Sleep(time.Millisecond)
		}
		cancel()
		err := <-done
		if e, ok := AsTransportError(err); !ok || e.Kind != KindCanceled || !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want a KindCanceled error that is context.Canceled", err)
		}
	})

	t.Run("no retry past the deadline", func(t *testing.T) {
		t.Parallel()
		p := newProvider(t, reply{status: 503, body: "down"})
		// The backoff would be an hour: the call must give up at once
		// with the provider's failure rather than sleep.
		c := p.client(t, WithRetry(5, time.Hour, time.Hour))
		c.opts.jitter = func(n int64) int64 { return n - 1 }
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		_, err := c.DescribeGpuTask(ctx, &DescribeGpuTaskRequest{TaskID: "t"})
		if e, ok := AsTransportError(err); !ok || e.Kind != KindMalformed || e.HTTPStatus != 503 {
			t.Fatalf("got %v, want the 503 reply's error", err)
		}
		if n := len(p.requests()); n != 1 {
			t.Errorf("got %d requests, want 1", n)
		}
	})

	t.Run("cancel during backoff", func(t *testing.T) {
		t.Parallel()
		p := newProvider(t, reply{status: 503, body: "down"})
		c := p.client(t, WithRetry(5, time.Hour, time.Hour))
		c.opts.jitter = func(n int64) int64 { return n - 1 }
		ctx, cancel := context.WithCancel(t.Context()) // no deadline: default 30s would cut the hour
		c.opts.defaultTimeout = 2 * time.Hour
		done := make(chan error, 1)
		go func() {
			_, err := c.DescribeGpuTask(ctx, &DescribeGpuTaskRequest{TaskID: "t"})
			done <- err
		}()
		for i := 0; i < 1000 && p.n.Load() == 0; i++ {
			time.Sleep(time.Millisecond)
		}
		cancel()
		err := <-done
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	})
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	c, err := New("", "AK", "s", WithRetry(10, 100*time.Millisecond, 2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	c.opts.jitter = func(n int64) int64 { return n - 1 } // the top of each range
	tests := []struct {
		attempt    int
		retryAfter time.Duration
		want       time.Duration
	}{
		{1, 0, 100 * time.Millisecond},
		{2, 0, 200 * time.Millisecond},
		{5, 0, 1600 * time.Millisecond},
		{6, 0, 2 * time.Second},
		{40, 0, 2 * time.Second},
		{1, time.Second, time.Second},
		{1, time.Hour, 2 * time.Second},
	}
	for _, tt := range tests {
		if got := c.backoff(tt.attempt, tt.retryAfter); got != tt.want {
			t.Errorf("backoff(%d, %v): got %v, want %v", tt.attempt, tt.retryAfter, got, tt.want)
		}
	}
	c.opts.jitter = func(int64) int64 { return 0 }
	if got := c.backoff(3, 0); got != 0 {
		t.Errorf("full jitter floor: got %v, want 0", got)
	}
	if got, want := retryAfter(http.Header{"Retry-After": {"3"}}), 3*time.Second; got != want {
		t.Errorf("Retry-After 3: got %v, want %v", got, want)
	}
	if got := retryAfter(http.Header{"Retry-After": {"Wed, 21 Oct 2015 07:28:00 GMT"}}); got != 0 {
		t.Errorf("Retry-After date: got %v, want 0", got)
	}
}

// TestRetryAfterHonoured: a 429 with Retry-After waits (capped) before the
// retry; with the cap at a microsecond the test stays fast.
func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	p := newProvider(t, reply{status: 429, body: "slow", header: map[string]string{"Retry-After": "120"}}, ok(`[]`))
	c := p.client(t)
	if _, err := c.DescribeGpuRegions(t.Context(), nil); err != nil {
		t.Fatalf("got %v, want success after one retry", err)
	}
	if n := len(p.requests()); n != 2 {
		t.Errorf("got %d requests, want 2", n)
	}
}

// TestNoSecretLeaks drives every kind of failure with a debug logger and
// checks that no error, log line or printed value carries the secret, a
// password or the signature.
func TestNoSecretLeaks(t *testing.T) {
	t.Parallel()
	const password = "Pa55-w0rd!leak"
	var logs logBuffer
	failures := []reply{
		fail(400, CodeSignatureDoesNotMatch, "signature mismatch"),
		{status: 502, body: "<html>bad gateway</html>"},
		{abort: true},
		{status: 200, body: "not json"},
	}
	for _, rep := range failures {
		p := newProvider(t, rep)
		c := p.client(t, WithLogger(logs.logger()))
		req := &CreateGpuInstanceRequest{RegionID: "r", Password: password, Amount: 1}
		_, err := c.CreateGpuInstance(t.Context(), req)
		if err == nil {
			t.Fatal("got no error, want one")
		}
		_, rerr := c.DescribeGpu(t.Context(), &DescribeGpuRequest{Name: "n"})
		for _, e := range []error{err, rerr} {
			mustNotLeak(t, "error", e.Error(), password)
			mustNotLeak(t, "error %+v", fmt.Sprintf("%+v", e), password)
		}
		// The signature that went out must not be in any text either.
		for _, r := range p.requests() {
			sig := r.Query.Get("Signature")
			mustNotLeak(t, "error", err.Error()+rerr.Error(), sig)
			mustNotLeak(t, "log", logs.String(), sig)
		}
		for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%+v", *c), fmt.Sprintf("%+v %#v", req, req)} {
			mustNotLeak(t, "printed client or request", s, password)
		}
		b, _ := json.Marshal(req)
		mustNotLeak(t, "marshalled request", string(b), password)
	}
	mustNotLeak(t, "log", logs.String(), password)
	if !strings.Contains(logs.String(), `"action":"CreateGpuInstance"`) {
		t.Errorf("log has no attempt records: %s", logs.String())
	}
}

func TestSecretRedacts(t *testing.T) {
	t.Parallel()
	s := Secret("hunter2")
	var logs logBuffer
	logs.logger().Info("x", "secret", s, "group", slog.GroupValue(slog.Any("s", s)))
	var text strings.Builder
	slog.New(slog.NewTextHandler(&text, nil)).Info("x", "secret", s)
	js, _ := json.Marshal(map[string]any{"s": s})
	txt, _ := s.MarshalText()
	outputs := map[string]string{
		"%s": fmt.Sprintf("%s", s), "%v": fmt.Sprintf("%v", s), "%q": fmt.Sprintf("%q", s),
		"%x": fmt.Sprintf("%x", s), "%#v": fmt.Sprintf("%#v", s), "%+v struct": fmt.Sprintf("%+v", struct{ S Secret }{s}),
		"String": s.String(), "json": string(js), "text": string(txt),
		"slog json": logs.String(), "slog text": text.String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, "hunter2") {
			t.Errorf("%s: got %q, want a redaction", name, out)
		}
		if !strings.Contains(out, redacted) {
			t.Errorf("%s: got %q, want it to contain %q", name, out, redacted)
		}
	}
	if s.IsZero() || !Secret("").IsZero() {
		t.Error("IsZero: got wrong answer")
	}
}

func TestErrorHelpers(t *testing.T) {
	t.Parallel()
	pe := &Error{Action: "DescribeGpu", HTTPStatus: 400, Code: "Throttling", Message: "慢一点", RequestID: "r1"}
	wrapped := fmt.Errorf("outer: %w", pe)
	te := &TransportError{Action: "DescribeGpu", Kind: KindTimeout, Err: context.DeadlineExceeded, Attempts: 2}
	tests := []struct {
		name      string
		err       error
		wantCode  string
		wantTemp  bool
		wantMsg   string
		wantAsErr bool
		wantAsTE  bool
	}{
		{"provider", wrapped, "Throttling", true, "outer: upstream: DescribeGpu: provider error Throttling (http 400): 慢一点 (request id r1)", true, false},
		{"timeout", te, "", false, "upstream: DescribeGpu: timeout after 2 attempts: context deadline exceeded", false, true},
		{"network", &TransportError{Action: "A", Kind: KindNetwork, Err: errors.New("eof")}, "", true, "upstream: A: network error: eof", false, true},
		{"malformed 200", &TransportError{Action: "A", Kind: KindMalformed, HTTPStatus: 200}, "", false, "upstream: A: malformed reply (http 200)", false, true},
		{"too large 503", &TransportError{Action: "A", Kind: KindTooLarge, HTTPStatus: 503}, "", true, "upstream: A: reply too large (http 503)", false, true},
		{"not found", &Error{Action: "A", Code: "InstanceNotFound"}, "InstanceNotFound", false, "upstream: A: provider error InstanceNotFound", true, false},
		{"5xx provider", &Error{Action: "A", Code: "X", HTTPStatus: 500}, "X", true, "upstream: A: provider error X (http 500)", true, false},
		{"plain", errors.New("plain"), "", false, "plain", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Code(tt.err); got != tt.wantCode {
				t.Errorf("Code: got %q, want %q", got, tt.wantCode)
			}
			if got := IsTemporary(tt.err); got != tt.wantTemp {
				t.Errorf("IsTemporary: got %v, want %v", got, tt.wantTemp)
			}
			if got := tt.err.Error(); got != tt.wantMsg {
				t.Errorf("Error: got %q, want %q", got, tt.wantMsg)
			}
			if _, ok := AsError(tt.err); ok != tt.wantAsErr {
				t.Errorf("AsError: got %v, want %v", ok, tt.wantAsErr)
			}
			if _, ok := AsTransportError(tt.err); ok != tt.wantAsTE {
				t.Errorf("AsTransportError: got %v, want %v", ok, tt.wantAsTE)
			}
		})
	}
	if !errors.Is(te, context.DeadlineExceeded) {
		t.Error("timeout error: errors.Is(DeadlineExceeded) got false, want true")
	}
	for _, code := range []string{"Throttling", "Throttling.User", "RequestLimitExceeded"} {
		if !IsThrottling(code) {
			t.Errorf("IsThrottling(%q): got false, want true", code)
		}
	}
	if IsThrottling("ThrottlingX") || IsThrottling("ParameterInvalid") {
		t.Error("IsThrottling: got true for a non-throttling code")
	}
	if AttemptCounterFrom(context.Background()).Load() != 0 {
		t.Error("nil counter: got non-zero")
	}
}

// BenchmarkRoundTrip measures one signed read over a loopback provider:
// build, sign, send, read, decode.
func BenchmarkRoundTrip(b *testing.B) {
	p := newProvider(b, ok(`{"ResourceId":"19cd","Name":"n","Cpu":32,"Ram":64,"Networks":{"NetworkCards":[{"Id":"a","eipAddress":"1.2.3.4"}]},"Volumes":[{"Id":"v","Capacity":480}]}`))
	c, err := New(p.srv.URL+"/gpubms/v1", testKeyID, testSecret)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.DescribeGpuDetail(ctx, &DescribeGpuDetailRequest{ResourceID: "19cd"}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRequestRate: with a cap, requests wait their turn (every action and
// attempt together); a call whose deadline would pass first is a timeout
// naming the cap, with nothing sent for it.
func TestRequestRate(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ok(`{"TaskIds":["t"]}`))
	c := p.client(t, WithRequestRate(1))
	if _, err := c.OperateGpuPower(t.Context(), &OperateGpuPowerRequest{Operate: "stop", ResourceIDs: []string{"r"}}); err != nil {
		t.Fatal(err)
	}
	// The burst (1) is spent: the next request would wait about a second.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := c.OperateGpuPower(ctx, &OperateGpuPowerRequest{Operate: "stop", ResourceIDs: []string{"r"}})
	var te *TransportError
	if !errors.As(err, &te) || te.Kind != KindTimeout || !strings.Contains(err.Error(), "request cap") || te.OutcomeUnknown {
		t.Fatalf("over the cap within 100ms: %v, want a timeout naming the cap, known not sent", err)
	}
	if n := p.n.Load(); n != 1 {
		t.Errorf("%d requests reached the provider, want 1", n)
	}
	// With time to wait, the next one goes.
	if _, err := c.OperateGpuPower(t.Context(), &OperateGpuPowerRequest{Operate: "start", ResourceIDs: []string{"r"}}); err != nil {
		t.Errorf("within the cap: %v", err)
	}
	if _, err := New("", "AK", "s", WithRequestRate(-1)); err == nil {
		t.Error("a negative rate was accepted")
	}
}

// TestMalformedDataSaysWhere: a reply holding a value of the wrong type is
// malformed, and the error says where in the reply, and what belongs there,
// in JSON's terms: no Go type of the client's reaches the caller.
func TestMalformedDataSaysWhere(t *testing.T) {
	t.Parallel()
	detail := func(c *Client) error {
		_, err := c.DescribeGpuDetail(t.Context(), &DescribeGpuDetailRequest{ResourceID: "r"})
		return err
	}
	tests := []struct {
		rep  reply
		call func(*Client) error
		want string
	}{
		{ok(`{"Cpu":"many"}`), detail, "decode data: Data.Cpu: a JSON string where an integer belongs"},
		{ok(`{"Records":[{"Networks":{"NetworkCards":[{"Mac":"m"}]}}]}`), func(c *Client) error {
			_, err := c.DescribeGpu(t.Context(), &DescribeGpuRequest{})
			return err
		}, "decode data: Data.Records.0.Networks.NetworkCards.0.Mac: a JSON string where a list belongs"},
		{reply{status: 200, body: `{"Code":0}`}, detail, "decode envelope: Code: a JSON number where a string belongs"},
	}
	for _, tt := range tests {
		p := newProvider(t, tt.rep)
		err := tt.call(p.client(t))
		var te *TransportError
		if !errors.As(err, &te) || te.Kind != KindMalformed {
			t.Fatalf("%s: got %v, want a malformed reply", tt.rep.body, err)
		}
		if msg := err.Error(); !strings.Contains(msg, tt.want) || strings.Contains(msg, "Wire") || strings.Contains(msg, "Go struct") {
			t.Errorf("%s: got %q, want it to say %q and name no Go type", tt.rep.body, msg, tt.want)
		}
	}
}
