// Package gateway serves the JSON face of gpubms: grpc-gateway routes from
// the proto's google.api.http annotations, registered against a gRPC client
// connection (so server streams work), plus the OpenAPI document and the
// metrics route.
//
// It is safe to leave open to a browser: before anything else it refuses a
// Host it does not serve (DNS rebinding) and an Origin that is not allowed
// (cross-site requests), answers CORS preflights for allowed origins,
// authenticates the caller from the headers alone, and only then reads a
// body, which must be application/json, at most the body limit, and exactly
// one JSON value. Unknown query parameters, invalid UTF-8 and methods a
// route does not have are refused with the usual JSON error body.
package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/rs/cors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	gpubmsv1gw "github.com/gpubms/gpubms/gen/gw/gpubms/v1"
	openapiv2 "github.com/gpubms/gpubms/gen/openapiv2/gpubms/v1"
)

// OpenAPIPath is where the generated OpenAPI v2 document is served.
const OpenAPIPath = "/openapi.json"

// MetricsPath is where the handler of WithMetrics is served.
const MetricsPath = "/metrics"

// CacheAgeMetadata is the response metadata key of the age, in seconds, of
// a reply the server answered from its cache; the gateway returns it as the
// header X-Gpubms-Cache-Age.
const CacheAgeMetadata = "x-gpubms-cache-age"

// DefaultMaxBodyBytes is the default WithMaxBodyBytes.
const DefaultMaxBodyBytes = 1 << 20

// Option configures New.
type Option func(*options)

type options struct {
	logger       *slog.Logger
	metrics      http.Handler
	authenticate func(*http.Request) (context.Context, error)
	callMD       func(context.Context) metadata.MD
	open         func(*http.Request) bool
	origins      []string
	hosts        *hostPolicy
	maxBody      int64
	refused      func(reason string)
	ready        func(context.Context) error
}

// WithLogger sets the logger for errors the gateway cannot return to a
// caller. Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithMetrics serves h (a Prometheus exposition handler) at GET
// MetricsPath, beside the API. Like the OpenAPI document it is open to the
// requests WithOpenRoutes lets in, and to authenticated callers. Default:
// no such route (404).
func WithMetrics(h http.Handler) Option {
	return func(o *options) { o.metrics = h }
}

// WithAuthenticator recognises the caller of each request from its headers
// and TLS state alone, before any body is read, and returns the request's
// context carrying the caller (the gRPC service gets it through
// WithCallMetadata). An error is answered 401 without reading the body; its
// text is shown to the caller. Default: no authentication.
func WithAuthenticator(f func(*http.Request) (context.Context, error)) Option {
	return func(o *options) { o.authenticate = f }
}

// WithCallMetadata adds f(ctx) to the metadata of every call the gateway
// makes, ctx being the request's context after WithAuthenticator. The
// gateway forwards no request header as metadata, so these are the only
// metadata a call carries (besides the deadline and x-forwarded-*).
func WithCallMetadata(f func(context.Context) metadata.MD) Option {
	return func(o *options) { o.callMD = f }
}

// WithOpenRoutes says which requests may read MetricsPath and OpenAPIPath
// without authentication; the others must pass WithAuthenticator's.
// Default: all of them.
func WithOpenRoutes(f func(*http.Request) bool) Option {
	return func(o *options) { o.open = f }
}

// WithCORSOrigins allows browsers on these exact origins
// ("https://console.example.com") to call the API, preflight included.
// A request from any other origin is refused with 403. Default: none.
func WithCORSOrigins(origins ...string) Option {
	return func(o *options) { o.origins = append(o.origins, origins...) }
}

// WithAllowedHosts sets the Host headers answered: listen (the listen
// address, host:port), localhost and loopback addresses on its port, any IP
// address (an IP cannot be rebound, and a page on another origin is refused
// by the Origin rule), and names ("name" for any port, "name:port").
// Other hosts get 421. Default: every host.
func WithAllowedHosts(listen string, names ...string) Option {
	return func(o *options) { o.hosts = newHostPolicy(listen, names) }
}

// WithMaxBodyBytes caps request bodies: a larger one is answered 413
// without being read past the limit. Default: DefaultMaxBodyBytes.
func WithMaxBodyBytes(n int64) Option {
	return func(o *options) {
		if n > 0 {
			o.maxBody = n
		}
	}
}

// The probe routes: LivePath answers 200 while the process serves HTTP,
// ReadyPath 200 when WithReadiness's check passes, else 503 with its
// reason. Both are open to every caller (an orchestrator's probe carries no
// credentials) and say nothing beyond ready or not and why.
const (
	LivePath  = "/healthz"
	ReadyPath = "/readyz"
)

// WithReadiness sets the check behind ReadyPath: nil when the server can
// serve, else an error saying why not. Default: always ready.
func WithReadiness(f func(context.Context) error) Option {
	return func(o *options) { o.ready = f }
}

// WithRefusals calls f once for each request the gateway refuses itself,
// before it reaches a service, with a fixed reason: "host", "origin",
// "utf8", "unauthenticated", "media_type", "body_too_large", "body",
// "query" or "method". Default: none.
func WithRefusals(f func(reason string)) Option { return func(o *options) { o.refused = f } }

