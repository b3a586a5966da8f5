package emulator

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"time"
)

// Clock tells the emulator the time. Tests pass a fake clock they advance;
// tasks and timestamps are judged against it.
type Clock interface {
	Now() time.Time
}

// SystemClock returns the real clock.
func SystemClock() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Faults configures injected failures. The zero value injects none. Rates
// are probabilities in [0, 1].
type Faults struct {
	// Latency is added to every request before anything else happens.
	Latency time.Duration
	// ErrorRate maps an action name, or "*" for every action without its own
	// entry, to the rate of InternalError replies.
	ErrorRate map[string]float64
	// ServerErrorRate is the rate of HTTP 503 replies with an HTML body.
	ServerErrorRate float64
	// ThrottleRate is the rate of HTTP 429 "Throttling" replies.
	ThrottleRate float64
	// MalformedRate is the rate of HTTP 200 replies whose body is not JSON.
	MalformedRate float64
	// TaskFailureRate is the rate of tasks that end "failed" (and roll back).
	TaskFailureRate float64
	// ErrorStateRate is the rate of tasks that end "failed" leaving their
	// servers in the state "error" (a server that can only be deleted).
	ErrorStateRate float64
}

// maxLatency bounds Faults.Latency: a demo knob, not a way to hang clients.
const maxLatency = time.Minute

func (f Faults) validate() error {
	if f.Latency < 0 || f.Latency > maxLatency {
		return fmt.Errorf("emulator: fault latency %v outside 0..%v", f.Latency, maxLatency)
	}
	for name, r := range map[string]float64{
		"5xx": f.ServerErrorRate, "throttle": f.ThrottleRate,
		"malformed": f.MalformedRate, "task failure": f.TaskFailureRate, "error state": f.ErrorStateRate,
	} {
		if err := checkRate(name, r); err != nil {
			return err
		}
	}
	for action, r := range f.ErrorRate {
		if _, ok := actions[action]; !ok && action != "*" {
			return fmt.Errorf("emulator: fault error rate for unknown action %q", action)
		}
		if err := checkRate("error rate of "+action, r); err != nil {
			return err
		}
	}
	return nil
}

func checkRate(name string, r float64) error {
	if !(r >= 0 && r <= 1) { // also rejects NaN
		return fmt.Errorf("emulator: fault %s %v outside 0..1", name, r)
	}
	return nil
}

// errorRate is the InternalError rate for action.
func (f *Faults) errorRate(action string) float64 {
	if r, ok := f.ErrorRate[action]; ok {
		return r
	}
	return f.ErrorRate["*"]
}

// Option configures New.
type Option func(*options)

type options struct {
	accessKeyID, secret string
	clock               Clock
	taskDelay           time.Duration
	taskRetention       time.Duration
	faults              Faults
	logger              *slog.Logger
	maxServers          int
	maxNonces           int
	skew                time.Duration
	rand                *mrand.Rand
}

// Defaults and limits of the options.
const (
	DefaultTaskDelay     = 3 * time.Second
	DefaultTimestampSkew = 15 * time.Minute
	DefaultMaxServers    = 1000
	DefaultMaxNonces     = 100_000
	DefaultTaskRetention = time.Hour

	// MaxMaxServers bounds WithMaxServers (private addresses come from one subnet, at least a /18).
	MaxMaxServers = 10_000
	// maxFinishedTasks bounds the finished tasks kept for DescribeGpuTask.
	maxFinishedTasks = 10_000
)

func defaultOptions() options {
	return options{
		clock:         systemClock{},
		taskDelay:     DefaultTaskDelay,
		taskRetention: DefaultTaskRetention,
		maxServers:    DefaultMaxServers,
		maxNonces:     DefaultMaxNonces,
		skew:          DefaultTimestampSkew,
	}
}

// WithCredentials sets the only access key the emulator accepts. Without it
// New generates a random pair, readable with Emulator.Credentials.
func WithCredentials(accessKeyID, secret string) Option {
	return func(o *options) { o.accessKeyID, o.secret = accessKeyID, secret }
}

