package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gpubms/gpubms/server/signature"
)

// fakeClock is a Clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	// 2020-04-30 11:22:41 in China, the moment of the provider's detail example.
	return &fakeClock{t: time.Date(2020, 4, 30, 3, 22, 41, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const (
	testKey    = "AKTESTEMULATOR"
	testSecret = "test-secret-value"
)

var discard = slog.New(slog.DiscardHandler)

// harness drives an Emulator with signed requests, like a provider client.
type harness struct {
	t     testing.TB
	e     *Emulator
	clock *fakeClock
}

func newHarness(t testing.TB, opts ...Option) *harness {
	t.Helper()
	clock := newFakeClock()
	base := []Option{WithCredentials(testKey, testSecret), WithClock(clock), WithLogger(discard)}
	e, err := New(append(base, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &harness{t: t, e: e, clock: clock}
}

// with returns h reporting to t (a subtest's).
func (h *harness) with(t testing.TB) *harness {
	c := *h
	c.t = t
	return &c
}

// call is one request; the zero fields take the usual values.
type call struct {
	action string
	params any    // url.Values for GET actions, the JSON body for POST ones ([]byte: raw)
	method string // default: the action's
	path   string // default: the action's API, /gpubms/v1/ or /vpc/
	key    string
	secret string
	nonce  string
	ts     time.Time
	before func(url.Values) // edits the query before signing
	after  func(url.Values) // edits the query after signing
}

// result is a decoded reply.
type result struct {
	status int
	header http.Header
	raw    string
	Code   string          `json:"Code"`
	Msg    string          `json:"Msg"`
	Data   json.RawMessage `json:"Data"`
	RID    string          `json:"RequestId"`
	Msg2   string          `json:"Message"`
}

func (c call) request(h *harness) *http.Request {
	h.t.Helper()
	method := c.method
	if method == "" {
		method = http.MethodGet
		if a, ok := actions[c.action]; ok {
			method = a.method
		}
		if a, ok := vpcActions[c.action]; ok {
			method = a.method
		}
	}
	path := c.path
	if path == "" {
		path = "/gpubms/v1/"
		if _, ok := vpcActions[c.action]; ok {
			path = "/vpc/"
		}
	}
	q := url.Values{}
	var body io.Reader
	switch p := c.params.(type) {
	case nil:
	case url.Values:
		for k, v := range p {
			q[k] = v
		}
	case []byte:
		body = bytes.NewReader(p)
	default:
		b, err := json.Marshal(p)
		if err != nil {
			h.t.Fatalf("marshal body: %v", err)
		}
		body = bytes.NewReader(b)
	}
	key, secret, nonce, ts := c.key, c.secret, c.nonce, c.ts
	if key == "" {
		key = testKey
	}
	if secret == "" {
		secret = testSecret
	}
	if nonce == "" {
		nonce = uuid.NewString()
	}
	if ts.IsZero() {
		ts = h.clock.Now()
	}
	signature.Common(q, c.action, key, nonce, ts)
	if c.before != nil {
		c.before(q)
	}
	raw := signature.SignedQuery(method, q, secret)
	if c.after != nil {
		signed, err := url.ParseQuery(raw)
		if err != nil {
			h.t.Fatalf("parse signed query: %v", err)
		}
		c.after(signed)
		raw = signed.Encode()
	}
	r := httptest.NewRequest(method, path+"?"+raw, body)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

func (h *harness) send(r *http.Request) result {
	h.t.Helper()
	w := httptest.NewRecorder()
	h.e.ServeHTTP(w, r)
	res := result{status: w.Code, header: w.Header(), raw: w.Body.String()}
	if strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(w.Body.Bytes(), &res) // a malformed body is left to the caller
	}
	return res
}

func (h *harness) do(c call) result {
	h.t.Helper()
	return h.send(c.request(h))
}

// message is the reply's message, whichever key the action uses.
func (r result) message() string { return r.Msg2 + r.Msg }

// ok calls action and decodes its Data into out (if not nil), failing the
// test unless the reply is a Success.
func (h *harness) ok(action string, params, out any) result {
	h.t.Helper()
	res := h.do(call{action: action, params: params})
	if res.status != http.StatusOK || res.Code != codeSuccess {
		h.t.Fatalf("%s: got HTTP %d %s %q, want Success", action, res.status, res.Code, res.message())
	}
	if out != nil {
		if err := json.Unmarshal(res.Data, out); err != nil {
			h.t.Fatalf("%s: decode Data %s: %v", action, res.Data, err)
		}
	}
	return res
}

// fails calls action and checks that it fails with code and HTTP 400.
func (h *harness) fails(action string, params any, code string) result {
	h.t.Helper()
	res := h.do(call{action: action, params: params})
	checkError(h.t, action, res, code)
	return res
}

func checkError(t testing.TB, what string, res result, code string) {
	t.Helper()
	if res.Code != code {
		t.Fatalf("%s: got %s %q (HTTP %d), want %s", what, res.Code, res.message(), res.status, code)
	}
	if res.status != http.StatusBadRequest {
		t.Errorf("%s: got HTTP %d, want 400", what, res.status)
	}
	if res.RID == "" {
		t.Errorf("%s: error reply has no RequestId: %s", what, res.raw)
	}
	if string(res.Data) != "null" {
		t.Errorf("%s: error Data = %s, want null", what, res.Data)
	}
}

// Typed views of replies, as a client would decode them.
type (
	gpuList struct {
		Records []struct {
			ResourceID string `json:"ResourceId"`
			Name       string
			State      string
			Status     string
			AppID      string `json:"AppId"`
			Networks   struct {
				NetworkCards []struct {
					IPAddress  string `json:"IpAddress"`
					EipAddress string
				}
			}
		}
		TotalCount, PageSize, Pages, PageNumber int
	}
	taskInfo struct {
		ResourceIDs []string `json:"ResourceIds"`
		Status      string
	}
	goodsList struct {
		PrePaid, PostPaid []goodsEntry
	}
	goodsEntry struct {
		GoodsID   int `json:"GoodsId"`
		GoodsName string
		Computes  []struct {
			ID          string `json:"Id"`
			PurchaseNum int
			Disks       []struct {
				ID       string `json:"Id"`
				Type     string
				Capacity int
				Count    int
			}
		}
	}
)

// createBody is a valid CreateGpuInstance body for 7685's compute.
// The seeded network of CN_Hohhot_B: one VPC, one subnet there.
const (
	hohhotVPC    = "f91084b4-050d-11ef-b98e-4637f0e9cd45"
	hohhotSubnet = "f9129e16-050d-11ef-b98e-4637f0e9cd45"
)

// The seeded network of CN_Qingyang_A: one VPC with two subnets there.
var (
	qingyangVPC     = seedID("vpc", "default-qingyang")
	qingyangSubnets = []string{seedID("subnet", "qingyang-a-1"), seedID("subnet", "qingyang-a-2")}
)

func createBody(amount int) map[string]any {
	return map[string]any{
		"RegionId":           "CN_Hohhot_B",
		"VpcNetWork":         map[string]any{"VpcId": hohhotVPC, "NetId": hohhotSubnet},
		"Password":           "Tester@123",
		"InstanceName":       "bms",
		"InstanceChargeType": "PostPaid",
		"ComputeId":          "8fbdb61e-b941-46db-89f6-f8953b278ec9",
		"GoodsId":            7685,
		"ImageId":            "d32af696-5774-4936-8f09-e9f4cf069b31",
		"Amount":             amount,
	}
}

// create makes servers and returns the task id and their ids.
func (h *harness) create(body map[string]any) (string, []string) {
	h.t.Helper()
	var out struct {
		TaskID string `json:"taskId"`
	}
	h.ok("CreateGpuInstance", body, &out)
	var ti taskInfo
	h.ok("DescribeGpuTask", url.Values{"TaskId": {out.TaskID}}, &ti)
	return out.TaskID, ti.ResourceIDs
}

// running creates servers and waits out their task.
func (h *harness) running(body map[string]any) []string {
	h.t.Helper()
	_, ids := h.create(body)
	h.clock.Advance(DefaultTaskDelay)
	return ids
}

func (h *harness) taskStatus(id string) string {
	h.t.Helper()
	var ti taskInfo
	h.ok("DescribeGpuTask", url.Values{"TaskId": {id}}, &ti)
	return ti.Status
}

type detail struct {
	ResourceID  string `json:"ResourceId"`
	Name        string
	State       string
	Status      string
	ImageName   string
	RunningTime string
	CreateDate  string
	ExpireDate  string
	BillStatus  string
	IsAutoRenew int `json:"IsAutoRenewal"`
	Networks    struct {
		NetworkCards []struct {
			IPAddress   string `json:"IpAddress"`
			Mac         []string
			WorkMode    string
			EipAddress  string `json:"eipAddress"`
			EipLinkType string `json:"eipLinkType"`
		}
	}
	Volumes []struct {
		Capacity   int
		VolumeType string
		VolumePath string
	}
}

func (h *harness) detail(id string) detail {
	h.t.Helper()
	var d detail
	h.ok("DescribeGpuDetail", url.Values{"ResourceId": {id}}, &d)
	return d
}

func (h *harness) state(id string) string {
	h.t.Helper()
	return h.detail(id).State
}

func (h *harness) stock(region, compute string) int {
	h.t.Helper()
	var g goodsList
	h.ok("DescribeGpuGoods", url.Values{"RegionId": {region}}, &g)
	for _, gd := range append(g.PrePaid, g.PostPaid...) {
		for _, c := range gd.Computes {
			if c.ID == compute {
				return c.PurchaseNum
			}
		}
	}
	h.t.Fatalf("compute %s not in region %s", compute, region)
	return 0
}

func TestNewValidatesOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []Option
		want string
	}{
		{"nil clock", []Option{WithClock(nil)}, "nil clock"},
		{"key without secret", []Option{WithCredentials("AK", "")}, "set together"},
		{"negative task delay", []Option{WithTaskDelay(-time.Second)}, "task delay"},
		{"zero skew", []Option{WithTimestampSkew(0)}, "skew"},
		{"no servers", []Option{WithMaxServers(0)}, "max servers"},
		{"too many servers", []Option{WithMaxServers(MaxMaxServers + 1)}, "max servers"},
		{"no nonces", []Option{WithMaxNonces(0)}, "nonces"},
		{"zero retention", []Option{WithTaskRetention(0)}, "retention"},
		{"rate above 1", []Option{WithFaults(Faults{ThrottleRate: 1.5})}, "throttle"},
		{"negative latency", []Option{WithFaults(Faults{Latency: -1})}, "latency"},
		{"unknown action", []Option{WithFaults(Faults{ErrorRate: map[string]float64{"RebootGpu": 0.1}})}, "RebootGpu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(append([]Option{WithLogger(discard)}, tt.opts...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: got error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestGeneratedCredentials(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	a, err := New(WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	ca, cb := a.Credentials(), b.Credentials()
	if ca.AccessKeyID == "" || ca.AccessKeySecret == "" {
		t.Fatalf("generated credentials are empty: %q", ca.AccessKeyID)
	}
	if ca.AccessKeyID == cb.AccessKeyID || ca.AccessKeySecret == cb.AccessKeySecret {
		t.Errorf("two emulators got the same credentials")
	}
	for _, s := range []string{ca.String(), fmt.Sprintf("%v %+v %#v %s", ca, ca, ca, ca), logs.String()} {
		if strings.Contains(s, ca.AccessKeySecret) {
			t.Errorf("secret shown in %q", s)
		}
	}
	if !strings.Contains(logs.String(), "EMULATOR") || !strings.Contains(logs.String(), `"level":"WARN"`) {
		t.Errorf("start-up log %q has no emulator warning", logs.String())
	}
	if !strings.Contains(logs.String(), ca.AccessKeyID) {
		t.Errorf("start-up log %q does not name the access key id", logs.String())
	}
}

func TestPaths(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tt := range []struct {
		path string
		want int
	}{
		{"/gpubms/v1/", http.StatusOK},
		{"/gpubms/v1", http.StatusOK},
		{"/gpubms/v2/", http.StatusNotFound},
		{"/", http.StatusNotFound},
	} {
		r := call{action: "DescribeGpuRegions"}.request(h)
		r.URL.Path = tt.path
		if got := h.send(r).status; got != tt.want {
			t.Errorf("GET %s: got HTTP %d, want %d", tt.path, got, tt.want)
		}
	}
}
