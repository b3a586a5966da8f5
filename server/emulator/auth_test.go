package emulator

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gpubms/gpubms/server/signature"
)

func TestAuthentication(t *testing.T) {
	t.Parallel()
	goods := url.Values{"RegionId": {"CN_Hohhot_B"}}
	type tc struct {
		name string
		c    call
		want string
	}
	tests := []tc{
		{"valid", call{action: "DescribeGpuGoods", params: goods}, codeSuccess},
		{"wrong secret", call{action: "DescribeGpuGoods", params: goods, secret: "not-the-secret"}, codeSignatureDoesNotMatch},
		{"tampered after signing", call{action: "DescribeGpuGoods", params: goods,
			after: func(q url.Values) { q.Set("RegionId", "CN_SJZ_B") }}, codeSignatureDoesNotMatch},
		{"signed for another method", call{action: "DescribeGpuGoods", params: goods,
			after: func(q url.Values) { q.Set(signature.ParamSignature, signature.Sign("POST", q, testSecret)) }}, codeSignatureDoesNotMatch},
		{"unknown access key", call{action: "DescribeGpuGoods", params: goods, key: "AKOTHER", secret: "other"}, codeInvalidAccessKeyID},
		{"stale timestamp", call{action: "DescribeGpuGoods", params: goods, ts: newFakeClock().Now().Add(-16 * time.Minute)}, codeRequestExpired},
		{"future timestamp", call{action: "DescribeGpuGoods", params: goods, ts: newFakeClock().Now().Add(16 * time.Minute)}, codeRequestExpired},
		{"timestamp at the edge of the window", call{action: "DescribeGpuGoods", params: goods, ts: newFakeClock().Now().Add(-15 * time.Minute)}, codeSuccess},
		{"timestamp not UTC form", call{action: "DescribeGpuGoods", params: goods,
			before: func(q url.Values) { q.Set(signature.ParamTimestamp, "2020-04-30 03:22:41") }}, codeParameterInvalid},
		{"other API version", call{action: "DescribeGpuGoods", params: goods,
			before: func(q url.Values) { q.Set(signature.ParamVersion, "2024-01-01") }}, codeInvalidVersion},
		{"other signature method", call{action: "DescribeGpuGoods", params: goods,
			before: func(q url.Values) { q.Set(signature.ParamSignatureMethod, "HMAC-SHA256") }}, codeParameterInvalid},
		{"unknown action", call{action: "RebootGpu"}, codeInvalidAction},
		{"GET action by POST", call{action: "DescribeGpu", method: http.MethodPost}, codeInvalidAction},
		{"POST action by GET", call{action: "CreateGpuInstance", method: http.MethodGet}, codeInvalidAction},
		{"PUT", call{action: "DescribeGpu", method: http.MethodPut}, codeInvalidAction},
	}
	for _, p := range commonParams {
		tests = append(tests, tc{"missing " + p, call{action: "DescribeGpuGoods", params: goods,
			after: func(q url.Values) { q.Del(p) }}, codeParameterIsEmpty})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			res := h.do(tt.c)
			if tt.want == codeSuccess {
				if res.Code != codeSuccess {
					t.Fatalf("got %s %q, want Success", res.Code, res.message())
				}
				return
			}
			checkError(t, tt.name, res, tt.want)
		})
	}
}

func TestReplayedNonce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	first := call{action: "DescribeGpuRegions", nonce: "nonce-1"}
	// The very same signed URL, sent again.
	r := first.request(h)
	if res := h.send(r); res.Code != codeSuccess {
		t.Fatalf("first request: got %s, want Success", res.Code)
	}
	checkError(t, "same URL again", h.send(first.request(h)), codeSignatureNonceUsed)

	// A freshly signed request that reuses the nonce.
	h.clock.Advance(time.Minute)
	checkError(t, "same nonce, new timestamp", h.do(first), codeSignatureNonceUsed)

	// Past the replay window the nonce is forgotten (and the old URL expired).
	h.clock.Advance(2 * DefaultTimestampSkew)
	checkError(t, "old URL after the window", h.send(r), codeRequestExpired)
	if res := h.do(first); res.Code != codeSuccess {
		t.Errorf("nonce after the window: got %s, want Success", res.Code)
	}
}

func TestRejectedRequestsDoNotSpendNonces(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	checkError(t, "bad signature", h.do(call{action: "DescribeGpuRegions", nonce: "n", secret: "wrong"}), codeSignatureDoesNotMatch)
	if res := h.do(call{action: "DescribeGpuRegions", nonce: "n"}); res.Code != codeSuccess {
		t.Errorf("good request after a forged one with its nonce: got %s, want Success", res.Code)
	}
}

func TestNonceMemoryIsBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, WithMaxNonces(3))
	for i := range 5 {
		h.ok("DescribeGpuRegions", nil, nil)
		if n := h.e.nonces.len(); n > 3 {
			t.Fatalf("after %d requests %d nonces remembered, want at most 3", i+1, n)
		}
	}
	// The most recent nonces are still refused.
	c := call{action: "DescribeGpuRegions", nonce: "recent"}
	h.do(c)
	checkError(t, "recent nonce", h.do(c), codeSignatureNonceUsed)
}

func TestNonceCacheExpiresInOrder(t *testing.T) {
	t.Parallel()
	c := newNonceCache(time.Minute, 10)
	t0 := time.Unix(0, 0)
	for i, n := range []string{"a", "b", "c"} {
		if !c.add(n, t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("add(%s) = false, want true", n)
		}
	}
	if c.add("b", t0.Add(30*time.Second)) {
		t.Errorf("add(b) inside the window = true, want false")
	}
	// At t0+61s, a and b have expired but c has not.
	now := t0.Add(61 * time.Second)
	if !c.add("a", now) || !c.add("b", now) {
		t.Errorf("expired nonces refused, want them accepted")
	}
	if c.add("c", now) {
		t.Errorf("add(c) inside its window = true, want false")
	}
	if got := c.len(); got != 3 {
		t.Errorf("len = %d, want 3", got)
	}
}

// TestLongNoncesRefused proves the replay cache's memory is bounded in
// bytes, not only in entries: a signed request may carry a nonce as long as
// the header limit allows, and 100 000 of those would be gigabytes.
func TestLongNoncesRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tt := range []struct {
		name  string
		nonce string
		want  string
	}{
		{"uuid", "0d19f7e6-553f-43be-ab3f-b5c31b3511d9", codeSuccess},
		{"at the limit", strings.Repeat("n", maxNonceLen), codeSuccess},
		{"past the limit", strings.Repeat("n", maxNonceLen+1), codeParameterInvalid},
		{"64 KiB", strings.Repeat("n", 64<<10), codeParameterInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := h.e.nonces.len()
			res := h.with(t).do(call{action: "DescribeGpuRegions", nonce: tt.nonce})
			if tt.want == codeSuccess {
				if res.Code != codeSuccess {
					t.Fatalf("got %s %q, want Success", res.Code, res.message())
				}
				return
			}
			checkError(t, tt.name, res, tt.want)
			if after := h.e.nonces.len(); after != before {
				t.Errorf("refused nonce remembered: %d nonces, want %d", after, before)
			}
		})
	}
}
