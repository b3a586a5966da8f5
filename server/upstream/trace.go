package upstream

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// The attributes of a provider request's span. A span says which action,
// which attempt and how it ended; never a parameter, URL or body.
const (
	AttrAction     = attribute.Key("gpubms.provider.action")
	AttrAttempt    = attribute.Key("gpubms.provider.attempt")
	AttrOutcome    = attribute.Key("gpubms.provider.outcome")
	AttrCode       = attribute.Key("gpubms.provider.code")
	AttrHTTPStatus = attribute.Key("http.response.status_code")
)

// WithTracerProvider traces every request sent to the provider: a client
// span "provider <Action>" per attempt, a child of the call's span, with
// the action, the attempt number, the HTTP status, the provider's code and
// the outcome ("success", "provider_error" or the transport failure's
// kind). Default: no tracing.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracerProvider = tp }
}

// tracer is nil without tracing.
func (o *options) tracer() trace.Tracer {
	if o.tracerProvider == nil {
		return nil
	}
	return o.tracerProvider.Tracer("github.com/gpubms/gpubms/server/upstream")
}

// startAttempt starts the span of one attempt. Without tracing it costs
// nothing: not even the span's name is built.
func (c *Client) startAttempt(ctx context.Context, action string, attempt int) trace.Span {
	if c.tracer == nil {
		return noop.Span{}
	}
	_, span := c.tracer.Start(ctx, "provider "+action,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(AttrAction.String(action), AttrAttempt.Int(attempt)))
	return span
}

// endAttempt ends an attempt's span with its outcome.
func endAttempt(span trace.Span, err error) {
	if !span.IsRecording() {
		span.End()
		return
	}
	switch e, t := errorParts(err); {
	case err == nil:
		span.SetAttributes(AttrOutcome.String("success"), AttrCode.String(CodeSuccess))
	case e != nil:
		span.SetAttributes(AttrOutcome.String("provider_error"), AttrCode.String(e.Code))
		if e.HTTPStatus != 0 {
			span.SetAttributes(AttrHTTPStatus.Int(e.HTTPStatus))
		}
		span.SetStatus(otelcodes.Error, e.Code)
	case t != nil:
		span.SetAttributes(AttrOutcome.String(t.Kind.String()))
		if t.HTTPStatus != 0 {
			span.SetAttributes(AttrHTTPStatus.Int(t.HTTPStatus))
		}
		span.SetStatus(otelcodes.Error, t.Kind.String())
	default:
		span.SetAttributes(AttrOutcome.String("canceled"))
		span.SetStatus(otelcodes.Error, "canceled")
	}
	span.End()
}

func errorParts(err error) (*Error, *TransportError) {
	if err == nil {
		return nil, nil
	}
	if e, ok := AsError(err); ok {
		return e, nil
	}
	if t, ok := AsTransportError(err); ok {
		return nil, t
	}
	return nil, nil
}
