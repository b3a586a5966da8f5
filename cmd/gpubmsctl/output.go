package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/mattn/go-runewidth"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// The output formats of -o.
const (
	formatTable = "table"
	formatJSON  = "json"
	formatYAML  = "yaml"
)

var formats = []string{formatTable, formatJSON, formatYAML}

// jsonOptions write the contract's field names, with zero values, so scripts
// see every field.
var jsonOptions = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

// printer writes tables for people: the one table printer of every command.
// Columns are aligned by display width (a Chinese character takes two
// cells), cells are kept on one line, and headers and footers are left out
// with --no-headers.
type printer struct {
	w       io.Writer
	headers bool
}

// widths measures text as a terminal shows it. East Asian ambiguous
// characters count as one cell, whatever the locale, so that output does
// not depend on the environment; CJK ideographs always count as two.
var widths = &runewidth.Condition{EastAsianWidth: false, StrictEmojiNeutral: true}

// displayWidth is the number of terminal cells s takes.
func displayWidth(s string) int { return widths.StringWidth(s) }

// table writes rows under a header, the columns two spaces apart.
func (p *printer) table(header []string, rows ...[]string) error {
	if p.headers {
		rows = append([][]string{header}, rows...)
	}
	return writeColumns(p.w, rows, 2)
}

// fields writes "name: value" lines, the values aligned.
func (p *printer) fields(fields [][2]string) error {
	rows := make([][]string, 0, len(fields))
	for _, f := range fields {
		rows = append(rows, []string{f[0] + ":", f[1]})
	}
	return writeColumns(p.w, rows, 1)
}

// footer writes a line of counts under a table; --no-headers drops it.
func (p *printer) footer(format string, args ...any) error {
	if !p.headers {
		return nil
	}
	_, err := fmt.Fprintf(p.w, format+"\n", args...)
	return err
}

// printf writes text that is part of the output whatever the headers.
func (p *printer) printf(format string, args ...any) error {
	_, err := fmt.Fprintf(p.w, format, args...)
	return err
}

// writeColumns pads every cell but the last of each row to its column's
// display width plus gap, and writes the rows in one Write.
func writeColumns(w io.Writer, rows [][]string, gap int) error {
	var width []int
	cells := make([][]string, len(rows))
	for j, r := range rows {
		cells[j] = make([]string, len(r))
		for i, c := range r {
			cells[j][i] = cell(c)
			if i == len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], displayWidth(cells[j][i]))
		}
	}
	var b bytes.Buffer
	for _, r := range cells {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", width[i]-displayWidth(c)+gap))
			}
		}
		b.WriteByte('\n')
	}
	_, err := w.Write(b.Bytes())
	return err
}

// cell keeps a value on one line and out of the terminal's control: tabs
// and line breaks become spaces, other control characters U+FFFD, so that
// text from the provider can neither break a table nor send escape
// sequences.
func cell(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case unicode.IsControl(r):
			return unicode.ReplacementChar
		}
		return r
	}, s)
}

// show prints m as the one document of -o json or yaml, or for -o table
// with table.
func show[M proto.Message](a *app, m M, table func(*printer, M) error) error {
	if a.output == formatTable {
		return table(a.printer(), m)
	}
	return a.writeProto(m)
}

// printer is the table printer of stdout.
func (a *app) printer() *printer { return &printer{w: a.stdout, headers: !a.noHeaders} }

// writeProto writes m as the one document of -o json or yaml.
func (a *app) writeProto(m proto.Message) error {
	b, err := marshalProto(m)
	if err != nil {
		return err
	}
	return a.writeDocument(b)
}

// writeValue writes v, which encoding/json marshals (with json.RawMessage
// for the protos inside), as the one document of -o json or yaml.
func (a *app) writeValue(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return a.writeDocument(b)
}

// writeDocument writes a JSON document indented, or as YAML with the same
// keys in the same order.
func (a *app) writeDocument(j []byte) error {
	out, err := formatDocument(a.output, j)
	if err != nil {
		return err
	}
	_, err = a.stdout.Write(out)
	return err
}

