package gateway

import (
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// wantUnknownQuery checks that r refuses the query parameters bad (sorted),
// naming the first in the message and each in a google.rpc.BadRequest field
// violation, with proto (snake_case) names.
func wantUnknownQuery(t *testing.T, gw *ruleGateway, r reply, bad ...string) {
	t.Helper()
	e := wantRefused(t, gw, r, http.StatusBadRequest, codes.InvalidArgument)
	if !strings.Contains(e.Message, `"`+bad[0]+`"`) {
		t.Errorf("got message %q, want it to name %q", e.Message, bad[0])
	}
	if len(e.Details) != 1 {
		t.Fatalf("got details %v, want one google.rpc.BadRequest", e.Details)
	}
	d := e.Details[0]
	if d["@type"] != "type.googleapis.com/google.rpc.BadRequest" {
		t.Errorf("got detail @type %v, want type.googleapis.com/google.rpc.BadRequest", d["@type"])
	}
	if _, ok := d["fieldViolations"]; ok {
		t.Errorf("got detail %v with JSON names, want proto names (field_violations)", d)
	}
	vs, _ := d["field_violations"].([]any)
	var fields []string
	for _, v := range vs {
		fv, _ := v.(map[string]any)
		field, _ := fv["field"].(string)
		fields = append(fields, field)
		if fv["reason"] != "UNKNOWN_QUERY_PARAMETER" {
			t.Errorf("got violation %v, want reason UNKNOWN_QUERY_PARAMETER", fv)
		}
		if desc, _ := fv["description"].(string); desc == "" {
			t.Errorf("got violation %v, want a description", fv)
		}
	}
	if !slices.Equal(fields, bad) {
		t.Errorf("got field violations for %q, want %q", fields, bad)
	}
}

func TestUnknownQueryParameters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, target string
		body                 string
		bad                  []string // nil: the call goes through
		wantRPC              string
	}{
		{"unknown on GET", "GET", "/v1/gpus?nosuch=1", "", []string{"nosuch"}, ""},
		{"unknown beside known ones", "GET", "/v1/gpus?page_size=10&nosuch=1&name=x", "", []string{"nosuch"}, ""},
		{"several unknown, sorted", "GET", "/v1/gpus?zz=1&aa=2&name=x", "", []string{"aa", "zz"}, ""},
		{"a key in another case", "GET", "/v1/gpus?Page_Size=1", "", []string{"Page_Size"}, ""},
		{"a key without a value", "GET", "/v1/gpus?nosuch", "", []string{"nosuch"}, ""},
		{"a subfield of a scalar", "GET", "/v1/gpus?name.x=1", "", []string{"name.x"}, ""},
		{"a field of another message", "GET", "/v1/gpus?resource_id=r1", "", []string{"resource_id"}, ""},
		{"any parameter on a route without fields", "GET", "/v1/regions?region_id=r1", "", []string{"region_id"}, ""},
		{"known ones", "GET", "/v1/gpus?page_size=10&name=x", "", nil, "DescribeGpu"},
		{"every field", "GET", "/v1/gpus?app_id=a1&name=x&page_number=2&page_size=10", "", nil, "DescribeGpu"},
		{"JSON names of known fields", "GET", "/v1/gpus?pageSize=10&pageNumber=2&appId=a1", "", nil, "DescribeGpu"},
		{"a known field on a route with a path variable", "GET", "/v1/regions/r1/images?image_type=public&compute_id=c1", "", nil, "DescribeGpuImage"},
		{"the path variable repeated", "GET", "/v1/regions/X/goods?region_id=Y", "", []string{"region_id"}, ""},
		{"the path variable repeated on a route with fields", "GET", "/v1/regions/X/images?region_id=Y&image_type=public", "", []string{"region_id"}, ""},
		{"a field on a body route", "POST", "/v1/gpus:power?operate=start", `{"resource_ids":["r1"]}`, []string{"operate"}, ""},
		{"unknown on a body route", "POST", "/v1/gpus:power?nosuch=1", `{"operate":"start"}`, []string{"nosuch"}, ""},
		{"a path variable on a body route", "POST", "/v1/gpus/r1:reinstall?resource_id=r2", `{}`, []string{"resource_id"}, ""},
		{"on a server stream", "GET", "/v1/tasks/t1:watch?nosuch=1", "", []string{"nosuch"}, ""},
		{"on a body server stream", "POST", "/v1/tasks:watch?task_ids=t1", `{}`, []string{"task_ids"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &ruleFake{}
			gw := startRuleGateway(t, f)
			var header []string
			if tt.body != "" {
				header = []string{"Content-Type", "application/json"}
			}
			r := send(t, gw, tt.method, tt.target, tt.body, header...)
			if tt.bad != nil {
				wantUnknownQuery(t, gw, r, tt.bad...)
				return
			}
			if tt.wantRPC == "DescribeGpuImage" {
				// Not answered by the fake: reaching it is what counts.
				if got := f.methods(); !slices.Equal(got, []string{tt.wantRPC}) {
					t.Errorf("got calls %q, want one %s (HTTP %d %s)", got, tt.wantRPC, r.Status, r.Body)
				}
				return
			}
			wantReached(t, gw, r, tt.wantRPC)
		})
	}
}

