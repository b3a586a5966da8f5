// Command gpubmsctl drives GPU bare-metal servers through a gpubms server:
// catalogue, prices, images, listing, creation, reinstallation, power,
// deletion, and the provider tasks those start.
//
// Usage:
//
//	gpubmsctl [global flags] COMMAND [flags] [args]
//
// Commands: regions, goods, price, images, networks, list, get, create,
// reinstall, power, delete, task, watch, config, version, completion. Run
// `gpubmsctl COMMAND --help` for each one's flags and examples.
//
// Global flags (each setting comes from its flag, else its environment
// variable, else the context, else the default):
//
//	--context      the context of the config file to use (env GPUBMS_CONTEXT;
//	               default: the file's current-context). The file is
//	               $GPUBMS_CONFIG, else $XDG_CONFIG_HOME/gpubms/config.yaml,
//	               else ~/.config/gpubms/config.yaml; see `gpubmsctl config`.
//	--addr         server address (env GPUBMS_ADDR, default 127.0.0.1:9090)
//	--insecure     plaintext instead of TLS. Unset, it is true for loopback
//	               addresses (127.0.0.0/8, ::1, localhost, unix sockets) and
//	               false for every other address, which use TLS with the
//	               system roots; any of --cacert, --cert, --key,
//	               --server-name means TLS, even on loopback, and is a usage
//	               error with --insecure (true).
//	--cacert       PEM file of the CA certificates that verify the server, in
//	               place of the system roots (env GPUBMS_CACERT).
//	--cert         PEM file of a client certificate, for servers that
//	--key          authenticate callers by certificate (mTLS), and its private
//	               key (env GPUBMS_CERT, GPUBMS_KEY). Both or neither.
//	--server-name  the name the server's certificate is verified against,
//	               when it is not the address's host (env GPUBMS_SERVER_NAME).
//	--token        bearer token (env GPUBMS_TOKEN; prefer the environment or
//	               a file, since a flag shows in the process list). It is
//	               sent over plaintext only when the connection is
//	               plaintext by the rule above.
//	--token-file   file holding the bearer token (env GPUBMS_TOKEN_FILE).
//	--timeout      deadline of the whole command. Unset, each call has 30s and
//	               waiting (--wait, watch) is bounded only by Ctrl-C.
//	-o/--output    table (default; text for people), json (protojson with the
//	               contract's field names) or yaml (the same document): one
//	               document per run, --wait included.
//	--no-headers   tables without their header and footer lines.
//
// Passwords for create and reinstall are read from standard input
// (--password-stdin), never from a flag, and are never printed. Tokens are
// never printed, nor stored in the config file (only a token file's path).
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
//	                 -o json or yaml: the reply) and change nothing. It needs
//	                 no --yes, sends no request id unless --request-id gives
//	                 one, and ignores --wait with a note on stderr.
//
// Waiting (create, reinstall and power with --wait; watch) shows each task
// on stderr: on a terminal a line per task redrawn in place (spinner,
// status, elapsed time, servers), elsewhere a line per change. Ctrl-C stops
// the waiting, not the task: it prints the `gpubmsctl watch` command that
// follows the task, and exits with status 130.
//
// After a failure that leaves the outcome open (Unavailable, Unknown, a
// deadline) the command prints the --request-id to repeat it with; a create
// refused as REQUEST_OUTCOME_UNKNOWN lists the servers the first call may
// have made, to adopt with `gpubmsctl get ID`.
//
// Exit status: 0 success; 1 a call failed (the gRPC code and the server's
// message are printed); 2 bad usage; 3 a waited-for task ended "failed";
// 130 interrupted (Ctrl-C); 143 terminated (SIGTERM).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	gpubms "github.com/gpubms/gpubms/clients/go"
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		// A second Ctrl-C ends the process at once.
		signal.Reset(os.Interrupt, syscall.SIGTERM)
		cancel(&signalError{sig: s})
	}()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitTaskFailed  = 3
	exitInterrupted = 130 // 128 + SIGINT, as shells report it
	exitTerminated  = 143 // 128 + SIGTERM
)

const (
	defaultAddr        = "127.0.0.1:9090"
	defaultCallTimeout = 30 * time.Second
	userAgent          = "gpubmsctl"
)

// signalError is the cause of the run's context when a signal ended it.
type signalError struct{ sig os.Signal }

func (e *signalError) Error() string { return "received " + e.sig.String() }

