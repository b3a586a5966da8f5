package upstream

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpubms/gpubms/server/signature"
)

const (
	testKeyID  = "AKIDtest"
	testSecret = "s3cr3t-Value/with+odd=chars"
)

var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// seen is one request as the fake provider received it.
type seen struct {
	Method      string
	Path        string
	Query       url.Values
	Body        []byte
	ContentType string
	SigErr      error // signature.Verify over the received query
}

// reply is one canned answer; abort closes the connection instead.
type reply struct {
	status int
	body   string
	header map[string]string
	abort  bool
	block  bool // wait until the client gives up
}

func ok(data string) reply {
	return reply{status: 200, body: `{"Code":"Success","Message":"Success.","Data":` + data + `}`}
}

func fail(status int, code, msg string) reply {
	return reply{status: status, body: fmt.Sprintf(`{"Code":%q,"Message":%q,"Data":null}`, code, msg)}
}

// provider is an httptest stand-in for the provider: it records every
// request, checks its signature, and answers from a script (the last reply
// repeats).
type provider struct {
	srv     *httptest.Server
	mu      sync.Mutex
	seen    []seen
	replies []reply
	n       atomic.Int64
	// hold, when set (before the first request), runs before each reply
	// is written, with the request's number from 1: a test blocks the
	// provider in it.
	hold func(r *http.Request, n int64)
}

func newProvider(t testing.TB, replies ...reply) *provider {
	t.Helper()
	p := &provider{replies: replies}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	p.mu.Lock()
	i := len(p.seen)
	p.seen = append(p.seen, seen{
		Method: r.Method, Path: r.URL.Path, Query: q, Body: body,
		ContentType: r.Header.Get("Content-Type"),
		SigErr:      signature.Verify(r.Method, q, testSecret),
	})
	rep := reply{status: 200, body: `{"Code":"Success","Data":null}`}
	if len(p.replies) > 0 {
		rep = p.replies[min(i, len(p.replies)-1)]
	}
	p.mu.Unlock()
	n := p.n.Add(1)
	if p.hold != nil {
		p.hold(r, n)
	}
	switch {
	case rep.abort:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	case rep.block:
		<-r.Context().Done()
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

func (p *provider) requests() []seen {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]seen(nil), p.seen...)
}

// client returns a client of p with a fixed clock, counted nonces, fast
// deterministic retries and a fresh connection per request (so the
// transport never replays a request on its own), plus extra options.
func (p *provider) client(t testing.TB, opts ...Option) *Client {
	t.Helper()
	var nonce atomic.Int64
	base := []Option{
		WithNow(func() time.Time { return testNow }),
		WithNonce(func() string { return fmt.Sprintf("nonce-%d", nonce.Add(1)) }),
		WithRetry(3, time.Microsecond, 10*time.Microsecond),
		WithHTTPClient(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}),
	}
	c, err := New(p.srv.URL+"/gpubms/v1", testKeyID, testSecret, append(base, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// logBuffer is a concurrency-safe sink for a JSON slog handler at Debug.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// commonParams are the query parameters every request carries besides the
// action's own.
var commonParams = []string{
	signature.ParamAction, signature.ParamAccessKeyID, signature.ParamSignatureMethod,
	signature.ParamSignatureNonce, signature.ParamSignatureVersion, signature.ParamTimestamp,
	signature.ParamVersion, signature.ParamSignature,
}

// actionParams returns q without the common parameters.
func actionParams(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = v
	}
	for _, k := range commonParams {
		delete(out, k)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// mustNotLeak fails when s holds any secret material.
func mustNotLeak(t *testing.T, what, s string, secrets ...string) {
	t.Helper()
	for _, bad := range append([]string{testSecret, "Signature=", signature.ParamSignature + "%3D"}, secrets...) {
		if bad != "" && strings.Contains(s, bad) {
			t.Errorf("%s leaks %q: %s", what, bad, s)
		}
	}
}
