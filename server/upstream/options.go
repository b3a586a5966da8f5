package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"
)

// Defaults applied by New unless an Option says otherwise.
const (
	// DefaultBaseURL is the provider's GPU bare-metal endpoint. Other regions
	// of the provider use other hosts, hence New's baseURL argument.
	DefaultBaseURL = "https://api.capitalonline.net/gpubms/v1"
	// DefaultVPCBaseURL is the provider's network (VPC) API: another host
	// and path than the GPU API's, same signature and envelope.
	DefaultVPCBaseURL = "https://cdsapi.capitalonline.net/vpc"
	// DefaultTimeout bounds a call (all its attempts) whose context carries no
	// deadline.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxAttempts is how many times a read is tried in all.
	DefaultMaxAttempts = 3
	// DefaultRetryBase is the first backoff step; each retry doubles it.
	DefaultRetryBase = 100 * time.Millisecond
	// DefaultRetryMax caps one backoff step.
	DefaultRetryMax = 2 * time.Second
	// DefaultMaxResponseBytes bounds a reply body. The largest documented
	// reply (a DescribeGpu page of 500 servers) is well under a MiB.
	DefaultMaxResponseBytes = 4 << 20
)

// Option changes one setting of a Client. Options are applied in order over
// a copy of the defaults and validated together by New.
type Option func(*options)

type options struct {
	vpcBaseURL       string
	httpClient       *http.Client
	defaultTimeout   time.Duration
	maxAttempts      int
	retryBase        time.Duration
	retryMax         time.Duration
	logger           *slog.Logger
	now              func() time.Time
	nonce            func() string
	maxResponseBytes int64
	jitter           func(n int64) int64 // a random value in [0, n); a test seam
	observer         func(Attempt)       // nil: none
	// sleep waits d before a retry, false when ctx ended first; a test seam
	// that records the delays.
	sleep          func(ctx context.Context, d time.Duration) bool
	cacheTTL       CacheTTLs
	cacheEntries   int                      // the cache's bound
	cacheObserver  func(kind, event string) // nil: none
	tracerProvider trace.TracerProvider     // nil: no tracing
	requestRate    float64                  // provider requests per second; 0: no cap
	gate           func(context.Context) (bool, error)
}

func defaultOptions() options {
	return options{
		defaultTimeout:   DefaultTimeout,
		maxAttempts:      DefaultMaxAttempts,
		retryBase:        DefaultRetryBase,
		retryMax:         DefaultRetryMax,
		now:              time.Now,
		nonce:            uuid.NewString,
		maxResponseBytes: DefaultMaxResponseBytes,
		jitter:           rand.Int64N,
		sleep:            sleepCtx,
		cacheEntries:     defaultCacheEntries,
	}
}

// sleepCtx waits d, or until ctx ends (false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (o *options) validate() error {
	var errs []error
	if o.defaultTimeout <= 0 {
		errs = append(errs, fmt.Errorf("default timeout %v must be positive", o.defaultTimeout))
	}
	if o.maxAttempts < 1 {
		errs = append(errs, fmt.Errorf("max attempts %d must be at least 1", o.maxAttempts))
	}
	if o.retryBase <= 0 || o.retryMax < o.retryBase {
		errs = append(errs, fmt.Errorf("retry backoff base %v and cap %v must satisfy 0 < base <= cap", o.retryBase, o.retryMax))
	}
	if o.maxResponseBytes <= 0 {
		errs = append(errs, fmt.Errorf("max response bytes %d must be positive", o.maxResponseBytes))
	}
	if o.now == nil {
		errs = append(errs, errors.New("clock must not be nil"))
	}
	if o.nonce == nil {
		errs = append(errs, errors.New("nonce source must not be nil"))
	}
	if t := o.cacheTTL; t.Regions < 0 || t.Goods < 0 || t.Images < 0 || t.Prices < 0 || t.Networks < 0 {
		errs = append(errs, fmt.Errorf("cache ttls %+v must not be negative", t))
	}
	if o.cacheEntries < 1 {
		errs = append(errs, fmt.Errorf("cache bound %d must be at least 1", o.cacheEntries))
	}
	if !(o.requestRate >= 0) { // NaN too
		errs = append(errs, fmt.Errorf("request rate %v must not be negative", o.requestRate))
	}
	return errors.Join(errs...)
}

// WithVPCBaseURL sets the base URL of the provider's network (VPC) API
// (default DefaultVPCBaseURL).
func WithVPCBaseURL(u string) Option { return func(o *options) { o.vpcBaseURL = u } }

