package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Tracing. A call is traced from its HTTP request (otelhttp) through the
// gateway's in-process gRPC call (otelgrpc, client and server) to each
// request sent to the provider (upstream.WithTracerProvider), and a gRPC
// call from its own span, continuing the caller's trace (W3C traceparent).
// Spans carry methods, codes, the provider action, attempt and outcome:
// never a request's parameters or body.
//
// Spans are exported over OTLP when the standard OTEL_EXPORTER_OTLP_ENDPOINT
// (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, with
// OTEL_EXPORTER_OTLP_PROTOCOL "grpc" or "http/protobuf" (the default), and
// the exporter's other OTEL_* variables; otherwise tracing is off.

// propagator reads and writes trace context and baggage.
var propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// tracing returns the tracer provider of a server, and how to flush and
// stop it. cfg.TracerProvider, when set, is used as is (and not stopped).
func tracing(ctx context.Context, cfg Config, b Build) (trace.TracerProvider, func(context.Context) error, bool, error) {
	if cfg.TracerProvider != nil {
		return cfg.TracerProvider, func(context.Context) error { return nil }, true, nil
	}
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, false, nil
	}
	var exp *otlptrace.Exporter
	var err error
	proto := cmp.Or(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL"), "http/protobuf")
	switch strings.ToLower(proto) {
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	case "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	default:
		return nil, nil, false, fmt.Errorf("tracing: OTEL_EXPORTER_OTLP_PROTOCOL %q is not grpc or http/protobuf", proto)
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("tracing: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName("gpubmsd"), semconv.ServiceVersion(b.Version)))
	if err != nil && !errors.Is(err, resource.ErrSchemaURLConflict) {
		return nil, nil, false, fmt.Errorf("tracing: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	stop := func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return tp.Shutdown(ctx)
	}
	return tp, stop, true, nil
}
