package upstream

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpubms/gpubms/server/signature"
)

// The network (VPC) API: three POST reads at a base URL of their own, signed
// and enveloped like the GPU API's.

// vpcBasePath is the path of the stand-in VPC API's base URL: another server
// and another path than the GPU stand-in's /gpubms/v1.
const vpcBasePath = "/vpc"

// vpcStandIn is a client whose GPU and VPC base URLs are two different
// stand-in servers on two different paths. The GPU stand-in answers an error
// nothing expects, so that a VPC call sent there fails as well as being seen.
type vpcStandIn struct {
	c        *Client
	gpu, vpc *provider
}

func newVPCStandIn(t *testing.T, replies []reply, opts ...Option) *vpcStandIn {
	t.Helper()
	gpu := newProvider(t, fail(400, "WrongEndpoint", "a VPC action reached the GPU API"))
	vpc := newProvider(t, replies...)
	c := gpu.client(t, append([]Option{WithVPCBaseURL(vpc.srv.URL + vpcBasePath)}, opts...)...)
	return &vpcStandIn{c: c, gpu: gpu, vpc: vpc}
}

// checkVPCRequests checks that every request reached the VPC stand-in, none
// the GPU one, and that each is a signed POST of action at the VPC base path
// whose query holds the common parameters alone and whose body is body, byte
// for byte. It returns the requests.
func (s *vpcStandIn) checkVPCRequests(t *testing.T, action, body string) []seen {
	t.Helper()
	if got := s.gpu.requests(); len(got) != 0 {
		t.Errorf("got %d requests at the GPU base URL (first: %s %s), want none", len(got), got[0].Method, got[0].Path)
	}
	reqs := s.vpc.requests()
	nonces := map[string]bool{}
	for i, r := range reqs {
		if r.Method != http.MethodPost {
			t.Errorf("request %d: got method %s, want POST", i+1, r.Method)
		}
		if r.Path != vpcBasePath+"/" {
			t.Errorf("request %d: got path %q, want %q", i+1, r.Path, vpcBasePath+"/")
		}
		if r.SigErr != nil {
			t.Errorf("request %d: signature does not verify: %v", i+1, r.SigErr)
		}
		if r.ContentType != "application/json" {
			t.Errorf("request %d: got Content-Type %q, want application/json", i+1, r.ContentType)
		}
		wantCommon := map[string]string{
			signature.ParamAction: action, signature.ParamAccessKeyID: testKeyID,
			signature.ParamSignatureMethod: "HMAC-SHA1", signature.ParamSignatureVersion: "1.0",
			signature.ParamVersion: "2019-08-08", signature.ParamTimestamp: testNow.Format(signature.TimestampForm),
		}
		for k, want := range wantCommon {
			if got := r.Query[k]; len(got) != 1 || got[0] != want {
				t.Errorf("request %d: got query %s=%q, want [%q]", i+1, k, got, want)
			}
		}
		if r.Query.Get(signature.ParamSignature) == "" {
			t.Errorf("request %d: no Signature in the query", i+1)
		}
		if got := actionParams(r.Query); len(got) != 0 {
			t.Errorf("request %d: got action parameters %v in the query, want none", i+1, got)
		}
		if string(r.Body) != body {
			t.Errorf("request %d: got body %s, want %s", i+1, r.Body, body)
		}
		nonces[r.Query.Get(signature.ParamSignatureNonce)] = true
	}
	if len(nonces) != len(reqs) {
		t.Errorf("got %d distinct nonces over %d requests, want one per request", len(nonces), len(reqs))
	}
	return reqs
}

type vpcCase struct {
	name   string
	call   func(context.Context, *Client) (any, error)
	reply  reply
	action string
	body   string // the exact JSON body
	want   any
}

func describeVPC(req *DescribeVPCRequest) func(context.Context, *Client) (any, error) {
	return func(ctx context.Context, c *Client) (any, error) { return c.DescribeVPC(ctx, req) }
}

func describeSubnet(req *DescribeSubnetRequest) func(context.Context, *Client) (any, error) {
	return func(ctx context.Context, c *Client) (any, error) { return c.DescribeSubnet(ctx, req) }
}

func describeEIP(req *DescribeEIPRequest) func(context.Context, *Client) (any, error) {
	return func(ctx context.Context, c *Client) (any, error) { return c.DescribeEIP(ctx, req) }
}