// run executes one command line and returns the exit status. getenv
// supplies the environment (GPUBMS_ADDR, GPUBMS_TOKEN, ..., HOME,
// XDG_CONFIG_HOME, TERM); cancelling ctx is an interrupt (exit status 130,
// or 143 when its cause is a SIGTERM signalError).
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{ctx: ctx, getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && getenv("TERM") != "dumb" {
		a.tty = true
		a.termSize = func() (int, int) {
			w, h, err := term.GetSize(int(f.Fd()))
			if err != nil {
				return 0, 0
			}
			return w, h
		}
	}
	root := a.rootCommand()
	root.SetArgs(args)
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
	ctx    context.Context // the run's: cancelled by Ctrl-C
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	root   *cobra.Command

	// tty: stderr is a terminal, so waiting redraws a line per task;
	// termSize is its size then.
	tty      bool
	termSize func() (width, height int)

	// Global flags.
	contextName string
	addr        string
	insecure    bool
	cacert      string
	cert        string
	key         string
	serverName  string
	token       string
	tokenFile   string
	timeout     time.Duration
	output      string
	noHeaders   bool

	resolved bool // the connection settings are resolved (resolve)
	client   *gpubms.Client
	cancel   context.CancelFunc
	running  bool // a command's RunE has started: errors before it are usage errors

	// The request id of the mutating call made, if any, and whether it
	// was a dry run: for the hints after a failure.
	requestID string
	dryRun    bool
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

// offline marks the commands that never call the server, which need no
// connection settings (so a broken config file does not stop them).
const annotationOffline = "gpubmsctl/offline"

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "gpubmsctl",
		Short: "Drive GPU bare-metal servers through a gpubms server",
		Long: `gpubmsctl drives GPU bare-metal servers through a gpubms server.

Each connection setting comes from its flag, else its environment variable,
else the context (gpubmsctl config), else the default. The connection is
plaintext for loopback addresses and TLS otherwise, unless --insecure says
which. --cacert (GPUBMS_CACERT) verifies the server with a private CA
instead of the system roots; --cert and --key (GPUBMS_CERT, GPUBMS_KEY)
present a client certificate; --server-name (GPUBMS_SERVER_NAME) is the name
its certificate must carry. Any of them means TLS, even on loopback, and
conflicts with --insecure. The token comes from --token, --token-file,
GPUBMS_TOKEN, GPUBMS_TOKEN_FILE or the context's token file; a client
certificate can replace it or come with it.

-o table (the default), json or yaml: one document per run. Waiting
(--wait, watch) shows the tasks on stderr; Ctrl-C stops the waiting, not
the task, and prints the gpubmsctl watch command that follows it.

Exit status: 0 success, 1 a call failed, 2 bad usage, 3 a waited-for task
failed, 130 interrupted (Ctrl-C), 143 terminated.`,
		Example: `  gpubmsctl regions
  gpubmsctl --context prod list -o yaml
  gpubmsctl config set-context local --addr 127.0.0.1:9090 && gpubmsctl config use-context local
  source <(gpubmsctl completion bash)`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		PersistentPreRunE: a.setup,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			cmd.SetOut(a.stderr) // help on an error path belongs on stderr
			_ = cmd.Help()
			return usagef("a command is required")
		},
	}
	a.root = root
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SuggestionsMinimumDistance = 2
	root.SetFlagErrorFunc(flagError)

	f := root.PersistentFlags()
	f.StringVar(&a.contextName, "context", "", "`NAME` of the config file's context to use (env GPUBMS_CONTEXT; default: its current-context; \"\": none)")
	f.StringVar(&a.addr, "addr", "", "server `ADDRESS`, host:port (env GPUBMS_ADDR; default "+defaultAddr+")")
	f.BoolVar(&a.insecure, "insecure", false, "plaintext instead of TLS (default: true for loopback addresses, unless --cacert, --cert, --key or --server-name asks for TLS)")
	f.StringVar(&a.cacert, "cacert", "", "PEM `FILE` of the CA certificates that verify the server (env GPUBMS_CACERT; default: the system roots); means TLS")
	f.StringVar(&a.cert, "cert", "", "PEM `FILE` of the client certificate, with --key (env GPUBMS_CERT); means TLS")
	f.StringVar(&a.key, "key", "", "PEM `FILE` of the client certificate's private key, with --cert (env GPUBMS_KEY); means TLS")
	f.StringVar(&a.serverName, "server-name", "", "`NAME` the server's certificate is verified against (env GPUBMS_SERVER_NAME; default: the address's host); means TLS")
	f.StringVar(&a.token, "token", "", "bearer token (env GPUBMS_TOKEN; a flag shows in the process list: prefer --token-file)")
	f.StringVar(&a.tokenFile, "token-file", "", "`FILE` holding the bearer token (env GPUBMS_TOKEN_FILE)")
	f.DurationVar(&a.timeout, "timeout", 0, "deadline of the whole command (default: 30s per call, waiting unbounded)")
	f.StringVarP(&a.output, "output", "o", formatTable, "output format: table, json or yaml")
	f.BoolVar(&a.noHeaders, "no-headers", false, "print tables without their header and footer lines")

	root.AddCommand(
		a.regionsCommand(), a.goodsCommand(), a.priceCommand(), a.imagesCommand(),
		a.networksCommand(), a.listCommand(), a.getCommand(), a.createCommand(), a.reinstallCommand(),
		a.powerCommand(), a.deleteCommand(), a.taskCommand(), a.watchCommand(),
		a.capacityCommand(), a.fleetCommand(), a.leaseCommand(), a.protectCommand(true), a.protectCommand(false),
		a.configCommand(), a.versionCommand(),
	)
	a.registerCompletions(root)
	return root
}

