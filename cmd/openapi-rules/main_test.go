package main

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/reflect/protoreflect"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// docPath is the generated document, as make generate leaves it.
const docPath = "../../gen/openapiv2/gpubms/v1/gpubms.swagger.json"

func readDoc(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parsed is the document as plain maps, for looking things up.
func parsed(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// at follows keys through nested objects; nil when one is missing.
func at(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// param returns the parameter called name of the operation at path and verb.
func param(t *testing.T, doc map[string]any, path, verb, name string) map[string]any {
	t.Helper()
	params, _ := at(doc, "paths", path, verb, "parameters").([]any)
	for _, p := range params {
		if p, _ := p.(map[string]any); p["name"] == name {
			return p
		}
	}
	t.Fatalf("%s %s has no parameter %q", verb, path, name)
	return nil
}

func TestCreateGpuInstanceRequest(t *testing.T) {
	doc := parsed(t, readDoc(t))
	def := at(doc, "definitions", "v1CreateGpuInstanceRequest")
	if def == nil {
		t.Fatal("no definition v1CreateGpuInstanceRequest")
	}
	// The fields marked (buf.validate.field).required, in field order; not
	// the optional ones (proto3 optional, IGNORE_IF_ZERO_VALUE, or plain).
	want := []any{"region_id", "vpc_network", "password", "instance_name", "instance_charge_type", "compute_id", "image_id"}
	if diff := cmp.Diff(want, at(def, "required")); diff != "" {
		t.Errorf("required (-want +got):\n%s", diff)
	}
	prop := func(name string) any { return at(def, "properties", name) }
	tests := []struct {
		field, keyword string
		want           any
	}{
		{"instance_charge_type", "enum", []any{"PrePaid", "PostPaid"}},
		{"amount", "minimum", 1.0},
		{"amount", "maximum", 100.0},
		{"password", "minLength", 8.0},
		{"password", "maxLength", 64.0},
		{"instance_name", "pattern", "^[A-Za-z0-9][A-Za-z0-9_.-]*$"},
		{"instance_name", "maxLength", 64.0},
		// gpubms.v1.id, a predefined rule: its pattern and the lengths it allows.
		{"region_id", "pattern", "^[A-Za-z0-9_-]{1,64}$"},
		{"region_id", "minLength", 1.0},
		{"region_id", "maxLength", 64.0},
		{"request_id", "pattern", "^[A-Za-z0-9_-]{1,64}$"},
		{"raid", "enum", []any{0.0, 1.0, 5.0, 10.0, -1.0, -2.0}},
		{"goods_id", "minimum", 0.0},
		{"goods_id", "exclusiveMinimum", true},
		{"bond_mode", "enum", []any{"noBond", "bond1", "bond6"}},
		{"custom_partition", "maxItems", 16.0},
		{"custom_partition_size", "maxItems", 16.0},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, at(prop(tt.field), tt.keyword)); diff != "" {
			t.Errorf("%s %s (-want +got):\n%s", tt.field, tt.keyword, diff)
		}
	}
	items := at(prop("custom_partition_size"), "items")
	if at(items, "minimum") != 0.0 || at(items, "exclusiveMinimum") != true {
		t.Errorf("custom_partition_size items: got %v, want minimum 0, exclusive", items)
	}
	if got := at(prop("custom_partition"), "items", "pattern"); got != "^(/[A-Za-z0-9_./-]*|swap)$" {
		t.Errorf("custom_partition items pattern: got %v", got)
	}
	// An optional field keeps its limits but is not required.
	if at(prop("prepaid_month"), "maximum") != 36.0 {
		t.Errorf("prepaid_month: got %v, want maximum 36", prop("prepaid_month"))
	}
	// The nested message's own rules.
	vpc := at(doc, "definitions", "v1VpcNetwork")
	if diff := cmp.Diff([]any{"vpc_id", "net_id"}, at(vpc, "required")); diff != "" {
		t.Errorf("v1VpcNetwork required (-want +got):\n%s", diff)
	}
	if got := at(doc, "definitions", "v1Segment", "properties", "address", "format"); got != "ipv4" {
		t.Errorf("v1Segment address format: got %v, want ipv4", got)
	}
}

func TestBodyWithPathParameters(t *testing.T) {
	doc := parsed(t, readDoc(t))
	// POST /v1/gpus/{resource_id}:reinstall: the body schema is the request
	// without resource_id, which is a path parameter.
	ref, _ := at(param(t, doc, "/v1/gpus/{resource_id}:reinstall", "post", "body"), "schema", "$ref").(string)
	body := at(doc, "definitions", strings.TrimPrefix(ref, "#/definitions/"))
	if diff := cmp.Diff([]any{"image_id", "password"}, at(body, "required")); diff != "" {
		t.Errorf("reinstall body %s required (-want +got):\n%s", ref, diff)
	}
	if at(body, "properties", "password", "minLength") != 8.0 {
		t.Errorf("reinstall body password: got %v", at(body, "properties", "password"))
	}
	p := param(t, doc, "/v1/gpus/{resource_id}:reinstall", "post", "resource_id")
	if p["pattern"] != "^[A-Za-z0-9_-]{1,64}$" || p["required"] != true {
		t.Errorf("path parameter resource_id: got %v", p)
	}
}

func TestQueryParameters(t *testing.T) {
	doc := parsed(t, readDoc(t))
	p := param(t, doc, "/v1/gpus", "get", "page_size")
	if p["minimum"] != 1.0 || p["maximum"] != 1000.0 || p["required"] != false {
		t.Errorf("GET /v1/gpus page_size: got %v, want minimum 1, maximum 1000, not required", p)
	}
	p = param(t, doc, "/v1/gpus", "get", "name")
	if p["maxLength"] != 128.0 {
		t.Errorf("GET /v1/gpus name: got %v, want maxLength 128", p)
	}
	// A required field is a required query parameter.
	p = param(t, doc, "/v1/regions/{region_id}/images", "get", "image_type")
	if p["required"] != true || !cmp.Equal(p["enum"], []any{"public", "private"}) {
		t.Errorf("GET images image_type: got %v, want required, enum public, private", p)
	}
	// IGNORE_IF_ZERO_VALUE: optional, its limits apply when set.
	p = param(t, doc, "/v1/regions/{region_id}/images", "get", "os_type")
	if p["required"] != false || p["maxLength"] != 32.0 || p["pattern"] != "^[A-Za-z0-9_.-]+$" {
		t.Errorf("GET images os_type: got %v", p)
	}
}

func TestStreamsProduce(t *testing.T) {
	doc := parsed(t, readDoc(t))
	ops := map[string]any{} // by operationId
	for _, item := range at(doc, "paths").(map[string]any) {
		for _, op := range item.(map[string]any) {
			ops[at(op, "operationId").(string)] = op
		}
	}
	op := ops["GpuService_WatchTask"]
	if diff := cmp.Diff([]any{"application/json", "text/event-stream"}, at(op, "produces")); diff != "" {
		t.Errorf("WatchTask produces (-want +got):\n%s", diff)
	}
	// Every server stream, and nothing else.
	methods, err := packageMethods()
	if err != nil {
		t.Fatal(err)
	}
	streams := 0
	for id, md := range methods {
		op, ok := ops[id]
		if !ok {
			continue // not on HTTP
		}
		got := at(op, "produces")
		if md.IsStreamingServer() {
			streams++
			if !cmp.Equal(got, streamMediaTypes) {
				t.Errorf("%s: got produces %v, want %v", id, got, streamMediaTypes)
			}
		} else if got != nil {
			t.Errorf("%s, not a stream: got produces %v, want none", id, got)
		}
	}
	if streams < 2 {
		t.Errorf("got %d server streams on HTTP, want WatchTask and WatchTasks at least", streams)
	}
}

// TestEveryRequiredField checks the document against the descriptors: each
// required field of a request carried in a body is in its schema's
// required list, or is a required path or query parameter.
func TestEveryRequiredField(t *testing.T) {
	doc := parsed(t, readDoc(t))
	methods, err := packageMethods()
	if err != nil {
		t.Fatal(err)
	}
	for _, item := range at(doc, "paths").(map[string]any) {
		for _, op := range item.(map[string]any) {
			id := at(op, "operationId").(string)
			md := methods[id]
			if md == nil {
				t.Errorf("operation %s: no method", id)
				continue
			}
			var bodyRequired []any
			params := map[string]map[string]any{}
			ps, _ := at(op, "parameters").([]any)
			for _, p := range ps {
				p := p.(map[string]any)
				params[p["name"].(string)] = p
				if p["in"] == "body" {
					s := at(p, "schema")
					if ref, ok := at(s, "$ref").(string); ok {
						s = at(doc, "definitions", strings.TrimPrefix(ref, "#/definitions/"))
					}
					bodyRequired, _ = at(s, "required").([]any)
				}
			}
			fields := md.Input().Fields()
			for i := range fields.Len() {
				fd := fields.Get(i)
				if !fieldRules(fd).GetRequired() {
					continue
				}
				name := string(fd.Name())
				if p, ok := params[name]; ok {
					if p["required"] != true {
						t.Errorf("%s: parameter %s: got required %v, want true", id, name, p["required"])
					}
				} else if !slices.Contains(bodyRequired, any(name)) {
					t.Errorf("%s: required field %s is neither a required parameter nor in the body's required %v", id, name, bodyRequired)
				}
			}
		}
	}
}

func TestIdempotent(t *testing.T) {
	doc := readDoc(t)
	out, err := rewrite(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, doc) {
		t.Errorf("running the tool on %s changed it: run make generate (or the tool is not idempotent)", docPath)
	}
}

func TestRoundTrip(t *testing.T) {
	doc := readDoc(t)
	v, err := decode(doc)
	if err != nil {
		t.Fatal(err)
	}
	out, err := encode(v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, doc) {
		t.Error("decode then encode changed the document")
	}
}

// miniDoc is a document with a body schema written inline, as
// protoc-gen-openapiv2 does for some routes with path parameters.
const miniDoc = `{
  "paths": {
    "/v1/gpus/{resource_id}:reinstall": {
      "post": {
        "operationId": "GpuService_ReinstallGpu",
        "parameters": [
          {
            "name": "resource_id",
            "in": "path",
            "required": true,
            "type": "string"
          },
          {
            "name": "body",
            "in": "body",
            "required": true,
            "schema": {
              "type": "object",
              "properties": {
                "image_id": {
                  "type": "string"
                },
                "password": {
                  "type": "string"
                },
                "raid": {
                  "type": "integer",
                  "format": "int32"
                }
              }
            }
          }
        ]
      }
    }
  },
  "definitions": {}
}
`

func TestInlineBody(t *testing.T) {
	out, err := rewrite([]byte(miniDoc))
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "paths": {
    "/v1/gpus/{resource_id}:reinstall": {
      "post": {
        "operationId": "GpuService_ReinstallGpu",
        "parameters": [
          {
            "name": "resource_id",
            "in": "path",
            "required": true,
            "type": "string",
            "maxLength": 64,
            "minLength": 1,
            "pattern": "^[A-Za-z0-9_-]{1,64}$"
          },
          {
            "name": "body",
            "in": "body",
            "required": true,
            "schema": {
              "type": "object",
              "properties": {
                "image_id": {
                  "type": "string",
                  "maxLength": 64,
                  "minLength": 1,
                  "pattern": "^[A-Za-z0-9_-]{1,64}$"
                },
                "password": {
                  "type": "string",
                  "maxLength": 64,
                  "minLength": 8
                },
                "raid": {
                  "type": "integer",
                  "format": "int32",
                  "enum": [
                    0,
                    1,
                    5,
                    10,
                    -1,
                    -2
                  ]
                }
              },
              "required": [
                "image_id",
                "password"
              ]
            }
          }
        ]
      }
    }
  },
  "definitions": {}
}
`
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("inline body (-want +got):\n%s", diff)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"unknown operation", `{"paths": {"/x": {"get": {"operationId": "GpuService_Nope"}}}}`, "names no method"},
		{"JSON field names", `{"paths": {"/v1/gpus": {"post": {"operationId": "GpuService_CreateGpuInstance",
			"parameters": [{"name": "body", "in": "body", "schema": {"properties": {"regionId": {"type": "string"}}}}]}}}}`,
			"json_names_for_fields=false"},
		{"unknown parameter", `{"paths": {"/v1/gpus": {"get": {"operationId": "GpuService_DescribeGpu",
			"parameters": [{"name": "pageSize", "in": "query"}]}}}}`, `has no field "pageSize"`},
		{"missing definition", `{"paths": {"/v1/gpus": {"post": {"operationId": "GpuService_CreateGpuInstance",
			"parameters": [{"name": "body", "in": "body", "schema": {"$ref": "#/definitions/nope"}}]}}}, "definitions": {}}`,
			"no such definition"},
	}
	for _, tt := range tests {
		_, err := rewrite([]byte(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got error %v, want one with %q", tt.name, err, tt.want)
		}
	}
}

func TestPatternLengths(t *testing.T) {
	tests := []struct {
		re      string
		lo, hi  uint64
		bounded bool
	}{
		{"^[A-Za-z0-9_-]{1,64}$", 1, 64, true},
		{"^[0-9]{1,6}$", 1, 6, true},
		{"^ab(c|de)?$", 2, 4, true},
		{"^[a-z]+$", 1, 0, false},
		{"[a-z]{3}", 3, 3, false}, // unanchored: anything around it
		{"^x{2,}$", 2, 0, false},
	}
	for _, tt := range tests {
		lo, hi, bounded, err := patternLengths(tt.re)
		if err != nil {
			t.Fatal(err)
		}
		if lo != tt.lo || bounded != tt.bounded || (bounded && hi != tt.hi) {
			t.Errorf("%s: got %d..%d bounded %v, want %d..%d bounded %v", tt.re, lo, hi, bounded, tt.lo, tt.hi, tt.bounded)
		}
	}
}

// The id rule is read from the descriptor of the gpubms.v1.id extension.
func TestPredefinedFromDescriptor(t *testing.T) {
	xd := gpubmsv1.E_Id.TypeDescriptor()
	re, err := predefinedPattern(xd, protoreflect.ValueOfBool(true))
	if err != nil || re != "^[A-Za-z0-9_-]{1,64}$" {
		t.Errorf("gpubms.v1.id = true: got %q, %v", re, err)
	}
	if re, _ := predefinedPattern(xd, protoreflect.ValueOfBool(false)); re != "" {
		t.Errorf("gpubms.v1.id = false: got %q, want no pattern", re)
	}
}
