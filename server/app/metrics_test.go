package app

import (
	"context"
	"errors"
	"testing"

	"github.com/gpubms/gpubms/server/upstream"
)

// TestProviderOutcome: every kind of provider request ends in one of a
// closed set of outcomes, never in a label taken from the reply.
func TestProviderOutcome(t *testing.T) {
	t.Parallel()
	perr := func(status int, code string) error {
		return &upstream.Error{Action: "A", HTTPStatus: status, Code: code, Message: "机密 message"}
	}
	terr := func(k upstream.Kind, status int) error {
		return &upstream.TransportError{Action: "A", Kind: k, HTTPStatus: status, Err: errors.New("x")}
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"success", nil, outcomeSuccess},
		{"not found", perr(400, upstream.CodeDataNotExists), outcomeProviderError},
		{"InternalError under 400", perr(400, upstream.CodeInternalError), outcomeProviderError},
		{"InternalError under 500", perr(500, upstream.CodeInternalError), outcomeHTTP5xx},
		{"an unknown code", perr(400, "SomethingNew.Odd"), outcomeProviderError},
		{"signature rejected", perr(400, upstream.CodeSignatureDoesNotMatch), outcomeAuthError},
		{"clock skew", perr(400, upstream.CodeRequestExpired), outcomeAuthError},
		{"throttling code under 400", perr(400, "Throttling.User"), outcomeThrottled},
		{"429 with an envelope", perr(429, "TooManyRequests"), outcomeThrottled},
		{"429 not JSON", terr(upstream.KindMalformed, 429), outcomeThrottled},
		{"503 not JSON", terr(upstream.KindMalformed, 503), outcomeHTTP5xx},
		{"200 not JSON", terr(upstream.KindMalformed, 200), outcomeMalformed},
		{"too large", terr(upstream.KindTooLarge, 200), outcomeMalformed},
		{"connection refused", terr(upstream.KindNetwork, 0), outcomeNetwork},
		{"deadline", terr(upstream.KindTimeout, 0), outcomeTimeout},
		{"caller left", terr(upstream.KindCanceled, 0), outcomeCanceled},
		{"a bare error", context.Canceled, outcomeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := providerOutcome(upstream.Attempt{Action: "A", Attempt: 1, Err: tt.err}); got != tt.want {
				t.Errorf("got outcome %q, want %q", got, tt.want)
			}
		})
	}
}

// TestMetricsRegistriesIndependent: each server has its own registry, so
// two in one process neither collide nor share counts.
func TestMetricsRegistriesIndependent(t *testing.T) {
	t.Parallel()
	a, err := newMetrics()
	if err != nil {
		t.Fatalf("newMetrics: %v", err)
	}
	b, err := newMetrics()
	if err != nil {
		t.Fatalf("second newMetrics: %v", err)
	}
	a.observeProvider(upstream.Attempt{Action: upstream.ActionDescribeGpuRegions, Attempt: 1})
	count := func(m *metrics) int {
		fams, err := m.reg.Gather()
		if err != nil {
			t.Fatalf("Gather: %v", err)
		}
		for _, f := range fams {
			if f.GetName() == "gpubms_provider_requests_total" {
				return len(f.GetMetric())
			}
		}
		return 0
	}
	if got := count(a); got != 1 {
		t.Errorf("first registry: got %d provider series, want 1", got)
	}
	if got := count(b); got != 0 {
		t.Errorf("second registry: got %d provider series, want 0", got)
	}
}
