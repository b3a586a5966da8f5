// Package upstream is the client of the provider's GPU bare-metal API
// (gpubms/v1): it builds each action's request, signs every attempt afresh
// with signature v1.0, sends it, retries reads within the caller's deadline,
// decodes the reply envelope and its quirks into typed Go values, and turns
// failures into typed errors (*Error for a provider reply, *TransportError
// for everything else). Identical reads in progress at the same time share
// one provider request, and the catalogue's replies can be cached
// (WithCache): replies of reads are shared values, to be read, not changed.
//
// It knows nothing of gRPC: package server maps its types and errors onto the
// API.
package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/go-json-experiment/json/v1"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/gpubms/gpubms/clients/go/backoff"

	"github.com/gpubms/gpubms/server/signature"
)

// Client calls the provider. It is safe for concurrent use; its settings are
// fixed by New. It holds no goroutines but those of the reads in progress.
//
// Identical reads made at the same time share one provider request (they are
// coalesced), and the catalogue's replies may be cached (WithCache). Either
// way the reply a read returns may be the very value returned to other
// callers: callers must treat replies of the Describe actions as read-only
// (copy before changing one). Mutating actions are never shared.
type Client struct {
	base      string // base URL without a trailing slash
	prefix    string // base + "/?": every request URL starts with it
	vpcPrefix string // the same, of the network (VPC) API
	keyID     string
	// signer holds the secret (derived, in its HMAC states); it prints as
	// a redaction, and behind a pointer as an address.
	signer *signature.Signer
	hc     *http.Client
	log    *slog.Logger
	opts   options

	// The state shared by the calls is behind pointers, so that a Client
	// can be printed (by value too) without copying a lock.
	cache   *replyCache
	flights *flightGroup
	// epoch counts the mutating calls that ended: a read only joins reads
	// that started in its epoch (see flightKey).
	epoch *atomic.Uint64

	tracer  trace.Tracer
	limiter *rate.Limiter // nil: no cap
}

// New returns a client of the provider at baseURL (DefaultBaseURL when
// empty; tests pass an httptest URL) signing with the given access key. It
// fails when the URL, the key or an option is invalid.
func New(baseURL, accessKeyID string, secret Secret, opts ...Option) (*Client, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	var errs []error
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	if err := checkBaseURL(baseURL); err != nil {
		errs = append(errs, fmt.Errorf("base url %w", err))
	}
	vpcURL := o.vpcBaseURL
	if vpcURL == "" {
		vpcURL = DefaultVPCBaseURL
	}
	if err := checkBaseURL(vpcURL); err != nil {
		errs = append(errs, fmt.Errorf("vpc base url %w", err))
	}
	if strings.TrimSpace(accessKeyID) == "" {
		errs = append(errs, errors.New("access key id is empty"))
	}
	if secret.IsZero() {
		errs = append(errs, errors.New("access key secret is empty"))
	}
	if err := o.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("upstream: new client: %w", err)
	}
	hc := o.httpClient
	if hc == nil {
		hc = newHTTPClient()
	}
	log := o.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base := strings.TrimRight(baseURL, "/")
	return &Client{
		base:      base,
		prefix:    base + "/?",
		vpcPrefix: strings.TrimRight(vpcURL, "/") + "/?",
		keyID:     accessKeyID,
		signer:    signature.NewSigner(string(secret)),
		hc:        hc,
		log:       log,
		opts:      o,
		cache:     newReplyCache(o.cacheEntries),
		flights:   new(flightGroup),
		epoch:     new(atomic.Uint64),
		tracer:    o.tracer(),
		limiter:   o.limiter(),
	}, nil
}

// String describes the client without its credentials.
func (c *Client) String() string { return "upstream.Client(" + c.base + ")" }

// GoString describes the client without its credentials (for %#v).
func (c *Client) GoString() string { return c.String() }

// Counter counts the HTTP requests made to the provider on behalf of one
// call (retries included), and keeps the provider's request id of the last
// reply. It is safe for concurrent use; a nil *Counter counts nothing and
// reads 0.
//
// A read answered from the cache counts no request (see CacheAge). Of
// identical reads coalesced into one provider call, the requests are counted
// for the caller that started it alone: the others count 0 for it, record
// the shared reply's request id, and report Coalesced.
type Counter struct {
	n        atomic.Int64
	rid      atomic.Pointer[string]
	cacheAge atomic.Int64 // the age of the last cached reply + 1; 0: none
	shared   atomic.Bool  // a call joined a request sent for another caller
	parent   *Counter     // the counter of the enclosing context, which counts too
}

