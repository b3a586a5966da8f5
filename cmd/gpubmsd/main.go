// Command gpubmsd serves the gpubms gRPC API and its JSON gateway.
//
//	gpubmsd [flags]                   serve (against the provider, or --emulator)
//	gpubmsd emulator [--addr A] ...   run the provider emulator alone
//
// Every flag has an environment variable; see README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	flag "github.com/spf13/pflag"

	"github.com/gpubms/gpubms/server/app"
	"github.com/gpubms/gpubms/server/emulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "gpubmsd:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "emulator" {
		return runEmulator(ctx, args[1:], stderr)
	}
	fs := flag.NewFlagSet("gpubmsd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg app.Config
	cfg.RegisterFlags(fs)
	showVersion := fs.Bool("version", false, "print the build and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Fprintln(stdout, "gpubmsd", app.ReadBuild())
		return nil
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	logger, buf := cfg.BufferedLogger(stderr)
	defer buf.Close()
	return app.Run(ctx, cfg, logger)
}

// runEmulator serves only the provider emulator, for testing one's own
// direct clients of the provider API.
func runEmulator(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("gpubmsd emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr("GPUBMS_EMULATOR_ADDR", "127.0.0.1:8099"), "listen address (GPUBMS_EMULATOR_ADDR)")
	var ec emulator.Config
	ec.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if ec.AccessKeyID == "" || ec.AccessKeySecret == "" {
		return errors.New("emulator: set GPUBMS_EMULATOR_ACCESS_KEY_ID and GPUBMS_EMULATOR_ACCESS_KEY_SECRET (or the flags) to the credentials your client signs with")
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	opts, err := ec.Options()
	if err != nil {
		return err
	}
	emu, err := emulator.New(append(opts, emulator.WithLogger(logger))...)
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", *addr)
	if err != nil {
		return err
	}
	logger.Warn("provider emulator serving; this is not the real provider",
		"url", emulator.BaseURL(ln), "vpc_url", emulator.VPCBaseURL(ln), "credentials", emu.Credentials())
	return emulator.Serve(ctx, ln, emu)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
