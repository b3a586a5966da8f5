package main

import (
	"fmt"
	"regexp"

	"github.com/spf13/pflag"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	gpubms "github.com/gpubms/gpubms/clients/go"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// mutationHelp is the part of the mutating commands' help about request ids
// and dry runs.
const mutationHelp = `
Each run sends one request id, printed on stderr as "request id: ID" before
the call; the client retries a call that fails with Unavailable or Unknown
with that same id, and the server never carries out one id twice. If the
command fails without saying what happened (Unavailable, Unknown, a
timeout), run it again with --request-id ID: it is then done at most once,
and the server answers with the first call's outcome.

--dry-run asks the server what the command would do (validate_only) and
changes nothing: it prints the servers it would act on, with their states,
or for create the price and stock, and the server's warnings (-o json or
yaml: the reply). A dry run needs no --yes and starts no task, so --wait is ignored,
with a note on stderr. It sends a request id only when --request-id gives
one.`

// waitHelp is the part of the help of the commands that start tasks about
// --wait.
const waitHelp = `
While --wait follows the tasks, stderr shows them: on a terminal a line
per task redrawn in place (spinner, status, elapsed time, servers),
elsewhere a line per change. Ctrl-C stops the waiting, not the tasks: it
prints the gpubmsctl watch command that follows them, and exits with
status 130. -o table prints the reply at once and the final states at the
end; -o json and yaml print one document at the end,
{"response": REPLY, "tasks": [LAST EVENT, ...]}. Exit status 3 if a task
failed.
`

// requestIDPattern is the contract's rule for request_id.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// requestIDFlag is --request-id, checked as it is parsed.
type requestIDFlag struct{ id string }

func (f *requestIDFlag) String() string { return f.id }

func (f *requestIDFlag) Set(s string) error {
	if !requestIDPattern.MatchString(s) {
		return fmt.Errorf("want 1 to 64 letters, digits, '-' or '_', e.g. a UUID")
	}
	f.id = s
	return nil
}

func (f *requestIDFlag) Type() string { return "ID" }

// ptr is the id for the request's field: nil when none was given.
func (f *requestIDFlag) ptr() *string {
	if f.id == "" {
		return nil
	}
	id := f.id
	return &id
}

// mutationFlags are the flags every mutating command has.
type mutationFlags struct {
	requestID requestIDFlag
	dryRun    bool
}

func (m *mutationFlags) add(f *pflag.FlagSet) {
	f.Var(&m.requestID, "request-id", "request id to send, 1-64 of A-Z a-z 0-9 - _: repeat a command with the id it printed to do it at most once (default: a new UUID)")
	f.BoolVar(&m.dryRun, "dry-run", false, "say what the command would do (validate_only) and change nothing")
}

// begin readies a mutating call: it drops --wait from a dry run, with a
// note, gives req its request id (--request-id, else a new one; a dry run
// gets none of its own) and prints it on stderr.
func (a *app) begin(m *mutationFlags, req proto.Message, wait *bool) {
	if m.dryRun && wait != nil && *wait {
		fmt.Fprintln(a.stderr, "gpubmsctl: --wait ignored: a dry run starts no task")
		*wait = false
	}
	a.dryRun = m.dryRun
	var id string
	if m.dryRun {
		id = gpubms.RequestID(req)
	} else {
		id = gpubms.EnsureRequestID(req)
	}
	if id != "" {
		a.requestID = id
		fmt.Fprintf(a.stderr, "request id: %s\n", id)
	}
}

// dryRunDone notes on stderr that a dry run changed nothing.
func (a *app) dryRunDone(err error) error {
	if err == nil {
		fmt.Fprintln(a.stderr, "gpubmsctl: dry run: nothing was changed")
	}
	return err
}

// validated adapts a printer of a Validation to a reply that holds one.
func validated[R interface{ GetValidation() *gpubmsv1.Validation }](f func(*printer, *gpubmsv1.Validation) error) func(*printer, R) error {
	return func(p *printer, r R) error { return f(p, r.GetValidation()) }
}

// hint follows a failed mutating call's error with what to do next, when
// the request id matters: the servers a create whose outcome is unknown may
// have made, a reused id, or how to repeat the call safely.
func (a *app) hint(err error) {
	if a.requestID == "" || a.dryRun {
		return
	}
	if ids, ok := gpubms.OutcomeUnknown(err); ok {
		if len(ids) > 0 {
			fmt.Fprintln(a.stderr, "gpubmsctl: these servers may have been made by the first call: adopt them with gpubmsctl get ID rather than creating again:")
			for _, id := range ids {
				fmt.Fprintf(a.stderr, "  %s\n", id)
			}
			return
		}
		fmt.Fprintf(a.stderr, "gpubmsctl: the first call with request id %s may have been carried out, and it is never sent again: "+
			"look (gpubmsctl list, get, task) before repeating the command without --request-id\n", a.requestID)
		return
	}
	switch status.Code(err) {
	case codes.AlreadyExists:
		if !hasReason(err, gpubms.ReasonRequestIDReused) {
			return
		}
		fmt.Fprintf(a.stderr, "gpubmsctl: request id %s was used before for a different request: use another --request-id, or none\n", a.requestID)
	case codes.Unavailable, codes.Unknown, codes.DeadlineExceeded, codes.Canceled:
		fmt.Fprintf(a.stderr, "gpubmsctl: the call may or may not have been carried out: to repeat it safely, run the same command with --request-id %s\n", a.requestID)
	}
}

// hasReason reports whether err carries a google.rpc.ErrorInfo with reason.
func hasReason(err error, reason string) bool {
	for _, d := range status.Convert(err).Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.GetReason() == reason {
			return true
		}
	}
	return false
}