func TestKnownQueryParametersReachTheRequest(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"/v1/gpus?page_size=10&page_number=2&name=x", "/v1/gpus?pageSize=10&pageNumber=2&name=x"} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			gw := startRuleGateway(t, nil)
			c := wantReached(t, gw, send(t, gw, http.MethodGet, target, ""), "DescribeGpu")
			req := c.Req.(*gpubmsv1.DescribeGpuRequest)
			if req.GetPageSize() != 10 || req.GetPageNumber() != 2 || req.GetName() != "x" {
				t.Errorf("got request %v, want page_size 10, page_number 2, name x", req)
			}
		})
	}
}

// A path variable's JSON name is a second spelling of a field the path
// sets: the rule refuses "?region_id=Y" with 400 but lets "?regionId=Y"
// through, and grpc-gateway (v2.33 normalizes the name and filters it)
// then ignores it silently. The region_id check guards against an older or
// newer grpc-gateway letting the query override the path.
func TestPathVariableJSONNameRefused(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"/v1/regions/X/goods?regionId=Y", "/v1/regions/X/images?image_type=public&regionId=Y"} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			gw := startRuleGateway(t, nil)
			r := send(t, gw, http.MethodGet, target, "")
			for _, c := range gw.fake.recorded() {
				if rr, ok := c.Req.(interface{ GetRegionId() string }); ok && rr.GetRegionId() != "X" {
					t.Errorf("the service got region_id %q, want X from the path", rr.GetRegionId())
				}
			}
			wantUnknownQuery(t, gw, r, "regionId")
		})
	}
}

// placeholders finds the variables of a route pattern ("{region_id=*}").
var placeholders = regexp.MustCompile(`\{([^=}]+)(=[^}]*)?\}`)

// concretePath fills each variable of a route pattern with a value; only
// single-segment variables ("{x}", "{x=*}") occur in the proto.
func concretePath(t *testing.T, pattern string) string {
	t.Helper()
	return placeholders.ReplaceAllStringFunc(pattern, func(s string) string {
		m := placeholders.FindStringSubmatch(s)
		if m[2] != "" && m[2] != "=*" {
			t.Fatalf("pattern %q has a multi-segment variable %s; teach concretePath about it", pattern, s)
		}
		return "v-" + strings.ReplaceAll(m[1], "_", "-")
	})
}

