package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

func TestVersion(t *testing.T) {
	t.Parallel()
	env := map[string]string{"GPUBMS_ADDR": serve(t, &recorder{})}
	res := runCLI(t, env, "", "version")
	if res.code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "client: gpubmsctl ") || !strings.Contains(lines[0], readClientBuild().GoVersion) {
		t.Fatalf("got %q, want a client line with the Go version, then the server's", res.stdout)
	}
	// The fake server has no FleetService: the server is unknown, with
	// why (this client cannot ask yet, or the server is older), and that
	// is no error.
	if !strings.HasPrefix(lines[1], "server: unknown (") {
		t.Errorf("server line: got %q", lines[1])
	}
	res = runCLI(t, env, "", "version", "--client", "-o", "json")
	checkOneDocument(t, "json", res.stdout)
	if !strings.Contains(res.stdout, `"go_version"`) || strings.Contains(res.stdout, "server") {
		t.Errorf("version --client -o json: got\n%s", res.stdout)
	}
}

// fakeAsker answers GetServerInfo.
type fakeAsker struct {
	info *gpubmsv1.GetServerInfoResponse
	err  error
}

func (f fakeAsker) GetServerInfo(context.Context, *gpubmsv1.GetServerInfoRequest, ...grpc.CallOption) (*gpubmsv1.GetServerInfoResponse, error) {
	return f.info, f.err
}

func TestServerInfo(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	info := &gpubmsv1.GetServerInfoResponse{Version: "v0.4.0", Commit: "1a2b3c4d-dirty", CommitTime: timestamppb.New(start.Add(-time.Hour)),
		GoVersion: "go1.26.8", Emulator: true, Features: []string{"auth", "tls"}, StartTime: timestamppb.New(start)}
	got, err := askServerInfo(t.Context(), fakeAsker{info: info}, "A")
	if err != nil {
		t.Fatal(err)
	}
	want := "gpubms v0.4.0 (commit 1a2b3c4d-dirty, committed 2026-12-01T09:00:00Z), go1.26.8, on the emulator, features: auth tls, up since 2026-12-01T10:00:00Z"
	if d := describeServer(got); d != want {
		t.Errorf("describeServer: got %q, want %q", d, want)
	}
	for _, tt := range []struct {
		c    any
		want string
	}{
		{struct{}{}, errNoServerInfo.Error()},
		{fakeAsker{err: status.Error(codes.Unimplemented, "unknown service")}, "the server at A is older than GetServerInfo"},
		{fakeAsker{err: status.Error(codes.Unavailable, "connection refused")}, "cannot reach A: connection refused"},
		{fakeAsker{err: status.Error(codes.PermissionDenied, "no role")}, "PermissionDenied: no role"},
	} {
		if _, err := askServerInfo(t.Context(), tt.c, "A"); err == nil || err.Error() != tt.want {
			t.Errorf("askServerInfo(%T): got %v, want %q", tt.c, err, tt.want)
		}
	}
}
