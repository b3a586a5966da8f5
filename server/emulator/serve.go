package emulator

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// ShutdownTimeout bounds how long Serve waits for requests in flight once
// its context is done.
const ShutdownTimeout = 5 * time.Second

// Serve serves h on ln until ctx is done, then shuts down, waiting at most
// ShutdownTimeout for requests in flight. It returns nil after a shutdown
// asked for by ctx, else the error that stopped serving. ln is closed.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// BaseURL is the provider base URL of an emulator served on ln, such as
// http://127.0.0.1:8099/gpubms/v1. A wildcard address (":8099" listens on
// all of them) is named by 127.0.0.1.
func BaseURL(ln net.Listener) string { return origin(ln) + "/gpubms/v1" }

// VPCBaseURL is the base URL of the network (VPC) API of an emulator served
// on ln, such as http://127.0.0.1:8099/vpc.
func VPCBaseURL(ln net.Listener) string { return origin(ln) + "/vpc" }

func origin(ln net.Listener) string {
	host, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		return "http://" + ln.Addr().String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
