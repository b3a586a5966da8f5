package main

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/spf13/cobra"
)

func TestCompletionScripts(t *testing.T) {
	t.Parallel()
	for shell, marks := range map[string][]string{
		"bash":       {"__start_gpubmsctl", "complete -o default -F __start_gpubmsctl gpubmsctl"},
		"zsh":        {"#compdef gpubmsctl", "_gpubmsctl"},
		"fish":       {"complete -c gpubmsctl", "__gpubmsctl_perform_completion"},
		"powershell": {"Register-ArgumentCompleter", "gpubmsctl"},
	} {
		res := runCLI(t, nil, "", "completion", shell)
		if res.code != exitOK {
			t.Errorf("completion %s: exit %d; stderr:\n%s", shell, res.code, res.stderr)
			continue
		}
		for _, m := range marks {
			if !strings.Contains(res.stdout, m) {
				t.Errorf("completion %s: the script lacks %q", shell, m)
			}
		}
	}
}

// complete asks the hidden __complete command, as the shell scripts do,
// and returns the choices (descriptions included) and the directive.
func complete(t *testing.T, env map[string]string, args ...string) ([]string, string) {
	t.Helper()
	res := runCLI(t, env, "", append([]string{"__complete"}, args...)...)
	if res.code != exitOK {
		t.Fatalf("__complete %v: exit %d; stderr:\n%s", args, res.code, res.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
	return lines[:len(lines)-1], lines[len(lines)-1]
}

func TestDynamicCompletion(t *testing.T) {
	t.Parallel()
	addr := serve(t, &recorder{})
	noFiles := ":4"
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"regions of --region", []string{"goods", "--region", ""}, []string{
			"CN_Hohhot_B\tHohhot B", "CN_Qingyang_A\t中国大陆-庆阳-可用区A", "US_Dallas_A\tDallas A"}},
		{"regions by prefix", []string{"networks", "--region", "CN_"}, []string{"CN_Hohhot_B\tHohhot B", "CN_Qingyang_A\t中国大陆-庆阳-可用区A"}},
		{"goods of the region", []string{"create", "--region", "CN_Hohhot_B", "--goods", ""}, []string{"11\tA100x8, PrePaid"}},
		{"goods need a region", []string{"price", "--goods", ""}, []string{"_activeHelp_ give --region first to complete --goods"}},
		{"computes", []string{"price", "--region", "R1", "--compute", ""}, []string{"cmp-1\tXeon 8358, 64 CPUs, 1024 GB, 3 in stock"}},
		{"images of a create", []string{"create", "--region", "R1", "--compute", "cmp-1", "--image", ""}, []string{"img-u22\tUbuntu 22.04, public"}},
		{"images of a create, every compute", []string{"create", "--region", "R1", "--image", ""}, []string{"img-u22\tUbuntu 22.04, public"}},
		{"images of a reinstall, from the server's region", []string{"reinstall", "gpu-001", "--image", ""}, []string{"img-u22\tUbuntu 22.04, public"}},
		{"servers of get", []string{"get", ""}, []string{"gpu-001\tweb-001, running, CN_Hohhot_B", "gpu-002\t训练机-02, stopped, CN_Qingyang_A"}},
		{"get takes one", []string{"get", "gpu-001", ""}, []string{}},
		{"servers of delete, less those given", []string{"delete", "gpu-001", ""}, []string{"gpu-002\t训练机-02, stopped, CN_Qingyang_A"}},
		{"power operations", []string{"power", ""}, []string{"start\tpower on", "stop\tpower off", "reset\tpower cycle"}},
		{"servers of power", []string{"power", "stop", "gpu-0"}, []string{"gpu-001\tweb-001, running, CN_Hohhot_B", "gpu-002\t训练机-02, stopped, CN_Qingyang_A"}},
		{"VPCs", []string{"create", "--region", "US_Dallas_A", "--vpc-id", ""}, []string{"vpc-3\tblue, 1 subnet(s)", "vpc-4\tgreen, 1 subnet(s)"}},
		{"subnets of the VPC", []string{"create", "--region", "US_Dallas_A", "--vpc-id", "vpc-4", "--net-id", ""}, []string{"net-41\tgreen-a, 10.40.1.0/24, VPC green (vpc-4)"}},
		{"free EIPs, less those given", []string{"create", "--region", "CN_Hohhot_B", "--eip", "eip-1", "--eip", ""}, []string{"eip-2\t203.0.113.11, 5 Mbps"}},
		{"output formats", []string{"regions", "-o", ""}, []string{"table\taligned columns, for people", "json\tone JSON document", "yaml\tone YAML document"}},
		{"charge types", []string{"create", "--charge", "Pre"}, []string{"PrePaid\tpaid by the month, ahead"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, directive := complete(t, nil, append([]string{"--addr", addr}, tt.args...)...)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("choices (-want +got):\n%s", diff)
			}
			if directive != noFiles {
				t.Errorf("directive: got %s, want %s (no file names)", directive, noFiles)
			}
		})
	}
}

