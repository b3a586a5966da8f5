package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	flag "github.com/spf13/pflag"
)

func newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	var c Config
	c.registerFlags(newFlagSet(), envOf(nil))
	if c.TaskDelay != DefaultTaskDelay || c.TimestampSkew != DefaultTimestampSkew || c.MaxServers != DefaultMaxServers {
		t.Errorf("got %v, want the defaults", c)
	}
	opts, err := c.Options()
	if err != nil {
		t.Fatalf("Options: %v", err)
	}
	e, err := New(append(opts, WithLogger(discard))...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if e.Credentials().AccessKeyID == "" {
		t.Errorf("no credentials generated")
	}
	if _, err := (Config{}).Options(); err == nil {
		t.Errorf("zero Config: got no error, want one")
	}
}

func TestConfigEnvironmentAndFlags(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{
		"GPUBMS_EMULATOR_ACCESS_KEY_ID":       "AKENV",
		"GPUBMS_EMULATOR_ACCESS_KEY_SECRET":   "env-secret",
		"GPUBMS_EMULATOR_TASK_DELAY":          "5s",
		"GPUBMS_EMULATOR_FAULT_ERROR_RATE":    "CreateGpuInstance=0.2, *=0.05",
		"GPUBMS_EMULATOR_FAULT_THROTTLE_RATE": "0.1",
		"GPUBMS_EMULATOR_FAULT_SEED":          "42",
	})
	var c Config
	fs := newFlagSet()
	c.registerFlags(fs, env)
	if c.TaskDelay != 5*time.Second || c.AccessKeyID != "AKENV" || c.Faults.ThrottleRate != 0.1 || c.FaultSeed != 42 ||
		c.Faults.ErrorRate["CreateGpuInstance"] != 0.2 || c.Faults.ErrorRate["*"] != 0.05 {
		t.Fatalf("from the environment: got %v", c)
	}
	err := fs.Parse([]string{"--emulator-task-delay=1s", "--fault-5xx-rate=0.3", "--fault-latency=10ms",
		"--fault-error-rate=DescribeGpu=1", "--emulator-max-servers=7"})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Faults{Latency: 10 * time.Millisecond, ErrorRate: map[string]float64{"DescribeGpu": 1},
		ServerErrorRate: 0.3, ThrottleRate: 0.1}
	if c.TaskDelay != time.Second || c.MaxServers != 7 || fmt.Sprint(c.Faults) != fmt.Sprint(want) {
		t.Errorf("flags over the environment: got %v, want delay 1s, 7 servers, faults %+v", c, want)
	}
	opts, err := c.Options()
	if err != nil {
		t.Fatalf("Options: %v", err)
	}
	e, err := New(append(opts, WithLogger(discard))...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if got := e.Credentials(); got.AccessKeyID != "AKENV" || got.AccessKeySecret != "env-secret" {
		t.Errorf("credentials: got %v, want AKENV with the environment's secret", got)
	}
	if e.opts.taskDelay != time.Second || e.opts.maxServers != 7 || e.opts.faults.ServerErrorRate != 0.3 {
		t.Errorf("options: got delay %v, %d servers, 5xx %v", e.opts.taskDelay, e.opts.maxServers, e.opts.faults.ServerErrorRate)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	envs := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad delay", map[string]string{"GPUBMS_EMULATOR_TASK_DELAY": "soon"}, "GPUBMS_EMULATOR_TASK_DELAY"},
		{"rate above 1", map[string]string{"GPUBMS_EMULATOR_FAULT_5XX_RATE": "2"}, "GPUBMS_EMULATOR_FAULT_5XX_RATE"},
		{"unknown action", map[string]string{"GPUBMS_EMULATOR_FAULT_ERROR_RATE": "Reboot=0.1"}, "Reboot"},
		{"pair without rate", map[string]string{"GPUBMS_EMULATOR_FAULT_ERROR_RATE": "DescribeGpu"}, "Action=rate"},
		{"key without secret", map[string]string{"GPUBMS_EMULATOR_ACCESS_KEY_ID": "AK"}, "together"},
		{"negative delay", map[string]string{"GPUBMS_EMULATOR_TASK_DELAY": "-1s"}, "task delay"},
		{"too many servers", map[string]string{"GPUBMS_EMULATOR_MAX_SERVERS": "100000"}, "max servers"},
	}
	for _, tt := range envs {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var c Config
			c.registerFlags(newFlagSet(), envOf(tt.env))
			if _, err := c.Options(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Options: got %v, want an error mentioning %s", err, tt.want)
			}
		})
	}
	for _, arg := range []string{"--fault-throttle-rate=x", "--fault-malformed-rate=-0.1", "--emulator-max-servers=many", "--fault-error-rate=*=1.5"} {
		var c Config
		fs := newFlagSet()
		c.registerFlags(fs, envOf(nil))
		if err := fs.Parse([]string{arg}); err == nil {
			t.Errorf("Parse(%s): got no error, want one", arg)
		}
	}
}

func TestConfigHidesTheSecret(t *testing.T) {
	t.Parallel()
	const secret = "very-secret-env-value"
	var c Config
	fs := newFlagSet()
	var usage bytes.Buffer
	fs.SetOutput(&usage)
	c.registerFlags(fs, envOf(map[string]string{"GPUBMS_EMULATOR_ACCESS_KEY_ID": "AK", "GPUBMS_EMULATOR_ACCESS_KEY_SECRET": secret}))
	fs.PrintDefaults()
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "cfg", c)
	js, _ := json.Marshal(Credentials{AccessKeyID: c.AccessKeyID, AccessKeySecret: c.AccessKeySecret})
	cfgJSON, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("json.Marshal(Config): %v", err)
	}
	for _, s := range []string{usage.String(), logs.String(), c.String(), fmt.Sprintf("%v %+v %#v %s %q", c, c, c, c, c),
		fmt.Sprintf("%#v", struct{ Emulator Config }{c}), string(js), string(cfgJSON)} {
		if strings.Contains(s, secret) {
			t.Errorf("secret shown in %q", s)
		}
	}
	if !strings.Contains(usage.String(), "GPUBMS_EMULATOR_TASK_DELAY") {
		t.Errorf("usage does not name the environment variables:\n%s", usage.String())
	}
}