// WithClock sets the clock (default: the system clock).
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// WithTaskDelay sets how long a task stays "init" (default 3s; 0 finishes
// tasks by the next request).
func WithTaskDelay(d time.Duration) Option { return func(o *options) { o.taskDelay = d } }

// WithTaskRetention sets how long a finished task can still be described
// (default 1h).
func WithTaskRetention(d time.Duration) Option { return func(o *options) { o.taskRetention = d } }

// WithFaults sets the injected faults (default none). The map is copied.
func WithFaults(f Faults) Option {
	return func(o *options) {
		if f.ErrorRate != nil {
			m := make(map[string]float64, len(f.ErrorRate))
			for k, v := range f.ErrorRate {
				m[k] = v
			}
			f.ErrorRate = m
		}
		o.faults = f
	}
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithMaxServers bounds the servers that exist at once (default 1000, at
// most MaxMaxServers).
func WithMaxServers(n int) Option { return func(o *options) { o.maxServers = n } }

// WithMaxNonces bounds the nonces remembered against replays (default 100 000).
func WithMaxNonces(n int) Option { return func(o *options) { o.maxNonces = n } }

// WithTimestampSkew sets how far a request's Timestamp may be from the clock
// (default 15 minutes).
func WithTimestampSkew(d time.Duration) Option { return func(o *options) { o.skew = d } }

// WithRand sets the random source of fault injection, for deterministic
// tests. The emulator owns r afterwards (it guards it with a lock).
func WithRand(r *mrand.Rand) Option { return func(o *options) { o.rand = r } }

// buildOptions applies opts over the defaults and validates the result.
func buildOptions(opts []Option) (options, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	return o, o.validate()
}

func (o *options) validate() error {
	var errs []error
	if o.clock == nil {
		errs = append(errs, errors.New("emulator: nil clock"))
	}
	if (o.accessKeyID == "") != (o.secret == "") {
		errs = append(errs, errors.New("emulator: access key id and secret must be set together"))
	}
	if o.taskDelay < 0 || o.taskDelay > 24*time.Hour {
		errs = append(errs, fmt.Errorf("emulator: task delay %v outside 0..24h", o.taskDelay))
	}
	if o.taskRetention <= 0 {
		errs = append(errs, fmt.Errorf("emulator: task retention %v must be positive", o.taskRetention))
	}
	if o.skew <= 0 {
		errs = append(errs, fmt.Errorf("emulator: timestamp skew %v must be positive", o.skew))
	}
	if o.maxServers < 1 || o.maxServers > MaxMaxServers {
		errs = append(errs, fmt.Errorf("emulator: max servers %d outside 1..%d", o.maxServers, MaxMaxServers))
	}
	if o.maxNonces < 1 {
		errs = append(errs, fmt.Errorf("emulator: max nonces %d must be positive", o.maxNonces))
	}
	if err := o.faults.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Credentials is the emulator's access key. Its String, GoString, LogValue
// and MarshalJSON hide the secret: read the field to use it.
type Credentials struct {
	AccessKeyID     string
	AccessKeySecret string
}

// String prints the key id only.
func (c Credentials) String() string {
	return "AccessKeyId=" + c.AccessKeyID + " AccessKeySecret=REDACTED"
}

// GoString prints the key id only.
func (c Credentials) GoString() string {
	return fmt.Sprintf("emulator.Credentials{AccessKeyID:%q, AccessKeySecret:REDACTED}", c.AccessKeyID)
}

// LogValue logs the key id only.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_key_id", c.AccessKeyID))
}

// MarshalJSON encodes the key id only.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"AccessKeyId": c.AccessKeyID})
}

func generateCredentials() (id, secret string) {
	b := make([]byte, 34)
	rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return "EMU" + hex.EncodeToString(b[:10]), hex.EncodeToString(b[10:])
}

func seededRand() *mrand.Rand {
	var b [16]byte
	rand.Read(b[:])
	return mrand.New(mrand.NewPCG(binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])))
}