// New returns the HTTP handler of the JSON API. Requests are forwarded over
// conn, which must reach a GpuService server; ctx bounds the registration.
//
// JSON uses the proto field names (snake_case, as in the proto) and emits
// unpopulated fields, so a reply always has the same shape. Errors map to
// HTTP statuses by grpc-gateway's table (InvalidArgument 400, NotFound 404,
// ResourceExhausted 429 with Retry-After, Unavailable 503, ...) with the
// status details in the body. Server streams are newline-delimited JSON, or
// Server-Sent Events when the caller sends Accept: text/event-stream.
func New(ctx context.Context, conn grpc.ClientConnInterface, opts ...Option) (http.Handler, error) {
	o := options{logger: slog.Default(), maxBody: DefaultMaxBodyBytes}
	for _, opt := range opts {
		opt(&o)
	}
	jsonpb := &runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
	}
	g := &gateway{opts: o, json: jsonpb, routes: routeTable(
		gpubmsv1.File_gpubms_v1_gpubms_proto.Services(),
		gpubmsv1.File_gpubms_v1_fleet_proto.Services(),
		gpubmsv1.File_gpubms_v1_network_proto.Services(),
	)}
	muxOpts := []runtime.ServeMuxOption{
		runtime.WithMarshalerOption(runtime.MIMEWildcard, strictJSON{jsonpb}),
		sseMarshalerOption(strictJSON{jsonpb}),
		runtime.WithMiddlewares(g.checkRoute),
		runtime.WithErrorHandler(g.errorHandler),
		runtime.WithRoutingErrorHandler(g.routingErrorHandler),
		// Nothing from the request's headers becomes call metadata but
		// Cache-Control (a caller refusing cached data) and the request id
		// (checked by requestID): the caller's identity is the
		// authenticator's word, not the caller's.
		runtime.WithIncomingHeaderMatcher(func(key string) (string, bool) {
			switch {
			case strings.EqualFold(key, "Cache-Control"):
				return "cache-control", true
			case strings.EqualFold(key, RequestIDHeader): // set by requestID
				return RequestIDMetadata, true
			}
			return "", false
		}),
		// The age of a reply served from the server's cache is a plain
		// header; no other response metadata is forwarded.
		runtime.WithOutgoingHeaderMatcher(func(key string) (string, bool) {
			if key == CacheAgeMetadata {
				return "X-Gpubms-Cache-Age", true
			}
			return "", false
		}),
		// A form POST is not a way to call a GET route.
		runtime.WithDisablePathLengthFallback(),
		runtime.WithDisableHTTPMethodOverride(),
	}
	if o.callMD != nil {
		muxOpts = append(muxOpts, runtime.WithMetadata(func(ctx context.Context, _ *http.Request) metadata.MD { return o.callMD(ctx) }))
	}
	g.mux = runtime.NewServeMux(muxOpts...)
	if err := gpubmsv1gw.RegisterGpuServiceHandlerClient(ctx, g.mux, gpubmsv1.NewGpuServiceClient(conn)); err != nil {
		return nil, fmt.Errorf("gateway: register GpuService: %w", err)
	}
	if err := gpubmsv1gw.RegisterFleetServiceHandlerClient(ctx, g.mux, gpubmsv1.NewFleetServiceClient(conn)); err != nil {
		return nil, fmt.Errorf("gateway: register FleetService: %w", err)
	}
	if err := gpubmsv1gw.RegisterNetworkServiceHandlerClient(ctx, g.mux, gpubmsv1.NewNetworkServiceClient(conn)); err != nil {
		return nil, fmt.Errorf("gateway: register NetworkService: %w", err)
	}

	root := http.NewServeMux()
	root.HandleFunc("GET "+LivePath, func(w http.ResponseWriter, _ *http.Request) {
		probeReply(w, http.StatusOK, "ok")
	})
	root.HandleFunc("GET "+ReadyPath, func(w http.ResponseWriter, r *http.Request) {
		if o.ready != nil {
			if err := o.ready(r.Context()); err != nil {
				probeReply(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
				return
			}
		}
		probeReply(w, http.StatusOK, "ready")
	})
	root.Handle("GET "+OpenAPIPath, g.openRoute(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if _, err := w.Write(openapiv2.JSON); err != nil {
			o.logger.Debug("gateway: write openapi document", "error", err)
		}
	})))
	if o.metrics != nil {
		root.Handle("GET "+MetricsPath, g.openRoute(o.metrics))
	}
	root.Handle("/", g.apiRoute(g.mux))

	var h http.Handler = root
	if len(o.origins) > 0 {
		h = cors.New(cors.Options{
			AllowedOrigins: o.origins,
			AllowedMethods: []string{http.MethodGet, http.MethodPost},
			AllowedHeaders: []string{"Authorization", "Content-Type", "Accept", "Grpc-Timeout", RequestIDHeader},
			ExposedHeaders: []string{"Retry-After", "Grpc-Metadata-Content-Type", RequestIDHeader},
			MaxAge:         600,
		}).Handler(h)
	}
	return requestID(g.browserRules(h)), nil
}

func probeReply(w http.ResponseWriter, code int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, text+"\n")
}

// gateway is the state of one New.
type gateway struct {
	opts   options
	json   *runtime.JSONPb
	mux    *runtime.ServeMux
	routes map[string]*route
}
