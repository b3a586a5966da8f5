package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	flag "github.com/spf13/pflag"
)

// Config is the emulator's configuration as command-line flags, whose
// defaults come from environment variables. Start from DefaultConfig or
// RegisterFlags (which also sets the defaults); the zero Config is invalid.
// String, GoString, LogValue and MarshalJSON hide the secret.
type Config struct {
	AccessKeyID     string // empty with AccessKeySecret: generate a pair
	AccessKeySecret string
	TaskDelay       time.Duration
	TimestampSkew   time.Duration
	MaxServers      int
	Faults          Faults
	FaultSeed       uint64 // 0: random

	envErr error // a bad environment variable, reported by Options
}

// DefaultConfig is the configuration of New with no options.
func DefaultConfig() Config {
	return Config{TaskDelay: DefaultTaskDelay, TimestampSkew: DefaultTimestampSkew, MaxServers: DefaultMaxServers}
}

// RegisterFlags sets c to the defaults, overridden by the environment, and
// registers flags on fs that override both:
//
//	--emulator-access-key-id      GPUBMS_EMULATOR_ACCESS_KEY_ID      (empty: generated)
//	--emulator-access-key-secret  GPUBMS_EMULATOR_ACCESS_KEY_SECRET  (empty: generated)
//	--emulator-task-delay         GPUBMS_EMULATOR_TASK_DELAY         3s
//	--emulator-timestamp-skew     GPUBMS_EMULATOR_TIMESTAMP_SKEW     15m
//	--emulator-max-servers        GPUBMS_EMULATOR_MAX_SERVERS        1000
//	--fault-latency               GPUBMS_EMULATOR_FAULT_LATENCY      0
//	--fault-error-rate            GPUBMS_EMULATOR_FAULT_ERROR_RATE   e.g. CreateGpuInstance=0.2,*=0.05
//	--fault-5xx-rate              GPUBMS_EMULATOR_FAULT_5XX_RATE     0
//	--fault-throttle-rate         GPUBMS_EMULATOR_FAULT_THROTTLE_RATE 0
//	--fault-malformed-rate        GPUBMS_EMULATOR_FAULT_MALFORMED_RATE 0
//	--fault-task-failure-rate     GPUBMS_EMULATOR_FAULT_TASK_FAILURE_RATE 0
//	--fault-seed                  GPUBMS_EMULATOR_FAULT_SEED         0 (random)
//
// A malformed environment variable is reported by Options. The secret is
// never shown as a flag default.
func (c *Config) RegisterFlags(fs *flag.FlagSet) { c.registerFlags(fs, os.Getenv) }

func (c *Config) registerFlags(fs *flag.FlagSet, getenv func(string) string) {
	*c = DefaultConfig()
	reg := func(v flag.Value, name, env, usage string) {
		if s := getenv(env); s != "" {
			if err := v.Set(s); err != nil {
				c.envErr = errors.Join(c.envErr, fmt.Errorf("emulator: %s: %w", env, err))
			}
		}
		fs.Var(v, name, usage+" (env "+env+")")
	}
	reg(textValue(&c.AccessKeyID), "emulator-access-key-id", "GPUBMS_EMULATOR_ACCESS_KEY_ID",
		"the only AccessKeyId the emulator accepts; empty: generate one")
	reg(secretValue(&c.AccessKeySecret), "emulator-access-key-secret", "GPUBMS_EMULATOR_ACCESS_KEY_SECRET",
		"its AccessKeySecret; prefer the environment variable to the flag")
	reg(durationValue(&c.TaskDelay), "emulator-task-delay", "GPUBMS_EMULATOR_TASK_DELAY",
		"how long an emulated task stays init")
	reg(durationValue(&c.TimestampSkew), "emulator-timestamp-skew", "GPUBMS_EMULATOR_TIMESTAMP_SKEW",
		"how far a request Timestamp may be from the clock")
	reg(value[int]{&c.MaxServers, strconv.Atoi, strconv.Itoa}, "emulator-max-servers", "GPUBMS_EMULATOR_MAX_SERVERS",
		"most emulated servers at once")
	reg(durationValue(&c.Faults.Latency), "fault-latency", "GPUBMS_EMULATOR_FAULT_LATENCY",
		"latency added to every emulator request")
	reg(value[map[string]float64]{&c.Faults.ErrorRate, parseRates, formatRates}, "fault-error-rate", "GPUBMS_EMULATOR_FAULT_ERROR_RATE",
		"InternalError rate per action, as Action=0.2,... (* for all actions)")
	reg(rateValue(&c.Faults.ServerErrorRate), "fault-5xx-rate", "GPUBMS_EMULATOR_FAULT_5XX_RATE",
		"rate of HTTP 503 replies")
	reg(rateValue(&c.Faults.ThrottleRate), "fault-throttle-rate", "GPUBMS_EMULATOR_FAULT_THROTTLE_RATE",
		"rate of HTTP 429 Throttling replies")
	reg(rateValue(&c.Faults.MalformedRate), "fault-malformed-rate", "GPUBMS_EMULATOR_FAULT_MALFORMED_RATE",
		"rate of replies that are not JSON")
	reg(rateValue(&c.Faults.TaskFailureRate), "fault-task-failure-rate", "GPUBMS_EMULATOR_FAULT_TASK_FAILURE_RATE",
		"rate of emulated tasks that fail")
	reg(rateValue(&c.Faults.ErrorStateRate), "fault-error-state-rate", "GPUBMS_EMULATOR_FAULT_ERROR_STATE_RATE",
		"rate of emulated tasks that fail leaving their servers in the error state")
	reg(value[uint64]{&c.FaultSeed, func(s string) (uint64, error) { return strconv.ParseUint(s, 10, 64) },
		func(n uint64) string { return strconv.FormatUint(n, 10) }}, "fault-seed", "GPUBMS_EMULATOR_FAULT_SEED",
		"seed of fault injection; 0: random")
}