const (
	vpcReplyFull = `{"Total":2,"VPCList":[
		{"VPCId":"b2ca4e8a","VPCNmae":"prod-vpc","VPCSegment":"10.15.0.0/16","Status":"ok","RegionCode":"CN_Hongkong","CreateTime":"2021-03-04 10:11:12"},
		{"VPCId":"c3db","VPCNmae":"测试网络","VPCSegment":"192.168.0.0/24","Status":"creating","RegionCode":"CN_Beijing","CreateTime":"2022-01-02 03:04:05"}]}`
	subnetReplyFull = `{"Total":1,"SubnetList":[{"SubnetId":"b2cc","SubnetName":"sub-a","SubnetSegment":"10.15.1.0/24",
		"UsedIPNum":17,"VPCId":"b2ca4e8a","VPCName":"prod-vpc","AvailableZoneCode":"CN_Hongkong_B","Status":"ok"}]}`
	eipReplyFull = `{"Total":2,"EIPList":[
		{"Id":"8e23","IP":"164.52.33.10","RegionCode":"CN_Hongkong","AvailableZoneCode":"CN_Hongkong_B","Status":"ok","Description":"bound one",
		 "IsBind":true,"CreateTime":"2021-05-06 07:08:09",
		 "BandwidthInfo":{"Id":"bw1","Name":"bw-one","Qos":100,"AvailableZoneCode":"CN_Hongkong_B","BandwidthType":"Bandwidth_China_Telecom",
		  "BillScheme":"BandwIdth","Status":"ok","CreateTime":"2021-05-06 07:08:10"},
		 "BindResourceInfo":{"SubnetId":"b2cc","SubnetIP":"10.15.1.5"}},
		{"Id":"9f34","IP":"164.52.33.11","RegionCode":"CN_Hongkong","AvailableZoneCode":"","Status":"ok","Description":"",
		 "IsBind":false,"CreateTime":"2021-05-07 00:00:00",
		 "BandwidthInfo":{"Id":"bw2","Name":"bw-two","Qos":5,"AvailableZoneCode":"","BandwidthType":"Bandwidth_BGP",
		  "BillScheme":"BandwIdth","Status":"ok","CreateTime":"2021-05-07 00:00:01"},
		 "BindResourceInfo":null}]}`
)

