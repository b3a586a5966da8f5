package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// browserRules refuses, before anything else is looked at, a Host the
// server does not serve (421: a DNS-rebinding page reaching a loopback
// server under its own name) and an Origin that is not allowed (403: a
// cross-site page; allowed ones go on to CORS), then a path or query that
// is not valid UTF-8 (400).
func (g *gateway) browserRules(next http.Handler) http.Handler {
	// Origins compare without case, as rs/cors compares them.
	allowed := make(map[string]bool, len(g.opts.origins))
	for _, o := range g.opts.origins {
		allowed[strings.ToLower(o)] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.opts.hosts != nil && !g.opts.hosts.allows(r.Host, r.TLS != nil) {
			g.refuse(w, r, "host", http.StatusMisdirectedRequest, status.Newf(codes.PermissionDenied,
				"host %q is not served here; add it to GPUBMS_HTTP_ALLOWED_HOSTS if it should be", r.Host))
			return
		}
		origin, hasOrigin := r.Header["Origin"]
		if hasOrigin && (len(origin) != 1 || !allowed[strings.ToLower(origin[0])]) {
			g.refuse(w, r, "origin", http.StatusForbidden, status.Newf(codes.PermissionDenied,
				"origin %q may not call this API; allowed origins are set by GPUBMS_CORS_ORIGINS", strings.Join(origin, ", ")))
			return
		}
		// A browser sends no Origin on a simple cross-site GET (an image, a
		// link), but says where it comes from in Sec-Fetch-Site.
		if site := r.Header.Get("Sec-Fetch-Site"); !hasOrigin && (site == "cross-site" || site == "same-site") {
			g.refuse(w, r, "origin", http.StatusForbidden, status.Newf(codes.PermissionDenied,
				"a %s request without an Origin may not call this API", site))
			return
		}
		if err := checkUTF8(r.URL); err != nil {
			g.refuse(w, r, "utf8", http.StatusBadRequest, status.New(codes.InvalidArgument, err.Error()))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func checkUTF8(u *url.URL) error {
	if !utf8.ValidString(u.Path) {
		return errors.New("the request path is not valid UTF-8")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fmt.Errorf("the query string is malformed: %v", err)
	}
	for k, vs := range q {
		if !utf8.ValidString(k) {
			return errors.New("a query parameter name is not valid UTF-8")
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return fmt.Errorf("query parameter %q is not valid UTF-8", k)
			}
		}
	}
	return nil
}

// apiRoute guards the API: the caller is authenticated from the headers
// (401, nothing read), then a body must be JSON (415) and within the limit
// (413, read no further than the limit).
func (g *gateway) apiRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, ok := g.authenticate(w, r)
		if !ok {
			return
		}
		if hasBody(r) {
			if ct := r.Header.Values("Content-Type"); len(ct) != 1 || !isJSON(ct[0]) {
				g.refuse(w, r, "media_type", http.StatusUnsupportedMediaType, status.Newf(codes.InvalidArgument,
					"a request body must be Content-Type: application/json, not %q", r.Header.Get("Content-Type")))
				return
			}
			body, err := readBody(w, r, g.opts.maxBody)
			switch {
			case errors.Is(err, errTooLarge):
				g.refuse(w, r, "body_too_large", http.StatusRequestEntityTooLarge, status.New(codes.ResourceExhausted, err.Error()))
				return
			case err != nil:
				g.refuse(w, r, "body", http.StatusBadRequest, status.New(codes.InvalidArgument, err.Error()))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		next.ServeHTTP(w, r)
	})
}

// openRoute serves the metrics and the OpenAPI document to the requests
// WithOpenRoutes lets in, and to authenticated callers.
func (g *gateway) openRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.opts.open != nil && !g.opts.open(r) {
			var ok bool
			if r, ok = g.authenticate(w, r); !ok {
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate runs the authenticator; on failure it answers 401. The
// Authorization header goes no further either way (grpc-gateway would
// forward it as metadata whatever the header matcher says).
func (g *gateway) authenticate(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	if g.opts.authenticate != nil {
		ctx, err := g.opts.authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gpubms"`)
			g.refuse(w, r, "unauthenticated", http.StatusUnauthorized, status.New(codes.Unauthenticated, err.Error()))
			return nil, false
		}
		r = r.WithContext(ctx)
	}
	r.Header.Del("Authorization")
	return r, true
}

// hasBody reports whether r carries a body (a length, or chunks).
func hasBody(r *http.Request) bool {
	return r.ContentLength > 0 || (r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody)
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

var errTooLarge = errors.New("request body too large")

// bodyTimeout bounds the reading of a request body: a caller that stops
// sending does not hold its connection.
const bodyTimeout = 30 * time.Second

// readBody reads r's body, at most limit bytes of it, within bodyTimeout.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, fmt.Errorf("%w: %d bytes, more than the limit of %d (GPUBMS_HTTP_MAX_BODY_BYTES)", errTooLarge, r.ContentLength, limit)
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(bodyTimeout))
	// Cleared after: a watch stream reads nothing more, but a deadline
	// passing would end it.
	defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read request body: %v", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: more than the limit of %d bytes (GPUBMS_HTTP_MAX_BODY_BYTES)", errTooLarge, limit)
	}
	return b, nil
}

