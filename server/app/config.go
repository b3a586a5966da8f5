package app

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	flag "github.com/spf13/pflag"
	"go.opentelemetry.io/otel/trace"

	"github.com/gpubms/gpubms/server/auth"
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
	// VPCURL is the provider's network (VPC) API, which FindNetworks and a
	// create's dry run read.
	VPCURL string
	// ZoneRegions names the network API's region code of the GPU regions
	// (zones) for which "the zone without its last _X part" does not hold.
	ZoneRegions map[string]string

	// Listen addresses.
	GRPCAddr string
	HTTPAddr string

	// Callers. AuthToken is one operator named "token", AuthTokens are
	// operators named "token-1", "token-2", ..., AuthTokensFile holds named
	// callers with roles ("NAME ROLE TOKEN" lines, re-read on Reload); all
	// add up. With none of them and no TLSClientCA, callers are not
	// authenticated.
	AuthToken      upstream.Secret
	AuthTokens     []upstream.Secret
	AuthTokensFile string
	// AllowUnauthenticated lets the server listen beyond loopback with no
	// caller authentication, which it otherwise refuses.
	AllowUnauthenticated bool
	// OpenRoutes says who may read /metrics and /openapi.json without
	// credentials when callers are authenticated: OpenLoopback, OpenAll
	// or OpenNone.
	OpenRoutes string

	// TLS on both listeners: the certificate and key files (re-read when
	// they change or on Reload), and the CA that verifies client
	// certificates (mTLS), whose callers get TLSClientRole unless the tokens
	// file names them.
	TLSCert       string
	TLSKey        string
	TLSClientCA   string
	TLSClientRole string

	// The JSON face's browser rules: the origins allowed cross-origin
	// (exact, e.g. https://console.example.com), and the Host names the
	// server answers to beyond its listen address, loopback names and IP
	// addresses ("name" for any port, or "name:port").
	CORSOrigins      []string
	HTTPAllowedHosts []string

	// Limits. HTTPMaxBodyBytes caps request bodies (and gRPC messages);
	// MaxConnections caps each listener's connections (0: derived from the
	// process's file limit); RateLimit caps calls per second over the whole
	// server and RateLimitPerCaller per caller (0: no cap);
	// MaxWatchesPerCaller caps each caller's open watch streams.
	HTTPMaxBodyBytes   int64
	MaxConnections     int
	RateLimit          float64
	RateLimitPerCaller float64
	// ProviderRateLimit caps the requests sent to the provider per second,
	// every call and attempt together (FindCapacity's fan-out included);
	// 0: no cap.
	ProviderRateLimit   float64
	MaxWatchesPerCaller int

	// Task watching.
	WatchPollInterval time.Duration
	WatchHeartbeat    time.Duration
	WatchMaxDuration  time.Duration
	WatchMaxPollRate  float64

	// Emulator runs the embedded provider emulator and points the server at
	// it instead of the real provider.
	Emulator       bool
	EmulatorConfig emulator.Config
	// RedisURL, when set (redis:// or rediss://, with user, password and
	// database), keeps every piece of shared state in that Redis, so that
	// several replicas behave as one; empty: the embedded bbolt store.
	RedisURL string

	// LeaseInterval is how often the lease executor looks at the leases;
	// zero: DefaultLeaseInterval.
	LeaseInterval time.Duration
	// DefaultLease, when positive, is the lease of every created server the
	// create gave none, acting with DefaultLeaseAction ("stop" or
	// "delete").
	DefaultLease       time.Duration
	DefaultLeaseAction string

	// ReadyInterval is how often readiness is checked (and the provider
	// probed when idle or failing); ready needs a provider answer within
	// three of them. Zero: DefaultReadyInterval.
	ReadyInterval time.Duration

	// TracerProvider, when set, traces calls (a test's in-memory exporter);
	// else OTEL_EXPORTER_OTLP_ENDPOINT decides (see tracing).
	TracerProvider trace.TracerProvider

	// EmulatorAddr is where the embedded emulator listens; empty: a free
	// loopback port.
	EmulatorAddr string

	// Metrics serves Prometheus metrics at GET /metrics on the HTTP port.
	// RegisterFlags defaults it to true; the zero Config has it off.
	Metrics bool

	LogLevel  slog.Level
	LogFormat string // "text" or "json"
	// LogCalls is LogCallsErrors (failed and slow calls only, the default;
	// metrics still count all) or LogCallsAll (a line per call: an access
	// log).
	LogCalls        string
	ShutdownTimeout time.Duration

	// The store of idempotency records and the audit trail: its directory
	// (default: $XDG_STATE_HOME/gpubms, else ~/.local/state/gpubms; with
	// the emulator, a temporary directory removed at exit), how long a
	// request_id is remembered, and how long audit events are kept.
	DataDir        string
	IdempotencyTTL time.Duration
	// MutationTimeout bounds a create, reinstall, power or delete once it
	// is handed to the provider, whatever its caller does.
	MutationTimeout time.Duration
	AuditRetention  time.Duration
	// MaxOrderPrice, a decimal in the provider's currency, optionally
	// followed by the currency ("5000", "5000 CN"), refuses creates quoted
	// above it, or in another currency (the spend guard). Empty: no guard.
	MaxOrderPrice string

	// The catalogue cache: off with Cache false; a TTL of 0 turns one kind
	// off. Server state (DescribeGpu, DescribeGpuDetail, DescribeGpuTask) is
	// never cached.
	Cache           bool
	CacheTTLRegions time.Duration
	CacheTTLImages  time.Duration
	CacheTTLGoods   time.Duration
	CacheTTLPrices  time.Duration
	// CacheTTLNetworks is how long VPC and subnet reads are cached (EIP
	// reads never are).
	CacheTTLNetworks time.Duration

	// Reload, when not nil, re-reads the tokens file and the TLS files at
	// each receive; Run connects it to SIGHUP. It is not a setting.
	Reload <-chan struct{}

	// envErrs are environment variables that did not parse; Validate
	// reports them.
	envErrs []error
}