// RequestID is the provider's request id of the last reply read, "" when
// none had one.
func (c *Counter) RequestID() string {
	if c == nil {
		return ""
	}
	if p := c.rid.Load(); p != nil {
		return *p
	}
	return ""
}

func (c *Counter) setRequestID(rid string) {
	for ; c != nil && rid != ""; c = c.parent {
		c.rid.Store(&rid)
	}
}

// Load returns the number of HTTP requests counted so far.
func (c *Counter) Load() int64 {
	if c == nil {
		return 0
	}
	return c.n.Load()
}

func (c *Counter) add() {
	for ; c != nil; c = c.parent {
		c.n.Add(1)
	}
}

type counterKey struct{}

// WithAttemptCounter returns a context whose provider requests the client
// counts in the returned Counter, so that a logging interceptor can record
// "provider requests per call". Calls made with a derived context share it.
// A counter installed in a context that already has one counts into that
// one too.
func WithAttemptCounter(ctx context.Context) (context.Context, *Counter) {
	c := &Counter{parent: AttemptCounterFrom(ctx)}
	return context.WithValue(ctx, counterKey{}, c), c
}

// AttemptCounterFrom returns the counter installed by WithAttemptCounter, or nil.
func AttemptCounterFrom(ctx context.Context) *Counter {
	c, _ := ctx.Value(counterKey{}).(*Counter)
	return c
}

// call describes one action invocation.
type call struct {
	action  string
	method  string            // http.MethodGet or http.MethodPost
	query   []signature.Param // GET action parameters; nil for POST
	body    any               // POST body; nil for GET
	payload []byte            // body marshalled (by encode), sent by every attempt
	read    bool              // reads are retried; mutating actions never are
	vpc     bool              // an action of the network (VPC) API, at its own base URL
}

// encode marshals a POST call's body, once for all its attempts.
func (k *call) encode() error {
	if k.method != http.MethodPost {
		return nil
	}
	var err error
	if k.payload, err = json.Marshal(k.body); err != nil {
		// The message of a marshalling error names a type, never a value.
		return fmt.Errorf("upstream: %s: encode body: %w", k.action, err)
	}
	return nil
}

// checkBaseURL checks a base URL. Its errors never quote the URL, which
// may carry credentials.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("does not parse")
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return errors.New("must be absolute http(s)")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil:
		return errors.New("must have no query, fragment or user info")
	}
	return nil
}

// do runs one action: at most one attempt for a mutating action, up to
// maxAttempts for a read, each signed afresh, never sleeping past the
// context's deadline. On success it decodes Data into out. k is encoded.
func (c *Client) do(ctx context.Context, k call, out any) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.defaultTimeout)
		defer cancel()
		deadline, _ = ctx.Deadline()
	}
	rctx, stop := requestContext(ctx, deadline)
	defer stop()
	return c.run(ctx, rctx, k, out)
}

// run makes a call's attempts. ctx is the call's; rctx, the shallow context
// its requests carry, one for all its attempts (see requestContext), ends
// when ctx does and has its deadline.
func (c *Client) run(ctx, rctx context.Context, k call, out any) error {
	deadline, _ := rctx.Deadline()
	// What the client needs of ctx is read once, here.
	counter := AttemptCounterFrom(ctx)
	limit := 1
	if k.read {
		limit = c.opts.maxAttempts
	}
	for attempt := 1; ; attempt++ {
		span := c.startAttempt(ctx, k.action, attempt)
		retryAfter, err := c.attempt(ctx, rctx, k, attempt, counter, out)
		endAttempt(span, err)
		if err == nil {
			return nil
		}
		setAttempts(err, attempt)
		if !k.read {
			markOutcome(err)
		}
		if attempt >= limit || !IsTemporary(err) {
			return err
		}
		delay := c.backoff(attempt, retryAfter)
		if time.Until(deadline) <= delay {
			return err // the next attempt could not finish in time
		}
		c.log.LogAttrs(ctx, slog.LevelInfo, "retrying provider request",
			slog.String("action", k.action), slog.Int("attempt", attempt),
			slog.Float64("delay_ms", ms(delay)), slog.String("error", err.Error()))
		if !c.opts.sleep(ctx, delay) {
			return ctxError(ctx, k.action, attempt)
		}
	}
}

// requestContext returns the context of a call's HTTP requests: a shallow
// one, made from context.Background, that carries the caller's deadline and
// is cancelled when the caller's context ends. net/http and httptrace look
// values up in a request's context several times a request, and a caller's
// context is deep (gRPC, interceptors, detached mutation contexts): this one
// answers every lookup at once. deadline is parent's. stop releases it.
func requestContext(parent context.Context, deadline time.Time) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	unhook := context.AfterFunc(parent, cancel)
	return ctx, func() {
		unhook()
		cancel()
	}
}