func vpcCases() []vpcCase {
	return []vpcCase{
		// DescribeVPC.
		{
			name:  "DescribeVPC/every field",
			call:  describeVPC(&DescribeVPCRequest{RegionCode: "CN_Hongkong", PageNumber: ptr[int32](2), Keyword: "prod"}),
			reply: ok(vpcReplyFull), action: ActionDescribeVPC,
			body: `{"RegionCode":"CN_Hongkong","PageNumber":2,"Keyword":"prod"}`,
			want: &DescribeVPCData{Total: 2, VPCList: []VPC{
				{VPCID: "b2ca4e8a", VPCName: "prod-vpc", VPCSegment: "10.15.0.0/16", Status: "ok", RegionCode: "CN_Hongkong", CreateTime: "2021-03-04 10:11:12"},
				{VPCID: "c3db", VPCName: "测试网络", VPCSegment: "192.168.0.0/24", Status: "creating", RegionCode: "CN_Beijing", CreateTime: "2022-01-02 03:04:05"},
			}},
		},
		{
			name: "DescribeVPC/empty request sends an empty object",
			call: describeVPC(&DescribeVPCRequest{}), reply: ok(`{"Total":0,"VPCList":[]}`), action: ActionDescribeVPC,
			body: `{}`, want: &DescribeVPCData{VPCList: []VPC{}},
		},
		{
			name: "DescribeVPC/nil request sends an empty object, data null",
			call: describeVPC(nil), reply: ok(`null`), action: ActionDescribeVPC,
			body: `{}`, want: &DescribeVPCData{},
		},
		{
			name: "DescribeVPC/page 0 is sent",
			call: describeVPC(&DescribeVPCRequest{PageNumber: ptr[int32](0)}), reply: ok(`{"Total":0}`), action: ActionDescribeVPC,
			body: `{"PageNumber":0}`, want: &DescribeVPCData{},
		},
		{
			name: "DescribeVPC/name as VPCName only",
			call: describeVPC(&DescribeVPCRequest{Keyword: "prod"}), action: ActionDescribeVPC,
			reply: ok(`{"Total":1,"VPCList":[{"VPCId":"v1","VPCName":"prod-vpc","VPCSegment":"10.0.0.0/8","Status":"ok","RegionCode":"CN_Hongkong","CreateTime":"t"}]}`),
			body:  `{"Keyword":"prod"}`,
			want:  &DescribeVPCData{Total: 1, VPCList: []VPC{{VPCID: "v1", VPCName: "prod-vpc", VPCSegment: "10.0.0.0/8", Status: "ok", RegionCode: "CN_Hongkong", CreateTime: "t"}}},
		},
		{
			name: "DescribeVPC/both spellings, the non-empty one wins",
			call: describeVPC(&DescribeVPCRequest{RegionCode: "CN_Hongkong"}), action: ActionDescribeVPC,
			reply: ok(`{"Total":5,"VPCList":[
				{"VPCId":"a","VPCNmae":"","VPCName":"by-name"},
				{"VPCId":"b","VPCNmae":"by-nmae","VPCName":""},
				{"VPCId":"c","VPCName":"by-name","VPCNmae":"by-nmae"},
				{"VPCId":"d","VPCNmae":"by-nmae","VPCName":"by-name"},
				{"VPCId":"e","VPCNmae":"","VPCName":""}]}`),
			body: `{"RegionCode":"CN_Hongkong"}`,
			want: &DescribeVPCData{Total: 5, VPCList: []VPC{
				{VPCID: "a", VPCName: "by-name"},
				{VPCID: "b", VPCName: "by-nmae"},
				// Both set: VPCNmae, the reference's spelling, wins
				// wherever it stands in the object.
				{VPCID: "c", VPCName: "by-nmae"},
				{VPCID: "d", VPCName: "by-nmae"},
				{VPCID: "e"},
			}},
		},
		// DescribeSubnet.
		{
			name: "DescribeSubnet/every field, page number a string",
			call: describeSubnet(&DescribeSubnetRequest{
				RegionCode: "CN_Hongkong", Keyword: "sub-a", PageNumber: "3", VPCID: "b2ca4e8a", AvailableZoneCode: "CN_Hongkong_B",
			}),
			reply: ok(subnetReplyFull), action: ActionDescribeSubnet,
			body: `{"RegionCode":"CN_Hongkong","Keyword":"sub-a","PageNumber":"3","VPCId":"b2ca4e8a","AvailableZoneCode":"CN_Hongkong_B"}`,
			want: &DescribeSubnetData{Total: 1, SubnetList: []Subnet{{
				SubnetID: "b2cc", SubnetName: "sub-a", SubnetSegment: "10.15.1.0/24", UsedIPNum: 17,
				VPCID: "b2ca4e8a", VPCName: "prod-vpc", AvailableZoneCode: "CN_Hongkong_B", Status: "ok",
			}}},
		},
		{
			name: "DescribeSubnet/region only",
			call: describeSubnet(&DescribeSubnetRequest{RegionCode: "CN_Hongkong"}), reply: ok(`{"Total":0,"SubnetList":[]}`),
			action: ActionDescribeSubnet, body: `{"RegionCode":"CN_Hongkong"}`, want: &DescribeSubnetData{SubnetList: []Subnet{}},
		},
		{
			name: "DescribeSubnet/nil request still sends the required region",
			call: describeSubnet(nil), reply: ok(`null`),
			action: ActionDescribeSubnet, body: `{"RegionCode":""}`, want: &DescribeSubnetData{},
		},
		// DescribeEIP.
		{
			name:  "DescribeEIP/every field, bound and unbound",
			call:  describeEIP(&DescribeEIPRequest{RegionCode: "CN_Hongkong", AvailableZoneCode: "CN_Hongkong_B", Keyword: "164.52.33.10"}),
			reply: ok(eipReplyFull), action: ActionDescribeEIP,
			body: `{"RegionCode":"CN_Hongkong","AvailableZoneCode":"CN_Hongkong_B","Keyword":"164.52.33.10"}`,
			want: &DescribeEIPData{Total: 2, EIPList: []EIP{
				{
					ID: "8e23", IP: "164.52.33.10", RegionCode: "CN_Hongkong", AvailableZoneCode: "CN_Hongkong_B", Status: "ok",
					Description: "bound one", IsBind: true, CreateTime: "2021-05-06 07:08:09",
					BandwidthInfo: Bandwidth{
						ID: "bw1", Name: "bw-one", Qos: 100, AvailableZoneCode: "CN_Hongkong_B", BandwidthType: "Bandwidth_China_Telecom",
						BillScheme: "BandwIdth", Status: "ok", CreateTime: "2021-05-06 07:08:10",
					},
					BindResourceInfo: &BindResource{SubnetID: "b2cc", SubnetIP: "10.15.1.5"},
				},
				{
					ID: "9f34", IP: "164.52.33.11", RegionCode: "CN_Hongkong", Status: "ok",
					IsBind: false, CreateTime: "2021-05-07 00:00:00",
					BandwidthInfo: Bandwidth{
						ID: "bw2", Name: "bw-two", Qos: 5, BandwidthType: "Bandwidth_BGP",
						BillScheme: "BandwIdth", Status: "ok", CreateTime: "2021-05-07 00:00:01",
					},
					BindResourceInfo: nil,
				},
			}},
		},
		{
			name: "DescribeEIP/region only, bind info missing",
			call: describeEIP(&DescribeEIPRequest{RegionCode: "CN_Hongkong"}), action: ActionDescribeEIP,
			reply: ok(`{"Total":1,"EIPList":[{"Id":"1","IP":"1.2.3.4","IsBind":false,"BandwidthInfo":{"Qos":1}}]}`),
			body:  `{"RegionCode":"CN_Hongkong"}`,
			want:  &DescribeEIPData{Total: 1, EIPList: []EIP{{ID: "1", IP: "1.2.3.4", BandwidthInfo: Bandwidth{Qos: 1}}}},
		},
		{
			name: "DescribeEIP/nil request still sends the required region",
			call: describeEIP(nil), reply: ok(`{}`),
			action: ActionDescribeEIP, body: `{"RegionCode":""}`, want: &DescribeEIPData{},
		},
	}
}

