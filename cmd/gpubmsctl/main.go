// Command gpubmsctl drives GPU bare-metal servers through a gpubms server:
// catalogue, prices, images, listing, creation, reinstallation, power,
// deletion, and the provider tasks those start.
//
// Usage:
//
//	gpubmsctl [global flags] COMMAND [flags] [args]
//
// Commands: regions, goods, price, images, networks, list, get, create,
// reinstall, power, delete, task, watch. Run `gpubmsctl COMMAND --help` for
// each one's flags.
//
// Global flags:
//
//	--addr       server address (env GPUBMS_ADDR, default 127.0.0.1:9090)
//	--insecure   plaintext instead of TLS. Unset, it is true for loopback
//	             addresses (127.0.0.0/8, ::1, localhost, unix sockets) and false
//	             for every other address, which use TLS with the system roots;
//	             any of --cacert, --cert, --key means TLS, even on loopback, and
//	             is a usage error with --insecure (true).
//	--cacert     PEM file of the CA certificates that verify the server, in
//	             place of the system roots (env GPUBMS_CACERT).
//	--cert       PEM file of a client certificate, for servers that
//	--key        authenticate callers by certificate (mTLS), and its private
//	             key (env GPUBMS_CERT, GPUBMS_KEY). Both or neither.
//	--token      bearer token (env GPUBMS_TOKEN; prefer the environment, since
//	             a flag shows in the process list). It is sent over plaintext
//	             only when the connection is plaintext by the rule above.
//	--timeout    deadline of the whole command. Unset, each call has 30s and
//	             waiting (--wait, watch) is bounded only by Ctrl-C.
//	-o/--output  table (default; text for people) or json (protojson with the
//	             contract's field names; watch prints one JSON object a line).
//
// Passwords for create and reinstall are read from standard input
// (--password-stdin), never from a flag, and are never printed.
//
// create without --vpc-id or --net-id looks up the region's networks
// (FindNetworks, as `gpubmsctl networks` shows them): it uses the zone's
// only VPC and subnet, with a note on stderr, and otherwise lists the
// choices on stderr and exits with status 2.
//
// The mutating commands (create, reinstall, power, delete) send one request
// id per run, printed on stderr as "request id: ID" before the call; the
// client retries Unavailable and Unknown with that id (4 attempts in all),
// and the server carries out one id at most once. They take:
//
//	--request-id ID  send ID (1 to 64 of A-Z a-z 0-9 - _) instead of a new
//	                 UUID: repeating a command with the id it printed is
//	                 safe, and answered with the first run's outcome.
//	--dry-run        validate_only: print what the command would do (create:
//	                 the quote, the stock when known and the warnings; the
//	                 others: each server with its state, and the warnings;
//	                 -o json: the reply) and change nothing. It needs no
//	                 --yes, sends no request id unless --request-id gives
//	                 one, and ignores --wait with a note on stderr.
//
// After a failure that leaves the outcome open (Unavailable, Unknown, a
// deadline) the command prints the --request-id to repeat it with; a create
// refused as REQUEST_OUTCOME_UNKNOWN lists the servers the first call may
// have made, to adopt with `gpubmsctl get ID`.
//
// Exit status: 0 success; 1 a call failed (the gRPC code and the server's
// message are printed); 2 bad usage; 3 a waited-for task ended "failed".
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	gpubms "github.com/gpubms/gpubms/clients/go"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK         = 0
	exitFailure    = 1
	exitUsage      = 2
	exitTaskFailed = 3
)

const (
	defaultAddr        = "127.0.0.1:9090"
	defaultCallTimeout = 30 * time.Second
	userAgent          = "gpubmsctl"
)

// run executes one command line and returns the exit status. getenv supplies
// GPUBMS_ADDR, GPUBMS_TOKEN, GPUBMS_CACERT, GPUBMS_CERT and GPUBMS_KEY.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if a.cancel != nil {
		a.cancel()
	}
	if a.client != nil {
		_ = a.client.Close()
	}
	return a.report(err)
}