// noBody is the body of a GET: empty, and not rewindable (no GetBody), so
// that net/http never resends the request on its own (see attempt). It is
// stateless, so one value serves every request.
type noBody struct{}

func (noBody) Read([]byte) (int, error) { return 0, io.EOF }
func (noBody) Close() error             { return nil }

// WriteTo writes nothing. net/http copies a body of unknown length with
// io.Copy, which prefers WriterTo: without it, the copy to a TCP connection
// would allocate a 32 KiB buffer to read nothing.
func (noBody) WriteTo(io.Writer) (int64, error) { return 0, nil }

// identity is a GET's TransferEncoding; net/http only reads it.
var identity = []string{"identity"}

var (
	headerJSON      = []string{"application/json"}
	headerUserAgent = []string{"gpubms-upstream"}
)

// urlPool holds the buffers request URLs are built in.
var urlPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// newRequest builds one attempt's request, freshly signed, on rctx.
func (c *Client) newRequest(rctx context.Context, k call) (*http.Request, error) {
	var stack [16]signature.Param
	params := append(stack[:0], k.query...)
	params = signature.AppendCommon(params, k.action, c.keyID, c.opts.nonce(), c.opts.now())
	bp := urlPool.Get().(*[]byte)
	prefix := c.prefix
	if k.vpc {
		prefix = c.vpcPrefix
	}
	b := append((*bp)[:0], prefix...)
	b = c.signer.AppendSignedQuery(b, k.method, params)
	target := string(b)
	if cap(b) <= 4<<10 {
		*bp = b
		urlPool.Put(bp)
	}
	var body io.Reader
	if k.payload != nil {
		body = bytes.NewReader(k.payload)
	}
	req, err := http.NewRequestWithContext(rctx, k.method, target, body)
	if err != nil {
		// The error would quote the signed URL: say less.
		return nil, &TransportError{Action: k.action, Kind: KindNetwork, Err: errors.New("cannot build request"), unsent: true}
	}
	if body == nil {
		// net/http silently resends a bodiless GET whose kept-alive
		// connection died, with the same URL: the same nonce, which the
		// provider rejects as a replay. A body it cannot rewind (GetBody nil)
		// makes the request non-replayable (Request.isReplayable). Such a
		// body has an unknown length, which would make net/http probe it
		// on every request (a goroutine, a timer and a channel, to tell an
		// empty body from a slow one) before sending no body or a chunked
		// one; TransferEncoding "identity" skips the probe and sends the
		// body as it reads, without framing: being empty, nothing, and no
		// Content-Length or Transfer-Encoding header. Retries stay ours,
		// each signed afresh.
		req.Body = noBody{}
		req.TransferEncoding = identity
	}
	// The header values are shared by every request (net/http only reads
	// them; Header.Set and Add never write into a value slice).
	req.Header["Accept"] = headerJSON
	if k.payload != nil {
		req.Header["Content-Type"] = headerJSON
	}
	req.Header["User-Agent"] = headerUserAgent
	return req, nil
}

// attempt sends one freshly signed request on rctx, the shallow context of
// the call's ctx, and decodes its reply.
func (c *Client) attempt(ctx, rctx context.Context, k call, attempt int, counter *Counter, out any) (time.Duration, error) {
	if c.limiter != nil {
		// Nothing is sent (or signed) before the cap allows it; a wait
		// that would pass the deadline is a timeout at once. A shared gate
		// (several replicas' cap) decides when it can be asked; the local
		// limiter stands in when it cannot.
		var err error
		if c.opts.gate != nil {
			var decided bool
			if decided, err = c.opts.gate(ctx); !decided {
				err = c.limiter.Wait(ctx)
			}
		} else {
			err = c.limiter.Wait(ctx)
		}
		if err != nil {
			kind := KindTimeout
			if errors.Is(ctx.Err(), context.Canceled) {
				kind = KindCanceled
			}
			return 0, &TransportError{Action: k.action, Kind: kind, Attempts: attempt - 1, unsent: true,
				Err: fmt.Errorf("provider request cap (%g/s): %w", float64(c.limiter.Limit()), err)}
		}
	}
	req, err := c.newRequest(rctx, k)
	if err != nil {
		return 0, err
	}
	counter.add()
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		err = sendError(ctx, rctx, k.action, err)
		c.report(ctx, Attempt{Action: k.action, Attempt: attempt, Duration: time.Since(start), Err: err})
		return 0, err
	}
	defer resp.Body.Close()

	buf := getBuffer()
	defer putBuffer(buf)
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, c.opts.maxResponseBytes+1))
	switch {
	case err != nil:
		err = sendError(ctx, rctx, k.action, err)
	case n > c.opts.maxResponseBytes:
		err = &TransportError{Action: k.action, Kind: KindTooLarge, HTTPStatus: resp.StatusCode,
			Err: fmt.Errorf("reply exceeds %d bytes", c.opts.maxResponseBytes)}
	default:
		var rid string
		rid, err = decodeReply(k.action, resp.StatusCode, resp.Header, buf.Bytes(), out)
		counter.setRequestID(rid)
	}
	code := Code(err)
	if err == nil {
		code = CodeSuccess
	}
	c.report(ctx, Attempt{Action: k.action, Attempt: attempt, HTTPStatus: resp.StatusCode,
		Code: code, Duration: time.Since(start), Err: err})
	return retryAfter(resp.Header), err
}