// Who may read /metrics and /openapi.json without credentials.
const (
	OpenLoopback = "loopback" // callers connecting from a loopback address
	OpenAll      = "all"
	OpenNone     = "none"
)

// Defaults.
const (
	DefaultGRPCAddr          = "127.0.0.1:9090"
	DefaultHTTPAddr          = "127.0.0.1:8080"
	DefaultWatchPollInterval = 5 * time.Second
	DefaultWatchHeartbeat    = 30 * time.Second
	DefaultWatchMaxDuration  = 6 * time.Hour
	DefaultWatchMaxPollRate  = 20
	DefaultShutdownTimeout   = 10 * time.Second
	DefaultHTTPMaxBodyBytes  = 1 << 20
	DefaultMaxWatches        = 1000
	DefaultIdempotencyTTL    = 24 * time.Hour
	DefaultMutationTimeout   = 60 * time.Second
	DefaultCacheTTLRegions   = 10 * time.Minute
	DefaultCacheTTLImages    = 5 * time.Minute
	DefaultCacheTTLGoods     = 15 * time.Second // goods carry the stock
	DefaultCacheTTLPrices    = 5 * time.Minute
	DefaultCacheTTLNetworks  = 30 * time.Second
	DefaultReadyInterval     = 10 * time.Second
	DefaultLeaseInterval     = 15 * time.Second
	DefaultAuditRetention    = 90 * 24 * time.Hour
)

