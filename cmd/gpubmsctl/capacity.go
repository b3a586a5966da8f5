package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	gpubms "github.com/gpubms/gpubms/clients/go"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

func (a *app) capacityCommand() *cobra.Command {
	var (
		req    gpubmsv1.FindCapacityRequest
		amount int32
		months int32
	)
	cmd := &cobra.Command{
		Use:   "capacity [--gpu TEXT] [--amount N] [--min-cpu N] [--min-ram GB] [--region R ...]",
		Short: "Find where servers that fit can be bought now, cheapest first (FindCapacity)",
		Long: `capacity asks every region (or those of --region) for the computes that fit,
prices them for --amount and ranks them by unit price, then stock. Stock is
the provider's hint at the time shown, never a promise; "?" is stock the
provider did not say. Regions that could not be asked are listed after the
offers, and the command still succeeds.`,
		Example: `  gpubmsctl capacity --gpu A100 --amount 2
  gpubmsctl capacity --min-ram 512 --charge PostPaid --max-price 5000
  gpubmsctl capacity --region CN_Hohhot_B --region CN_SJZ_B -o json`,
		Args: noArgs,
		RunE: a.runE(func(ctx context.Context, c *gpubms.Client, cmd *cobra.Command, _ []string) error {
			req.Amount = optionalInt32(cmd.Flags(), "amount", amount)
			req.PrepaidMonth = optionalInt32(cmd.Flags(), "months", months)
			_, err := unary(ctx, a, c.FindCapacity, &req, printCapacity)
			return err
		}),
	}
	f := cmd.Flags()
	f.StringVar(&req.Gpu, "gpu", "", "text the goods name must contain, any case, e.g. A100")
	f.Int32Var(&amount, "amount", 1, "how many servers, 1..100: less stock is left out, the total is for this many")
	f.Int32Var(&req.MinCpu, "min-cpu", 0, "cores of one server, at least")
	f.Int32Var(&req.MinRamGb, "min-ram", 0, "memory of one server in GB, at least")
	f.Int32Var(&req.MinDiskGb, "min-disk", 0, "local disk of one server in GB, at least")
	f.StringVar(&req.DiskType, "disk-type", "", "a disk of this type, e.g. NVME")
	f.StringVar(&req.ChargeType, "charge", "", "PrePaid or PostPaid (default: both)")
	f.Int32Var(&months, "months", 0, "prepaid months to price, 0..36")
	f.StringSliceVar(&req.RegionIds, "region", nil, "only this region (repeat for more; default: every region)")
	f.StringVar(&req.MaxUnitPrice, "max-price", "", "highest unit price, e.g. 800 or 799.50")
	f.StringVar(&req.MaxCurrency, "currency", "", "the currency of --max-price: CN or US")
	return cmd
}

func printCapacity(p *printer, r *gpubmsv1.FindCapacityResponse) error {
	rows := make([][]string, 0, len(r.GetOffers()))
	for _, o := range r.GetOffers() {
		stock := "?"
		if o.Stock != nil {
			stock = itoa(o.GetStock())
		}
		var disks []string
		for _, d := range o.GetCompute().GetDisks() {
			disks = append(disks, fmt.Sprintf("%dx%dGB %s", d.GetCount(), d.GetCapacity(), d.GetType()))
		}
		rows = append(rows, []string{
			o.GetRegionId(), itoa(o.GetGoodsId()), o.GetGoodsName(), o.GetCompute().GetId(), o.GetChargeType(),
			itoa(o.GetCompute().GetCpu()), itoa(o.GetCompute().GetRam()), strings.Join(disks, ", "),
			stock, o.GetUnitPrice() + " " + o.GetCurrency(), o.GetTradePrice(),
		})
	}
	if err := p.table([]string{"REGION", "GOODS ID", "GOODS", "COMPUTE ID", "CHARGE", "CPUS", "RAM GB", "DISKS", "STOCK", "UNIT PRICE", "TOTAL"}, rows...); err != nil {
		return err
	}
	if err := p.footer("%d offer(s); stock is a hint, not a promise", len(r.GetOffers())); err != nil {
		return err
	}
	for _, e := range r.GetRegionErrors() {
		if err := p.printf("region %s not asked: %s: %s\n", e.GetRegionId(), e.GetCode(), e.GetMessage()); err != nil {
			return err
		}
	}
	return nil
}
