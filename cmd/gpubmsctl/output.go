package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// jsonOptions write the contract's field names, with zero values, so scripts
// see every field.
var jsonOptions = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

// show prints m as JSON or, for -o table, with table.
func show[M proto.Message](a *app, m M, table func(io.Writer, M) error) error {
	if a.output == "json" {
		return writeJSON(a.stdout, m, true)
	}
	return table(a.stdout, m)
}

// writeJSON writes m on one line, or indented when multiline. protojson's
// spacing is deliberately unstable, so it is normalised here.
func writeJSON(w io.Writer, m proto.Message, multiline bool) error {
	b, err := jsonOptions.Marshal(m)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if multiline {
		err = json.Indent(&buf, b, "", "  ")
	} else {
		err = json.Compact(&buf, b)
	}
	if err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}

// printEvent prints one event as it arrives: a JSON line (heartbeats
// included), or a text line (heartbeats skipped).
func (a *app) printEvent(w io.Writer, ev *gpubmsv1.TaskEvent) {
	if a.output == "json" {
		_ = writeJSON(w, ev, false)
		return
	}
	if !ev.GetHeartbeat() {
		fmt.Fprintln(w, eventLine(ev))
	}
}

// printEvents prints the terminal events after a wait.
func (a *app) printEvents(evs []*gpubmsv1.TaskEvent) error {
	if a.output == "json" {
		for _, ev := range evs {
			if err := writeJSON(a.stdout, ev, false); err != nil {
				return err
			}
		}
		return nil
	}
	rows := make([][]string, 0, len(evs))
	for _, ev := range evs {
		rows = append(rows, []string{ev.GetTaskId(), eventStatus(ev), resources(ev.GetResourceIds())})
	}
	return printTable(a.stdout, []string{"TASK ID", "STATUS", "RESOURCES"}, rows...)
}

// eventLine is "TASK STATUS RESOURCES".
func eventLine(ev *gpubmsv1.TaskEvent) string {
	return ev.GetTaskId() + " " + eventStatus(ev) + " " + resources(ev.GetResourceIds())
}

// eventStatus is the provider's word, or the enum's when the server sent none.
func eventStatus(ev *gpubmsv1.TaskEvent) string {
	if s := ev.GetRawStatus(); s != "" {
		return s
	}
	return strings.ToLower(strings.TrimPrefix(ev.GetStatus().String(), "TASK_STATUS_"))
}

func resources(ids []string) string {
	if len(ids) == 0 {
		return "-"
	}
	return strings.Join(ids, ",")
}