// Options turns c into options for New, checked as New would check them.
func (c Config) Options() ([]Option, error) {
	if c.envErr != nil {
		return nil, c.envErr
	}
	opts := []Option{
		WithTaskDelay(c.TaskDelay), WithTimestampSkew(c.TimestampSkew),
		WithMaxServers(c.MaxServers), WithFaults(c.Faults),
	}
	if c.AccessKeyID != "" || c.AccessKeySecret != "" {
		opts = append(opts, WithCredentials(c.AccessKeyID, c.AccessKeySecret))
	}
	if c.FaultSeed != 0 {
		opts = append(opts, WithRand(mrand.New(mrand.NewPCG(c.FaultSeed, c.FaultSeed))))
	}
	if _, err := buildOptions(opts); err != nil {
		return nil, err
	}
	return opts, nil
}

// String describes c without the secret.
func (c Config) String() string {
	return fmt.Sprintf("emulator.Config{AccessKeyId:%q TaskDelay:%v TimestampSkew:%v MaxServers:%d Faults:%+v FaultSeed:%d}",
		c.AccessKeyID, c.TaskDelay, c.TimestampSkew, c.MaxServers, c.Faults, c.FaultSeed)
}

// GoString describes c without the secret (for %#v).
func (c Config) GoString() string { return c.String() }

// LogValue logs c without the secret.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalJSON encodes c with the secret, if any, replaced by REDACTED.
func (c Config) MarshalJSON() ([]byte, error) {
	type fields Config // the fields without the methods
	f := fields(c)
	if f.AccessKeySecret != "" {
		f.AccessKeySecret = "REDACTED"
	}
	return json.Marshal(f)
}

// value is a flag.Value over *p. Its zero value (which flag builds to find
// out whether a default is zero) prints as "".
type value[T any] struct {
	p      *T
	parse  func(string) (T, error)
	format func(T) string
}

func (v value[T]) Set(s string) error {
	x, err := v.parse(s)
	if err != nil {
		return err
	}
	*v.p = x
	return nil
}

func (v value[T]) String() string {
	if v.p == nil {
		return ""
	}
	return v.format(*v.p)
}

// Type names the value's kind in help output.
func (v value[T]) Type() string {
	switch any(v.p).(type) {
	case *time.Duration:
		return "duration"
	case *int:
		return "int"
	case *uint64:
		return "uint"
	case *float64:
		return "rate"
	case *map[string]float64:
		return "rates"
	}
	return "string"
}

func textValue(p *string) value[string] {
	return value[string]{p, func(s string) (string, error) { return s, nil }, func(s string) string { return s }}
}

func secretValue(p *string) value[string] {
	return value[string]{p, func(s string) (string, error) { return s, nil }, func(string) string { return "" }}
}

func durationValue(p *time.Duration) value[time.Duration] {
	return value[time.Duration]{p, time.ParseDuration, time.Duration.String}
}

func rateValue(p *float64) value[float64] {
	return value[float64]{p, parseRate, formatRate}
}

func parseRate(s string) (float64, error) {
	r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("rate %q is not a number", s)
	}
	if err := checkRate("rate", r); err != nil {
		return 0, err
	}
	return r, nil
}

func formatRate(r float64) string { return strconv.FormatFloat(r, 'g', -1, 64) }

// parseRates parses Action=rate pairs separated by commas; "" is none.
func parseRates(s string) (map[string]float64, error) {
	m := map[string]float64{}
	for pair := range strings.SplitSeq(s, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		name, rate, ok := strings.Cut(pair, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("%q is not Action=rate", pair)
		}
		if _, known := actions[name]; !known && name != "*" {
			return nil, fmt.Errorf("unknown action %q", name)
		}
		r, err := parseRate(rate)
		if err != nil {
			return nil, err
		}
		m[name] = r
	}
	return m, nil
}

func formatRates(m map[string]float64) string {
	var pairs []string
	for k, v := range m {
		pairs = append(pairs, k+"="+formatRate(v))
	}
	slices.Sort(pairs)
	return strings.Join(pairs, ",")
}