// refuse answers a request the gateway will not serve, counting the
// refusal under reason. The body is not read: the connection is not kept
// (HTTP/1) and no time is spent waiting for a body (a caller that declares
// one and never sends it would otherwise hold its connection).
func (g *gateway) refuse(w http.ResponseWriter, r *http.Request, reason string, code int, st *status.Status) {
	if g.opts.refused != nil {
		g.opts.refused(reason)
	}
	if hasBody(r) {
		if r.ProtoMajor == 1 {
			w.Header().Set("Connection", "close")
		}
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
	g.writeStatus(w, code, st)
}

// writeStatus answers st with the HTTP status code, in the same JSON shape
// as every other error of the gateway.
func (g *gateway) writeStatus(w http.ResponseWriter, code int, st *status.Status) {
	b, err := g.json.Marshal(st.Proto())
	if err != nil {
		b = []byte(`{"code":13,"message":"failed to encode the error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	if _, err := w.Write(b); err != nil {
		g.opts.logger.Debug("gateway: write error reply", "error", err)
	}
}

// errorHandler is grpc-gateway's, plus Retry-After on a refusal that says
// when to retry (google.rpc.RetryInfo).
func (g *gateway) errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if isProbe(r) {
		return
	}
	if s, ok := status.FromError(err); ok {
		for _, d := range s.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok {
				secs := max(1, int(math.Ceil(ri.GetRetryDelay().AsDuration().Seconds())))
				w.Header().Set("Retry-After", strconv.Itoa(secs))
			}
		}
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

// strictJSON is the JSON marshaler with a decoder that takes exactly one
// JSON value: a body such as `{...}{...}` or `{...} xyz` is refused rather
// than cut short.
type strictJSON struct{ *runtime.JSONPb }

func (m strictJSON) NewDecoder(r io.Reader) runtime.Decoder {
	return &oneValue{DecoderWrapper: m.JSONPb.NewDecoder(r).(runtime.DecoderWrapper)}
}

type oneValue struct {
	runtime.DecoderWrapper
}

func (d *oneValue) Decode(v any) error {
	if err := d.DecoderWrapper.Decode(v); err != nil {
		return err
	}
	if _, err := d.Decoder.Token(); !errors.Is(err, io.EOF) {
		return errors.New("the request body holds more than one JSON value")
	}
	return nil
}

// hostPolicy is the set of Host headers served.
type hostPolicy struct {
	port    string          // the listen port
	exact   map[string]bool // lower-case host:port
	anyPort map[string]bool // lower-case host
}

func newHostPolicy(listen string, names []string) *hostPolicy {
	p := &hostPolicy{exact: map[string]bool{}, anyPort: map[string]bool{}}
	if h, port, err := net.SplitHostPort(listen); err == nil {
		p.port = port
		p.exact[net.JoinHostPort(hostName(h), port)] = true
	}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if h, port, err := net.SplitHostPort(n); err == nil {
			p.exact[net.JoinHostPort(hostName(h), port)] = true
		} else {
			p.anyPort[hostName(n)] = true
		}
	}
	return p
}

// hostName is h as compared: lower case, without brackets or a final dot.
func hostName(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
}

func (p *hostPolicy) allows(host string, tls bool) bool {
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		// No port: the scheme's.
		h, port = host, "80"
		if tls {
			port = "443"
		}
	}
	h = hostName(h)
	switch {
	case net.ParseIP(h) != nil:
		// An IP address is never a rebound name, and a page on another
		// origin is refused by the Origin rule.
		return true
	case p.anyPort[h]:
		return true
	case p.exact[net.JoinHostPort(h, port)]:
		return true
	}
	return h == "localhost" && port == p.port
}