// TestVPCActions checks, for every VPC action, the exact request (POST, the
// VPC base URL's path and not the GPU one's, the body byte for byte, Action
// and a valid signature over the common parameters in the query) and the
// reply mapped field by field.
func TestVPCActions(t *testing.T) {
	t.Parallel()
	for _, tc := range vpcCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newVPCStandIn(t, []reply{tc.reply})
			got, err := tc.call(t.Context(), s.c)
			if err != nil {
				t.Fatalf("call: got error %v, want none", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("reply mismatch (-want +got):\n%s", diff)
			}
			if reqs := s.checkVPCRequests(t, tc.action, tc.body); len(reqs) != 1 {
				t.Errorf("got %d requests, want 1", len(reqs))
			}
		})
	}
}

// TestVPCBaseURL: the VPC actions go to the VPC base URL's path and the GPU
// actions to the GPU one's, on one server too; a trailing slash is trimmed;
// the default is the provider's VPC endpoint.
func TestVPCBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		vpcPath  string // appended to the server's URL
		wantPath string
	}{
		{name: "plain", vpcPath: "/vpc", wantPath: "/vpc/"},
		{name: "trailing slash", vpcPath: "/vpc/", wantPath: "/vpc/"},
		{name: "deeper path", vpcPath: "/openapi/network/vpc", wantPath: "/openapi/network/vpc/"},
		{name: "host only", vpcPath: "", wantPath: "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t, ok(`{}`))
			c := p.client(t, WithVPCBaseURL(p.srv.URL+tt.vpcPath))
			if _, err := c.DescribeGpuImage(t.Context(), &DescribeGpuImageRequest{ImageType: "public", RegionID: "CN_SJZ_B"}); err != nil {
				t.Fatalf("DescribeGpuImage: %v", err)
			}
			if _, err := c.DescribeVPC(t.Context(), &DescribeVPCRequest{}); err != nil {
				t.Fatalf("DescribeVPC: %v", err)
			}
			if _, err := c.DescribeGpuTask(t.Context(), &DescribeGpuTaskRequest{TaskID: "t"}); err != nil {
				t.Fatalf("DescribeGpuTask: %v", err)
			}
			var got [][2]string
			for _, r := range p.requests() {
				if r.SigErr != nil {
					t.Errorf("%s: signature does not verify: %v", r.Query.Get(signature.ParamAction), r.SigErr)
				}
				got = append(got, [2]string{r.Query.Get(signature.ParamAction), r.Path})
			}
			want := [][2]string{
				{ActionDescribeGpuImage, "/gpubms/v1/"},
				{ActionDescribeVPC, tt.wantPath},
				{ActionDescribeGpuTask, "/gpubms/v1/"},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(action, path) of the requests (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("default", func(t *testing.T) {
		t.Parallel()
		c, err := New("", "AK", "s")
		if err != nil {
			t.Fatal(err)
		}
		if want := DefaultVPCBaseURL + "/?"; c.vpcPrefix != want {
			t.Errorf("got VPC prefix %q, want %q", c.vpcPrefix, want)
		}
		if want := DefaultBaseURL + "/?"; c.prefix != want {
			t.Errorf("got GPU prefix %q, want %q", c.prefix, want)
		}
		u, err := url.Parse(DefaultVPCBaseURL)
		if err != nil || u.Scheme != "https" || u.Host != "cdsapi.capitalonline.net" || u.Path != "/vpc" {
			t.Errorf("DefaultVPCBaseURL %q is not https://cdsapi.capitalonline.net/vpc", DefaultVPCBaseURL)
		}
	})
}

// TestNewValidatesVPCBaseURL: New refuses a VPC base URL that is not an
// absolute http(s) URL without query or user info.
func TestNewValidatesVPCBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		vpc     string
		wantErr bool
	}{
		{name: "unset is the default", vpc: ""},
		{name: "https", vpc: "https://cdsapi.capitalonline.net/vpc"},
		{name: "http with port and slash", vpc: "http://127.0.0.1:1/vpc/"},
		{name: "relative", vpc: "/vpc", wantErr: true},
		{name: "host without scheme", vpc: "cdsapi.capitalonline.net/vpc", wantErr: true},
		{name: "ftp scheme", vpc: "ftp://cdsapi.capitalonline.net/vpc", wantErr: true},
		{name: "with query", vpc: "https://cdsapi.capitalonline.net/vpc?a=b", wantErr: true},
		{name: "with user info", vpc: "https://u:p@cdsapi.capitalonline.net/vpc", wantErr: true},
		{name: "with fragment", vpc: "https://cdsapi.capitalonline.net/vpc#x", wantErr: true},
		{name: "with an empty query", vpc: "https://cdsapi.capitalonline.net/vpc?", wantErr: true},
		{name: "no host", vpc: "https:///vpc", wantErr: true},
		{name: "does not parse", vpc: "http://[::1/vpc", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := New("https://api.capitalonline.net/gpubms/v1", "AK", "s", WithVPCBaseURL(tt.vpc))
			if !tt.wantErr {
				if err != nil || c == nil {
					t.Fatalf("New: got %v, %v; want a client", c, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New: got no error for VPC base URL %q", tt.vpc)
			}
			if !strings.Contains(err.Error(), "vpc base url") {
				t.Errorf("New: got error %q, want one naming the vpc base url", err)
			}
		})
	}
}

// TestVPCErrors: a non-Success Code from the VPC API is the same typed
// *Error, with code, message and request id, that the GPU actions return for
// the same reply; a final error is not retried.
func TestVPCErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		call   func(context.Context, *Client) (any, error)
		action string
		body   string
		reply  reply
		want   *Error
	}{
		{
			name: "DescribeVPC/VdcNotFound under 400", call: describeVPC(&DescribeVPCRequest{RegionCode: "CN_Nowhere"}),
			action: ActionDescribeVPC, body: `{"RegionCode":"CN_Nowhere"}`,
			reply: reply{status: 400, body: `{"Code":"VdcNotFound","Message":"数据中心不存在","RequestId":"rid-vdc","Data":null}`},
			want:  &Error{Action: ActionDescribeVPC, HTTPStatus: 400, Code: CodeVdcNotFound, Message: "数据中心不存在", RequestID: "rid-vdc", Attempts: 1},
		},
		{
			name: "DescribeSubnet/ParameterIsEmpty under 200", call: describeSubnet(&DescribeSubnetRequest{}),
			action: ActionDescribeSubnet, body: `{"RegionCode":""}`,
			reply: reply{status: 200, body: `{"Code":"ParameterIsEmpty","Message":"RegionCode 不能为空","RequestId":"rid-empty"}`},
			want:  &Error{Action: ActionDescribeSubnet, HTTPStatus: 200, Code: CodeParameterIsEmpty, Message: "RegionCode 不能为空", RequestID: "rid-empty", Attempts: 1},
		},
		{
			name: "DescribeEIP/Msg and request id in a header", call: describeEIP(&DescribeEIPRequest{RegionCode: "CN_Hongkong", Keyword: "x"}),
			action: ActionDescribeEIP, body: `{"RegionCode":"CN_Hongkong","Keyword":"x"}`,
			reply: reply{status: 400, body: `{"Code":"ParameterInvalid","Msg":"Keyword 无效"}`, header: map[string]string{"X-Request-Id": "rid-hdr"}},
			want:  &Error{Action: ActionDescribeEIP, HTTPStatus: 400, Code: CodeParameterInvalid, Message: "Keyword 无效", RequestID: "rid-hdr", Attempts: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newVPCStandIn(t, []reply{tt.reply, ok(`{}`)})
			ctx, counter := WithAttemptCounter(t.Context())
			got, err := tt.call(ctx, s.c)
			e, ok := AsError(err)
			if !ok {
				t.Fatalf("got %v (%T), %v; want *Error", got, err, err)
			}
			if diff := cmp.Diff(tt.want, e); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
			if IsTemporary(err) {
				t.Errorf("%v: IsTemporary true, want a final error", err)
			}
			if counter.RequestID() != tt.want.RequestID || counter.Load() != 1 {
				t.Errorf("counter: got %d requests, request id %q; want 1, %q", counter.Load(), counter.RequestID(), tt.want.RequestID)
			}
			if reqs := s.checkVPCRequests(t, tt.action, tt.body); len(reqs) != 1 {
				t.Errorf("got %d requests, want 1 (a final error is not retried)", len(reqs))
			}
			mustNotLeak(t, "error", err.Error())

			// The GPU API's reads map the same reply to the same error.
			p := newProvider(t, tt.reply)
			_, gerr := p.client(t).DescribeGpuImage(t.Context(), &DescribeGpuImageRequest{ImageType: "public", RegionID: "r"})
			ge, ok := AsError(gerr)
			if !ok {
				t.Fatalf("GPU action: got %T %v, want *Error", gerr, gerr)
			}
			gpuAsVPC := *ge
			gpuAsVPC.Action = tt.want.Action
			if diff := cmp.Diff(&gpuAsVPC, e); diff != "" {
				t.Errorf("the VPC error differs from the GPU action's for the same reply (-gpu +vpc):\n%s", diff)
			}
		})
	}
}