// Every binding of routeTable is the key checkRoute finds at request time:
// the table's keys are spelled as runtime.Pattern.String() prints the
// generated patterns. A key that did not match would let any query
// parameter through silently.
func TestEveryRouteIsChecked(t *testing.T) {
	t.Parallel()
	table := routeTable(gpubmsv1.File_gpubms_v1_gpubms_proto.Services())

	// Every RPC of GpuService has a binding in the table.
	methods := gpubmsv1.File_gpubms_v1_gpubms_proto.Services().ByName("GpuService").Methods()
	bound := map[string]bool{}
	for _, rt := range table {
		bound[string(rt.rpc.Name())] = true
	}
	for i := range methods.Len() {
		if name := string(methods.Get(i).Name()); !bound[name] {
			t.Errorf("RPC %s has no route in the table", name)
		}
	}
	if len(table) < methods.Len() {
		t.Errorf("got %d routes, want at least one per RPC (%d)", len(table), methods.Len())
	}

	keys := make([]string, 0, len(table))
	for k := range table {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	gw := startRuleGateway(t, nil)
	for _, key := range keys {
		t.Run(key, func(t *testing.T) {
			method, pattern, ok := strings.Cut(key, " ")
			if !ok || !strings.HasPrefix(pattern, "/") {
				t.Fatalf("key %q is not \"METHOD /pattern\"", key)
			}
			if strings.Contains(pattern, "{") && !strings.Contains(pattern, "=") {
				t.Errorf("pattern %q has a variable without =: runtime.Pattern prints {x=*}", pattern)
			}
			target := concretePath(t, pattern) + "?zz_not_a_field=1"
			var header []string
			if table[key].body != "" {
				header = []string{"Content-Type", "application/json"}
			}
			r := send(t, gw, method, target, "", header...)
			wantUnknownQuery(t, gw, r, "zz_not_a_field")
			if !strings.Contains(strings.ToLower(string(r.Body)), strings.ToLower(string(table[key].rpc.Name()))) {
				t.Errorf("got body %s, want it to name the RPC %s: the request matched another route", r.Body, table[key].rpc.Name())
			}
		})
	}
}

func TestRouteTable(t *testing.T) {
	t.Parallel()
	table := routeTable(gpubmsv1.File_gpubms_v1_gpubms_proto.Services())
	tests := []struct {
		key   string
		rpc   string
		body  string
		vars  []string
		query bool
	}{
		{"GET /v1/regions", "DescribeGpuRegions", "", nil, true},
		{"GET /v1/regions/{region_id=*}/goods", "DescribeGpuGoods", "", []string{"region_id"}, true},
		{"POST /v1/regions/{region_id=*}/goods/{goods_id=*}:price", "DescribeGpuGoodsPrice", "*", []string{"goods_id", "region_id"}, false},
		{"GET /v1/gpus", "DescribeGpu", "", nil, true},
		{"POST /v1/gpus", "CreateGpuInstance", "*", nil, false},
		{"POST /v1/gpus:power", "OperateGpuPower", "*", nil, false},
		{"GET /v1/tasks/{task_id=*}", "DescribeGpuTask", "", []string{"task_id"}, true},
		{"GET /v1/tasks/{task_id=*}:watch", "WatchTask", "", []string{"task_id"}, true},
		{"POST /v1/tasks:watch", "WatchTasks", "*", nil, false},
	}
	for _, tt := range tests {
		rt := table[tt.key]
		if rt == nil {
			t.Errorf("no route %q in the table", tt.key)
			continue
		}
		var vars []string
		for v := range rt.vars {
			vars = append(vars, v)
		}
		sort.Strings(vars)
		if string(rt.rpc.Name()) != tt.rpc || rt.body != tt.body || !slices.Equal(vars, tt.vars) || rt.query != tt.query {
			t.Errorf("route %q: got rpc %s body %q vars %q query %v, want %s %q %q %v",
				tt.key, rt.rpc.Name(), rt.body, vars, rt.query, tt.rpc, tt.body, tt.vars, tt.query)
		}
	}
}

func TestHasField(t *testing.T) {
	t.Parallel()
	desc := (&gpubmsv1.DescribeGpuRequest{}).ProtoReflect().Descriptor()
	create := (&gpubmsv1.CreateGpuInstanceRequest{}).ProtoReflect().Descriptor()
	tests := []struct {
		md   string
		path string
		want bool
	}{
		{"DescribeGpu", "page_size", true},
		{"DescribeGpu", "pageSize", true},
		{"DescribeGpu", "PageSize", false},
		{"DescribeGpu", "nosuch", false},
		{"DescribeGpu", "name.x", false},
		{"DescribeGpu", "", false},
		{"CreateGpuInstance", "vpc_network", true},
		{"CreateGpuInstance", "vpc_network.nosuch", false},
	}
	for _, tt := range tests {
		md := desc
		if tt.md == "CreateGpuInstance" {
			md = create
		}
		if _, got := fieldPath(md, tt.path); got != tt.want {
			t.Errorf("fieldPath(%s, %q) = %v, want %v", tt.md, tt.path, got, tt.want)
		}
	}
}

func TestMethods(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, target string
		wantHTTP       int
		wantAllow      string
	}{
		{"DELETE", "/v1/gpus", 405, "GET, POST"},
		{"PUT", "/v1/gpus", 405, "GET, POST"},
		{"PATCH", "/v1/gpus", 405, "GET, POST"},
		{"PUT", "/v1/regions", 405, "GET"},
		{"POST", "/v1/regions", 405, "GET"},
		{"DELETE", "/v1/gpus/r1", 405, "GET"},
		{"GET", "/v1/gpus:power", 405, "POST"},
		{"DELETE", "/v1/tasks/t1:watch", 405, "GET"},
		{"GET", "/v1/tasks:watch", 405, "POST"},
		{"GET", "/v1/regions/r1/goods/g1:price", 405, "POST"},
		{"GET", "/v1/nosuch", 404, ""},
		{"POST", "/v1/nosuch", 404, ""},
		{"DELETE", "/v2/gpus", 404, ""},
		{"GET", "/v1/gpus:nosuch", 404, ""},
		{"GET", "/v1/regions/r1/goods/extra", 404, ""},
		{"GET", "/", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			t.Parallel()
			gw := startRuleGateway(t, nil)
			r := send(t, gw, tt.method, tt.target, "")
			want := codes.Unimplemented
			if tt.wantHTTP == http.StatusNotFound {
				want = codes.NotFound
			}
			wantRefused(t, gw, r, tt.wantHTTP, want)
			if got := r.Header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("got Allow %q, want %q", got, tt.wantAllow)
			}
		})
	}
}

// The 405 probes pass through checkRoute's query rule without tripping it,
// and without reaching the service, whatever the query.
func TestMethodProbeIgnoresQuery(t *testing.T) {
	t.Parallel()
	gw := startRuleGateway(t, nil)
	r := send(t, gw, http.MethodDelete, "/v1/gpus?nosuch=1", "")
	wantRefused(t, gw, r, http.StatusMethodNotAllowed, codes.Unimplemented)
	if got := r.Header.Get("Allow"); got != "GET, POST" {
		t.Errorf("got Allow %q, want %q", got, "GET, POST")
	}
}