// app is the state of one run: global flags, the streams, the client.
type app struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	addr     string
	insecure bool
	cacert   string
	cert     string
	key      string
	token    string
	timeout  time.Duration
	output   string

	client  *gpubms.Client
	cancel  context.CancelFunc
	running bool // a command's RunE has started: errors before it are usage errors

	// The request id of the mutating call made, if any, and whether it
	// was a dry run: for the hints after a failure.
	requestID string
	dryRun    bool
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "gpubmsctl",
		Short: "Drive GPU bare-metal servers through a gpubms server",
		Long: `gpubmsctl drives GPU bare-metal servers through a gpubms server.

The connection is plaintext for loopback addresses and TLS otherwise, unless
--insecure says which. --cacert (GPUBMS_CACERT) verifies the server with a
private CA instead of the system roots; --cert and --key (GPUBMS_CERT,
GPUBMS_KEY) present a client certificate. Any of the three means TLS, even on
loopback, and conflicts with --insecure. The token comes from --token or
GPUBMS_TOKEN; a client certificate can replace it or come with it.
Exit status: 0 success, 1 a call failed, 2 bad usage, 3 a waited-for task failed.`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		Args:              cobra.ArbitraryArgs,
		PersistentPreRunE: a.setup,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q", args[0])
			}
			cmd.SetOut(a.stderr) // help on an error path belongs on stderr
			_ = cmd.Help()
			return usagef("a command is required")
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{msg: err.Error()} })

	f := root.PersistentFlags()
	f.StringVar(&a.addr, "addr", "", "server address (env GPUBMS_ADDR; default "+defaultAddr+")")
	f.BoolVar(&a.insecure, "insecure", false, "plaintext instead of TLS (default: true for loopback addresses, unless --cacert, --cert or --key asks for TLS)")
	f.StringVar(&a.cacert, "cacert", "", "PEM `FILE` of the CA certificates that verify the server (env GPUBMS_CACERT; default: the system roots); means TLS")
	f.StringVar(&a.cert, "cert", "", "PEM `FILE` of the client certificate, with --key (env GPUBMS_CERT); means TLS")
	f.StringVar(&a.key, "key", "", "PEM `FILE` of the client certificate's private key, with --cert (env GPUBMS_KEY); means TLS")
	f.StringVar(&a.token, "token", "", "bearer token (env GPUBMS_TOKEN)")
	f.DurationVar(&a.timeout, "timeout", 0, "deadline of the whole command (default: 30s per call, waiting unbounded)")
	f.StringVarP(&a.output, "output", "o", "table", "output format: table or json")

	root.AddCommand(
		a.regionsCommand(), a.goodsCommand(), a.priceCommand(), a.imagesCommand(),
		a.networksCommand(), a.listCommand(), a.getCommand(), a.createCommand(), a.reinstallCommand(),
		a.powerCommand(), a.deleteCommand(), a.taskCommand(), a.watchCommand(),
	)
	return root
}

// setup resolves the global flags once the command line is parsed.
func (a *app) setup(cmd *cobra.Command, _ []string) error {
	flags := cmd.Flags()
	if !flags.Changed("addr") {
		a.addr = cmp.Or(a.getenv("GPUBMS_ADDR"), defaultAddr)
	}
	if !flags.Changed("token") {
		a.token = a.getenv("GPUBMS_TOKEN")
	}
	// The TLS files, each from its flag or else its variable. For the
	// messages, source says where each came from; from lists the set ones.
	var from []string
	source := map[string]string{}
	for _, f := range []struct {
		flag, env string
		v         *string
	}{{"cacert", "GPUBMS_CACERT", &a.cacert}, {"cert", "GPUBMS_CERT", &a.cert}, {"key", "GPUBMS_KEY", &a.key}} {
		source[f.flag] = "--" + f.flag
		if !flags.Changed(f.flag) {
			*f.v = a.getenv(f.env)
			source[f.flag] = f.env
		}
		if *f.v != "" {
			from = append(from, source[f.flag])
		}
	}
	if a.cert != "" && a.key == "" {
		return usagef("%s needs --key (or GPUBMS_KEY): a client certificate needs its private key", source["cert"])
	}
	if a.key != "" && a.cert == "" {
		return usagef("%s needs --cert (or GPUBMS_CERT): a private key needs its client certificate", source["key"])
	}
	switch {
	case !flags.Changed("insecure"):
		a.insecure = len(from) == 0 && isLoopback(a.addr)
	case a.insecure && len(from) > 0:
		return usagef("--insecure conflicts with %s, which means TLS: drop one", strings.Join(from, ", "))
	}
	if a.output != "table" && a.output != "json" {
		return usagef("--output must be table or json, not %q", a.output)
	}
	if a.timeout < 0 {
		return usagef("--timeout must not be negative")
	}
	if a.timeout > 0 {
		ctx, cancel := context.WithTimeout(cmd.Context(), a.timeout)
		a.cancel = cancel
		cmd.SetContext(ctx)
	}
	return nil
}