// WithHTTPClient sends requests with hc instead of the default client (a
// pooled transport with dial, TLS-handshake and response-header timeouts,
// which does not follow redirects). A nil hc keeps the default.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) { o.httpClient = hc }
}

// WithDefaultTimeout bounds each call whose context has no deadline
// (default DefaultTimeout). A deadline on the caller's context always wins.
func WithDefaultTimeout(d time.Duration) Option {
	return func(o *options) { o.defaultTimeout = d }
}

// WithRetry sets how reads are retried: at most maxAttempts tries in all
// (1 disables retries), waiting a random duration in [0, min(maxDelay, base*2^n))
// before retry n+1 ("full jitter"). Mutating actions are never retried.
// Defaults: DefaultMaxAttempts, DefaultRetryBase, DefaultRetryMax.
func WithRetry(maxAttempts int, base, maxDelay time.Duration) Option {
	return func(o *options) {
		o.maxAttempts, o.retryBase, o.retryMax = maxAttempts, base, maxDelay
	}
}

// WithLogger logs each attempt (Debug) and each retry (Info) to l. Records
// carry the action, attempt, HTTP status, provider code and duration; never
// the URL, the signature, a body or a secret. A nil l discards logs (the
// default).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithNow sets the clock that stamps signed requests and ages cached
// replies (default time.Now).
func WithNow(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithNonce sets the source of SignatureNonce values (default a random
// UUID). It must return a different value on every call.
func WithNonce(nonce func() string) Option {
	return func(o *options) { o.nonce = nonce }
}

// WithMaxResponseBytes bounds a reply body (default DefaultMaxResponseBytes);
// a longer reply fails with KindTooLarge.
func WithMaxResponseBytes(n int64) Option {
	return func(o *options) { o.maxResponseBytes = n }
}

// Attempt describes one HTTP request to the provider and how it ended, as
// reported to the observer of WithObserver. A call that is retried reports
// one Attempt per request sent.
//
// It carries no URL, query, body or signature: nothing an observer sees can
// leak credentials or passwords. Err may hold the provider's message, which
// is outside input: use its type and fields, not its text, as a metric label.
type Attempt struct {
	// Action is the provider action, one of the Action* constants.
	Action string
	// Attempt numbers the requests of one call from 1.
	Attempt int
	// HTTPStatus is the reply's status; 0 when no reply arrived.
	HTTPStatus int
	// Code is the reply envelope's Code: CodeSuccess on success, the
	// provider's code for an *Error, "" otherwise (no reply, or one that is
	// not a usable envelope).
	Code string
	// Duration runs from sending the request to reading the whole reply.
	Duration time.Duration
	// Err is nil on success, else the *Error or *TransportError this
	// attempt failed with (Attempts not yet filled in). Observers must not
	// modify or retain it.
	Err error
}

// WithObserver calls f once per HTTP request sent to the provider, after
// its reply is read or the request failed, on the goroutine that sent it
// (for a read, the one running the request its coalesced callers share, not
// a caller's). f must be safe for concurrent use and quick: it runs inside
// the call. A nil f observes nothing (the default). Requests never sent (one
// that cannot be built) are not reported.
func WithObserver(f func(Attempt)) Option {
	return func(o *options) { o.observer = f }
}

// newHTTPClient is the default client: pooled keep-alive connections, bounded
// connection set-up, and no redirects (a redirect of a signed URL is never
// what the provider means, and a POST body must not follow it).
func newHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    32,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  60 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// WithRequestRate caps the requests sent to the provider, every action and
// attempt together, at perSecond (bursts of up to perSecond, at least 1):
// a request waits for its turn, within its call's deadline, before it is
// signed. 0 (the default) sets no cap.
func WithRequestRate(perSecond float64) Option {
	return func(o *options) { o.requestRate = perSecond }
}

// WithRequestGate shares the WithRequestRate cap with other clients (the
// other replicas): before each request gate waits for the shared cap (nil
// once the request may go, an error when it cannot within ctx) and
// reports whether it could decide; when it could not (its store is
// unreachable), this client's own limiter decides. It has no effect
// without WithRequestRate.
func WithRequestGate(gate func(ctx context.Context) (decided bool, err error)) Option {
	return func(o *options) { o.gate = gate }
}

func (o *options) limiter() *rate.Limiter {
	if o.requestRate <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(o.requestRate), max(int(o.requestRate), 1))
}