// TestCompletionFromContext: the contexts complete from the config file,
// and a completion asks the server of the context named on the command
// line.
func TestCompletionFromContext(t *testing.T) {
	t.Parallel()
	addr := serve(t, &recorder{})
	env, _ := configEnv(t)
	mustRun(t, env, "config", "set-context", "prod", "--addr", "127.0.0.1:1", "--current")
	mustRun(t, env, "config", "set-context", "fake", "--addr", addr)
	got, _ := complete(t, env, "--context", "")
	if diff := cmp.Diff([]string{"prod\t127.0.0.1:1, current", "fake\t" + addr}, got); diff != "" {
		t.Errorf("--context (-want +got):\n%s", diff)
	}
	got, _ = complete(t, env, "config", "use-context", "f")
	if diff := cmp.Diff([]string{"fake\t" + addr}, got); diff != "" {
		t.Errorf("use-context (-want +got):\n%s", diff)
	}
	got, _ = complete(t, env, "--context", "fake", "goods", "--region", "US")
	if diff := cmp.Diff([]string{"US_Dallas_A\tDallas A"}, got); diff != "" {
		t.Errorf("--region through --context fake (-want +got):\n%s", diff)
	}
}

// TestCompletionUnreachable: a server that does not answer costs a bounded
// wait, and says so as active help instead of offering file names.
func TestCompletionUnreachable(t *testing.T) {
	t.Parallel()
	// A listener that accepts and never answers (no HTTP/2 preface).
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	start := time.Now()
	got, directive := complete(t, nil, "--addr", lis.Addr().String(), "get", "")
	if d := time.Since(start); d > completionTimeout+3*time.Second {
		t.Errorf("completion took %v, want at most about %v", d, completionTimeout)
	}
	if len(got) != 1 || !strings.HasPrefix(got[0], "_activeHelp_ gpubmsctl: cannot complete from "+lis.Addr().String()) || directive != ":4" {
		t.Errorf("got %q %s, want one active help line and no file names", got, directive)
	}
}

// TestEveryCommandHasExamples: every command, cobra's completion commands
// included, shows an Example block in its help.
func TestEveryCommandHasExamples(t *testing.T) {
	t.Parallel()
	a := &app{getenv: func(string) string { return "" }, stdout: io.Discard, stderr: io.Discard}
	root := a.rootCommand()
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if !c.Hidden && c.Name() != "help" && strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s has no Example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	res := runCLI(t, nil, "", "watch", "--help")
	if !strings.Contains(res.stdout, "Examples:\n  gpubmsctl watch") {
		t.Errorf("watch --help shows no examples:\n%s", res.stdout)
	}
}

// TestCompletionOnEmulator completes ids that the real server reads from
// the emulator: the regions, with their names in Chinese, the goods of a
// region and the images of a compute.
func TestCompletionOnEmulator(t *testing.T) {
	t.Parallel()
	env := map[string]string{"GPUBMS_ADDR": startGpubms(t)}
	got, _ := complete(t, env, "goods", "--region", "CN_Hohhot")
	if diff := cmp.Diff([]string{"CN_Hohhot_B\t中国大陆-呼和浩特-可用区B"}, got); diff != "" {
		t.Errorf("--region (-want +got):\n%s", diff)
	}
	got, _ = complete(t, env, "create", "--region", "CN_Hohhot_B", "--charge", "PostPaid", "--goods", "")
	if len(got) == 0 || !strings.HasPrefix(got[0], "7685\t") {
		t.Errorf("--goods: got %q, want 7685 (the emulator's PostPaid goods) first", got)
	}
	got, _ = complete(t, env, "create", "--region", "CN_Hohhot_B", "--compute", "8fbdb61e-b941-46db-89f6-f8953b278ec9", "--image", "d32")
	if len(got) != 1 || !strings.HasPrefix(got[0], "d32af696-5774-4936-8f09-e9f4cf069b31\t") {
		t.Errorf("--image: got %q", got)
	}
}
