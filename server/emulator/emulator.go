package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/gpubms/gpubms/server/signature"
)

// Emulator serves the provider's gpubms/v1 API from memory. Create it with
// New; it is safe for concurrent use.
type Emulator struct {
	opts   options
	nonces *nonceCache
	log    *slog.Logger

	randMu sync.Mutex // guards opts.rand

	// sleep waits out injected latency; tests replace it.
	sleep func(context.Context, time.Duration) error

	mu       sync.Mutex // guards everything below
	servers  map[string]*server
	stock    map[string]int // compute id → PurchaseNum
	tasks    map[string]*task
	pending  []*task           // unfinished, in due order
	finished []*task           // finished, in end order
	seq      uint64            // servers ever created
	ipNext   map[string]uint32 // subnet id → its address counter
}

// New returns an Emulator configured by opts over the defaults. It logs a
// warning that it is not the real provider.
func New(opts ...Option) (*Emulator, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	if o.accessKeyID == "" {
		o.accessKeyID, o.secret = generateCredentials()
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	if o.rand == nil {
		o.rand = seededRand()
	}
	e := &Emulator{
		opts:    o,
		nonces:  newNonceCache(2*o.skew, o.maxNonces),
		log:     o.logger.With("component", "emulator"),
		sleep:   sleepCtx,
		servers: map[string]*server{},
		stock:   map[string]int{},
		tasks:   map[string]*task{},
		ipNext:  map[string]uint32{},
	}
	for id, c := range computeByID {
		e.stock[id] = c.stock
	}
	e.log.Warn("EMULATOR: this is a stand-in for the provider's GPU bare-metal API; no real servers exist and nothing is billed",
		"credentials", e.Credentials(), "task_delay", o.taskDelay.String(), "faults", o.faults.enabled())
	return e, nil
}

// Credentials returns the only access key the emulator accepts.
func (e *Emulator) Credentials() Credentials {
	return Credentials{AccessKeyID: e.opts.accessKeyID, AccessKeySecret: e.opts.secret}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type action struct {
	method string
	handle func(e *Emulator, a *args) (any, error)
	// message is the success message; msgKey replies with "Msg" rather
	// than "Message", as the provider does for some actions.
	message string
	msgKey  bool
}

var actions = map[string]action{
	"DescribeGpuRegions":    {method: http.MethodGet, handle: (*Emulator).describeRegions},
	"DescribeGpuGoods":      {method: http.MethodGet, handle: (*Emulator).describeGoods},
	"DescribeGpuGoodsPrice": {method: http.MethodPost, handle: (*Emulator).describePrice},
	"DescribeGpu":           {method: http.MethodGet, handle: (*Emulator).describeGpu},
	"DescribeGpuDetail":     {method: http.MethodGet, handle: (*Emulator).describeDetail},
	"DescribeGpuTask":       {method: http.MethodGet, handle: (*Emulator).describeTask},
	"ReinstallGpu":          {method: http.MethodPost, handle: (*Emulator).reinstall},
	"DescribeGpuImage":      {method: http.MethodPost, handle: (*Emulator).describeImages},
	"CreateGpuInstance":     {method: http.MethodPost, handle: (*Emulator).create},
	"OperateGpuPower":       {method: http.MethodPost, handle: (*Emulator).operatePower, message: "操作下发成功", msgKey: true},
	"DeleteGpuInstances":    {method: http.MethodPost, handle: (*Emulator).deleteServers, message: "任务下发成功!", msgKey: true},
}

// reply is the provider's envelope.
type reply struct {
	Code      string `json:"Code"`
	Message   string `json:"Message,omitempty"`
	Msg       string `json:"Msg,omitempty"`
	Data      any    `json:"Data"`
	RequestID string `json:"RequestId,omitempty"`
}

// ServeHTTP serves one request of the provider's protocol.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	table := actions
	switch r.URL.Path {
	case "/gpubms/v1/", "/gpubms/v1":
	case "/vpc/", "/vpc":
		table = vpcActions
	default:
		http.NotFound(w, r)
		return
	}
	q, qerr := url.ParseQuery(r.URL.RawQuery)
	name := q.Get(signature.ParamAction)
	if d := e.opts.faults.Latency; d > 0 {
		if e.sleep(r.Context(), d) != nil {
			return // the client is gone
		}
	}
	if e.injectFault(w, name) {
		return
	}
	data, act, err := e.serve(w, r, table, q, qerr, name)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			e.log.Error("emulator: action failed", "action", name, "err", err)
			ae = apiErr(codeInternalError, "内部错误")
		}
		rid := uuid.NewString()
		e.log.Debug("emulator request", "action", name, "code", ae.code, "request_id", rid)
		writeJSON(w, http.StatusBadRequest, reply{Code: ae.code, Message: ae.message, RequestID: rid})
		return
	}
	e.log.Debug("emulator request", "action", name, "code", codeSuccess)
	rep := reply{Code: codeSuccess, Data: data}
	msg := act.message
	if msg == "" {
		msg = "Success."
	}
	if act.msgKey {
		rep.Msg = msg
	} else {
		rep.Message = msg
	}
	writeJSON(w, http.StatusOK, rep)
}

func (e *Emulator) serve(w http.ResponseWriter, r *http.Request, table map[string]action, q url.Values, qerr error, name string) (any, action, error) {
	if qerr != nil {
		return nil, action{}, apiErr(codeParameterInvalid, "查询字符串格式错误")
	}
	if err := e.authenticate(r.Method, q); err != nil {
		return nil, action{}, err
	}
	act, ok := table[name]
	if !ok {
		return nil, act, apiErr(codeInvalidAction, "不支持的Action")
	}
	if r.Method != act.method {
		return nil, act, apiErr(codeInvalidAction, "%s只支持%s请求", name, act.method)
	}
	a := queryArgs(q)
	if act.method == http.MethodPost {
		var err error
		if a, err = readBody(w, r); err != nil {
			return nil, act, err
		}
	}
	data, err := act.handle(e, a)
	return data, act, err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only plain structs, maps and slices are encoded
		panic("emulator: encode reply: " + err.Error())
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// lock takes the state lock, brings tasks up to the clock and returns now.
// The caller unlocks e.mu.
func (e *Emulator) lock() time.Time {
	e.mu.Lock()
	now := e.opts.clock.Now()
	e.settle(now)
	return now
}
