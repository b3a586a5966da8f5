package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gpubms/gpubms/server/emulator"
	"github.com/gpubms/gpubms/server/upstream"
)

// Config is the server's whole configuration. Every field has a flag and an
// environment variable (the flag wins); see RegisterFlags and README.md.
type Config struct {
	// Provider credentials and endpoint.
	AccessKeyID     string
	AccessKeySecret upstream.Secret
	UpstreamURL     string

	// Listen addresses.
	GRPCAddr string
	HTTPAddr string

	// AuthToken, when set, is the bearer token every caller must present
	// (health and reflection stay open). Empty: no caller authentication.
	AuthToken upstream.Secret
	// RateLimit caps calls per second over the whole server (0: no cap).
	RateLimit float64

	// Task watching.
	WatchPollInterval time.Duration
	WatchHeartbeat    time.Duration
	WatchMaxDuration  time.Duration
	WatchMaxPollRate  float64

	// Emulator runs the embedded provider emulator and points the server at
	// it instead of the real provider.
	Emulator       bool
	EmulatorConfig emulator.Config

	// Metrics serves Prometheus metrics at GET /metrics on the HTTP port.
	// RegisterFlags defaults it to true; the zero Config has it off.
	Metrics bool

	LogLevel        slog.Level
	LogFormat       string // "text" or "json"
	ShutdownTimeout time.Duration

	// envErrs are environment variables that did not parse; Validate
	// reports them.
	envErrs []error
}

// Defaults.
const (
	DefaultGRPCAddr          = "127.0.0.1:9090"
	DefaultHTTPAddr          = "127.0.0.1:8080"
	DefaultWatchPollInterval = 5 * time.Second
	DefaultWatchHeartbeat    = 30 * time.Second
	DefaultWatchMaxDuration  = 6 * time.Hour
	DefaultWatchMaxPollRate  = 20
	DefaultShutdownTimeout   = 10 * time.Second
)

// RegisterFlags registers the configuration's flags on fs, each defaulting
// to its environment variable, then to the built-in default.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.AccessKeyID, "access-key-id", os.Getenv("GPUBMS_ACCESS_KEY_ID"), "provider access key id (GPUBMS_ACCESS_KEY_ID)")
	fs.Func("access-key-secret", "provider access key secret; prefer the environment variable (GPUBMS_ACCESS_KEY_SECRET)", func(s string) error {
		c.AccessKeySecret = upstream.Secret(s)
		return nil
	})
	c.AccessKeySecret = upstream.Secret(os.Getenv("GPUBMS_ACCESS_KEY_SECRET"))
	fs.StringVar(&c.UpstreamURL, "upstream-url", envOr("GPUBMS_UPSTREAM_URL", upstream.DefaultBaseURL), "provider base URL (GPUBMS_UPSTREAM_URL)")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", envOr("GPUBMS_GRPC_ADDR", DefaultGRPCAddr), "gRPC listen address (GPUBMS_GRPC_ADDR)")
	fs.StringVar(&c.HTTPAddr, "http-addr", envOr("GPUBMS_HTTP_ADDR", DefaultHTTPAddr), "HTTP/JSON listen address (GPUBMS_HTTP_ADDR)")
	fs.Func("auth-token", "bearer token callers must present; prefer the environment variable (GPUBMS_AUTH_TOKEN)", func(s string) error {
		c.AuthToken = upstream.Secret(s)
		return nil
	})
	c.AuthToken = upstream.Secret(os.Getenv("GPUBMS_AUTH_TOKEN"))
	fs.Float64Var(&c.RateLimit, "rate-limit", c.envFloat("GPUBMS_RATE_LIMIT", 0), "calls per second over the whole server, 0 for none (GPUBMS_RATE_LIMIT)")
	fs.DurationVar(&c.WatchPollInterval, "watch-poll-interval", c.envDuration("GPUBMS_WATCH_POLL_INTERVAL", DefaultWatchPollInterval), "how often a watched task is polled (GPUBMS_WATCH_POLL_INTERVAL)")
	fs.DurationVar(&c.WatchHeartbeat, "watch-heartbeat", c.envDuration("GPUBMS_WATCH_HEARTBEAT", DefaultWatchHeartbeat), "heartbeat interval of watch streams, 0 for none (GPUBMS_WATCH_HEARTBEAT)")
	fs.DurationVar(&c.WatchMaxDuration, "watch-max-duration", c.envDuration("GPUBMS_WATCH_MAX_DURATION", DefaultWatchMaxDuration), "longest a watch stream stays open (GPUBMS_WATCH_MAX_DURATION)")
	fs.Float64Var(&c.WatchMaxPollRate, "watch-max-poll-rate", c.envFloat("GPUBMS_WATCH_MAX_POLL_RATE", DefaultWatchMaxPollRate), "provider task polls per second over all watched tasks (GPUBMS_WATCH_MAX_POLL_RATE)")
	fs.BoolVar(&c.Emulator, "emulator", c.envBool("GPUBMS_EMULATOR", false), "serve against the embedded provider emulator instead of the provider (GPUBMS_EMULATOR)")
	c.EmulatorConfig.RegisterFlags(fs)
	fs.BoolVar(&c.Metrics, "metrics", c.envBool("GPUBMS_METRICS", true), "serve Prometheus metrics at /metrics on the HTTP port (GPUBMS_METRICS)")
	fs.Func("log-level", "debug, info, warn or error (GPUBMS_LOG_LEVEL)", func(s string) error {
		return c.LogLevel.UnmarshalText([]byte(s))
	})
	if err := c.LogLevel.UnmarshalText([]byte(envOr("GPUBMS_LOG_LEVEL", "info"))); err != nil {
		c.envErrs = append(c.envErrs, fmt.Errorf("GPUBMS_LOG_LEVEL: %w", err))
	}
	fs.StringVar(&c.LogFormat, "log-format", envOr("GPUBMS_LOG_FORMAT", "text"), "text or json (GPUBMS_LOG_FORMAT)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.envDuration("GPUBMS_SHUTDOWN_TIMEOUT", DefaultShutdownTimeout), "how long shutdown waits for calls in flight (GPUBMS_SHUTDOWN_TIMEOUT)")
}

