package emulator

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestDescribeRegions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var got []struct{ RegionID, RegionName string }
	res := h.ok("DescribeGpuRegions", nil, &got)
	if !strings.Contains(res.raw, `{"RegionId":"CN_Hohhot_B","RegionName":"中国大陆-呼和浩特-可用区B"}`) {
		t.Errorf("regions %s do not hold the documented CN_Hohhot_B", res.Data)
	}
	if len(got) < 3 {
		t.Errorf("got %d regions, want at least 3", len(got))
	}
}

func TestDescribeGoods(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var g goodsList
	h.ok("DescribeGpuGoods", url.Values{"RegionId": {"CN_Hohhot_B"}}, &g)
	if len(g.PostPaid) == 0 || g.PostPaid[0].GoodsID != 7685 {
		t.Fatalf("PostPaid = %+v, want goods 7685 first", g.PostPaid)
	}
	c := g.PostPaid[0].Computes[0]
	if c.ID != "8fbdb61e-b941-46db-89f6-f8953b278ec9" || c.PurchaseNum != 10 {
		t.Errorf("7685's compute: got %s with PurchaseNum %d, want 8fbdb61e-... with 10", c.ID, c.PurchaseNum)
	}
	if d := c.Disks[0]; d.ID != "ab72e15b-f3ab-4448-9094-ab271813f405" || d.Type != "SSD" || d.Capacity != 480 || d.Count != 1 {
		t.Errorf("7685's disk: got %+v, want the documented SSD 480 x1", d)
	}
	if !slices.ContainsFunc(g.PrePaid, func(e goodsEntry) bool { return e.GoodsID == 7793 }) {
		t.Errorf("PrePaid %+v lacks goods 7793", g.PrePaid)
	}

	// A region with no PostPaid goods sends null, as the provider does.
	res := h.ok("DescribeGpuGoods", url.Values{"RegionId": {"CN_SJZ_B"}}, &g)
	if !strings.Contains(string(res.Data), `"PostPaid":null`) {
		t.Errorf("CN_SJZ_B goods %s: want PostPaid null", res.Data)
	}
	h.fails("DescribeGpuGoods", url.Values{"RegionId": {"CN_Nowhere"}}, codeParameterInvalid)
	h.fails("DescribeGpuGoods", nil, codeParameterIsEmpty)
}

func TestDescribePrice(t *testing.T) {
	t.Parallel()
	body := func(edit func(m map[string]any)) map[string]any {
		m := map[string]any{
			"RegionId": "CN_Hohhot_B", "GoodsId": 7685, "ComputeId": "8fbdb61e-b941-46db-89f6-f8953b278ec9",
			"InstanceChargeType": "PrePaid", "PrepaidMonth": 1, "Amount": 1,
		}
		if edit != nil {
			edit(m)
		}
		return m
	}
	prices := []struct {
		name        string
		body        map[string]any
		trade, unit string
	}{
		{"documented example", body(nil), "666.00", "666.00"},
		{"ten servers", body(func(m map[string]any) { m["Amount"] = 10 }), "6660.00", "666.00"},
		{"month 0 is billed as one", body(func(m map[string]any) { m["PrepaidMonth"] = 0; m["Amount"] = 3 }), "1998.00", "666.00"},
		{"no month given", body(func(m map[string]any) { delete(m, "PrepaidMonth") }), "666.00", "666.00"},
		{"no amount given is one", body(func(m map[string]any) { delete(m, "Amount"); m["PrepaidMonth"] = 12 }), "7992.00", "666.00"},
		{"36 months of 100", body(func(m map[string]any) { m["PrepaidMonth"] = 36; m["Amount"] = 100 }), "2397600.00", "666.00"},
		{"PostPaid ignores months", body(func(m map[string]any) { m["InstanceChargeType"] = "PostPaid"; m["PrepaidMonth"] = 12; m["Amount"] = 2 }), "1332.00", "666.00"},
		{"goods 7793", body(func(m map[string]any) {
			m["GoodsId"], m["ComputeId"], m["PrepaidMonth"], m["Amount"] = 7793, "1b69ecca-453c-4535-8c96-16edf1ec6da9", 3, 2
		}), "60000.00", "10000.00"},
	}
	for _, tt := range prices {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			var got struct{ Currency, TradeAmount, UnitPrice string }
			h.ok("DescribeGpuGoodsPrice", tt.body, &got)
			if got.Currency != "CN" || got.TradeAmount != tt.trade || got.UnitPrice != tt.unit {
				t.Errorf("got %+v, want CN %s at %s", got, tt.trade, tt.unit)
			}
		})
	}
	errs := []struct {
		name string
		body any
		want string
	}{
		{"amount 101", body(func(m map[string]any) { m["Amount"] = 101 }), codeAmountOversize},
		{"amount 0", body(func(m map[string]any) { m["Amount"] = 0 }), codeParameterInvalid},
		{"month 37", body(func(m map[string]any) { m["PrepaidMonth"] = 37 }), codeParameterInvalid},
		{"month -1", body(func(m map[string]any) { m["PrepaidMonth"] = -1 }), codeParameterInvalid},
		{"GoodsId as a string", body(func(m map[string]any) { m["GoodsId"] = "7685" }), codeParameterInvalid},
		{"Amount as a fraction", body(func(m map[string]any) { m["Amount"] = 1.5 }), codeParameterInvalid},
		{"RegionId as a number", body(func(m map[string]any) { m["RegionId"] = 7 }), codeParameterInvalid},
		{"unknown goods", body(func(m map[string]any) { m["GoodsId"] = 1 }), codeParameterInvalid},
		{"goods of another region", body(func(m map[string]any) { m["RegionId"] = "CN_SJZ_B" }), codeParameterInvalid},
		{"compute of other goods", body(func(m map[string]any) { m["ComputeId"] = "1b69ecca-453c-4535-8c96-16edf1ec6da9" }), codeParameterInvalid},
		{"unknown charge type", body(func(m map[string]any) { m["InstanceChargeType"] = "Spot" }), codeParameterInvalid},
		{"no ComputeId", body(func(m map[string]any) { delete(m, "ComputeId") }), codeParameterIsEmpty},
		{"empty ComputeId", body(func(m map[string]any) { m["ComputeId"] = "" }), codeParameterIsEmpty},
		{"null GoodsId", body(func(m map[string]any) { m["GoodsId"] = nil }), codeParameterIsEmpty},
		{"no body", []byte(""), codeParameterIsEmpty},
		{"body not JSON", []byte("RegionId=CN_Hohhot_B"), codeMalformedJSON},
		{"body an array", []byte(`[{"RegionId":"CN_Hohhot_B"}]`), codeMalformedJSON},
		{"body cut short", []byte(`{"RegionId":"CN_Hohhot_B",`), codeMalformedJSON},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			newHarness(t).fails("DescribeGpuGoodsPrice", tt.body, tt.want)
		})
	}
}