// RegisterFlags registers the configuration's flags on fs, each defaulting
// to its environment variable, then to the built-in default.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.RedisURL = os.Getenv("GPUBMS_REDIS_URL")
	fs.StringVar(&c.AccessKeyID, "access-key-id", os.Getenv("GPUBMS_ACCESS_KEY_ID"), "provider access key id (GPUBMS_ACCESS_KEY_ID)")
	fs.Func("access-key-secret", "provider access key secret; prefer the environment variable (GPUBMS_ACCESS_KEY_SECRET)", func(s string) error {
		c.AccessKeySecret = upstream.Secret(s)
		return nil
	})
	c.AccessKeySecret = upstream.Secret(os.Getenv("GPUBMS_ACCESS_KEY_SECRET"))
	fs.StringVar(&c.UpstreamURL, "upstream-url", envOr("GPUBMS_UPSTREAM_URL", upstream.DefaultBaseURL), "provider base URL (GPUBMS_UPSTREAM_URL)")
	fs.StringVar(&c.VPCURL, "vpc-url", envOr("GPUBMS_VPC_URL", upstream.DefaultVPCBaseURL), "provider network (VPC) API base URL (GPUBMS_VPC_URL)")
	fs.Func("zone-regions", "comma-separated ZONE=REGION_CODE pairs naming the network region of GPU regions the default rule (CN_Hohhot_B → CN_Hohhot) gets wrong (GPUBMS_ZONE_REGIONS)", func(s string) error {
		m, err := parseZoneRegions(s)
		c.ZoneRegions = m
		return err
	})
	c.ZoneRegions = envParse(c, "GPUBMS_ZONE_REGIONS", nil, parseZoneRegions)
	fs.StringVar(&c.GRPCAddr, "grpc-addr", envOr("GPUBMS_GRPC_ADDR", DefaultGRPCAddr), "gRPC listen address (GPUBMS_GRPC_ADDR)")
	fs.StringVar(&c.HTTPAddr, "http-addr", envOr("GPUBMS_HTTP_ADDR", DefaultHTTPAddr), "HTTP/JSON listen address (GPUBMS_HTTP_ADDR)")
	fs.Func("auth-token", "bearer token of the operator named token; prefer the environment variable (GPUBMS_AUTH_TOKEN)", func(s string) error {
		c.AuthToken = upstream.Secret(s)
		return nil
	})
	c.AuthToken = upstream.Secret(os.Getenv("GPUBMS_AUTH_TOKEN"))
	fs.Func("auth-tokens", "comma-separated bearer tokens of operators token-1, token-2, ...; prefer the environment variable (GPUBMS_AUTH_TOKENS)", func(s string) error {
		c.AuthTokens = secrets(s)
		return nil
	})
	c.AuthTokens = secrets(os.Getenv("GPUBMS_AUTH_TOKENS"))
	fs.StringVar(&c.AuthTokensFile, "auth-tokens-file", os.Getenv("GPUBMS_AUTH_TOKENS_FILE"), "file of callers, one \"NAME ROLE TOKEN\" a line, re-read on SIGHUP (GPUBMS_AUTH_TOKENS_FILE)")
	fs.BoolVar(&c.AllowUnauthenticated, "allow-unauthenticated", c.envBool("GPUBMS_ALLOW_UNAUTHENTICATED", false), "serve beyond loopback with no caller authentication (GPUBMS_ALLOW_UNAUTHENTICATED)")
	fs.StringVar(&c.OpenRoutes, "open-routes", envOr("GPUBMS_OPEN_ROUTES", OpenLoopback), "who may read /metrics and /openapi.json without credentials: loopback, all or none (GPUBMS_OPEN_ROUTES)")
	fs.StringVar(&c.TLSCert, "tls-cert", os.Getenv("GPUBMS_TLS_CERT"), "TLS certificate file (PEM) of both listeners (GPUBMS_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", os.Getenv("GPUBMS_TLS_KEY"), "TLS private key file (PEM) (GPUBMS_TLS_KEY)")
	fs.StringVar(&c.TLSClientCA, "tls-client-ca", os.Getenv("GPUBMS_TLS_CLIENT_CA"), "CA file (PEM) verifying client certificates; turns on mTLS (GPUBMS_TLS_CLIENT_CA)")
	fs.StringVar(&c.TLSClientRole, "tls-client-role", envOr("GPUBMS_TLS_CLIENT_ROLE", "reader"), "role of client certificates the tokens file does not name (GPUBMS_TLS_CLIENT_ROLE)")
	fs.Func("cors-origins", "comma-separated origins allowed to call the JSON API from a browser (GPUBMS_CORS_ORIGINS)", func(s string) error {
		c.CORSOrigins = list(s)
		return nil
	})
	c.CORSOrigins = list(os.Getenv("GPUBMS_CORS_ORIGINS"))
	fs.Func("http-allowed-hosts", "comma-separated Host names the HTTP port answers to beyond its address, loopback and IPs (GPUBMS_HTTP_ALLOWED_HOSTS)", func(s string) error {
		c.HTTPAllowedHosts = list(s)
		return nil
	})
	c.HTTPAllowedHosts = list(os.Getenv("GPUBMS_HTTP_ALLOWED_HOSTS"))
	fs.Int64Var(&c.HTTPMaxBodyBytes, "http-max-body-bytes", c.envInt64("GPUBMS_HTTP_MAX_BODY_BYTES", DefaultHTTPMaxBodyBytes), "largest HTTP request body, and gRPC request message (GPUBMS_HTTP_MAX_BODY_BYTES)")
	fs.IntVar(&c.MaxConnections, "max-connections", int(c.envInt64("GPUBMS_MAX_CONNECTIONS", 0)), "connections per listener, 0 for a quarter of the file limit (GPUBMS_MAX_CONNECTIONS)")
	fs.Float64Var(&c.ProviderRateLimit, "provider-rate-limit", c.envFloat("GPUBMS_PROVIDER_RATE_LIMIT", 0), "requests per second sent to the provider, every call and retry together, 0 for no cap (GPUBMS_PROVIDER_RATE_LIMIT)")
	fs.Float64Var(&c.RateLimit, "rate-limit", c.envFloat("GPUBMS_RATE_LIMIT", 0), "calls per second over the whole server, 0 for none (GPUBMS_RATE_LIMIT)")
	fs.Float64Var(&c.RateLimitPerCaller, "rate-limit-per-caller", c.envFloat("GPUBMS_RATE_LIMIT_PER_CALLER", 0), "calls per second of each caller, 0 for none (GPUBMS_RATE_LIMIT_PER_CALLER)")
	fs.IntVar(&c.MaxWatchesPerCaller, "max-watches-per-caller", int(c.envInt64("GPUBMS_MAX_WATCHES_PER_CALLER", DefaultMaxWatches)), "open watch streams per caller, 0 for no cap (GPUBMS_MAX_WATCHES_PER_CALLER)")
	fs.DurationVar(&c.WatchPollInterval, "watch-poll-interval", c.envDuration("GPUBMS_WATCH_POLL_INTERVAL", DefaultWatchPollInterval), "how often a watched task is polled (GPUBMS_WATCH_POLL_INTERVAL)")
	fs.DurationVar(&c.WatchHeartbeat, "watch-heartbeat", c.envDuration("GPUBMS_WATCH_HEARTBEAT", DefaultWatchHeartbeat), "heartbeat interval of watch streams, 0 for none (GPUBMS_WATCH_HEARTBEAT)")
	fs.DurationVar(&c.WatchMaxDuration, "watch-max-duration", c.envDuration("GPUBMS_WATCH_MAX_DURATION", DefaultWatchMaxDuration), "longest a watch stream stays open (GPUBMS_WATCH_MAX_DURATION)")
	fs.Float64Var(&c.WatchMaxPollRate, "watch-max-poll-rate", c.envFloat("GPUBMS_WATCH_MAX_POLL_RATE", DefaultWatchMaxPollRate), "provider task polls per second over all watched tasks (GPUBMS_WATCH_MAX_POLL_RATE)")
	fs.StringVar(&c.DataDir, "data-dir", os.Getenv("GPUBMS_DATA_DIR"), "directory of the store (GPUBMS_DATA_DIR; default $XDG_STATE_HOME/gpubms, else ~/.local/state/gpubms; a temporary one with --emulator)")
	fs.DurationVar(&c.IdempotencyTTL, "idempotency-ttl", c.envDuration("GPUBMS_IDEMPOTENCY_TTL", DefaultIdempotencyTTL), "how long a request_id is remembered (GPUBMS_IDEMPOTENCY_TTL)")
	fs.DurationVar(&c.MutationTimeout, "mutation-timeout", c.envDuration("GPUBMS_MUTATION_TIMEOUT", DefaultMutationTimeout), "how long a mutating call handed to the provider may run (GPUBMS_MUTATION_TIMEOUT)")
	fs.Func("audit-retention", "how long audit events are kept, e.g. 90d or 720h (GPUBMS_AUDIT_RETENTION; default 90d)", func(s string) error {
		d, err := parseDays(s)
		c.AuditRetention = d
		return err
	})
	c.AuditRetention = envParse(c, "GPUBMS_AUDIT_RETENTION", DefaultAuditRetention, parseDays)
	fs.StringVar(&c.MaxOrderPrice, "max-order-price", os.Getenv("GPUBMS_MAX_ORDER_PRICE"), "refuse creates quoted above this amount: a decimal, optionally with the currency, e.g. 5000 or \"5000 CN\" (GPUBMS_MAX_ORDER_PRICE)")
	fs.BoolVar(&c.Cache, "cache", c.envBool("GPUBMS_CACHE", true), "cache catalogue reads: regions, goods, images, prices, networks (GPUBMS_CACHE)")
	fs.DurationVar(&c.CacheTTLRegions, "cache-ttl-regions", c.envDuration("GPUBMS_CACHE_TTL_REGIONS", DefaultCacheTTLRegions), "how long regions are cached, 0 for not at all (GPUBMS_CACHE_TTL_REGIONS)")
	fs.DurationVar(&c.CacheTTLImages, "cache-ttl-images", c.envDuration("GPUBMS_CACHE_TTL_IMAGES", DefaultCacheTTLImages), "how long images are cached (GPUBMS_CACHE_TTL_IMAGES)")
	fs.DurationVar(&c.CacheTTLGoods, "cache-ttl-goods", c.envDuration("GPUBMS_CACHE_TTL_GOODS", DefaultCacheTTLGoods), "how long goods, with their stock, are cached (GPUBMS_CACHE_TTL_GOODS)")
	fs.DurationVar(&c.CacheTTLPrices, "cache-ttl-prices", c.envDuration("GPUBMS_CACHE_TTL_PRICES", DefaultCacheTTLPrices), "how long prices are cached (GPUBMS_CACHE_TTL_PRICES)")
	fs.DurationVar(&c.CacheTTLNetworks, "cache-ttl-networks", c.envDuration("GPUBMS_CACHE_TTL_NETWORKS", DefaultCacheTTLNetworks), "how long VPC and subnet reads are cached (GPUBMS_CACHE_TTL_NETWORKS)")
	fs.BoolVar(&c.Emulator, "emulator", c.envBool("GPUBMS_EMULATOR", false), "serve against the embedded provider emulator instead of the provider (GPUBMS_EMULATOR)")
	fs.Func("redis-url", "Redis holding the state several replicas share, redis://[user:password@]host:port/db; prefer the environment variable (GPUBMS_REDIS_URL)", func(v string) error {
		c.RedisURL = v
		return nil
	})
	fs.DurationVar(&c.LeaseInterval, "lease-interval", c.envDuration("GPUBMS_LEASE_INTERVAL", DefaultLeaseInterval), "how often the lease executor looks at the leases (GPUBMS_LEASE_INTERVAL)")
	fs.DurationVar(&c.DefaultLease, "default-lease", c.envDuration("GPUBMS_DEFAULT_LEASE", 0), "a lease on every created server the create gave none, e.g. 24h; 0: none (GPUBMS_DEFAULT_LEASE)")
	fs.StringVar(&c.DefaultLeaseAction, "default-lease-action", envOr("GPUBMS_DEFAULT_LEASE_ACTION", "stop"), "what the default lease does: stop or delete (GPUBMS_DEFAULT_LEASE_ACTION)")
	fs.DurationVar(&c.ReadyInterval, "ready-interval", c.envDuration("GPUBMS_READY_INTERVAL", DefaultReadyInterval), "how often readiness is checked and an idle or failing provider probed; /readyz needs a provider answer within three (GPUBMS_READY_INTERVAL)")
	fs.StringVar(&c.EmulatorAddr, "emulator-addr", os.Getenv("GPUBMS_EMULATOR_ADDR"), "where the embedded emulator listens; empty: a free loopback port (GPUBMS_EMULATOR_ADDR)")
	c.EmulatorConfig.RegisterFlags(fs)
	fs.BoolVar(&c.Metrics, "metrics", c.envBool("GPUBMS_METRICS", true), "serve Prometheus metrics at /metrics on the HTTP port (GPUBMS_METRICS)")
	fs.Func("log-level", "debug, info, warn or error (GPUBMS_LOG_LEVEL)", func(s string) error {
		return c.LogLevel.UnmarshalText([]byte(s))
	})
	if err := c.LogLevel.UnmarshalText([]byte(envOr("GPUBMS_LOG_LEVEL", "info"))); err != nil {
		c.envErrs = append(c.envErrs, fmt.Errorf("GPUBMS_LOG_LEVEL: %w", err))
	}
	fs.StringVar(&c.LogCalls, "log-calls", envOr("GPUBMS_LOG_CALLS", LogCallsErrors), "which calls are logged: errors (failed, and slower than 1s), or all (an access log) (GPUBMS_LOG_CALLS)")
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
			errs = append(errs, errors.New("upstream url (GPUBMS_UPSTREAM_URL) must be http(s)"))
		}
		if !strings.HasPrefix(c.VPCURL, "https://") && !strings.HasPrefix(c.VPCURL, "http://") {
			errs = append(errs, errors.New("vpc url (GPUBMS_VPC_URL) must be http(s)"))
		}
	}
	switch c.DefaultLeaseAction {
	case "", "stop", "delete":
	default:
		errs = append(errs, fmt.Errorf("default lease action %q is not stop or delete (GPUBMS_DEFAULT_LEASE_ACTION)", c.DefaultLeaseAction))
	}
	if c.DefaultLease < 0 {
		errs = append(errs, errors.New("the default lease cannot be negative (GPUBMS_DEFAULT_LEASE)"))
	}
	if c.LeaseInterval != 0 && c.LeaseInterval < 10*time.Millisecond {
		errs = append(errs, errors.New("the lease interval must be at least 10ms (GPUBMS_LEASE_INTERVAL)"))
	}
	if c.ReadyInterval != 0 && c.ReadyInterval < 10*time.Millisecond {
		errs = append(errs, errors.New("the readiness interval must be at least 10ms (GPUBMS_READY_INTERVAL)"))
	}
	if c.GRPCAddr == "" || c.HTTPAddr == "" {
		errs = append(errs, errors.New("grpc and http addresses are required"))
	}
	if c.RateLimit < 0 || c.RateLimitPerCaller < 0 || c.WatchMaxPollRate <= 0 || c.ProviderRateLimit < 0 {
		errs = append(errs, errors.New("rate limits must not be negative, and the watch poll rate must be positive"))
	}
	if c.HTTPMaxBodyBytes < 0 || c.MaxConnections < 0 || c.MaxWatchesPerCaller < 0 {
		errs = append(errs, errors.New("the body limit and the connection and watch caps must not be negative"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("TLS needs both a certificate and a key (GPUBMS_TLS_CERT, GPUBMS_TLS_KEY)"))
	}
	if c.TLSClientCA != "" && c.TLSCert == "" {
		errs = append(errs, errors.New("client certificates (GPUBMS_TLS_CLIENT_CA) need TLS: set GPUBMS_TLS_CERT and GPUBMS_TLS_KEY"))
	}
	if _, err := auth.ParseRole(c.TLSClientRole); err != nil && c.TLSClientRole != "" {
		errs = append(errs, fmt.Errorf("GPUBMS_TLS_CLIENT_ROLE: %w", err))
	}
	if c.CacheTTLRegions < 0 || c.CacheTTLImages < 0 || c.CacheTTLGoods < 0 || c.CacheTTLPrices < 0 || c.CacheTTLNetworks < 0 {
		errs = append(errs, errors.New("cache TTLs must not be negative"))
	}
	if c.IdempotencyTTL < 0 || c.AuditRetention < 0 || c.MutationTimeout < 0 {
		errs = append(errs, errors.New("the idempotency TTL, the mutation timeout and the audit retention must not be negative"))
	}
	if _, _, err := c.maxOrderPrice(); err != nil {
		errs = append(errs, err)
	}
	switch c.OpenRoutes {
	case "", OpenLoopback, OpenAll, OpenNone:
	default:
		errs = append(errs, fmt.Errorf("open routes %q is not loopback, all or none", c.OpenRoutes))
	}
	for _, o := range c.CORSOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
			errs = append(errs, fmt.Errorf("CORS origin %q is not scheme://host[:port]", o))
		}
	}
	if c.WatchPollInterval <= 0 || c.WatchMaxDuration <= 0 || c.WatchHeartbeat < 0 {
		errs = append(errs, errors.New("watch intervals must be positive"))
	}
	switch c.LogCalls {
	case "", LogCallsAll, LogCallsErrors:
	default:
		errs = append(errs, fmt.Errorf("log calls %q is not all or errors", c.LogCalls))
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

func (c *Config) envInt64(key string, def int64) int64 {
	return envParse(c, key, def, func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) })
}