// report logs one attempt and hands it to the observer.
func (c *Client) report(ctx context.Context, a Attempt) {
	if c.opts.observer != nil {
		c.opts.observer(a)
	}
	if !c.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("action", a.Action),
		slog.Int("attempt", a.Attempt),
		slog.Float64("duration_ms", ms(a.Duration)),
	}
	if a.HTTPStatus != 0 {
		attrs = append(attrs, slog.Int("http_status", a.HTTPStatus))
	}
	if a.Err != nil && a.Code != "" {
		attrs = append(attrs, slog.String("code", a.Code))
	}
	if e, ok := AsError(a.Err); ok && e.RequestID != "" {
		attrs = append(attrs, slog.String("request_id", e.RequestID))
	}
	if t, ok := AsTransportError(a.Err); ok {
		attrs = append(attrs, slog.String("error", t.Kind.String()))
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "provider request", attrs...)
}

// sendError classifies a failure to send a request or read its reply. The
// *url.Error that net/http returns quotes the signed URL, so only its cause
// is kept. rctx is the request's context: when it ended before the call's
// ctx shows it (both have the same deadline, on two timers), the deadline
// passed.
func sendError(ctx, rctx context.Context, action string, err error) error {
	var op *net.OpError
	unsent := errors.As(err, &op) && op.Op == "dial"
	if ctx.Err() != nil {
		t := ctxError(ctx, action, 0).(*TransportError)
		t.unsent = unsent
		return t
	}
	if rctx.Err() != nil {
		return &TransportError{Action: action, Kind: KindTimeout, Err: context.DeadlineExceeded, unsent: unsent}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &TransportError{Action: action, Kind: KindNetwork, Err: err, unsent: unsent}
}

// markOutcome flags a mutating call's failure after its request may have
// reached the provider: the reply was lost or unreadable, so the provider may
// have acted. A failure to connect says otherwise, and so does an HTTP 503 or
// 429, whose senders declined the request whatever their body holds.
func markOutcome(err error) {
	t, ok := AsTransportError(err)
	if !ok || t.unsent {
		return
	}
	switch t.Kind {
	case KindNetwork, KindTimeout, KindCanceled:
		// A deadline or a cancellation met after the request was sent
		// leaves its outcome as unknown as a dropped connection does.
		t.OutcomeUnknown = true
	case KindMalformed, KindTooLarge:
		t.OutcomeUnknown = t.HTTPStatus != http.StatusServiceUnavailable && t.HTTPStatus != http.StatusTooManyRequests
	}
}

func ctxError(ctx context.Context, action string, attempts int) error {
	kind := KindTimeout
	if errors.Is(ctx.Err(), context.Canceled) {
		kind = KindCanceled
	}
	return &TransportError{Action: action, Kind: kind, Attempts: attempts, Err: ctx.Err()}
}

func setAttempts(err error, n int) {
	if e, ok := AsError(err); ok {
		e.Attempts = n
	} else if t, ok := AsTransportError(err); ok {
		t.Attempts = n
	}
}

// backoff returns the wait before retry number attempt: full jitter over a
// capped exponential ceiling, raised to the provider's Retry-After (itself
// capped) when it sent one.
func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := backoff.Full(backoff.Exponential(c.opts.retryBase, c.opts.retryMax, attempt), c.opts.jitter)
	if retryAfter > d {
		d = min(retryAfter, c.opts.retryMax)
	}
	return d
}

// retryAfter reads a Retry-After header given in seconds; 0 when absent.
func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	s, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || s <= 0 {
		return 0
	}
	return time.Duration(min(s, 3600)) * time.Second
}

// Reply buffers are reused: decoding copies everything it keeps.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > 64<<10 {
		return // let large buffers go
	}
	b.Reset()
	bufPool.Put(b)
}

// ms is a duration in milliseconds, as logs show durations.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
