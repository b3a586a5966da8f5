// Package app wires the gpubms server together: typed configuration, the
// upstream client (or the embedded emulator), the interceptor chain, the
// gRPC server with health and reflection, the JSON gateway, the task watch
// hub, Prometheus metrics, and graceful shutdown. cmd/gpubmsd only calls
// Run; end-to-end tests call Serve with their own listeners.
package app

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fullstorydev/grpchan/inprocgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/proto"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server"
	"github.com/gpubms/gpubms/server/auth"
	"github.com/gpubms/gpubms/server/emulator"
	"github.com/gpubms/gpubms/server/fleet"
	"github.com/gpubms/gpubms/server/gateway"
	"github.com/gpubms/gpubms/server/store"
	"github.com/gpubms/gpubms/server/upstream"
	"github.com/gpubms/gpubms/server/watch"
)

// Run listens on the configured addresses and serves until ctx is done.
// SIGHUP re-reads the tokens file and the TLS files.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	// Checked before binding (Serve checks again), so a bad configuration is
	// reported as such and never holds a port.
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if cfg.Reload == nil {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		reload := make(chan struct{})
		go func() {
			for {
				select {
				case <-hup:
				case <-ctx.Done():
					return
				}
				select {
				case reload <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}()
		cfg.Reload = reload
	}
	var lc net.ListenConfig
	grpcLn, err := lc.Listen(ctx, "tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("listen grpc: %w", err)
	}
	httpLn, err := lc.Listen(ctx, "tcp", cfg.HTTPAddr)
	if err != nil {
		_ = grpcLn.Close()
		return fmt.Errorf("listen http: %w", err)
	}
	return Serve(ctx, cfg, grpcLn, httpLn, logger)
}

// Serve serves gRPC on grpcLn and HTTP/JSON on httpLn until ctx is done,
// then drains: open watch streams end with Unavailable (callers re-attach),
// calls in flight get cfg.ShutdownTimeout to finish. It returns nil after a
// clean shutdown. Serve owns and closes both listeners.
//
// It refuses to serve beyond loopback without caller authentication unless
// cfg.AllowUnauthenticated, and each receive on cfg.Reload re-reads the
// tokens file and the TLS files.
func Serve(ctx context.Context, cfg Config, grpcLn, httpLn net.Listener, logger *slog.Logger) (err error) {
	defer func() {
		_ = grpcLn.Close()
		_ = httpLn.Close()
	}()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	logger = slog.New(callerHandler{logger.Handler()})
	authn, err := auth.New(cfg.authConfig())
	if err != nil {
		return fmt.Errorf("callers: %w", err)
	}
	if err := checkExposure(cfg, authn, logger, grpcLn, httpLn); err != nil {
		return err
	}
	var certs *tlsFiles
	if cfg.TLSCert != "" {
		// Without tokens, a certificate is the only way in: the handshake
		// asks for one.
		onlyCerts := cfg.TLSClientCA != "" && cfg.AuthToken == "" && len(cfg.AuthTokens) == 0 && cfg.AuthTokensFile == ""
		certs, err = newTLSFiles(cfg.TLSCert, cfg.TLSKey, cfg.TLSClientCA, onlyCerts, func(err error) {
			if err != nil {
				logger.Error("tls: certificate files changed but do not load; the previous ones stay in use", "error", err)
				return
			}
			logger.Info("tls: certificate files reloaded")
		})
		if err != nil {
			return err
		}
	}
	maxConns := connectionCap(cfg.MaxConnections, logger)
	grpcLn, httpLn = netutil.LimitListener(grpcLn, maxConns), netutil.LimitListener(httpLn, maxConns)
	maxBody := cmp.Or(cfg.HTTPMaxBodyBytes, DefaultHTTPMaxBodyBytes)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	defer wg.Wait()

	// The emulator outlives the drain below (calls in flight may still need
	// it) and stops last.
	emuCtx, stopEmulator := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEmulator()
	if cfg.Emulator {
		url, vpcURL, id, secret, err := startEmulator(emuCtx, &wg, errc, cfg.EmulatorConfig, cmp.Or(cfg.EmulatorAddr, "127.0.0.1:0"), logger)
		if err != nil {
			return err
		}
		cfg.UpstreamURL, cfg.VPCURL, cfg.AccessKeyID, cfg.AccessKeySecret = url, vpcURL, id, secret
	}

	dir, removeDir, err := cfg.dataDir()
	if err != nil {
		return err
	}
	defer removeDir()
	st, fpKey, err := openStore(ctx, cfg, dir, logger.With("component", "store"))
	if err != nil {
		return err
	}
	sweepCtx, stopSweep := context.WithCancel(ctx)
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		st.Run(sweepCtx, time.Minute)
	}()
	// The store closes last: after the calls in flight are recorded.
	defer func() {
		stopSweep()
		<-swept
		if cerr := st.Close(); cerr != nil {
			logger.Error("store: close", "error", cerr)
		}
	}()
	build := ReadBuild()
	tp, stopTracing, traced, err := tracing(ctx, cfg, build)
	if err != nil {
		return err
	}
	defer func() {
		if terr := stopTracing(context.WithoutCancel(ctx)); terr != nil {
			logger.Warn("tracing: flush at shutdown", "error", terr)
		}
	}()

	// Metrics live on a registry of this Serve's own (nil when off).
	var m *metrics
	upOpts := []upstream.Option{upstream.WithLogger(logger.With("component", "upstream")), upstream.WithVPCBaseURL(cfg.VPCURL),
		upstream.WithRequestRate(cfg.ProviderRateLimit)}
	if traced {
		upOpts = append(upOpts, upstream.WithTracerProvider(tp))
	}
	if rs, ok := st.(*store.Redis); ok && cfg.ProviderRateLimit > 0 {
		// The cap is the provider's: every replica draws on one budget.
		upOpts = append(upOpts, upstream.WithRequestGate(providerGate(rs.Client(), rs.Prefix()+"rate:provider", cfg.ProviderRateLimit)))
	}
	if cfg.Metrics {
		if m, err = newMetrics(); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		upOpts = append(upOpts, upstream.WithCacheObserver(m.observeCache))
	}
	// The provider's answers feed readiness (made below, once the health
	// server exists).
	var ready atomic.Pointer[readiness]
	observers := []func(upstream.Attempt){func(a upstream.Attempt) {
		if r := ready.Load(); r != nil {
			r.observe(a)
		}
	}}
	if m != nil {
		observers = append(observers, m.observeProvider)
	}
	upOpts = append(upOpts, upstream.WithObserver(func(a upstream.Attempt) {
		for _, f := range observers {
			f(a)
		}
	}))
	if cfg.Cache {
		upOpts = append(upOpts, upstream.WithCache(upstream.CacheTTLs{
			Regions: cfg.CacheTTLRegions, Images: cfg.CacheTTLImages, Goods: cfg.CacheTTLGoods, Prices: cfg.CacheTTLPrices,
			Networks: cfg.CacheTTLNetworks,
		}))
	}

	up, err := upstream.New(cfg.UpstreamURL, cfg.AccessKeyID, cfg.AccessKeySecret, upOpts...)
	if err != nil {
		return fmt.Errorf("upstream: %w", err)
	}

	// With replicas, one of them polls the provider for each task or
	// server, for all of them (sharedSource).
	taskSource, gpuSource := server.NewTaskSource(up), fleet.NewServerSource(up, server.Status)
	if rs, ok := st.(*store.Redis); ok {
		every := cmp.Or(cfg.WatchPollInterval, watch.DefaultPollInterval)
		taskSource = newSharedSource(taskSource, rs.Client(), rs.Prefix()+"watch:task:", every, watch.Terminal)
		gpuSource = newSharedSource(gpuSource, rs.Client(), rs.Prefix()+"watch:gpu:", every, fleet.ServerGone)
	}
	hub := watch.NewHub(taskSource,
		watch.WithPollInterval(cfg.WatchPollInterval),
		watch.WithHeartbeat(cfg.WatchHeartbeat),
		watch.WithMaxWatch(cfg.WatchMaxDuration),
		watch.WithMaxPollRate(cfg.WatchMaxPollRate),
		watch.WithLogger(logger.With("component", "watch")),
	)
	defer hub.Close()
	// Servers are watched (WatchGpu) like tasks: one poller per server.
	serverHub := watch.NewHub(gpuSource,
		watch.WithTerminal(fleet.ServerGone),
		watch.WithPollInterval(cfg.WatchPollInterval),
		watch.WithHeartbeat(cfg.WatchHeartbeat),
		watch.WithMaxWatch(cfg.WatchMaxDuration),
		watch.WithMaxPollRate(cfg.WatchMaxPollRate),
		watch.WithLogger(logger.With("component", "watch", "kind", "server")),
	)
	defer serverHub.Close()

	maxPrice, currency, _ := cfg.maxOrderPrice() // checked by Validate
	svc := server.New(up, server.WithHub(hub), server.WithLogger(logger),
		server.WithRecords(st, cmp.Or(cfg.IdempotencyTTL, DefaultIdempotencyTTL)),
		server.WithAudit(st),
		server.WithFingerprintKey(fpKey),
		server.WithMaxOrderPrice(maxPrice, currency),
		server.WithMutationTimeout(cmp.Or(cfg.MutationTimeout, DefaultMutationTimeout)),
		server.WithZoneRegions(cfg.ZoneRegions),
		server.WithProtections(st),
		server.WithLeases(st, cfg.DefaultLease, leaseAction(cfg.DefaultLeaseAction)),
	)
	d := &door{authn: authn, audit: svc.AuditRefusals}
	lim := newLimits(cfg.RateLimit, cfg.RateLimitPerCaller, cfg.MaxWatchesPerCaller)
	if rs, ok := st.(*store.Redis); ok {
		lim.share(rs.Client(), rs.Prefix()+"rate:", cfg.RateLimit)
	}
	gs, inproc, healthSrv, err := newGRPCServer(logger, cmp.Or(cfg.LogCalls, LogCallsErrors), m, d, lim, certs, maxBody, tp, traced)
	if err != nil {
		return err
	}
	register(gs, inproc, &gpubmsv1.GpuService_ServiceDesc, svc)
	info := serverInfo(build, cfg, map[string]bool{
		"auth": authn.Enabled(), "tls": certs != nil, "client_certificates": cfg.TLSClientCA != "",
		"cache": cfg.Cache, "metrics": cfg.Metrics, "spend_guard": maxPrice != nil, "tracing": traced,
	}, time.Now())
	fleetOpts := []fleet.Option{fleet.WithServerInfo(info), fleet.WithCatalogue(up, server.Status),
		fleet.WithProtection(st, logger.With("component", "fleet")), fleet.WithServerHub(serverHub),
		fleet.WithLeases(st, svc, cmp.Or(cfg.LeaseInterval, DefaultLeaseInterval), nil)}
	if rs, ok := st.(*store.Redis); ok {
		// One replica runs the lease executor at a time; its steps carry
		// request ids in the shared records, so a handover never acts twice.
		every := cmp.Or(cfg.LeaseInterval, DefaultLeaseInterval)
		l := newLeader(rs.Client(), rs.Prefix()+"lease-executor", 3*every, logger.With("component", "fleet"))
		fleetOpts = append(fleetOpts, fleet.WithLeader(l.lead))
	}
	fleetSvc := fleet.New(st, fleetOpts...)
	register(gs, inproc, &gpubmsv1.FleetService_ServiceDesc, fleetSvc)
	register(gs, inproc, &gpubmsv1.NetworkService_ServiceDesc, svc.Networks())
	// Read from what is registered; no call is served before this.
	d.roles = methodRoles(gs)
	rd := newReadiness(cmp.Or(cfg.ReadyInterval, DefaultReadyInterval),
		func(ctx context.Context) error {
			// Server state, never cached: the probe leaves the cache alone.
			_, err := up.DescribeGpu(ctx, &upstream.DescribeGpuRequest{PageSize: proto.Int32(1)})
			return err
		},
		st.Check, healthSrv, healthServices, logger.With("component", "readiness"))
	ready.Store(rd)

	gwOpts := []gateway.Option{
		gateway.WithLogger(logger),
		gateway.WithAuthenticator(d.httpCaller),
		gateway.WithCallMetadata(callerMetadata),
		gateway.WithOpenRoutes(openRoutes(cfg.OpenRoutes)),
		gateway.WithCORSOrigins(cfg.CORSOrigins...),
		gateway.WithAllowedHosts(hostOf(cfg.HTTPAddr, httpLn.Addr()), cfg.HTTPAllowedHosts...),
		gateway.WithMaxBodyBytes(maxBody),
		gateway.WithReadiness(rd.check),
	}
	if m != nil {
		if err := m.watchHub(hub); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		m.initGRPC(gs)
		gwOpts = append(gwOpts, gateway.WithMetrics(m.handler(logger)), gateway.WithRefusals(m.refusal("http")))
		refuse := m.refusal("grpc")
		d.refused = func() { refuse("unauthenticated") }
	}

	// The gateway is a client of the same services over an in-process
	// channel (no network, no HTTP/2, no serialisation), through the same
	// interceptor chain, streams included, with the caller the gateway
	// authenticated.
	gw, err := gateway.New(ctx, inproc, gwOpts...)
	if err != nil {
		return err
	}
	handler := gw
	if traced {
		handler = otelhttp.NewHandler(gw, "gpubms.http",
			otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(propagator),
			otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "HTTP " + r.Method }))
	}
	hs := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if certs != nil {
		hs.TLSConfig = certs.config("h2", "http/1.1")
	}

	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := gs.Serve(grpcLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			errc <- fmt.Errorf("serve grpc: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		var err error
		if certs != nil {
			err = hs.ServeTLS(httpLn, "", "")
		} else {
			err = hs.Serve(httpLn)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serve http: %w", err)
		}
	}()
	leaseCtx, stopLeases := context.WithCancel(context.WithoutCancel(ctx))
	leasesDone := make(chan struct{})
	go func() {
		defer close(leasesDone)
		fleetSvc.RunLeases(leaseCtx)
	}()
	rd.serving.Store(true)
	readyCtx, stopReady := context.WithCancel(ctx)
	readyDone := make(chan struct{})
	go func() {
		defer close(readyDone)
		rd.run(readyCtx)
	}()
	if cfg.Reload != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reloadOn(ctx, cfg.Reload, authn, certs, logger)
		}()
	}
	logger.Info("gpubms serving",
		"grpc", grpcLn.Addr().String(), "http", httpLn.Addr().String(),
		"upstream", cfg.UpstreamURL, "vpc", cfg.VPCURL, "emulator", cfg.Emulator, "metrics", cfg.Metrics,
		"tls", certs != nil, "client_certificates", cfg.TLSClientCA != "", "caller_auth", authn.Enabled(),
		"store", st.Path())
	if !cfg.Emulator && cfg.UpstreamURL != upstream.DefaultBaseURL && cfg.VPCURL == upstream.DefaultVPCBaseURL {
		logger.Warn("the GPU API is not at its default URL but the network API is: networks are read from the real provider; set GPUBMS_VPC_URL too if it moved",
			"upstream", cfg.UpstreamURL, "vpc", cfg.VPCURL)
	}

	select {
	case <-ctx.Done():
	case err = <-errc:
	}

	logger.Info("gpubms shutting down")
	stopLeases()
	<-leasesDone
	rd.serving.Store(false)
	stopReady()
	<-readyDone
	healthSrv.Shutdown()
	// Watch streams end first, with Unavailable, so the drain below is not
	// held up by streams that could run for hours.
	hub.Close()
	serverHub.Close()
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer scancel()
	if herr := hs.Shutdown(sctx); herr != nil {
		_ = hs.Close()
	}
	stopped := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-sctx.Done():
		gs.Stop()
		<-stopped
	}
	// Mutations whose callers left finish, and are recorded, before the
	// store closes: they get a shutdown timeout of their own, not what the
	// drains above left.
	mctx, mcancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer mcancel()
	if serr := svc.Shutdown(mctx); serr != nil {
		logger.Warn("calls to the provider still in flight were cut at the shutdown timeout; their outcome is unknown")
	}
	up.CloseIdleConnections()
	stopEmulator()
	cancel()
	return err
}