// TestVPCReadRetries: the VPC actions are reads: transient failures are
// retried, each attempt signed afresh and sent to the VPC base URL, up to the
// client's bound; final errors are not. The waits are recorded, not slept.
func TestVPCReadRetries(t *testing.T) {
	t.Parallel()
	type actionCall struct {
		action, body string
		call         func(context.Context, *Client) (any, error)
		data         string
	}
	actions := []actionCall{
		{ActionDescribeVPC, `{"RegionCode":"CN_Hongkong"}`, describeVPC(&DescribeVPCRequest{RegionCode: "CN_Hongkong"}), `{"Total":1,"VPCList":[{"VPCId":"v"}]}`},
		{ActionDescribeSubnet, `{"RegionCode":"CN_Hongkong","VPCId":"v"}`, describeSubnet(&DescribeSubnetRequest{RegionCode: "CN_Hongkong", VPCID: "v"}), `{"Total":1,"SubnetList":[{"SubnetId":"s"}]}`},
		{ActionDescribeEIP, `{"RegionCode":"CN_Hongkong"}`, describeEIP(&DescribeEIPRequest{RegionCode: "CN_Hongkong"}), `{"Total":1,"EIPList":[{"Id":"e"}]}`},
	}
	tests := []struct {
		name        string
		maxAttempts int // 0: the stand-in client's 3
		replies     func(data string) []reply
		wantReqs    int
		wantCode    string // of the final *Error; "" with wantKind 0: success
		wantKind    Kind   // of the final *TransportError
	}{
		{
			name: "5xx then success",
			replies: func(d string) []reply {
				return []reply{{status: 503, body: "<html>busy</html>"}, {status: 502, body: "bad gateway"}, ok(d)}
			},
			wantReqs: 3,
		},
		{
			name:     "InternalError then success",
			replies:  func(d string) []reply { return []reply{fail(400, CodeInternalError, "boom"), ok(d)} },
			wantReqs: 2,
		},
		{
			name:     "throttled then success",
			replies:  func(d string) []reply { return []reply{fail(400, "Throttling.User", "too fast"), ok(d)} },
			wantReqs: 2,
		},
		{
			name:     "network failure then success",
			replies:  func(d string) []reply { return []reply{{abort: true}, ok(d)} },
			wantReqs: 2,
		},
		{
			name:     "5xx exhausts the attempts",
			replies:  func(string) []reply { return []reply{fail(503, "ServiceUnavailable", "down")} },
			wantReqs: 3, wantCode: "ServiceUnavailable",
		},
		{
			name: "the bound is the client's", maxAttempts: 5,
			replies:  func(string) []reply { return []reply{fail(500, CodeInternalError, "down")} },
			wantReqs: 5, wantCode: CodeInternalError,
		},
		{
			name: "no retries when the bound is 1", maxAttempts: 1,
			replies:  func(d string) []reply { return []reply{{status: 503, body: "busy"}, ok(d)} },
			wantReqs: 1, wantKind: KindMalformed,
		},
		{
			name:     "network failures exhaust the attempts",
			replies:  func(string) []reply { return []reply{{abort: true}} },
			wantReqs: 3, wantKind: KindNetwork,
		},
		{
			name:     "VdcNotFound is final",
			replies:  func(d string) []reply { return []reply{fail(400, CodeVdcNotFound, "不存在"), ok(d)} },
			wantReqs: 1, wantCode: CodeVdcNotFound,
		},
		{
			name:     "ParameterIsEmpty is final",
			replies:  func(d string) []reply { return []reply{fail(400, CodeParameterIsEmpty, "RegionCode"), ok(d)} },
			wantReqs: 1, wantCode: CodeParameterIsEmpty,
		},
	}
	for _, a := range actions {
		for _, tt := range tests {
			t.Run(a.action+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				var opts []Option
				if tt.maxAttempts != 0 {
					opts = append(opts, WithRetry(tt.maxAttempts, time.Microsecond, 10*time.Microsecond))
				}
				s := newVPCStandIn(t, tt.replies(a.data), opts...)
				var waits sleeps
				waits.install(s.c, s.vpc)
				ctx, counter := WithAttemptCounter(t.Context())
				got, err := a.call(ctx, s.c)
				reqs := s.checkVPCRequests(t, a.action, a.body)
				if len(reqs) != tt.wantReqs || counter.Load() != int64(tt.wantReqs) {
					t.Errorf("got %d requests (counter %d), want %d", len(reqs), counter.Load(), tt.wantReqs)
				}
				if len(waits.waits) != tt.wantReqs-1 {
					t.Errorf("got %d waits between attempts, want %d", len(waits.waits), tt.wantReqs-1)
				}
				switch {
				case tt.wantCode != "":
					e, ok := AsError(err)
					if !ok || e.Code != tt.wantCode || e.Action != a.action || e.Attempts != tt.wantReqs {
						t.Errorf("got %T %v, want *Error %s of %s after %d attempts", err, err, tt.wantCode, a.action, tt.wantReqs)
					}
				case tt.wantKind != 0:
					e, ok := AsTransportError(err)
					if !ok || e.Kind != tt.wantKind || e.Action != a.action || e.Attempts != tt.wantReqs {
						t.Errorf("got %T %v, want *TransportError %v of %s after %d attempts", err, err, tt.wantKind, a.action, tt.wantReqs)
					}
				default:
					if err != nil {
						t.Fatalf("got error %v, want success", err)
					}
					if got == nil {
						t.Fatal("got no reply")
					}
				}
			})
		}
	}
}