// unknownCommand is the usage error of a command line naming no command
// of cmd, with the commands it may have meant.
func unknownCommand(cmd *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return usagef("%s", msg)
}

// flagError is the usage error of a flag that does not parse, with the
// flag an unknown one may have meant.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "unknown flag: --"); ok {
		var names []string
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden {
				names = append(names, f.Name)
			}
		})
		if s := closest(name, names); s != "" {
			msg += "\n\nDid you mean this?\n\t--" + s
		}
	}
	return &usageError{msg: msg}
}

// closest is the one of names nearest to typed, within an edit distance of
// 2 (or with typed as its prefix), or "".
func closest(typed string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		d := levenshtein(typed, n)
		if strings.HasPrefix(n, typed) && len(typed) >= 3 {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func levenshtein(s, t string) int {
	a, b := []rune(s), []rune(t)
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// setup checks the global flags once the command line is parsed and, for
// the commands that call the server, resolves the connection settings.
func (a *app) setup(cmd *cobra.Command, _ []string) error {
	if !slices.Contains(formats, a.output) {
		return usagef("--output must be table, json or yaml, not %q", a.output)
	}
	if a.timeout < 0 {
		return usagef("--timeout must not be negative")
	}
	if a.timeout > 0 {
		ctx, cancel := context.WithTimeout(cmd.Context(), a.timeout)
		a.cancel = cancel
		cmd.SetContext(ctx)
	}
	if isOffline(cmd) {
		return nil
	}
	return a.resolve(cmd)
}

// isOffline reports whether cmd never calls the server: config, help, and
// cobra's completion commands (whose completions resolve the settings
// themselves).
func isOffline(cmd *cobra.Command) bool {
	for c := cmd; c != nil; c = c.Parent() {
		if c.Annotations[annotationOffline] != "" {
			return true
		}
		if c.HasParent() && !c.Parent().HasParent() {
			switch c.Name() {
			case "help", "completion", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
				return true
			}
		}
	}
	return false
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
	if a.serverName != "" {
		opts = append(opts, gpubms.WithServerName(a.serverName))
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

// call makes one call bounded by callContext.
func call[Req, Resp proto.Message](ctx context.Context, a *app, f func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) (Resp, error) {
	ctx, cancel := a.callContext(ctx)
	defer cancel()
	return f(ctx, req)
}

// unary makes one call bounded by callContext and shows its reply.
func unary[Req, Resp proto.Message](ctx context.Context, a *app, f func(context.Context, Req, ...grpc.CallOption) (Resp, error),
	req Req, table func(*printer, Resp) error) (Resp, error) {
	resp, err := call(ctx, a, f, req)
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

// interrupted reports whether a signal (or the caller of run) ended the
// run's context, with the exit status that says so.
func (a *app) interrupted() (int, bool) {
	if a.ctx.Err() == nil {
		return 0, false
	}
	var s *signalError
	if errors.As(context.Cause(a.ctx), &s) && s.sig == syscall.SIGTERM {
		return exitTerminated, true
	}
	return exitInterrupted, true
}

// configError is a config file that cannot be read or used: a failure
// (status 1), not a mistake in the command line.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// report prints err for a person and returns the exit status.
func (a *app) report(err error) int {
	if err == nil {
		return exitOK
	}
	var usage *usageError
	isUsage := errors.As(err, &usage) || (!a.running && !isConfigError(err))
	if code, ok := a.interrupted(); ok && !isUsage {
		var stopped *waitStopped
		if !errors.As(err, &stopped) { // a stopped wait said so already
			fmt.Fprintln(a.stderr, "gpubmsctl: interrupted")
			a.hint(err)
		}
		return code
	}
	if isUsage {
		fmt.Fprintf(a.stderr, "gpubmsctl: %v\nRun 'gpubmsctl --help' for usage.\n", err)
		return exitUsage
	}
	var failed *gpubms.TaskFailedError
	if errors.As(err, &failed) {
		for _, e := range unjoin(err) {
			fmt.Fprintf(a.stderr, "gpubmsctl: %v\n", e)
			var f *gpubms.TaskFailedError
			if errors.As(e, &f) {
				if reason := failureReason(f.Event); reason != "" {
					fmt.Fprintf(a.stderr, "  reason: %s\n", cell(reason))
				}
			}
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

func isConfigError(err error) bool {
	var c *configError
	return errors.As(err, &c)
}

// unjoin lists the errors of an errors.Join, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
