package upstream

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var fuzzSeeds = []string{
	`{"Code":"Success","Message":"Success.","Data":{"taskId":"f232"}}`,
	`{"Code":"Success","Msg":"ok","Data":{"ResourceIds":["a"],"TaskIds":"b"}}`,
	`{"Code":"Success","Data":{"Ubuntu":[{"Id":"x","Name":"u","Type":"public"}],"Redhat":[]}}`,
	`{"Code":"Success","Data":{"Networks":{"NetworkCards":[{"eipAddress":"1.2.3.4","EipLinkType":"BGP","Mac":["m"]}]}}}`,
	`{"Code":"Success","Data":{"Records":[{"Name":"n","Networks":{"NetworkCards":[{"EipAddress":"","eipAddress":"1.2.3.4"}]}}],"TotalCount":1}}`,
	`{"Code":"Success","Data":{"Status":"weird","ResourceIds":null}}`,
	`{"Code":"Success","Data":{"TradeAmount":1.5,"UnitPrice":"2"}}`,
	`{"Code":"Success","Data":[{"RegionId":"r"}]}`,
	`{"Code":"Success","RequestId":"q\u00e9","Data":{"PrePaid":[{"GoodsId":1,"Computes":[{"PurchaseNum":null}]}]}}`,
	`{"Code":"InstanceNotFound","Message":"实例不存在","RequestId":"q"}`,
	`{"Code":"InstanceNotFound","Data":{"ResourceId":"x"}}`,
	`{"Code":"Success","Data":null}`,
	`{"Code":""}`,
	`<html>502</html>`,
	``,
	`null`,
	`[]`,
	"\ufeff{\"Code\":\"Success\"}",
}

// FuzzDecodeReply feeds arbitrary bodies and statuses to the envelope
// decoder with every quirky Data type: it must never panic, and its outcome
// is always success, a provider *Error with a non-Success code, or a
// KindMalformed *TransportError.
func FuzzDecodeReply(f *testing.F) {
	seeds := []string{
		`{"Code":"Success","Message":"Success.","Data":{"taskId":"f232"}}`,
		`{"Code":"Success","Msg":"ok","Data":{"ResourceIds":["a"],"TaskIds":"b"}}`,
		`{"Code":"Success","Data":{"Ubuntu":[{"Id":"x","Name":"u","Type":"public"}],"Redhat":[]}}`,
		`{"Code":"Success","Data":{"Networks":{"NetworkCards":[{"eipAddress":"1.2.3.4","EipLinkType":"BGP","Mac":["m"]}]}}}`,
		`{"Code":"Success","Data":{"Status":"weird","ResourceIds":null}}`,
		`{"Code":"Success","Data":{"TradeAmount":1.5,"UnitPrice":"2"}}`,
		`{"Code":"Success","Data":[{"RegionId":"r"}]}`,
		`{"Code":"InstanceNotFound","Message":"实例不存在","RequestId":"q"}`,
		`{"Code":"Success","Data":null}`,
		`{"Code":""}`,
		`<html>502</html>`,
		``,
		`null`,
		`[]`,
		"\ufeff{\"Code\":\"Success\"}",
	}
	for i, s := range seeds {
		f.Add(s, 200+100*(i%4))
	}
	f.Fuzz(func(t *testing.T, body string, status int) {
		outs := []any{
			new(DescribeGpuDetailData), new(DescribeGpuImageData), new(OperateGpuPowerData),
			new(CreateGpuInstanceData), new(ReinstallGpuData), new(DescribeGpuTaskData),
			new(DescribeGpuGoodsPriceData), new([]Region), new(DescribeGpuData), nil,
		}
		for _, out := range outs {
			_, err := decodeReply("Fuzz", status, nil, []byte(body), out)
			if err == nil {
				continue
			}
			if e, ok := AsError(err); ok {
				if e.Code == "" || e.Code == CodeSuccess {
					t.Fatalf("provider error with code %q", e.Code)
				}
				continue
			}
			if e, ok := AsTransportError(err); !ok || e.Kind != KindMalformed {
				t.Fatalf("got %T %v, want *Error or KindMalformed", err, err)
			}
		}
	})
}

// FuzzOnePassMatchesTwoStep: the one-pass decoding of a reply (envelope and
// Data together, through the wire types) gives what the careful two-step
// decoding does, value, request id and error alike. Bodies whose top-level
// keys repeat (under encoding/json's case folding) are left out: the two
// resolve a repeated Data differently, and the provider sends none.
func FuzzOnePassMatchesTwoStep(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add(s, 200+100*(i%4))
	}
	f.Fuzz(func(t *testing.T, body string, status int) {
		if repeatsTopKey(body) {
			t.Skip()
		}
		for _, mk := range fuzzOuts {
			fast, slow := decoded{val: mk()}, decoded{val: mk()}
			fast.rid, fast.err = decodeReply("Fuzz", status, nil, []byte(body), fast.val)
			slow.err = decodeEnvelope("Fuzz", status, nil, bytes.TrimPrefix(bytes.TrimSpace([]byte(body)), []byte("\xef\xbb\xbf")), slow.val, &slow.rid)
			sameDecoding(t, slow, fast, "-two-step +one-pass")
		}
	})
}

// decoded is one decoding of a reply.
type decoded struct {
	rid string
	err error
	val any // what it decoded into
}

// sameDecoding fails t unless got is want: the same error (its cause
// aside), or else the same request id and value. diff names the two.
func sameDecoding(t *testing.T, want, got decoded, diff string) {
	t.Helper()
	if d := cmp.Diff(want.err, got.err, cmpopts.IgnoreFields(TransportError{}, "Err"), cmpopts.IgnoreUnexported(TransportError{})); d != "" {
		t.Fatalf("%T: errors differ (%s):\n%s\nwant %v\ngot %v", got.val, diff, d, want.err, got.err)
	}
	if got.err != nil {
		return
	}
	if got.rid != want.rid {
		t.Fatalf("%T: request id %q, want %q", got.val, got.rid, want.rid)
	}
	if d := cmp.Diff(want.val, got.val); d != "" {
		t.Fatalf("%T: values differ (%s):\n%s", got.val, diff, d)
	}
}

var fuzzOuts = []func() any{
	func() any { return new(DescribeGpuDetailData) }, func() any { return new(DescribeGpuData) },
	func() any { return new(DescribeGpuImageData) }, func() any { return new(OperateGpuPowerData) },
	func() any { return new(CreateGpuInstanceData) }, func() any { return new(ReinstallGpuData) },
	func() any { return new(DescribeGpuTaskData) }, func() any { return new(DescribeGpuGoodsPriceData) },
	func() any { return new([]Region) }, func() any { return new(DescribeGpuGoodsData) },
}

// repeatsTopKey reports whether body is a JSON object with two top-level
// keys that encoding/json would match to one field.
func repeatsTopKey(body string) bool {
	dec := json.NewDecoder(strings.NewReader(strings.TrimPrefix(strings.TrimSpace(body), "\ufeff")))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		key, _ := tok.(string)
		folded := strings.ToUpper(strings.ToLower(key))
		if seen[folded] {
			return true
		}
		seen[folded] = true
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return false
		}
	}
	return false
}