// printTable writes aligned columns under a header.
func printTable(w io.Writer, header []string, rows ...[]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// printFields writes "name: value" lines, aligned.
func printFields(w io.Writer, fields [][2]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	for _, f := range fields {
		fmt.Fprintf(tw, "%s:\t%s\n", f[0], f[1])
	}
	return tw.Flush()
}

func itoa[T ~int32 | ~int64](v T) string { return strconv.FormatInt(int64(v), 10) }

func printRegions(w io.Writer, r *gpubmsv1.DescribeGpuRegionsResponse) error {
	rows := make([][]string, 0, len(r.GetRegions()))
	for _, g := range r.GetRegions() {
		rows = append(rows, []string{g.GetRegionId(), g.GetRegionName()})
	}
	return printTable(w, []string{"REGION ID", "NAME"}, rows...)
}

func printGoods(w io.Writer, r *gpubmsv1.DescribeGpuGoodsResponse) error {
	var rows [][]string
	add := func(charge string, goods []*gpubmsv1.Goods) {
		for _, g := range goods {
			for _, c := range g.GetComputes() {
				var disks []string
				for _, d := range c.GetDisks() {
					disks = append(disks, fmt.Sprintf("%dx%dGB %s", d.GetCount(), d.GetCapacity(), d.GetType()))
				}
				rows = append(rows, []string{
					charge, itoa(g.GetGoodsId()), g.GetGoodsName(), c.GetId(), c.GetCpuInfo(),
					itoa(c.GetCpu()), itoa(c.GetRam()), itoa(c.GetPurchaseNum()), cmp.Or(strings.Join(disks, ", "), "-"),
				})
			}
			if len(g.GetComputes()) == 0 {
				rows = append(rows, []string{charge, itoa(g.GetGoodsId()), g.GetGoodsName(), "-", "-", "-", "-", "-", "-"})
			}
		}
	}
	add("PrePaid", r.GetPrePaid())
	add("PostPaid", r.GetPostPaid())
	return printTable(w, []string{"CHARGE", "GOODS ID", "GOODS", "COMPUTE ID", "CPU MODEL", "CPUS", "RAM GB", "IN STOCK", "DISKS"}, rows...)
}

func printPrice(w io.Writer, r *gpubmsv1.DescribeGpuGoodsPriceResponse) error {
	return printFields(w, [][2]string{
		{"total", r.GetTradeAmount()},
		{"unit price", r.GetUnitPrice()},
		{"currency", r.GetCurrency()},
	})
}

func printImages(w io.Writer, r *gpubmsv1.DescribeGpuImageResponse) error {
	var rows [][]string
	for _, f := range r.GetFamilies() {
		for _, im := range f.GetImages() {
			rows = append(rows, []string{f.GetOsFamily(), im.GetId(), im.GetName(), im.GetType()})
		}
	}
	return printTable(w, []string{"FAMILY", "IMAGE ID", "NAME", "TYPE"}, rows...)
}

func printList(w io.Writer, r *gpubmsv1.DescribeGpuResponse) error {
	rows := make([][]string, 0, len(r.GetRecords()))
	for _, g := range r.GetRecords() {
		rows = append(rows, []string{
			g.GetResourceId(), g.GetName(), g.GetState(), g.GetRegionId(), g.GetAppId(),
			itoa(g.GetCpu()), itoa(g.GetRam()), g.GetInstanceChargeType(), cmp.Or(addresses(g.GetNetworks()), "-"),
		})
	}
	if err := printTable(w, []string{"RESOURCE ID", "NAME", "STATE", "REGION", "APP ID", "CPUS", "RAM GB", "CHARGE", "ADDRESSES"}, rows...); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "page %d of %d, %d server(s) in all\n", r.GetPageNumber(), r.GetPages(), r.GetTotalCount())
	return err
}

func printDetail(w io.Writer, r *gpubmsv1.DescribeGpuDetailResponse) error {
	err := printFields(w, [][2]string{
		{"resource id", r.GetResourceId()},
		{"name", r.GetName()},
		{"state", r.GetState()},
		{"status", r.GetStatus()},
		{"region", withName(r.GetRegionId(), r.GetRegionName())},
		{"app", withName(r.GetAppId(), r.GetAppName())},
		{"cpus", itoa(r.GetCpu())},
		{"ram GB", itoa(r.GetRam())},
		{"image", r.GetImageName()},
		{"charge", r.GetInstanceChargeType()},
		{"billed", r.GetBillStatus()},
		{"auto renewal", itoa(r.GetIsAutoRenewal())},
		{"running time", r.GetRunningTime()},
		{"created", r.GetCreateDate()},
		{"expires", r.GetExpireDate()},
	})
	if err != nil {
		return err
	}
	if v := r.GetVolumes(); len(v) > 0 {
		fmt.Fprintln(w)
		rows := make([][]string, 0, len(v))
		for _, vol := range v {
			rows = append(rows, []string{vol.GetId(), vol.GetType(), vol.GetVolumeType(), itoa(vol.GetCapacity()), vol.GetVolumePath()})
		}
		if err := printTable(w, []string{"VOLUME ID", "TYPE", "MEDIA", "GB", "PATH"}, rows...); err != nil {
			return err
		}
	}
	if cards := r.GetNetworks().GetNetworkCards(); len(cards) > 0 {
		fmt.Fprintln(w)
		rows := make([][]string, 0, len(cards))
		for _, c := range cards {
			rows = append(rows, []string{c.GetId(), c.GetIpType(), c.GetIpAddress(), c.GetNetmask(), c.GetGateway(),
				cmp.Or(c.GetEipAddress(), "-"), cmp.Or(c.GetWorkMode(), "-"), cmp.Or(strings.Join(c.GetMac(), ","), "-")})
		}
		return printTable(w, []string{"CARD ID", "IP TYPE", "ADDRESS", "NETMASK", "GATEWAY", "EIP", "BOND", "MAC"}, rows...)
	}
	return nil
}

