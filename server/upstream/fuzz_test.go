package upstream

import (
	"testing"
)

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
