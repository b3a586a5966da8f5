package e2e_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// TestFindCapacity: offers from every region, ranked by unit price then
// stock, filtered by the need; stock the provider omits is unknown, not
// zero; a region that fails is reported beside the others' offers.
func TestFindCapacity(t *testing.T) {
	t.Parallel()
	h := start(t, withCountedProvider())
	fleet := gpubmsv1.NewFleetServiceClient(h.c.conn)
	find := func(req *gpubmsv1.FindCapacityRequest) *gpubmsv1.FindCapacityResponse {
		t.Helper()
		r, err := fleet.FindCapacity(ctx(t), req)
		if err != nil {
			t.Fatalf("FindCapacity(%v): %v", req, err)
		}
		return r
	}
	names := func(r *gpubmsv1.FindCapacityResponse) []string {
		var out []string
		for _, o := range r.GetOffers() {
			out = append(out, strconv.FormatInt(o.GetGoodsId(), 10)+"/"+o.GetCompute().GetId()[:8])
		}
		return out
	}
	price := func(o *gpubmsv1.CapacityOffer) float64 {
		f, err := strconv.ParseFloat(o.GetUnitPrice(), 64)
		if err != nil {
			t.Fatalf("unit price %q: %v", o.GetUnitPrice(), err)
		}
		return f
	}

	all := find(&gpubmsv1.FindCapacityRequest{})
	if len(all.GetRegionErrors()) != 0 {
		t.Fatalf("region errors %v, want none", all.GetRegionErrors())
	}
	// The emulator sells seven computes, one of them sold out.
	if len(all.GetOffers()) != 6 {
		t.Fatalf("offers %v, want the six computes in stock", names(all))
	}
	for i, o := range all.GetOffers() {
		if o.Stock == nil || o.GetStock() < 1 || o.GetObservedAt() == nil || o.GetCurrency() == "" || o.GetTradePrice() == "" || o.GetAmount() != 1 {
			t.Errorf("offer %d %v: want stock, observed_at, currency, a trade price, amount 1", i, o)
		}
		if i > 0 && price(all.GetOffers()[i-1]) > price(o) {
			t.Errorf("offers not ranked by unit price: %s before %s", all.GetOffers()[i-1].GetUnitPrice(), o.GetUnitPrice())
		}
	}
	if got := all.GetOffers()[0]; got.GetGoodsId() != 7685 || got.GetUnitPrice() != "666.00" || got.GetRegionName() == "" {
		t.Errorf("the cheapest offer %v, want goods 7685 at 666.00 with its region's name", got)
	}

	for _, tc := range []struct {
		name string
		req  *gpubmsv1.FindCapacityRequest
		want []int64 // goods ids, in order
	}{
		{"gpu text, any case", &gpubmsv1.FindCapacityRequest{Gpu: "a100"}, []int64{7955}},
		{"memory", &gpubmsv1.FindCapacityRequest{MinRamGb: 700}, []int64{8001, 7955}},
		{"cores and NVMe disk", &gpubmsv1.FindCapacityRequest{MinCpu: 100, DiskType: "nvme"}, []int64{7955}},
		{"disk size", &gpubmsv1.FindCapacityRequest{MinDiskGb: 3000}, []int64{8001, 7793, 7955}},
		{"charge type", &gpubmsv1.FindCapacityRequest{ChargeType: "PostPaid"}, []int64{7685, 8001, 8001}},
		{"amount beyond some stock", &gpubmsv1.FindCapacityRequest{Amount: proto.Int32(6), ChargeType: "PrePaid"}, []int64{8520}},
		{"price cap", &gpubmsv1.FindCapacityRequest{MaxUnitPrice: "1000"}, []int64{7685}},
		{"regions", &gpubmsv1.FindCapacityRequest{RegionIds: []string{"CN_SJZ_B"}}, []int64{8520}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := find(tc.req)
			var got []int64
			for _, o := range r.GetOffers() {
				got = append(got, o.GetGoodsId())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("goods %v (%v), want %v", got, names(r), tc.want)
			}
		})
	}
	t.Run("amount prices the order", func(t *testing.T) {
		r := find(&gpubmsv1.FindCapacityRequest{Amount: proto.Int32(2), Gpu: "02SS01"})
		if len(r.GetOffers()) != 1 || r.GetOffers()[0].GetTradePrice() != "1332.00" || r.GetOffers()[0].GetAmount() != 2 {
			t.Errorf("offers %v, want one at 1332.00 for two", r.GetOffers())
		}
	})
	t.Run("an unknown region", func(t *testing.T) {
		_, err := fleet.FindCapacity(ctx(t), &gpubmsv1.FindCapacityRequest{RegionIds: []string{"CN_Nowhere_Z"}})
		wantCode(t, err, codes.NotFound, "")
	})
	t.Run("invalid", func(t *testing.T) {
		n := h.providerRequests(t)
		_, err := fleet.FindCapacity(ctx(t), &gpubmsv1.FindCapacityRequest{MaxUnitPrice: "cheap"})
		wantCode(t, err, codes.InvalidArgument, "")
		if !slices.Contains(violationFields(err), "max_unit_price") {
			t.Errorf("violations %v, want max_unit_price", violationFields(err))
		}
		if got := h.providerRequests(t) - n; got != 0 {
			t.Errorf("%d provider requests, want 0", got)
		}
	})

	// One region fails; another omits its stock.
	purchase := regexp.MustCompile(`"PurchaseNum":\d+,?`)
	h.provider.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		q := r.URL.Query()
		if q.Get("Action") != "DescribeGpuGoods" {
			next.ServeHTTP(w, r)
			return
		}
		switch q.Get("RegionId") {
		case "CN_SJZ_B":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"Code":"AccessDenied","Message":"region closed to this account","Data":null}`))
		case "CN_Qingyang_A":
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(rec.Code)
			_, _ = w.Write(purchase.ReplaceAll(rec.Body.Bytes(), nil))
		default:
			next.ServeHTTP(w, r)
		}
	})
	defer h.provider.setIntercept(nil)
	r := find(&gpubmsv1.FindCapacityRequest{})
	if errs := r.GetRegionErrors(); len(errs) != 1 || errs[0].GetRegionId() != "CN_SJZ_B" || errs[0].GetCode() == codes.OK.String() ||
		!strings.Contains(errs[0].GetMessage(), "AccessDenied") {
		t.Errorf("region errors %v, want CN_SJZ_B's AccessDenied", errs)
	}
	var unknown int
	for _, o := range r.GetOffers() {
		switch o.GetRegionId() {
		case "CN_SJZ_B":
			t.Errorf("offer %v from the failing region", o)
		case "CN_Qingyang_A":
			if o.Stock != nil {
				t.Errorf("offer %v: stock %d, want unknown (the provider omitted it)", o, o.GetStock())
			}
			unknown++
		}
	}
	if unknown != 2 || len(r.GetOffers()) != 5 {
		t.Errorf("offers %v: want Hohhot's three and Qingyang's two with unknown stock", names(r))
	}
}
