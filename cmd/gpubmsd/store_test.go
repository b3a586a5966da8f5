package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestBinaryDataDirHasOneOwner: a second gpubmsd on the data directory of
// a running one exits 1, saying the directory is in use.
func TestBinaryDataDirHasOneOwner(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	env := []string{"GPUBMS_DATA_DIR=" + t.TempDir()}
	srv := startBinary(t, bin, env)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	second := command(bin, env)
	second = exec.CommandContext(ctx, second.Path, second.Args[1:]...)
	second.Env = append(second.Environ(), env...)
	out, err := second.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("second server: %v, want exit status 1\n%s", err, out)
	}
	if !strings.Contains(string(out), "in use by another process") || !strings.Contains(string(out), "data directory") {
		t.Errorf("second server's message does not say the directory is in use:\n%s", out)
	}
	if code := srv.stop(t); code != 0 {
		t.Errorf("first server: exit status %d after SIGTERM, want 0", code)
	}
}
