package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// terminal is gpubmsctl running with a pseudo-terminal as its stderr (and
// as its stdin and stdout unless the test gave others).
type terminal struct {
	cmd  *exec.Cmd
	pty  *os.File
	out  syncBuffer // what the program wrote to the terminal
	done chan struct{}
	code int
}

// startOnTerminal starts bin with args under a 160x40 pseudo-terminal.
func startOnTerminal(t *testing.T, bin string, env []string, stdin io.Reader, stdout io.Writer, args ...string) *terminal {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout = stdin, stdout
	// The terminal is the controlling one of a session of the program's
	// own, so that Ctrl-C on it is a SIGINT to the program. Its stderr
	// (fd 2) is always the terminal.
	f, err := pty.StartWithAttrs(cmd, &pty.Winsize{Rows: 40, Cols: 160}, &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 2})
	if err != nil {
		t.Fatal(err)
	}
	term := &terminal{cmd: cmd, pty: f, done: make(chan struct{})}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(&term.out, f) // ends with EIO once the program is gone
	}()
	go func() {
		defer close(term.done)
		err := cmd.Wait()
		var exit *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exit):
			term.code = exit.ExitCode()
		default:
			term.code = -1
		}
		select {
		case <-copied:
		case <-time.After(5 * time.Second):
		}
	}()
	t.Cleanup(func() {
		select {
		case <-term.done:
		default:
			_ = cmd.Process.Kill()
			<-term.done
		}
		_ = f.Close()
	})
	return term
}

// waitOutput waits until the terminal shows what matches re.
func (term *terminal) waitOutput(t *testing.T, re *regexp.Regexp, limit time.Duration) {
	t.Helper()
	waitFor(t, limit, "the terminal shows "+re.String(), func() bool {
		select {
		case <-term.done:
			return true // reported below
		default:
		}
		return re.MatchString(term.out.String())
	})
	if !re.MatchString(term.out.String()) {
		t.Fatalf("the terminal does not show %s; the program ended (exit %d) with:\n%q", re, term.code, term.out.String())
	}
}

// interrupt types Ctrl-C and waits for the program to exit.
func (term *terminal) interrupt(t *testing.T) int {
	t.Helper()
	if _, err := term.pty.Write([]byte{3}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-term.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("gpubmsctl did not exit within 15s of Ctrl-C; the terminal shows:\n%q", term.out.String())
	}
	return term.code
}

// buildCLI builds gpubmsctl into dir.
func buildCLI(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build gpubmsctl with: %v", err)
	}
	bin := filepath.Join(dir, "gpubmsctl")
	// No VCS stamping: the test needs no git, and the version is not checked.
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-buildvcs=false", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// spinnerLine is a line of the live display of a running task: a spinner
// frame, the task, its status and the seconds since the wait began.
// An empty task matches any.
func spinnerLine(task, seconds string) *regexp.Regexp {
	id := `\S+`
	if task != "" {
		id = regexp.QuoteMeta(task)
	}
	return regexp.MustCompile(`[` + strings.Join(spinnerFrames, "") + `] ` + id + ` +init +` + seconds + `s `)
}