// parseDays is time.ParseDuration, plus whole days ("90d").
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// parseZoneRegions reads "ZONE=REGION_CODE,..." pairs.
func parseZoneRegions(s string) (map[string]string, error) {
	m := map[string]string{}
	for _, pair := range list(s) {
		zone, rc, ok := strings.Cut(pair, "=")
		zone, rc = strings.TrimSpace(zone), strings.TrimSpace(rc)
		if !ok || zone == "" || rc == "" {
			return nil, fmt.Errorf("%q is not ZONE=REGION_CODE", pair)
		}
		if _, dup := m[zone]; dup {
			return nil, fmt.Errorf("zone %s named twice", zone)
		}
		m[zone] = rc
	}
	return m, nil
}

// maxOrderPrice is MaxOrderPrice as a number (nil when unset) and its
// currency ("" for any).
func (c *Config) maxOrderPrice() (*big.Rat, string, error) {
	if c.MaxOrderPrice == "" {
		return nil, "", nil
	}
	m := priceLimit.FindStringSubmatch(strings.TrimSpace(c.MaxOrderPrice))
	if m == nil {
		return nil, "", fmt.Errorf("GPUBMS_MAX_ORDER_PRICE %q is not an amount such as 5000, 1234.50 or \"5000 CN\"", c.MaxOrderPrice)
	}
	r, _ := new(big.Rat).SetString(m[1])
	return r, m[2], nil
}

