// Package app wires the gpubms server together: typed configuration, the
// upstream client (or the embedded emulator), the interceptor chain, the
// gRPC server with health and reflection, the JSON gateway, the task watch
// hub, Prometheus metrics, and graceful shutdown. cmd/gpubmsd only calls
// Run; end-to-end tests call Serve with their own listeners.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server"
	"github.com/gpubms/gpubms/server/emulator"
	"github.com/gpubms/gpubms/server/gateway"
	"github.com/gpubms/gpubms/server/upstream"
	"github.com/gpubms/gpubms/server/watch"
)

// Run listens on the configured addresses and serves until ctx is done.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	// Checked before binding (Serve checks again), so a bad configuration is
	// reported as such and never holds a port.
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
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
func Serve(ctx context.Context, cfg Config, grpcLn, httpLn net.Listener, logger *slog.Logger) (err error) {
	defer func() {
		_ = grpcLn.Close()
		_ = httpLn.Close()
	}()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}

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
		url, id, secret, err := startEmulator(emuCtx, &wg, errc, cfg.EmulatorConfig, logger)
		if err != nil {
			return err
		}
		cfg.UpstreamURL, cfg.AccessKeyID, cfg.AccessKeySecret = url, id, secret
	}

	// Metrics live on a registry of this Serve's own (nil when off).
	var m *metrics
	upOpts := []upstream.Option{upstream.WithLogger(logger.With("component", "upstream"))}
	if cfg.Metrics {
		if m, err = newMetrics(); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		upOpts = append(upOpts, upstream.WithObserver(m.observeProvider))
	}

	up, err := upstream.New(cfg.UpstreamURL, cfg.AccessKeyID, cfg.AccessKeySecret, upOpts...)
	if err != nil {
		return fmt.Errorf("upstream: %w", err)
	}

	hub := watch.NewHub(server.NewTaskSource(up),
		watch.WithPollInterval(cfg.WatchPollInterval),
		watch.WithHeartbeat(cfg.WatchHeartbeat),
		watch.WithMaxWatch(cfg.WatchMaxDuration),
		watch.WithMaxPollRate(cfg.WatchMaxPollRate),
		watch.WithLogger(logger.With("component", "watch")),
	)
	defer hub.Close()

	svc := server.New(up, server.WithHub(hub), server.WithLogger(logger))
	gs, healthSrv, err := newGRPCServer(cfg, logger, m)
	if err != nil {
		return err
	}
	gpubmsv1.RegisterGpuServiceServer(gs, svc)
	gwOpts := []gateway.Option{gateway.WithLogger(logger)}
	if m != nil {
		if err := m.watchHub(hub); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		m.initGRPC(gs)
		gwOpts = append(gwOpts, gateway.WithMetrics(m.handler(logger)))
	}

	// The gateway is a gRPC client of our own port, so streams and the whole
	// interceptor chain apply to JSON callers too.
	conn, err := grpc.NewClient(grpcLn.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("gateway dial: %w", err)
	}
	defer conn.Close()
	gw, err := gateway.New(ctx, conn, gwOpts...)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           gw,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
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
		if err := hs.Serve(httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serve http: %w", err)
		}
	}()
	logger.Info("gpubms serving",
		"grpc", grpcLn.Addr().String(), "http", httpLn.Addr().String(),
		"upstream", cfg.UpstreamURL, "emulator", cfg.Emulator, "metrics", cfg.Metrics)

	select {
	case <-ctx.Done():
	case err = <-errc:
	}

	logger.Info("gpubms shutting down")
	healthSrv.Shutdown()
	// Watch streams end first, with Unavailable, so the drain below is not
	// held up by streams that could run for hours.
	hub.Close()
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
	up.CloseIdleConnections()
	stopEmulator()
	cancel()
	return err
}

func newGRPCServer(cfg Config, logger *slog.Logger, m *metrics) (*grpc.Server, *health.Server, error) {
	unary, stream, err := chain(cfg, logger, m)
	if err != nil {
		return nil, nil, err
	}
	gs := grpc.NewServer(
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		// Pings keep long watch streams alive through idle-cutting proxies
		// and find dead peers; clients may ping as often as every 10s.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 2 * time.Minute, Timeout: 20 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	hs.SetServingStatus(gpubmsv1.GpuService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	reflection.Register(gs)
	return gs, hs, nil
}

// startEmulator runs the provider emulator on a loopback port for the
// lifetime of ctx and returns its URL and credentials.
func startEmulator(ctx context.Context, wg *sync.WaitGroup, errc chan<- error, ec emulator.Config, logger *slog.Logger) (string, string, upstream.Secret, error) {
	opts, err := ec.Options()
	if err != nil {
		return "", "", "", fmt.Errorf("emulator: %w", err)
	}
	opts = append(opts, emulator.WithLogger(logger))
	emu, err := emulator.New(opts...)
	if err != nil {
		return "", "", "", fmt.Errorf("emulator: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", "", fmt.Errorf("emulator listen: %w", err)
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
	return url, creds.AccessKeyID, upstream.Secret(creds.AccessKeySecret), nil
}
