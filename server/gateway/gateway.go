// Package gateway serves the JSON face of gpubms: grpc-gateway routes from
// the proto's google.api.http annotations, registered against a gRPC client
// connection (so server streams work), plus the OpenAPI document.
package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	openapiv2 "github.com/gpubms/gpubms/gen/openapiv2/gpubms/v1"
)

// OpenAPIPath is where the generated OpenAPI v2 document is served.
const OpenAPIPath = "/openapi.json"

// MetricsPath is where the handler of WithMetrics is served.
const MetricsPath = "/metrics"

// Option configures New.
type Option func(*options)

type options struct {
	logger  *slog.Logger
	metrics http.Handler
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
// MetricsPath, beside the API and outside it: no caller token is asked for,
// as for the OpenAPI document. Default: no such route (404).
func WithMetrics(h http.Handler) Option {
	return func(o *options) { o.metrics = h }
}

// New returns the HTTP handler of the JSON API. Requests are forwarded over
// conn, which must reach a GpuService server; ctx bounds the registration.
//
// JSON uses the proto field names (snake_case, as in the proto) and emits
// unpopulated fields, so a reply always has the same shape. Errors map to
// HTTP statuses by grpc-gateway's table (InvalidArgument 400, NotFound 404,
// ResourceExhausted 429, Unavailable 503, ...) with the status details in the
// body. Server streams are newline-delimited JSON, or Server-Sent Events when
// the caller sends Accept: text/event-stream.
func New(ctx context.Context, conn *grpc.ClientConn, opts ...Option) (http.Handler, error) {
	o := options{logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	jsonpb := &runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
	}
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, jsonpb),
		sseMarshalerOption(jsonpb),
	)
	if err := gpubmsv1.RegisterGpuServiceHandler(ctx, mux, conn); err != nil {
		return nil, fmt.Errorf("gateway: register GpuService: %w", err)
	}

	root := http.NewServeMux()
	root.HandleFunc("GET "+OpenAPIPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if _, err := w.Write(openapiv2.JSON); err != nil {
			o.logger.Debug("gateway: write openapi document", "error", err)
		}
	})
	if o.metrics != nil {
		root.Handle("GET "+MetricsPath, o.metrics)
	}
	root.Handle("/", mux)
	return root, nil
}