// Validate reports the first problem with the configuration.
func (c *Config) Validate() error {
	errs := append([]error(nil), c.envErrs...)
	if !c.Emulator {
		if c.AccessKeyID == "" {
			errs = append(errs, errors.New("access key id is required (GPUBMS_ACCESS_KEY_ID), or run with --emulator"))
		}
		if c.AccessKeySecret == "" {
			errs = append(errs, errors.New("access key secret is required (GPUBMS_ACCESS_KEY_SECRET), or run with --emulator"))
		}
		if !strings.HasPrefix(c.UpstreamURL, "https://") && !strings.HasPrefix(c.UpstreamURL, "http://") {
			errs = append(errs, fmt.Errorf("upstream url %q must be http(s)", c.UpstreamURL))
		}
	}
	if c.GRPCAddr == "" || c.HTTPAddr == "" {
		errs = append(errs, errors.New("grpc and http addresses are required"))
	}
	if c.RateLimit < 0 || c.WatchMaxPollRate <= 0 {
		errs = append(errs, errors.New("rate limits must not be negative, and the watch poll rate must be positive"))
	}
	if c.WatchPollInterval <= 0 || c.WatchMaxDuration <= 0 || c.WatchHeartbeat < 0 {
		errs = append(errs, errors.New("watch intervals must be positive"))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log format %q is not text or json", c.LogFormat))
	}
	return errors.Join(errs...)
}

// Logger builds the process logger the configuration asks for.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	ho := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

func (c *Config) envDuration(key string, def time.Duration) time.Duration {
	return envParse(c, key, def, time.ParseDuration)
}

func (c *Config) envFloat(key string, def float64) float64 {
	return envParse(c, key, def, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) })
}

func (c *Config) envBool(key string, def bool) bool {
	return envParse(c, key, def, strconv.ParseBool)
}

// envParse reads environment variable key with parse; unset or empty gives
// def, and a value that does not parse is kept for Validate to report.
func envParse[T any](c *Config, key string, def T, parse func(string) (T, error)) T {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	x, err := parse(v)
	if err != nil {
		c.envErrs = append(c.envErrs, fmt.Errorf("%s: %w", key, err))
		return def
	}
	return x
}