// formatDocument renders a JSON document in format: json (indented) or yaml.
func formatDocument(format string, j []byte) ([]byte, error) {
	if format == formatYAML {
		return jsonToYAML(j)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, j, "", "  "); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// marshalProto is m as compact JSON. protojson's spacing is deliberately
// unstable, so it is normalised here.
func marshalProto(m proto.Message) (json.RawMessage, error) {
	b, err := jsonOptions.Marshal(m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// jsonToYAML turns a JSON document into block-style YAML, keeping the
// order of the keys (the contract's field order) and the types of the
// values: a string that YAML would read as a number or a boolean, such as
// protojson's int64 "11", stays quoted.
func jsonToYAML(j []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(j, &n); err != nil {
		return nil, err
	}
	blockStyle(&n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// blockStyle drops the flow style and quotes that JSON parsing leaves on
// the nodes; the encoder quotes again only the strings that need it.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// eventLine is "TASK STATUS RESOURCES", the plain progress line.
func eventLine(ev *gpubmsv1.TaskEvent) string {
	return ev.GetTaskId() + " " + eventStatus(ev) + " " + resources(ev.GetResourceIds())
}

// eventStatus is the provider's word, or the enum's when the server sent none.
func eventStatus(ev *gpubmsv1.TaskEvent) string {
	if s := ev.GetRawStatus(); s != "" {
		return s
	}
	if ev.GetStatus() == gpubmsv1.TaskStatus_TASK_STATUS_UNSPECIFIED {
		return "unknown"
	}
	return strings.ToLower(strings.TrimPrefix(ev.GetStatus().String(), "TASK_STATUS_"))
}

func resources(ids []string) string {
	if len(ids) == 0 {
		return "-"
	}
	return strings.Join(ids, ",")
}

func itoa[T ~int32 | ~int64](v T) string { return strconv.FormatInt(int64(v), 10) }

func printRegions(p *printer, r *gpubmsv1.DescribeGpuRegionsResponse) error {
	rows := make([][]string, 0, len(r.GetRegions()))
	for _, g := range r.GetRegions() {
		rows = append(rows, []string{g.GetRegionId(), g.GetRegionName()})
	}
	return p.table([]string{"REGION ID", "NAME"}, rows...)
}

func printGoods(p *printer, r *gpubmsv1.DescribeGpuGoodsResponse) error {
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
	return p.table([]string{"CHARGE", "GOODS ID", "GOODS", "COMPUTE ID", "CPU MODEL", "CPUS", "RAM GB", "IN STOCK", "DISKS"}, rows...)
}

func printPrice(p *printer, r *gpubmsv1.DescribeGpuGoodsPriceResponse) error {
	return p.fields([][2]string{
		{"total", r.GetTradeAmount()},
		{"unit price", r.GetUnitPrice()},
		{"currency", r.GetCurrency()},
	})
}

func printImages(p *printer, r *gpubmsv1.DescribeGpuImageResponse) error {
	var rows [][]string
	for _, f := range r.GetFamilies() {
		for _, im := range f.GetImages() {
			rows = append(rows, []string{f.GetOsFamily(), im.GetId(), im.GetName(), im.GetType()})
		}
	}
	return p.table([]string{"FAMILY", "IMAGE ID", "NAME", "TYPE"}, rows...)
}

func printList(p *printer, r *gpubmsv1.DescribeGpuResponse) error {
	rows := make([][]string, 0, len(r.GetRecords()))
	for _, g := range r.GetRecords() {
		rows = append(rows, []string{
			g.GetResourceId(), g.GetName(), g.GetState(), g.GetRegionId(), g.GetAppId(),
			itoa(g.GetCpu()), itoa(g.GetRam()), g.GetInstanceChargeType(), cmp.Or(addresses(g.GetNetworks()), "-"),
		})
	}
	if err := p.table([]string{"RESOURCE ID", "NAME", "STATE", "REGION", "APP ID", "CPUS", "RAM GB", "CHARGE", "ADDRESSES"}, rows...); err != nil {
		return err
	}
	return p.footer("page %d of %d, %d server(s) in all", r.GetPageNumber(), r.GetPages(), r.GetTotalCount())
}

func printDetail(p *printer, r *gpubmsv1.DescribeGpuDetailResponse) error {
	err := p.fields([][2]string{
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
		if err := p.printf("\n"); err != nil {
			return err
		}
		rows := make([][]string, 0, len(v))
		for _, vol := range v {
			rows = append(rows, []string{vol.GetId(), vol.GetType(), vol.GetVolumeType(), itoa(vol.GetCapacity()), vol.GetVolumePath()})
		}
		if err := p.table([]string{"VOLUME ID", "TYPE", "MEDIA", "GB", "PATH"}, rows...); err != nil {
			return err
		}
	}
	if cards := r.GetNetworks().GetNetworkCards(); len(cards) > 0 {
		if err := p.printf("\n"); err != nil {
			return err
		}
		rows := make([][]string, 0, len(cards))
		for _, c := range cards {
			rows = append(rows, []string{c.GetId(), c.GetIpType(), c.GetIpAddress(), c.GetNetmask(), c.GetGateway(),
				cmp.Or(c.GetEipAddress(), "-"), cmp.Or(c.GetWorkMode(), "-"), cmp.Or(strings.Join(c.GetMac(), ","), "-")})
		}
		return p.table([]string{"CARD ID", "IP TYPE", "ADDRESS", "NETMASK", "GATEWAY", "EIP", "BOND", "MAC"}, rows...)
	}
	return nil
}

func printTaskID(p *printer, r *gpubmsv1.CreateGpuInstanceResponse) error {
	return p.printf("%s\n", r.GetTaskId())
}

func printTaskIDs(p *printer, r *gpubmsv1.ReinstallGpuResponse) error {
	for _, id := range r.GetTaskIds() {
		if err := p.printf("%s\n", id); err != nil {
			return err
		}
	}
	return nil
}

func printPower(p *printer, r *gpubmsv1.OperateGpuPowerResponse) error {
	rows := make([][]string, 0, len(r.GetTaskIds()))
	for i, id := range r.GetTaskIds() {
		res := "-"
		if i < len(r.GetResourceIds()) {
			res = r.GetResourceIds()[i]
		}
		rows = append(rows, []string{res, id})
	}
	return p.table([]string{"RESOURCE ID", "TASK ID"}, rows...)
}

func printTask(id string) func(*printer, *gpubmsv1.DescribeGpuTaskResponse) error {
	return func(p *printer, r *gpubmsv1.DescribeGpuTaskResponse) error {
		return p.table([]string{"TASK ID", "STATUS", "RESOURCES"}, []string{id, r.GetStatus(), resources(r.GetResourceIds())})
	}
}

// printTaskStates is the table of the tasks' last events, after a wait.
func printTaskStates(p *printer, evs []*gpubmsv1.TaskEvent) error {
	rows := make([][]string, 0, len(evs))
	for _, ev := range evs {
		rows = append(rows, []string{ev.GetTaskId(), eventStatus(ev), resources(ev.GetResourceIds())})
	}
	return p.table([]string{"TASK ID", "STATUS", "RESOURCES"}, rows...)
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

// quoteFields are the lines of a dry run's quote.
func quoteFields(q *gpubmsv1.Quote) [][2]string {
	return [][2]string{
		{"total", cmp.Or(q.GetTradeAmount(), "-")},
		{"unit price", cmp.Or(q.GetUnitPrice(), "-")},
		{"currency", cmp.Or(q.GetCurrency(), "-")},
	}
}

// printQuote shows a create's dry run: the quote, the stock when known,
// and the warnings.
func printQuote(p *printer, v *gpubmsv1.Validation) error {
	fields := quoteFields(v.GetQuote())
	if v.Stock != nil {
		fields = append(fields, [2]string{"in stock", itoa(v.GetStock())})
	}
	for _, warning := range v.GetWarnings() {
		fields = append(fields, [2]string{"warning", warning})
	}
	return p.fields(fields)
}

// printAffected shows the dry run of a reinstall, power or delete: the
// servers it would act on, as they are now, the quote if the server gave
// one, and the warnings.
func printAffected(p *printer, v *gpubmsv1.Validation) error {
	rows := make([][]string, 0, len(v.GetServers()))
	for _, s := range v.GetServers() {
		rows = append(rows, []string{s.GetResourceId(), cmp.Or(s.GetName(), "-"), cmp.Or(s.GetState(), "-"), cmp.Or(s.GetInstanceChargeType(), "-")})
	}
	if err := p.table([]string{"RESOURCE ID", "NAME", "STATE", "CHARGE"}, rows...); err != nil {
		return err
	}
	if q := v.GetQuote(); q != nil {
		if err := p.fields(quoteFields(q)); err != nil {
			return err
		}
	}
	for _, warning := range v.GetWarnings() {
		if err := p.printf("warning: %s\n", cell(warning)); err != nil {
			return err
		}
	}
	return nil
}