// TestLiveProgressOnTerminal runs the built gpubmsctl under a
// pseudo-terminal against gpubmsd on the emulator, whose tasks stay init
// for ten minutes: create --wait and watch draw a spinner line per task
// with its elapsed time, redrawn in place; Ctrl-C stops the waiting with
// exit status 130 and the gpubmsctl watch command that follows the task.
func TestLiveProgressOnTerminal(t *testing.T) {
	t.Parallel()
	bin := buildCLI(t, t.TempDir())
	addr := startGpubmsWith(t, 10*time.Minute)
	home := t.TempDir()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TERM=xterm-256color", "GPUBMS_ADDR=" + addr}
	const pw = "Pty-e2e-passw0rd"
	createArgs := []string{"create", "--region", "CN_Hohhot_B", "--name", "pty", "--charge", "PostPaid",
		"--goods", "7685", "--compute", "8fbdb61e-b941-46db-89f6-f8953b278ec9",
		"--image", "d32af696-5774-4936-8f09-e9f4cf069b31", "--password-stdin"}

	t.Run("create --wait -o json", func(t *testing.T) {
		t.Parallel()
		var stdout syncBuffer
		args := append(append([]string{"-o", "json"}, createArgs...), "--amount", "2", "--wait")
		term := startOnTerminal(t, bin, env, strings.NewReader(pw), &stdout, args...)
		// The spinner, still turning a second later.
		term.waitOutput(t, spinnerLine("", "1"), 20*time.Second)
		if !strings.Contains(term.out.String(), "\x1b[1A") || !strings.Contains(term.out.String(), "\r\x1b[2K") {
			t.Errorf("the line is not redrawn in place:\n%q", term.out.String())
		}
		code := term.interrupt(t)
		t.Logf("the terminal showed:\n%q", term.out.String())
		if code != exitInterrupted {
			t.Errorf("exit status after Ctrl-C: got %d, want %d; the terminal shows:\n%q", code, exitInterrupted, term.out.String())
		}
		// stdout is one JSON document: the reply and the task's last state.
		var doc struct {
			Response struct {
				TaskID string `json:"task_id"`
			} `json:"response"`
			Tasks []struct {
				TaskID      string   `json:"task_id"`
				RawStatus   string   `json:"raw_status"`
				ResourceIDs []string `json:"resource_ids"`
			} `json:"tasks"`
		}
		dec := json.NewDecoder(strings.NewReader(stdout.String()))
		if err := dec.Decode(&doc); err != nil || dec.More() {
			t.Fatalf("stdout is not one JSON document (%v):\n%s", err, stdout.String())
		}
		task := doc.Response.TaskID
		if task == "" || len(doc.Tasks) != 1 || doc.Tasks[0].TaskID != task || doc.Tasks[0].RawStatus != "init" || len(doc.Tasks[0].ResourceIDs) != 2 {
			t.Errorf("stdout: got %+v, want the task and its init state with two servers", doc)
		}
		shown := term.out.String()
		for _, want := range []string{
			task, doc.Tasks[0].ResourceIDs[0], // the task's line names its servers
			"gpubmsctl: stopped waiting (interrupted); the task goes on at the provider. To follow it:\r\n  gpubmsctl watch " + task + "\r\n",
			"\x1b[?25h", // the cursor is back
		} {
			if !strings.Contains(shown, want) {
				t.Errorf("the terminal does not show %q:\n%q", want, shown)
			}
		}
		if strings.Contains(shown+stdout.String(), pw) {
			t.Error("the password was shown")
		}
	})

	t.Run("watch", func(t *testing.T) {
		t.Parallel()
		// A task to watch, made in-process.
		res := runCLI(t, map[string]string{"GPUBMS_ADDR": addr}, pw, createArgs...)
		if res.code != exitOK {
			t.Fatalf("create: exit %d\n%s", res.code, res.stderr)
		}
		task := strings.TrimSpace(res.stdout)
		term := startOnTerminal(t, bin, env, nil, nil, "watch", task)
		term.waitOutput(t, spinnerLine(task, "1"), 20*time.Second)
		// More than one frame of the spinner was drawn.
		seen := 0
		for _, f := range spinnerFrames {
			if strings.Contains(term.out.String(), f+" "+task) {
				seen++
			}
		}
		if seen < 2 {
			t.Errorf("the spinner did not turn (%d frame(s) seen):\n%q", seen, term.out.String())
		}
		if code := term.interrupt(t); code != exitInterrupted {
			t.Errorf("exit status after Ctrl-C: got %d, want %d", code, exitInterrupted)
		}
		if want := "To follow it:\r\n  gpubmsctl watch " + task + "\r\n"; !strings.Contains(term.out.String(), want) {
			t.Errorf("the terminal does not show %q:\n%q", want, term.out.String())
		}
		// The last frame marks the task as no longer watched.
		if !bytes.Contains([]byte(term.out.String()), []byte(markStopped+" "+task)) {
			t.Errorf("the last frame does not mark the task stopped:\n%q", term.out.String())
		}
	})
}