func printTaskID(w io.Writer, r *gpubmsv1.CreateGpuInstanceResponse) error {
	_, err := fmt.Fprintln(w, r.GetTaskId())
	return err
}

func printTaskIDs(w io.Writer, r *gpubmsv1.ReinstallGpuResponse) error {
	for _, id := range r.GetTaskIds() {
		if _, err := fmt.Fprintln(w, id); err != nil {
			return err
		}
	}
	return nil
}

func printPower(w io.Writer, r *gpubmsv1.OperateGpuPowerResponse) error {
	rows := make([][]string, 0, len(r.GetTaskIds()))
	for i, id := range r.GetTaskIds() {
		res := "-"
		if i < len(r.GetResourceIds()) {
			res = r.GetResourceIds()[i]
		}
		rows = append(rows, []string{res, id})
	}
	return printTable(w, []string{"RESOURCE ID", "TASK ID"}, rows...)
}

// addresses lists a server's IP addresses (and EIPs), for the list view.
func addresses(n *gpubmsv1.Networks) string {
	var out []string
	for _, c := range n.GetNetworkCards() {
		if ip := c.GetIpAddress(); ip != "" {
			out = append(out, ip)
		}
		if eip := c.GetEipAddress(); eip != "" {
			out = append(out, eip)
		}
	}
	return strings.Join(out, ",")
}

// withName is "id (name)", or whichever of the two is set.
func withName(id, name string) string {
	switch {
	case id != "" && name != "":
		return id + " (" + name + ")"
	case id != "":
		return id
	}
	return name
}

// printQuote shows a create's dry run: the quote, the stock when known,
// and the warnings.
func printQuote(w io.Writer, v *gpubmsv1.Validation) error {
	q := v.GetQuote()
	fields := [][2]string{
		{"total", cmp.Or(q.GetTradeAmount(), "-")},
		{"unit price", cmp.Or(q.GetUnitPrice(), "-")},
		{"currency", cmp.Or(q.GetCurrency(), "-")},
	}
	if v.Stock != nil {
		fields = append(fields, [2]string{"in stock", itoa(v.GetStock())})
	}
	for _, warning := range v.GetWarnings() {
		fields = append(fields, [2]string{"warning", warning})
	}
	return printFields(w, fields)
}

// printAffected shows the dry run of a reinstall, power or delete: the
// servers it would act on, as they are now, and the warnings.
func printAffected(w io.Writer, v *gpubmsv1.Validation) error {
	rows := make([][]string, 0, len(v.GetServers()))
	for _, s := range v.GetServers() {
		rows = append(rows, []string{s.GetResourceId(), cmp.Or(s.GetName(), "-"), cmp.Or(s.GetState(), "-"), cmp.Or(s.GetInstanceChargeType(), "-")})
	}
	if err := printTable(w, []string{"RESOURCE ID", "NAME", "STATE", "CHARGE"}, rows...); err != nil {
		return err
	}
	for _, warning := range v.GetWarnings() {
		if _, err := fmt.Fprintf(w, "warning: %s\n", warning); err != nil {
			return err
		}
	}
	return nil
}