// isLoopback reports whether a gRPC target names this machine: a loopback IP,
// localhost, or a unix socket.
func isLoopback(target string) bool {
	if strings.HasPrefix(target, "unix:") || strings.HasPrefix(target, "unix-abstract:") {
		return true
	}
	if i := strings.Index(target, ":///"); i >= 0 { // dns:///host:port, passthrough:///...
		target = target[i+len(":///"):]
	}
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		host = strings.Trim(target, "[]")
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// dial returns the client, made on first use.
func (a *app) dial() (*gpubms.Client, error) {
	if a.client != nil {
		return a.client, nil
	}
	opts := []gpubms.Option{gpubms.WithUserAgent(userAgent)}
	if a.insecure {
		opts = append(opts, gpubms.WithInsecure())
	}
	if a.cacert != "" || a.cert != "" || a.key != "" {
		opts = append(opts, gpubms.WithTLSFiles(a.cacert, a.cert, a.key))
	}
	if a.token != "" {
		opts = append(opts, gpubms.WithToken(a.token))
	}
	c, err := gpubms.Dial(context.Background(), a.addr, opts...)
	if err != nil {
		return nil, err
	}
	a.client = c
	return c, nil
}

// callContext bounds one unary call: by --timeout if given (already on ctx),
// else by the default per-call timeout.
func (a *app) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if a.timeout > 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, defaultCallTimeout)
}

// unary makes one call bounded by callContext and shows its reply.
func unary[Req, Resp proto.Message](ctx context.Context, a *app, call func(context.Context, Req, ...grpc.CallOption) (Resp, error),
	req Req, table func(io.Writer, Resp) error) (Resp, error) {
	ctx, cancel := a.callContext(ctx)
	defer cancel()
	resp, err := call(ctx, req)
	if err != nil {
		return resp, err
	}
	return resp, show(a, resp, table)
}

// runE marks the start of a command's work, so report can tell its errors
// from command-line errors, and dials the client.
func (a *app) runE(f func(ctx context.Context, c *gpubms.Client, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.running = true
		c, err := a.dial()
		if err != nil {
			return err
		}
		return f(cmd.Context(), c, cmd, args)
	}
}

// report prints err for a person and returns the exit status.
func (a *app) report(err error) int {
	if err == nil {
		return exitOK
	}
	var usage *usageError
	if errors.As(err, &usage) || !a.running {
		fmt.Fprintf(a.stderr, "gpubmsctl: %v\nRun 'gpubmsctl --help' for usage.\n", err)
		return exitUsage
	}
	var failed *gpubms.TaskFailedError
	if errors.As(err, &failed) {
		for _, e := range unjoin(err) {
			fmt.Fprintf(a.stderr, "gpubmsctl: %v\n", e)
		}
		return exitTaskFailed
	}
	if s, ok := status.FromError(err); ok {
		fmt.Fprintf(a.stderr, "gpubmsctl: %s: %s\n", s.Code(), s.Message())
		for _, d := range s.Details() {
			switch d := d.(type) {
			case *errdetails.ErrorInfo:
				fmt.Fprintf(a.stderr, "  reason: %s\n", d.GetReason())
				keys := make([]string, 0, len(d.GetMetadata()))
				for k := range d.GetMetadata() {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				for _, k := range keys {
					fmt.Fprintf(a.stderr, "  %s: %s\n", k, d.GetMetadata()[k])
				}
			case *errdetails.BadRequest:
				for _, v := range d.GetFieldViolations() {
					fmt.Fprintf(a.stderr, "  %s: %s\n", v.GetField(), v.GetDescription())
				}
			}
		}
		a.hint(err)
		return exitFailure
	}
	fmt.Fprintf(a.stderr, "gpubmsctl: %v\n", err)
	return exitFailure
}

// unjoin lists the errors of an errors.Join, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
