package app

import (
	"fmt"
	"io"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	flag "github.com/spf13/pflag"
)

func parse(t *testing.T, args ...string) (Config, error) {
	t.Helper()
	var c Config
	fs := flag.NewFlagSet("gpubmsd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return c, c.Validate()
}

func TestConfigDefaults(t *testing.T) {
	t.Setenv("GPUBMS_EMULATOR", "1")
	c, err := parse(t)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if c.GRPCAddr != DefaultGRPCAddr || c.HTTPAddr != DefaultHTTPAddr {
		t.Errorf("addresses = %s, %s; want %s, %s", c.GRPCAddr, c.HTTPAddr, DefaultGRPCAddr, DefaultHTTPAddr)
	}
	if c.UpstreamURL != "https://api.capitalonline.net/gpubms/v1" {
		t.Errorf("upstream url = %q", c.UpstreamURL)
	}
	if c.VPCURL != "https://cdsapi.capitalonline.net/vpc" || c.CacheTTLNetworks != DefaultCacheTTLNetworks || len(c.ZoneRegions) != 0 {
		t.Errorf("vpc url = %q, network TTL %v, zone regions %v", c.VPCURL, c.CacheTTLNetworks, c.ZoneRegions)
	}
	if !c.Emulator || c.WatchPollInterval != DefaultWatchPollInterval || c.WatchHeartbeat != DefaultWatchHeartbeat {
		t.Errorf("got emulator %v, poll %v, heartbeat %v", c.Emulator, c.WatchPollInterval, c.WatchHeartbeat)
	}
}

func TestConfigEnvAndFlags(t *testing.T) {
	t.Setenv("GPUBMS_ACCESS_KEY_ID", "AKID")
	t.Setenv("GPUBMS_ACCESS_KEY_SECRET", "env-secret")
	t.Setenv("GPUBMS_GRPC_ADDR", "127.0.0.1:7000")
	t.Setenv("GPUBMS_WATCH_POLL_INTERVAL", "200ms")
	c, err := parse(t, "--grpc-addr", "127.0.0.1:7001", "--access-key-secret", "flag-secret")
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if c.GRPCAddr != "127.0.0.1:7001" {
		t.Errorf("flag should win over env: grpc addr = %s", c.GRPCAddr)
	}
	if c.AccessKeyID != "AKID" || string(c.AccessKeySecret) != "flag-secret" {
		t.Errorf("credentials = %q, %q", c.AccessKeyID, string(c.AccessKeySecret))
	}
	if c.WatchPollInterval != 200*time.Millisecond {
		t.Errorf("poll interval = %v, want 200ms", c.WatchPollInterval)
	}
}

func TestConfigNetworks(t *testing.T) {
	t.Setenv("GPUBMS_EMULATOR", "1")
	t.Setenv("GPUBMS_VPC_URL", "https://vpc.example/vpc")
	t.Setenv("GPUBMS_ZONE_REGIONS", "CN_Hohhot_B=CN_Hohhot2, EU_Frankfurt_A = EU_Frankfurt")
	t.Setenv("GPUBMS_CACHE_TTL_NETWORKS", "5s")
	c, err := parse(t)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := map[string]string{"CN_Hohhot_B": "CN_Hohhot2", "EU_Frankfurt_A": "EU_Frankfurt"}
	if c.VPCURL != "https://vpc.example/vpc" || c.CacheTTLNetworks != 5*time.Second || !maps.Equal(c.ZoneRegions, want) {
		t.Errorf("got %q %v %v, want the environment's", c.VPCURL, c.CacheTTLNetworks, c.ZoneRegions)
	}
	c, err = parse(t, "--zone-regions", "X_A=Y")
	if err != nil || !maps.Equal(c.ZoneRegions, map[string]string{"X_A": "Y"}) {
		t.Errorf("flag: got %v, %v; want it to replace the environment's", c.ZoneRegions, err)
	}
}

func TestConfigMetrics(t *testing.T) {
	tests := []struct {
		name string
		env  string
		args []string
		want bool
	}{
		{"on by default", "", nil, true},
		{"off by env", "false", nil, false},
		{"off by flag", "", []string{"--metrics=false"}, false},
		{"flag wins over env", "0", []string{"--metrics"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GPUBMS_EMULATOR", "1")
			t.Setenv("GPUBMS_METRICS", tt.env)
			c, err := parse(t, tt.args...)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if c.Metrics != tt.want {
				t.Errorf("got Metrics %v, want %v", c.Metrics, tt.want)
			}
		})
	}
	t.Run("bad bool in env", func(t *testing.T) {
		t.Setenv("GPUBMS_EMULATOR", "1")
		t.Setenv("GPUBMS_METRICS", "sometimes")
		if _, err := parse(t); err == nil || !strings.Contains(err.Error(), "GPUBMS_METRICS") {
			t.Errorf("Validate = %v, want an error naming GPUBMS_METRICS", err)
		}
	})
}

func TestConfigRejects(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no credentials without emulator", nil, nil, "GPUBMS_ACCESS_KEY_ID"},
		{"bad duration in env", map[string]string{"GPUBMS_EMULATOR": "1", "GPUBMS_WATCH_POLL_INTERVAL": "5"}, nil, "GPUBMS_WATCH_POLL_INTERVAL"},
		{"bad bool in env", map[string]string{"GPUBMS_EMULATOR": "maybe"}, nil, "GPUBMS_EMULATOR"},
		{"bad log format", map[string]string{"GPUBMS_EMULATOR": "1"}, []string{"--log-format", "xml"}, "log format"},
		{"bad upstream scheme", map[string]string{"GPUBMS_ACCESS_KEY_ID": "a", "GPUBMS_ACCESS_KEY_SECRET": "b"}, []string{"--upstream-url", "ftp://x"}, "must be http(s)"},
		{"bad vpc scheme", map[string]string{"GPUBMS_ACCESS_KEY_ID": "a", "GPUBMS_ACCESS_KEY_SECRET": "b"}, []string{"--vpc-url", "ftp://x"}, "vpc url"},
		{"zone regions without =", map[string]string{"GPUBMS_EMULATOR": "1", "GPUBMS_ZONE_REGIONS": "CN_Hohhot_B"}, nil, "GPUBMS_ZONE_REGIONS"},
		{"zone named twice", map[string]string{"GPUBMS_EMULATOR": "1", "GPUBMS_ZONE_REGIONS": "A_B=A,A_B=C"}, nil, "named twice"},
		{"negative network TTL", map[string]string{"GPUBMS_EMULATOR": "1"}, []string{"--cache-ttl-networks", "-1s"}, "cache TTLs"},
		{"zero poll interval", map[string]string{"GPUBMS_EMULATOR": "1"}, []string{"--watch-poll-interval", "0s"}, "watch intervals"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"GPUBMS_ACCESS_KEY_ID", "GPUBMS_ACCESS_KEY_SECRET", "GPUBMS_EMULATOR", "GPUBMS_WATCH_POLL_INTERVAL", "GPUBMS_ZONE_REGIONS"} {
				t.Setenv(k, "")
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := parse(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestConfigHidesSecrets: neither the help text nor a printed Config shows
// the provider secret or the auth token.
func TestConfigHidesSecrets(t *testing.T) {
	t.Setenv("GPUBMS_ACCESS_KEY_ID", "AKID")
	t.Setenv("GPUBMS_ACCESS_KEY_SECRET", "very-secret-value")
	t.Setenv("GPUBMS_AUTH_TOKEN", "very-secret-token")
	t.Setenv("GPUBMS_AUTH_TOKENS", "very-secret-bare-one,very-secret-bare-two")
	var c Config
	fs := flag.NewFlagSet("gpubmsd", flag.ContinueOnError)
	var help strings.Builder
	fs.SetOutput(&help)
	c.RegisterFlags(fs)
	fs.PrintDefaults()
	printed := help.String() + fmt.Sprintf(" %v %+v %#v", c, c, c)
	for _, secret := range []string{"very-secret-value", "very-secret-token", "very-secret-bare-one", "very-secret-bare-two"} {
		if strings.Contains(printed, secret) {
			t.Errorf("%q shown in help or String()", secret)
		}
	}
}

func TestConfigDoor(t *testing.T) {
	t.Setenv("GPUBMS_EMULATOR", "1")
	t.Setenv("GPUBMS_AUTH_TOKENS", " first-token-0123456789, ,second-token-0123456789 ")
	t.Setenv("GPUBMS_AUTH_TOKENS_FILE", "/etc/gpubms/tokens")
	t.Setenv("GPUBMS_CORS_ORIGINS", "https://console.example,http://localhost:3000")
	t.Setenv("GPUBMS_HTTP_ALLOWED_HOSTS", "gpubms.internal")
	t.Setenv("GPUBMS_HTTP_MAX_BODY_BYTES", "4096")
	t.Setenv("GPUBMS_MAX_CONNECTIONS", "50")
	t.Setenv("GPUBMS_RATE_LIMIT_PER_CALLER", "2.5")
	t.Setenv("GPUBMS_MAX_WATCHES_PER_CALLER", "7")
	t.Setenv("GPUBMS_TLS_CERT", "/tls/crt")
	t.Setenv("GPUBMS_TLS_KEY", "/tls/key")
	t.Setenv("GPUBMS_TLS_CLIENT_CA", "/tls/ca")
	t.Setenv("GPUBMS_TLS_CLIENT_ROLE", "operator")
	t.Setenv("GPUBMS_ALLOW_UNAUTHENTICATED", "true")
	t.Setenv("GPUBMS_OPEN_ROUTES", "none")
	c, err := parse(t, "--max-watches-per-caller", "8")
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if len(c.AuthTokens) != 2 || string(c.AuthTokens[0]) != "first-token-0123456789" || string(c.AuthTokens[1]) != "second-token-0123456789" {
		t.Errorf("AuthTokens: got %d tokens, want the two named", len(c.AuthTokens))
	}
	got := fmt.Sprintf("%s|%v|%v|%d|%d|%g|%d|%s|%s|%s|%s|%v|%s", c.AuthTokensFile, c.CORSOrigins, c.HTTPAllowedHosts,
		c.HTTPMaxBodyBytes, c.MaxConnections, c.RateLimitPerCaller, c.MaxWatchesPerCaller,
		c.TLSCert, c.TLSKey, c.TLSClientCA, c.TLSClientRole, c.AllowUnauthenticated, c.OpenRoutes)
	want := "/etc/gpubms/tokens|[https://console.example http://localhost:3000]|[gpubms.internal]|4096|50|2.5|8|/tls/crt|/tls/key|/tls/ca|operator|true|none"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	ac := c.authConfig()
	if ac.Token != "" || len(ac.Tokens) != 2 || ac.File != "/etc/gpubms/tokens" || !ac.Certificates || ac.CertificateRole.String() != "operator" {
		t.Errorf("authConfig: got file %q, %d tokens, certificates %v as %s", ac.File, len(ac.Tokens), ac.Certificates, ac.CertificateRole)
	}
}

func TestConfigDoorDefaults(t *testing.T) {
	t.Setenv("GPUBMS_EMULATOR", "1")
	c, err := parse(t)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if c.HTTPMaxBodyBytes != 1<<20 || c.MaxConnections != 0 || c.MaxWatchesPerCaller != DefaultMaxWatches ||
		c.TLSClientRole != "reader" || c.OpenRoutes != OpenLoopback || c.AllowUnauthenticated || c.authConfig().Enabled() {
		t.Errorf("got body %d, conns %d, watches %d, client role %q, open %q, allow %v, auth %v",
			c.HTTPMaxBodyBytes, c.MaxConnections, c.MaxWatchesPerCaller, c.TLSClientRole, c.OpenRoutes, c.AllowUnauthenticated, c.authConfig().Enabled())
	}
}

func TestConfigRejectsDoor(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"certificate without key", []string{"--tls-cert", "c"}, "both a certificate and a key"},
		{"client CA without TLS", []string{"--tls-client-ca", "ca"}, "need TLS"},
		{"unknown client role", []string{"--tls-client-role", "admin"}, "GPUBMS_TLS_CLIENT_ROLE"},
		{"unknown open routes", []string{"--open-routes", "some"}, "open routes"},
		{"CORS origin with a path", []string{"--cors-origins", "https://a.example/app"}, "CORS origin"},
		{"CORS origin without scheme", []string{"--cors-origins", "a.example"}, "CORS origin"},
		{"negative body limit", []string{"--http-max-body-bytes", "-1"}, "must not be negative"},
		{"negative per-caller rate", []string{"--rate-limit-per-caller", "-1"}, "rate limits"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GPUBMS_EMULATOR", "1")
			_, err := parse(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestConfigStore(t *testing.T) {
	t.Setenv("GPUBMS_EMULATOR", "1")
	t.Setenv("GPUBMS_DATA_DIR", "/var/lib/gpubms")
	t.Setenv("GPUBMS_IDEMPOTENCY_TTL", "2h")
	t.Setenv("GPUBMS_AUDIT_RETENTION", "30d")
	t.Setenv("GPUBMS_MAX_ORDER_PRICE", "5000.50")
	c, err := parse(t)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if c.DataDir != "/var/lib/gpubms" || c.IdempotencyTTL != 2*time.Hour || c.AuditRetention != 30*24*time.Hour {
		t.Errorf("got dir %q, ttl %v, retention %v", c.DataDir, c.IdempotencyTTL, c.AuditRetention)
	}
	if r, cur, err := c.maxOrderPrice(); err != nil || r.FloatString(2) != "5000.50" || cur != "" {
		t.Errorf("max order price: %v %q, %v", r, cur, err)
	}
	c.MaxOrderPrice = "1200 CN"
	if r, cur, err := c.maxOrderPrice(); err != nil || r.FloatString(0) != "1200" || cur != "CN" {
		t.Errorf("max order price with a currency: %v %q, %v", r, cur, err)
	}
	if c, _ := parse(t, "--audit-retention", "720h"); c.AuditRetention != 720*time.Hour {
		t.Errorf("--audit-retention 720h: got %v", c.AuditRetention)
	}

	t.Setenv("GPUBMS_DATA_DIR", "")
	t.Setenv("XDG_STATE_HOME", "/state")
	c, _ = parse(t)
	if dir, cleanup, err := c.dataDir(); err != nil || !strings.HasPrefix(dir, os.TempDir()) {
		t.Errorf("emulator without GPUBMS_DATA_DIR: got %q, %v; want a temporary directory", dir, err)
	} else {
		cleanup()
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("the temporary data directory %s is left behind", dir)
		}
	}
	c.Emulator = false
	if dir, _, _ := c.dataDir(); dir != "/state/gpubms" {
		t.Errorf("with XDG_STATE_HOME: got %q, want /state/gpubms", dir)
	}

	for _, bad := range []string{"lots", "-1", "1/3", "1e3", "0x1p20", "5000 cn"} {
		t.Setenv("GPUBMS_MAX_ORDER_PRICE", bad)
		if _, err := parse(t); err == nil || !strings.Contains(err.Error(), "GPUBMS_MAX_ORDER_PRICE") {
			t.Errorf("GPUBMS_MAX_ORDER_PRICE=%q: %v, want an error naming it", bad, err)
		}
	}
	t.Setenv("GPUBMS_MAX_ORDER_PRICE", "")
	t.Setenv("GPUBMS_AUDIT_RETENTION", "ninety days")
	if _, err := parse(t); err == nil || !strings.Contains(err.Error(), "GPUBMS_AUDIT_RETENTION") {
		t.Errorf("bad retention: %v, want an error naming GPUBMS_AUDIT_RETENTION", err)
	}
}
