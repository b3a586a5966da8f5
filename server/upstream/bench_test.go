package upstream

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// benchDetail is a canned DescribeGpuDetail reply in a valid envelope: the
// documented example, both eip spellings included.
const benchDetail = `{"Code":"Success","Message":"Success.","RequestId":"req-bench","Data":{"ResourceId":"19cd","BillStatus":"1","Cpu":32,
"CreateDate":"2020-04-30 11:22:41","ExpireDate":"2020-05-01 00:00:00","ImageName":"centos7.6_64","InstanceChargeType":"PrePaid",
"IsAutoRenewal":0,"Name":"openapi006","AppId":"2bba","AppName":"bms003","RegionId":"CN_Qingyang_A",
"Networks":{"NetworkCards":[{"Gateway":"10.240.57.1","Id":"69ed","IpAddress":"10.240.57.1","IpType":"subnet","IpVersion":"ipV4",
"Netmask":"255.255.0.0","Mac":["6C:92:BF:FF:BD:6A","6C:92:BF:FF:BD:6B"],"VlanId":"3214","WorkMode":"bond6",
"eipAddress":"60.165.239.111","eipLinkType":"电信"},{"Gateway":"10.240.58.1","Id":"69ee","IpAddress":"10.240.58.9","IpType":"private",
"IpVersion":"ipV4","Netmask":"255.255.255.0","Mac":["6C:92:BF:FF:BD:6C"],"VlanId":"3215","WorkMode":"bond6","EipAddress":"","EipLinkType":""}]},
"Ram":64,"RegionName":"中国大陆-庆阳-可用区A","RunningTime":"0天7小时18分钟55秒","State":"rebuilding","Status":"重装中",
"Volumes":[{"Capacity":480,"Id":"a5f1","Type":"hard","VolumeId":"454a","VolumePath":"sda","VolumeType":"SSD","UpdateDate":"2020-04-17T07:47:23.000+0000"},
{"Capacity":3200,"Id":"a5f2","Type":"hard","VolumeId":"454b","VolumePath":"sdb","VolumeType":"NVME","UpdateDate":"2020-04-17T07:47:23.000+0000"}]}}`

const benchGoods = `{"Code":"Success","Data":{"PostPaid":[{"Computes":[{"Cpu":32,"CpuInfo":"Intel Xeon Silver 4110","Disks":[{"Capacity":480,"Count":1,"Id":"ab72","Type":"SSD"}],
"Frequency":"2.1GHz","Id":"8fbd","Ram":64,"PurchaseNum":3}],"GoodsId":7685,"GoodsName":"GPU服务器-02SS01（公测）"}],"PrePaid":[]}}`

// cannedProvider answers every request with body, without checking the
// signature, and counts the requests.
func cannedProvider(b *testing.B, body string) (*httptest.Server, *atomic.Int64) {
	b.Helper()
	var n atomic.Int64
	payload := []byte(body)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(payload)
	}))
	b.Cleanup(srv.Close)
	return srv, &n
}

func benchClient(b *testing.B, srv *httptest.Server, opts ...Option) *Client {
	b.Helper()
	c, err := New(srv.URL+"/gpubms/v1", testKeyID, testSecret, opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.CloseIdleConnections)
	return c
}

// BenchmarkDescribeGpuDetail is one DescribeGpuDetail attempt over a
// kept-alive loopback connection: build, sign, send, read, decode.
func BenchmarkDescribeGpuDetail(b *testing.B) {
	srv, _ := cannedProvider(b, benchDetail)
	c := benchClient(b, srv)
	ctx := context.Background()
	req := &DescribeGpuDetailRequest{ResourceID: "19cd"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.DescribeGpuDetail(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDescribeGpuDetailConcurrent16 is 16 identical DescribeGpuDetail
// calls made at once, per iteration; provider-reqs/op is how many reached the
// provider.
func BenchmarkDescribeGpuDetailConcurrent16(b *testing.B) {
	srv, n := cannedProvider(b, benchDetail)
	c := benchClient(b, srv)
	ctx := context.Background()
	req := &DescribeGpuDetailRequest{ResourceID: "19cd"}
	b.ReportAllocs()
	for b.Loop() {
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				if _, err := c.DescribeGpuDetail(ctx, req); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	b.ReportMetric(float64(n.Load())/float64(b.N), "provider-reqs/op")
}

// BenchmarkDecodeReplyDetail is the envelope and Data decoding of one
// DescribeGpuDetail reply, without the network.
func BenchmarkDecodeReplyDetail(b *testing.B) {
	body := []byte(benchDetail)
	b.ReportAllocs()
	for b.Loop() {
		var out DescribeGpuDetailData
		if _, err := decodeReply(ActionDescribeGpuDetail, 200, nil, body, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDescribeGpuGoods is one DescribeGpuGoods call that reaches the
// provider (no cache): the baseline of BenchmarkDescribeGpuGoodsCached.
func BenchmarkDescribeGpuGoods(b *testing.B) {
	srv, _ := cannedProvider(b, benchGoods)
	c := benchClient(b, srv)
	ctx := context.Background()
	req := &DescribeGpuGoodsRequest{RegionID: "CN_Hohhot_B"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.DescribeGpuGoods(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
