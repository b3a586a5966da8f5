package app

import (
	"errors"
	"log/slog"
	"net/http"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/upstream"
	"github.com/gpubms/gpubms/server/watch"
)

// Outcomes of one provider request: the outcome label of
// gpubms_provider_requests_total. The set is closed, so the label's
// cardinality is bounded whatever the provider sends.
const (
	outcomeSuccess       = "success"        // Code Success
	outcomeProviderError = "provider_error" // another code, under a status below 500 (InternalError, NotFound, ...)
	outcomeAuthError     = "auth_error"     // the provider refused this server's credentials or clock
	outcomeThrottled     = "throttled"      // HTTP 429 or a throttling code
	outcomeHTTP5xx       = "http_5xx"       // HTTP 5xx, whatever the body
	outcomeNetwork       = "network"        // no reply: connection failed or dropped
	outcomeTimeout       = "timeout"        // the call's deadline passed during the request
	outcomeCanceled      = "canceled"       // the caller went away during the request
	outcomeMalformed     = "malformed"      // a reply that is not a usable envelope, or too large
	outcomeOther         = "other"          // an error of no known kind (not expected)
)

// latencyBuckets (seconds) span a fast cached read to a slow provider call
// near the default 30s call timeout.
var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// metrics is one server's Prometheus instrumentation. Its registry is its
// own, never the global one, so that many servers can run in one process
// (as the tests do). Labels come only from fixed sets (method names, gRPC
// codes, provider actions, outcomes), never from request fields, so no
// secret or caller input can reach a series.
type metrics struct {
	reg      *prometheus.Registry
	grpc     *grpcprom.ServerMetrics
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	refused  *prometheus.CounterVec
	cache    *prometheus.CounterVec
}

func newMetrics() (*metrics, error) {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		grpc: grpcprom.NewServerMetrics(
			grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(latencyBuckets)),
		),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gpubms_provider_requests_total",
			Help: "HTTP requests sent to the provider (each retry counts), by action and outcome.",
		}, []string{"action", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gpubms_provider_request_duration_seconds",
			Help:    "Duration of one HTTP request to the provider, from sending it to reading the whole reply.",
			Buckets: latencyBuckets,
		}, []string{"action"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gpubms_refused_requests_total",
			Help: "Requests refused before any service saw them, by face (grpc, http) and reason (unauthenticated, origin, host, media_type, body_too_large, ...).",
		}, []string{"face", "reason"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gpubms_cache_events_total",
			Help: "Provider reads by action and what the cache did: hit, miss, coalesced (shared another caller's request), eviction.",
		}, []string{"action", "event"}),
	}
	err := m.register(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.grpc, m.requests, m.duration, m.refused, m.cache,
	)
	if err != nil {
		return nil, err
	}
	return m, nil
}

func (m *metrics) register(cs ...prometheus.Collector) error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, m.reg.Register(c))
	}
	return errors.Join(errs...)
}

// observeProvider is the upstream client's observer: one call per HTTP
// request to the provider.
func (m *metrics) observeProvider(a upstream.Attempt) {
	m.requests.WithLabelValues(a.Action, providerOutcome(a)).Inc()
	m.duration.WithLabelValues(a.Action).Observe(a.Duration.Seconds())
}

// providerOutcome classifies one provider request. Throttling wins over a
// 5xx status (a 429 is the provider asking to slow down), and a 5xx over
// the body (a proxy's error page and the provider's InternalError under 500
// mean the same to an operator).
func providerOutcome(a upstream.Attempt) string {
	if a.Err == nil {
		return outcomeSuccess
	}
	if e, ok := upstream.AsError(a.Err); ok {
		switch {
		case e.Throttled():
			return outcomeThrottled
		case e.HTTPStatus >= 500:
			return outcomeHTTP5xx
		}
		switch e.Code {
		case upstream.CodeAccessDenied, upstream.CodeInvalidAccessKeyID,
			upstream.CodeSignatureDoesNotMatch, upstream.CodeRequestExpired:
			return outcomeAuthError
		}
		return outcomeProviderError
	}
	if t, ok := upstream.AsTransportError(a.Err); ok {
		switch t.Kind {
		case upstream.KindNetwork:
			return outcomeNetwork
		case upstream.KindTimeout:
			return outcomeTimeout
		case upstream.KindCanceled:
			return outcomeCanceled
		case upstream.KindMalformed, upstream.KindTooLarge:
			switch {
			case t.HTTPStatus == http.StatusTooManyRequests:
				return outcomeThrottled
			case t.HTTPStatus >= 500:
				return outcomeHTTP5xx
			}
			return outcomeMalformed
		}
	}
	return outcomeOther
}

// observeCache is the upstream client's cache observer.
func (m *metrics) observeCache(action, event string) {
	m.cache.WithLabelValues(action, event).Inc()
}

// refusal counts one request refused on face for reason.
func (m *metrics) refusal(face string) func(reason string) {
	return func(reason string) { m.refused.WithLabelValues(face, reason).Inc() }
}

// watchHub exports the hub's pollers and subscriptions as gauges, read at
// each scrape.
func (m *metrics) watchHub(hub *watch.Hub) error {
	return m.register(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gpubms_watch_tasks",
			Help: "Tasks being polled for watchers (one poller each).",
		}, func() float64 { return float64(hub.Stats().Tasks) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gpubms_watch_watchers",
			Help: "Open task subscriptions (a WatchTasks stream holds one per task).",
		}, func() float64 { return float64(hub.Stats().Watchers) }),
	)
}

// initGRPC creates the series of every GpuService method at zero, so rates
// and alerts work before a method's first call. Health and reflection get
// series when first called.
func (m *metrics) initGRPC(gs *grpc.Server) {
	name := gpubmsv1.GpuService_ServiceDesc.ServiceName
	m.grpc.InitializeMetrics(serviceInfo{name: gs.GetServiceInfo()[name]})
}

// serviceInfo narrows InitializeMetrics to the services it lists.
type serviceInfo map[string]grpc.ServiceInfo

func (s serviceInfo) GetServiceInfo() map[string]grpc.ServiceInfo { return s }

// handler serves the registry in the Prometheus exposition formats.
func (m *metrics) handler(logger *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		Registry: m.reg, // promhttp_metric_handler_errors_total
	})
}