func TestDescribeImages(t *testing.T) {
	t.Parallel()
	const (
		small = "8fbdb61e-b941-46db-89f6-f8953b278ec9"
		a100  = "f7d3b7b4-e77d-47ac-aa37-8c9e3304e469"
	)
	names := func(m map[string][]struct{ ID, Name, Type string }) map[string][]string {
		out := map[string][]string{}
		for fam, l := range m {
			for _, im := range l {
				if im.Type != "public" {
					t.Errorf("image %s has Type %q, want public", im.Name, im.Type)
				}
				out[fam] = append(out[fam], im.Name)
			}
		}
		return out
	}
	tests := []struct {
		name string
		body map[string]any
		want map[string][]string
	}{
		{"public by family", map[string]any{"ImageType": "public", "RegionId": "CN_Hohhot_B", "ComputeId": small},
			map[string][]string{"Ubuntu": {"ubuntu14.04_64", "ubuntu20.04_64"}, "Redhat": {"rhel7.6_64"}, "Centos": {"centos7.6_64"}}},
		{"compute-specific image", map[string]any{"ImageType": "public", "RegionId": "CN_Hohhot_B", "ComputeId": a100, "OsType": "ubuntu"},
			map[string][]string{"Ubuntu": {"ubuntu14.04_64", "ubuntu20.04_64", "ubuntu22.04_64_cuda12"}}},
		{"OsType filter", map[string]any{"ImageType": "public", "RegionId": "CN_Hohhot_B", "ComputeId": small, "OsType": "centos"},
			map[string][]string{"Centos": {"centos7.6_64"}}},
		{"private is empty", map[string]any{"ImageType": "private", "RegionId": "CN_Hohhot_B"}, map[string][]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got map[string][]struct{ ID, Name, Type string }
			newHarness(t).ok("DescribeGpuImage", tt.body, &got)
			g := names(got)
			if len(g) != len(tt.want) {
				t.Fatalf("got families %v, want %v", g, tt.want)
			}
			for fam, want := range tt.want {
				if !slices.Equal(g[fam], want) {
					t.Errorf("%s: got %v, want %v", fam, g[fam], want)
				}
			}
		})
	}
	errs := []struct {
		name string
		body map[string]any
		want string
	}{
		{"public needs ComputeId", map[string]any{"ImageType": "public", "RegionId": "CN_Hohhot_B"}, codeParameterIsEmpty},
		{"no ImageType", map[string]any{"RegionId": "CN_Hohhot_B", "ComputeId": small}, codeParameterIsEmpty},
		{"bad ImageType", map[string]any{"ImageType": "shared", "RegionId": "CN_Hohhot_B", "ComputeId": small}, codeParameterInvalid},
		{"no RegionId", map[string]any{"ImageType": "public", "ComputeId": small}, codeParameterIsEmpty},
		{"unknown region", map[string]any{"ImageType": "public", "RegionId": "CN_Nowhere", "ComputeId": small}, codeParameterInvalid},
		{"compute of another region", map[string]any{"ImageType": "public", "RegionId": "CN_SJZ_B", "ComputeId": small}, codeParameterInvalid},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			newHarness(t).fails("DescribeGpuImage", tt.body, tt.want)
		})
	}
}

func TestMoneyAndDates(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cents int64
		want  string
	}{{0, "0.00"}, {5, "0.05"}, {66600, "666.00"}, {123456789, "1234567.89"}} {
		if got := money(tt.cents); got != tt.want {
			t.Errorf("money(%d) = %s, want %s", tt.cents, got, tt.want)
		}
	}
	created := newFakeClock().Now() // 2020-04-30 11:22:41 in China
	for _, tt := range []struct {
		months int
		want   string
	}{{0, "2020-05-01 00:00:00"}, {1, "2020-06-01 00:00:00"}, {12, "2021-05-01 00:00:00"}} {
		if got := formatDate(expiry(created, tt.months)); got != tt.want {
			t.Errorf("expiry(%d months) = %s, want %s", tt.months, got, tt.want)
		}
	}
	if got := runningTime(27*3600e9 + 95e9); got != "1天3小时1分钟35秒" {
		t.Errorf("runningTime = %s, want 1天3小时1分钟35秒", got)
	}
}