// newGRPCServer returns the gRPC server, and the in-process channel of the
// gateway, both with the interceptor chain; services are registered on
// both with register.
func newGRPCServer(logger *slog.Logger, logCalls string, m *metrics, d *door, lim *limits, certs *tlsFiles, maxBody int64, tp trace.TracerProvider, traced bool) (*grpc.Server, *gatewayChannel, *health.Server, error) {
	unary, stream, err := chain(logger, logCalls, m, d, lim)
	if err != nil {
		return nil, nil, nil, err
	}
	inproc := new(inprocgrpc.Channel).
		WithServerUnaryInterceptor(chainUnary(unary)).
		WithServerStreamInterceptor(chainStream(stream))
	var serverOpts []grpc.ServerOption
	if traced {
		// A server span per call, continuing the caller's trace; the
		// gateway's in-process calls are traced on both sides (a client
		// span under the HTTP request's, a server span under it). No
		// meter: metrics are Prometheus's. Without tracing none of this
		// runs: a stats handler costs every call even with a no-op tracer.
		otelOpts := []otelgrpc.Option{otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(propagator),
			otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider())}
		serverTrace := otelgrpc.NewServerHandler(otelOpts...)
		inproc = inproc.WithServerStatsHandler(serverTrace).WithClientStatsHandler(otelgrpc.NewClientHandler(otelOpts...))
		serverOpts = append(serverOpts, grpc.StatsHandler(serverTrace))
	}
	gw := newGatewayChannel(inproc, chainUnary(unary), !traced)
	var creds credentials.TransportCredentials = insecure.NewCredentials()
	if certs != nil {
		creds = credentials.NewTLS(certs.config())
	}
	gs := grpc.NewServer(append(serverOpts,
		grpc.Creds(creds),
		grpc.ForceServerCodecV2(newRequestCodec()),
		grpc.MaxRecvMsgSize(int(min(maxBody, math.MaxInt32))),
		// A caller is recognised from the headers of each call, before its
		// message is read or a handler goroutine is spent on it.
		grpc.InTapHandle(d.tap),
		grpc.MaxConcurrentStreams(maxStreamsPerConn),
		// Fixed receive windows: with grpc-go's dynamic windows the server
		// pings the client on nearly every request to measure the link
		// (bandwidth-delay estimation), a frame each way and the client
		// woken for it. Requests here are small; a stream's window lets
		// the largest (to 16 MiB) arrive in one go. A connection may hold
		// no more than its window unread, as with the dynamic one at its
		// largest; the connection cap bounds the connections.
		grpc.StaticStreamWindowSize(streamWindow(maxBody)),
		grpc.StaticConnWindowSize(connWindow),
		// Calls run on reused goroutines, whose stacks have grown already:
		// a fresh goroutine per call spends a tenth of the CPU growing its
		// stack through the interceptors. Calls beyond the workers get
		// goroutines of their own, so a long watch never starves the rest.
		// Sixteen a core: 16 callers on 2 cores find a worker each (a
		// quarter of that left half of them growing fresh stacks, 2-3% of
		// the calls per second); idle, they are a few KiB each.
		grpc.NumStreamWorkers(uint32(16*runtime.GOMAXPROCS(0))),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		// A connection has this long to finish its handshake and preface.
		grpc.ConnectionTimeout(10*time.Second),
		// Pings keep long watch streams alive through idle-cutting proxies
		// and find dead peers; clients may ping as often as every 10s. A
		// connection with no call for 5 minutes is closed.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 2 * time.Minute, Timeout: 20 * time.Second, MaxConnectionIdle: 5 * time.Minute}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	// Not serving until readiness says so (see readiness.run).
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	for _, svc := range healthServices {
		hs.SetServingStatus(svc, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	reflection.Register(gs)
	return gs, gw, hs, nil
}

// leaseAction is the LeaseAction of GPUBMS_DEFAULT_LEASE_ACTION.
func leaseAction(s string) gpubmsv1.LeaseAction {
	if s == "delete" {
		return gpubmsv1.LeaseAction_LEASE_ACTION_DELETE
	}
	return gpubmsv1.LeaseAction_LEASE_ACTION_STOP
}

// healthServices are the gRPC health names that follow readiness, beside
// the server's ("").
var healthServices = []string{
	gpubmsv1.GpuService_ServiceDesc.ServiceName,
	gpubmsv1.NetworkService_ServiceDesc.ServiceName,
	gpubmsv1.FleetService_ServiceDesc.ServiceName,
}

// register registers a service on the gRPC server and the gateway's
// channel.
func register(gs *grpc.Server, inproc *gatewayChannel, desc *grpc.ServiceDesc, impl any) {
	gs.RegisterService(desc, impl)
	inproc.RegisterService(desc, impl)
}

// fingerprintKey is the key of the request fingerprints in the records:
// random, made at the first start, kept in the data directory beside the
// store (not in it: a copy of the store alone cannot be used to guess a
// password from a fingerprint), so it survives restarts and a change of the
// provider's credentials.
func fingerprintKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, "fingerprint.key")
	b, err := os.ReadFile(path)
	if err == nil {
		k, derr := hex.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(k) < 32 {
			return nil, fmt.Errorf("fingerprint key %s is not 32 or more bytes of hex; restore it from a backup (records made with another key are refused as reused)", path)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("fingerprint key: %w", err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("fingerprint key: %w", err)
	}
	_, werr := f.WriteString(hex.EncodeToString(k) + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, fmt.Errorf("fingerprint key: %w", werr)
	}
	return k, nil
}

// streamWindow is a gRPC stream's receive window for messages of up to
// maxMsg bytes: the message and its 5-byte prefix, from 64 KiB (grpc-go's
// least) to connWindow.
func streamWindow(maxMsg int64) int32 {
	w := min(maxMsg, connWindow) + 5
	return int32(min(max(w, 64<<10), connWindow))
}

// connWindow is a gRPC connection's receive window, what grpc-go's dynamic
// window grows to at most.
const connWindow = 16 << 20

// maxStreamsPerConn caps the calls in flight on one gRPC connection. The
// gateway's in-memory connection carries every JSON call, so it is large.
const maxStreamsPerConn = 1024

// reloadOn re-reads the tokens file and the TLS files at each receive on
// reload, until ctx is done. A file that does not load keeps the previous
// set in force and is logged.
func reloadOn(ctx context.Context, reload <-chan struct{}, authn *auth.Authenticator, certs *tlsFiles, logger *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload:
		}
		if n, err := authn.Reload(); err != nil {
			logger.Error("callers: tokens file does not load; the previous callers stay in force", "error", err)
		} else {
			logger.Info("callers: reloaded", "tokens", n)
		}
		if certs != nil {
			if err := certs.Reload(); err != nil {
				logger.Error("tls: certificate files do not load; the previous ones stay in use", "error", err)
			} else {
				logger.Info("tls: certificate files reloaded")
			}
		}
	}
}

// checkExposure refuses to serve beyond loopback with no caller
// authentication, unless allowed explicitly, and warns about what it lets
// through.
func checkExposure(cfg Config, authn *auth.Authenticator, logger *slog.Logger, lns ...net.Listener) error {
	var exposed []string
	for _, ln := range lns {
		if !isLoopback(ln.Addr()) {
			exposed = append(exposed, ln.Addr().String())
		}
	}
	if !authn.Enabled() && len(exposed) > 0 {
		if !cfg.AllowUnauthenticated {
			return fmt.Errorf("refusing to listen on %s, beyond loopback, with no caller authentication: "+
				"set GPUBMS_AUTH_TOKENS, GPUBMS_AUTH_TOKENS_FILE or GPUBMS_TLS_CLIENT_CA, or listen on 127.0.0.1, "+
				"or set GPUBMS_ALLOW_UNAUTHENTICATED=true if anyone who can connect may order and delete servers",
				strings.Join(exposed, " and "))
		}
	}
	if !authn.Enabled() && cfg.AllowUnauthenticated {
		logger.Warn("GPUBMS_ALLOW_UNAUTHENTICATED: no caller authentication; anyone who can connect can order and delete servers",
			"beyond_loopback", exposed)
	}
	if len(exposed) > 0 && cfg.TLSCert == "" {
		logger.Warn("listening beyond loopback without TLS: tokens and passwords cross the network in the clear unless TLS is terminated in front",
			"listeners", exposed)
	}
	return nil
}

// isLoopback reports whether a listener's address is a loopback address
// (an unspecified one, 0.0.0.0 or ::, is every address, so it is not).
func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// hostOf is the listen address the HTTP port answers to as a Host: the
// configured one when it names a host, else the bound one.
func hostOf(configured string, bound net.Addr) string {
	h, p, err := net.SplitHostPort(configured)
	_, bp, _ := net.SplitHostPort(bound.String())
	if err != nil || h == "" || p == "0" {
		return bound.String()
	}
	return net.JoinHostPort(h, bp)
}

// openRoutes is the gateway's rule for /metrics and /openapi.json.
func openRoutes(policy string) func(*http.Request) bool {
	switch policy {
	case OpenAll:
		return func(*http.Request) bool { return true }
	case OpenNone:
		return func(*http.Request) bool { return false }
	}
	return func(r *http.Request) bool {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		ip := net.ParseIP(host)
		return err == nil && ip != nil && ip.IsLoopback()
	}
}

// connectionCap is the per-listener connection cap: max when set, else a
// quarter of the process's file limit (Go raises the soft limit to the hard
// one at start), between 16 and 16384, so the two listeners together leave
// half the descriptors for the provider, the store and the log.
func connectionCap(configured int, logger *slog.Logger) int {
	limit, ok := fileLimit()
	n := configured
	if n == 0 {
		n = 1024
		if ok {
			n = int(min(max(limit/4, 16), 16384))
		}
	}
	logger.Info("connection limits", "file_limit", limit, "max_connections_per_listener", n)
	return n
}

// startEmulator runs the provider emulator on a loopback port for the
// lifetime of ctx and returns its URL and credentials.
func startEmulator(ctx context.Context, wg *sync.WaitGroup, errc chan<- error, ec emulator.Config, addr string, logger *slog.Logger) (gpuURL, vpcURL, keyID string, secret upstream.Secret, err error) {
	opts, err := ec.Options()
	if err != nil {
		return "", "", "", "", fmt.Errorf("emulator: %w", err)
	}
	opts = append(opts, emulator.WithLogger(logger))
	emu, err := emulator.New(opts...)
	if err != nil {
		return "", "", "", "", fmt.Errorf("emulator: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", "", "", "", fmt.Errorf("emulator listen: %w", err)
	}
	url := emulator.BaseURL(ln)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := emulator.Serve(ctx, ln, emu); err != nil {
			errc <- fmt.Errorf("emulator: %w", err)
		}
	}()
	creds := emu.Credentials()
	logger.Warn("EMULATOR MODE: no real provider is used; servers, tasks and prices are simulated",
		"emulator", url)
	return url, emulator.VPCBaseURL(ln), creds.AccessKeyID, upstream.Secret(creds.AccessKeySecret), nil
}
