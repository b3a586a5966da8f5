package upstream

import (
	"context"
	"testing"
	"time"
)

// BenchmarkDescribeGpuGoodsCached is one DescribeGpuGoods call answered from
// the cache; provider-reqs/op is how many reached the provider.
func BenchmarkDescribeGpuGoodsCached(b *testing.B) {
	srv, n := cannedProvider(b, benchGoods)
	c := benchClient(b, srv, WithCache(CacheTTLs{Goods: time.Hour}))
	ctx := context.Background()
	req := &DescribeGpuGoodsRequest{RegionID: "CN_Hohhot_B"}
	if _, err := c.DescribeGpuGoods(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.DescribeGpuGoods(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n.Load()-1)/float64(b.N), "provider-reqs/op")
}