var priceLimit = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)(?:\s+([A-Z]{2,3}))?$`)

// dataDir is the store's directory, and a function that removes it when
// it is a temporary one.
func (c *Config) dataDir() (string, func(), error) {
	if c.DataDir != "" {
		return c.DataDir, func() {}, nil
	}
	if c.Emulator {
		d, err := os.MkdirTemp("", "gpubms-emulator-")
		if err != nil {
			return "", nil, err
		}
		return d, func() { _ = os.RemoveAll(d) }, nil
	}
	if x := os.Getenv("XDG_STATE_HOME"); x != "" {
		return filepath.Join(x, "gpubms"), func() {}, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", nil, fmt.Errorf("no data directory: set GPUBMS_DATA_DIR (%w)", err)
	}
	return filepath.Join(home, ".local", "state", "gpubms"), func() {}, nil
}

// list splits a comma-separated value, dropping blanks.
func list(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func secrets(s string) []upstream.Secret {
	var out []upstream.Secret
	for _, v := range list(s) {
		out = append(out, upstream.Secret(v))
	}
	return out
}

// authConfig is the callers' part of the configuration.
func (c *Config) authConfig() auth.Config {
	role, _ := auth.ParseRole(c.TLSClientRole)
	ac := auth.Config{
		Token:           string(c.AuthToken),
		File:            c.AuthTokensFile,
		Certificates:    c.TLSClientCA != "",
		CertificateRole: role,
	}
	for _, t := range c.AuthTokens {
		ac.Tokens = append(ac.Tokens, string(t))
	}
	return ac
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