// TestVPCCache: with CacheTTLs{Networks: d}, identical VPC reads within d
// make one provider request and different bodies make one each; the entry
// expires at d; the other TTLs do not cache the network reads; failures are
// not cached.
func TestVPCCache(t *testing.T) {
	t.Parallel()
	const ttl = 30 * time.Second

	t.Run("DescribeVPC identical within the TTL, different bodies, expiry", func(t *testing.T) {
		t.Parallel()
		clock := newFakeClock()
		var ev cacheEvents
		s := newVPCStandIn(t, []reply{
			withRID("rid-1", `{"Total":1,"VPCList":[{"VPCId":"v1","VPCNmae":"one"}]}`),
			withRID("rid-2", `{"Total":1,"VPCList":[{"VPCId":"v2","VPCNmae":"two"}]}`),
			withRID("rid-3", `{"Total":1,"VPCList":[{"VPCId":"v3","VPCNmae":"three"}]}`),
		}, WithNow(clock.now), WithCache(CacheTTLs{Networks: ttl}), WithCacheObserver(ev.observe))
		req := &DescribeVPCRequest{RegionCode: "CN_Hongkong", Keyword: "prod"}

		first, err := s.c.DescribeVPC(t.Context(), req)
		if err != nil || first.VPCList[0].VPCID != "v1" {
			t.Fatalf("first call: got %+v, %v; want v1", first, err)
		}
		clock.advance(ttl - time.Second)
		ctx, counter := WithAttemptCounter(t.Context())
		// An equal request in another value is the same read.
		second, err := s.c.DescribeVPC(ctx, &DescribeVPCRequest{RegionCode: "CN_Hongkong", Keyword: "prod"})
		if err != nil || second != first {
			t.Fatalf("second call: got %p, %v; want the cached %p", second, err, first)
		}
		if age, ok := counter.CacheAge(); !ok || age != ttl-time.Second || counter.Load() != 0 || counter.RequestID() != "rid-1" {
			t.Errorf("second call: got age %v (cached %v), %d requests, request id %q; want %v, 0, rid-1",
				age, ok, counter.Load(), counter.RequestID(), ttl-time.Second)
		}
		if n := s.vpc.n.Load(); n != 1 {
			t.Fatalf("after two identical calls within the TTL: got %d provider requests, want 1", n)
		}

		other, err := s.c.DescribeVPC(t.Context(), &DescribeVPCRequest{RegionCode: "CN_Hongkong", Keyword: "test"})
		if err != nil || other.VPCList[0].VPCID != "v2" {
			t.Fatalf("different body: got %+v, %v; want v2", other, err)
		}
		if n := s.vpc.n.Load(); n != 2 {
			t.Fatalf("after a different body: got %d provider requests, want 2", n)
		}

		clock.advance(time.Second) // the first entry's TTL has passed
		third, err := s.c.DescribeVPC(t.Context(), req)
		if err != nil || third.VPCList[0].VPCID != "v3" {
			t.Fatalf("after the TTL: got %+v, %v; want a fresh v3", third, err)
		}
		if n := s.vpc.n.Load(); n != 3 {
			t.Errorf("got %d provider requests, want 3", n)
		}
		bodies := []string{}
		for _, r := range s.vpc.requests() {
			bodies = append(bodies, string(r.Body))
		}
		wantBodies := []string{
			`{"RegionCode":"CN_Hongkong","Keyword":"prod"}`,
			`{"RegionCode":"CN_Hongkong","Keyword":"test"}`,
			`{"RegionCode":"CN_Hongkong","Keyword":"prod"}`,
		}
		if diff := cmp.Diff(wantBodies, bodies); diff != "" {
			t.Errorf("bodies sent (-want +got):\n%s", diff)
		}
		want := map[[2]string]int{{ActionDescribeVPC, CacheMiss}: 3, {ActionDescribeVPC, CacheHit}: 1}
		if diff := cmp.Diff(want, ev.all()); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})

	t.Run("nil and empty DescribeVPC requests are one read", func(t *testing.T) {
		t.Parallel()
		s := newVPCStandIn(t, []reply{ok(`{"Total":0}`)}, WithCache(CacheTTLs{Networks: ttl}))
		for i, req := range []*DescribeVPCRequest{nil, {}, nil} {
			if _, err := s.c.DescribeVPC(t.Context(), req); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		if n := s.vpc.n.Load(); n != 1 {
			t.Errorf("got %d provider requests, want 1", n)
		}
	})

	t.Run("VPCs and subnets cached, keyed by action and body; EIPs never", func(t *testing.T) {
		t.Parallel()
		var ev cacheEvents
		s := newVPCStandIn(t, []reply{ok(`{"Total":1}`), ok(`{"Total":2}`), ok(`{"Total":3}`), ok(`{"Total":4}`), ok(`{"Total":5}`)},
			WithCache(CacheTTLs{Networks: ttl}), WithCacheObserver(ev.observe))
		totals := func() [4]int32 {
			t.Helper()
			subnet, err1 := s.c.DescribeSubnet(t.Context(), &DescribeSubnetRequest{RegionCode: "CN_Hongkong"})
			eip, err2 := s.c.DescribeEIP(t.Context(), &DescribeEIPRequest{RegionCode: "CN_Hongkong"})
			page, err3 := s.c.DescribeSubnet(t.Context(), &DescribeSubnetRequest{RegionCode: "CN_Hongkong", PageNumber: "2"})
			// The same body as the first subnet read's, another action.
			vpc, err4 := s.c.DescribeVPC(t.Context(), &DescribeVPCRequest{RegionCode: "CN_Hongkong"})
			for _, err := range []error{err1, err2, err3, err4} {
				if err != nil {
					t.Fatal(err)
				}
			}
			return [4]int32{subnet.Total, eip.Total, page.Total, vpc.Total}
		}
		first := totals()
		if want := [4]int32{1, 2, 3, 4}; first != want {
			t.Fatalf("first round: got totals %v, want %v (one reply per distinct read)", first, want)
		}
		if again, want := totals(), [4]int32{1, 5, 3, 4}; again != want {
			t.Errorf("second round: got totals %v, want %v (all cached but the EIPs)", again, want)
		}
		if n := s.vpc.n.Load(); n != 5 {
			t.Errorf("got %d provider requests, want 5", n)
		}
		want := map[[2]string]int{
			{ActionDescribeSubnet, CacheMiss}: 2, {ActionDescribeSubnet, CacheHit}: 2,
			{ActionDescribeVPC, CacheMiss}: 1, {ActionDescribeVPC, CacheHit}: 1,
		}
		if diff := cmp.Diff(want, ev.all()); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})

	t.Run("the catalogue TTLs leave the network reads uncached", func(t *testing.T) {
		t.Parallel()
		var ev cacheEvents
		s := newVPCStandIn(t, []reply{ok(`{}`)}, WithCache(allTTLs), WithCacheObserver(ev.observe))
		for range 2 {
			if _, err := s.c.DescribeVPC(t.Context(), &DescribeVPCRequest{}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.c.DescribeEIP(t.Context(), &DescribeEIPRequest{RegionCode: "r"}); err != nil {
				t.Fatal(err)
			}
		}
		if n := s.vpc.n.Load(); n != 4 {
			t.Errorf("got %d provider requests, want 4", n)
		}
		if got := ev.all(); len(got) != 0 {
			t.Errorf("got cache events %v, want none", got)
		}
	})

	t.Run("failures are not cached", func(t *testing.T) {
		t.Parallel()
		s := newVPCStandIn(t, []reply{fail(400, CodeVdcNotFound, "不存在"), ok(`{"Total":1}`)}, WithCache(CacheTTLs{Networks: ttl}))
		req := &DescribeVPCRequest{RegionCode: "CN_Nowhere"}
		if _, err := s.c.DescribeVPC(t.Context(), req); Code(err) != CodeVdcNotFound {
			t.Fatalf("first call: got %v, want %s", err, CodeVdcNotFound)
		}
		for i := range 2 {
			if d, err := s.c.DescribeVPC(t.Context(), req); err != nil || d.Total != 1 {
				t.Fatalf("call %d: got %+v, %v", i+2, d, err)
			}
		}
		if n := s.vpc.n.Load(); n != 2 {
			t.Errorf("got %d provider requests, want 2 (the error, then one success cached)", n)
		}
	})

	t.Run("NoCache asks again", func(t *testing.T) {
		t.Parallel()
		s := newVPCStandIn(t, []reply{ok(`{"Total":1}`), ok(`{"Total":2}`)}, WithCache(CacheTTLs{Networks: ttl}))
		req := &DescribeSubnetRequest{RegionCode: "CN_Hongkong"}
		if d, err := s.c.DescribeSubnet(t.Context(), req); err != nil || d.Total != 1 {
			t.Fatalf("first call: got %+v, %v", d, err)
		}
		if d, err := s.c.DescribeSubnet(NoCache(t.Context()), req); err != nil || d.Total != 2 {
			t.Fatalf("NoCache call: got %+v, %v; want the fresh total 2", d, err)
		}
		if d, err := s.c.DescribeSubnet(t.Context(), req); err != nil || d.Total != 2 {
			t.Fatalf("third call: got %+v, %v; want the refreshed total 2", d, err)
		}
		if n := s.vpc.n.Load(); n != 2 {
			t.Errorf("got %d provider requests, want 2", n)
		}
	})
}

// TestVPCUnmarshal covers the name quirk on its own, outside the envelope.
func TestVPCUnmarshal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     VPC
		wantErr  bool
	}{
		{name: "VPCNmae only", in: `{"VPCId":"v","VPCNmae":"n"}`, want: VPC{VPCID: "v", VPCName: "n"}},
		{name: "VPCName only", in: `{"VPCId":"v","VPCName":"n"}`, want: VPC{VPCID: "v", VPCName: "n"}},
		{name: "both, VPCNmae empty", in: `{"VPCNmae":"","VPCName":"n"}`, want: VPC{VPCName: "n"}},
		{name: "both, VPCName empty", in: `{"VPCName":"","VPCNmae":"n"}`, want: VPC{VPCName: "n"}},
		{name: "both set, VPCNmae wins", in: `{"VPCName":"name","VPCNmae":"nmae"}`, want: VPC{VPCName: "nmae"}},
		{name: "null name", in: `{"VPCNmae":null,"VPCName":"n"}`, want: VPC{VPCName: "n"}},
		{name: "neither", in: `{"VPCId":"v","Status":"ok"}`, want: VPC{VPCID: "v", Status: "ok"}},
		{name: "wrong type", in: `{"VPCNmae":1}`, wantErr: true},
		{name: "not an object", in: `[]`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got VPC
			err := got.UnmarshalJSON([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			}
		})
	}
}
