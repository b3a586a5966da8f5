package upstream

import (
	"bytes"
	"errors"
	"sort"

	json "github.com/go-json-experiment/json/v1"
)

// Replies are the provider's Data, field for field, with its key names as
// JSON tags. encoding/json matches keys case-insensitively, which already
// absorbs some of the provider's spellings (taskId for TaskId); the quirks
// that need more (two spellings in one object, a list or a single value,
// money as a string or a number, a map of image families) have their own
// UnmarshalJSON.

// Region is one entry of DescribeGpuRegions.
type Region struct {
	RegionID   string `json:"RegionId"`
	RegionName string `json:"RegionName"`
}

// DescribeGpuGoodsData is the goods on sale in a region, by charge type.
type DescribeGpuGoodsData struct {
	PrePaid  []Goods `json:"PrePaid"`
	PostPaid []Goods `json:"PostPaid"`
}

// Goods is one product and its configurations.
type Goods struct {
	GoodsID   int64     `json:"GoodsId"`
	GoodsName string    `json:"GoodsName"`
	Computes  []Compute `json:"Computes"`
}

// Compute is one configuration of a product.
type Compute struct {
	ID          string `json:"Id"`
	CPUInfo     string `json:"CpuInfo"`
	CPU         int32  `json:"Cpu"`
	RAM         int32  `json:"Ram"`
	Frequency   string `json:"Frequency"`
	PurchaseNum *int32 `json:"PurchaseNum"` // nil: the provider did not say (unknown, not 0)
	Disks       []Disk `json:"Disks"`
}

// Disk is a local disk of a configuration.
type Disk struct {
	ID       string `json:"Id"`
	Type     string `json:"Type"`
	Capacity int64  `json:"Capacity"`
	Count    int32  `json:"Count"`
}

// DescribeGpuGoodsPriceData is a price. Money stays a decimal string as the
// provider sends it ("666.00"); a number is accepted and kept as written.
type DescribeGpuGoodsPriceData struct {
	TradeAmount string `json:"TradeAmount"`
	UnitPrice   string `json:"UnitPrice"`
	Currency    string `json:"Currency"` // CN or US
}

// UnmarshalJSON accepts money as a string or a number.
func (p *DescribeGpuGoodsPriceData) UnmarshalJSON(b []byte) error {
	var w struct {
		TradeAmount json.RawMessage `json:"TradeAmount"`
		UnitPrice   json.RawMessage `json:"UnitPrice"`
		Currency    string          `json:"Currency"`
	}
	if err := unmarshal(b, &w); err != nil {
		return err
	}
	trade, err := decimal(w.TradeAmount)
	if err != nil {
		return err
	}
	unit, err := decimal(w.UnitPrice)
	if err != nil {
		return err
	}
	*p = DescribeGpuGoodsPriceData{TradeAmount: trade, UnitPrice: unit, Currency: w.Currency}
	return nil
}

// decimal reads a JSON string, or a JSON number kept exactly as written.
func decimal(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if unmarshal(raw, &s) == nil {
		return s, nil
	}
	// raw is one well-formed JSON value (its object decoded): one that
	// starts as a number does is a number, kept as written.
	if raw = bytes.TrimSpace(raw); raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9' {
		return string(raw), nil
	}
	return "", errors.New("money is neither a string nor a number")
}

// DescribeGpuData is one page of servers.
type DescribeGpuData struct {
	Records    []GpuRecord `json:"Records"`
	TotalCount int32       `json:"TotalCount"`
	PageSize   int32       `json:"PageSize"`
	PageNumber int32       `json:"PageNumber"`
	Pages      int32       `json:"Pages"`
}

// GpuRecord is one server in a DescribeGpu page.
type GpuRecord struct {
	ResourceID         string   `json:"ResourceId"`
	Name               string   `json:"Name"`
	CPU                int32    `json:"Cpu"`
	RAM                int32    `json:"Ram"`
	State              string   `json:"State"`  // e.g. running
	Status             string   `json:"Status"` // State in Chinese
	RegionID           string   `json:"RegionId"`
	RegionName         string   `json:"RegionName"`
	AppID              string   `json:"AppId"`
	AppName            string   `json:"AppName"`
	InstanceChargeType string   `json:"InstanceChargeType"`
	IsAutoRenewal      int32    `json:"IsAutoRenewal"`
	CreateDate         string   `json:"CreateDate"`
	Networks           Networks `json:"Networks"`
}

// Networks holds a server's network cards.
type Networks struct {
	NetworkCards []NetworkCard `json:"NetworkCards"`
}

// NetworkCard is one card. Mac and WorkMode come with DescribeGpuDetail only.
type NetworkCard struct {
	ID          string   `json:"Id"`
	VlanID      string   `json:"VlanId"`
	IPType      string   `json:"IpType"` // subnet, public or private
	IPVersion   string   `json:"IpVersion"`
	IPAddress   string   `json:"IpAddress"`
	Netmask     string   `json:"Netmask"`
	Gateway     string   `json:"Gateway"`
	EipAddress  string   `json:"EipAddress"`
	EipLinkType string   `json:"EipLinkType"`
	Mac         []string `json:"Mac"`
	WorkMode    string   `json:"WorkMode"`
}

// UnmarshalJSON accepts EipAddress/eipAddress and EipLinkType/eipLinkType
// (the provider's table and example disagree); the non-empty one wins, the
// upper-case one when both are set. The client itself never calls it: it
// decodes whole replies through their wire types (see detailWire), in one
// pass; this is for those who decode a NetworkCard on their own.
func (n *NetworkCard) UnmarshalJSON(b []byte) error {
	var w cardWire
	if err := unmarshal(b, &w); err != nil {
		return err
	}
	*n = w.card()
	return nil
}

// The wire types mirror the replies that hold network cards, with each
// card's two spellings in separate fields, so that encoding/json fills them
// in one pass with no UnmarshalJSON (and no second decoding) per card. The
// *Fields types are the replies' own fields without their methods; a
// shallower field of the same JSON name shadows the embedded one.
type (
	cardFields   NetworkCard
	detailFields DescribeGpuDetailData
	gpuFields    DescribeGpuData
	recordFields GpuRecord
)

type cardWire struct {
	cardFields
	// Exact-case keys win over case-insensitive ones in encoding/json,
	// so each spelling lands in its own field.
	EipAddressLower  string `json:"eipAddress"`
	EipLinkTypeLower string `json:"eipLinkType"`
}

func (w *cardWire) card() NetworkCard {
	n := NetworkCard(w.cardFields)
	n.EipAddress = firstNonEmpty(n.EipAddress, w.EipAddressLower)
	n.EipLinkType = firstNonEmpty(n.EipLinkType, w.EipLinkTypeLower)
	return n
}

type networksWire struct {
	NetworkCards []cardWire `json:"NetworkCards"`
}

func (w *networksWire) networks() Networks {
	if w.NetworkCards == nil {
		return Networks{}
	}
	cards := make([]NetworkCard, len(w.NetworkCards))
	for i := range w.NetworkCards {
		cards[i] = w.NetworkCards[i].card()
	}
	return Networks{NetworkCards: cards}
}

// detailWire is DescribeGpuDetailData on the wire.
type detailWire struct {
	detailFields
	Networks networksWire           `json:"Networks"`
	dst      *DescribeGpuDetailData // not decoded
}

func (d *DescribeGpuDetailData) wire() wireTarget { return &detailWire{dst: d} }

func (w *detailWire) finish() {
	*w.dst = DescribeGpuDetailData(w.detailFields)
	w.dst.Networks = w.Networks.networks()
}

// gpuWire is DescribeGpuData on the wire.
type gpuWire struct {
	gpuFields
	Records []recordWire     `json:"Records"`
	dst     *DescribeGpuData // not decoded
}

type recordWire struct {
	recordFields
	Networks networksWire `json:"Networks"`
}

func (d *DescribeGpuData) wire() wireTarget { return &gpuWire{dst: d} }

func (w *gpuWire) finish() {
	*w.dst = DescribeGpuData(w.gpuFields)
	if w.Records == nil {
		return
	}
	records := make([]GpuRecord, len(w.Records))
	for i := range w.Records {
		records[i] = GpuRecord(w.Records[i].recordFields)
		records[i].Networks = w.Records[i].Networks.networks()
	}
	w.dst.Records = records
}

// DescribeGpuDetailData is one server in full.
type DescribeGpuDetailData struct {
	ResourceID         string   `json:"ResourceId"`
	Name               string   `json:"Name"`
	CPU                int32    `json:"Cpu"`
	RAM                int32    `json:"Ram"`
	State              string   `json:"State"`
	Status             string   `json:"Status"`
	AppID              string   `json:"AppId"`
	AppName            string   `json:"AppName"`
	RegionID           string   `json:"RegionId"`
	RegionName         string   `json:"RegionName"`
	ImageName          string   `json:"ImageName"`
	InstanceChargeType string   `json:"InstanceChargeType"`
	BillStatus         string   `json:"BillStatus"` // "1": billing
	IsAutoRenewal      int32    `json:"IsAutoRenewal"`
	RunningTime        string   `json:"RunningTime"`
	CreateDate         string   `json:"CreateDate"`
	ExpireDate         string   `json:"ExpireDate"`
	Volumes            []Volume `json:"Volumes"`
	Networks           Networks `json:"Networks"`
}

// Volume is one disk mounted on a server.
type Volume struct {
	ID         string `json:"Id"`
	Type       string `json:"Type"`
	Capacity   int64  `json:"Capacity"`
	VolumeType string `json:"VolumeType"`
	VolumeID   string `json:"VolumeId"`
	VolumePath string `json:"VolumePath"`
	UpdateDate string `json:"UpdateDate"`
}

// TaskStatus is a task's status as the provider spells it. Values other than
// the three documented ones are kept as they come.
type TaskStatus string

// The documented task statuses.
const (
	TaskStatusInit    TaskStatus = "init" // running
	TaskStatusSucceed TaskStatus = "succeed"
	TaskStatusFailed  TaskStatus = "failed"
)

// Terminal reports whether the task has finished, well or badly.
func (s TaskStatus) Terminal() bool { return s == TaskStatusSucceed || s == TaskStatusFailed }

// DescribeGpuTaskData is a task's status and the servers it concerns.
type DescribeGpuTaskData struct {
	ResourceIDs []string   `json:"ResourceIds"`
	Status      TaskStatus `json:"Status"`
}

// UnmarshalJSON keeps any Status value as text, and accepts ResourceIds as a
// list or a single string.
func (d *DescribeGpuTaskData) UnmarshalJSON(b []byte) error {
	var w struct {
		ResourceIDs stringList      `json:"ResourceIds"`
		Status      json.RawMessage `json:"Status"`
	}
	if err := unmarshal(b, &w); err != nil {
		return err
	}
	*d = DescribeGpuTaskData{ResourceIDs: w.ResourceIDs, Status: TaskStatus(text(w.Status))}
	return nil
}

// ReinstallGpuData holds the reinstall's task ids.
type ReinstallGpuData struct {
	TaskIDs []string `json:"TaskIds"`
}

// UnmarshalJSON accepts TaskIds or TaskId, each a list or a single string.
func (d *ReinstallGpuData) UnmarshalJSON(b []byte) error {
	ids, _, err := taskIDs(b)
	d.TaskIDs = ids
	return err
}

// DescribeGpuImageData is the images by OS family ("Ubuntu", "Redhat", ...),
// sorted by family name so the order is stable whatever the provider's.
type DescribeGpuImageData struct {
	Families []ImageFamily
}

// ImageFamily is the images of one OS family.
type ImageFamily struct {
	Family string  `json:"Family"`
	Images []Image `json:"Images"`
}

// Image is one image.
type Image struct {
	ID   string `json:"Id"`
	Name string `json:"Name"`
	Type string `json:"Type"` // public or private
}

// UnmarshalJSON reads the provider's object keyed by family.
func (d *DescribeGpuImageData) UnmarshalJSON(b []byte) error {
	var m map[string][]Image
	if err := unmarshal(b, &m); err != nil {
		return err
	}
	fams := make([]ImageFamily, 0, len(m))
	for name, images := range m {
		fams = append(fams, ImageFamily{Family: name, Images: images})
	}
	sort.Slice(fams, func(i, j int) bool { return fams[i].Family < fams[j].Family })
	d.Families = fams
	return nil
}

// CreateGpuInstanceData holds the order's main task id.
type CreateGpuInstanceData struct {
	TaskID string `json:"TaskId"`
}

// UnmarshalJSON accepts taskId (the documented spelling) and TaskId, and
// TaskIds as a last resort, taking its first entry.
func (d *CreateGpuInstanceData) UnmarshalJSON(b []byte) error {
	ids, single, err := taskIDs(b)
	if err != nil {
		return err
	}
	d.TaskID = single
	if d.TaskID == "" && len(ids) > 0 {
		d.TaskID = ids[0]
	}
	return nil
}

// OperateGpuPowerData holds one task id per server, index-aligned with
// ResourceIDs.
type OperateGpuPowerData struct {
	ResourceIDs []string `json:"ResourceIds"`
	TaskIDs     []string `json:"TaskIds"`
}

// UnmarshalJSON accepts TaskIds (the example) or TaskId (the table), each a
// list or a single string.
func (d *OperateGpuPowerData) UnmarshalJSON(b []byte) error {
	var w struct {
		ResourceIDs stringList `json:"ResourceIds"`
	}
	if err := unmarshal(b, &w); err != nil {
		return err
	}
	ids, _, err := taskIDs(b)
	if err != nil {
		return err
	}
	*d = OperateGpuPowerData{ResourceIDs: w.ResourceIDs, TaskIDs: ids}
	return nil
}

// DeleteGpuInstancesData is the provider's empty Data ({}).
type DeleteGpuInstancesData struct{}

// taskIDs reads the task id fields of a Data object under any of the
// provider's spellings: TaskIds, TaskId, taskIds, taskId. It returns the list
// (TaskIds, else TaskId) and the single id (TaskId, else the first of
// TaskIds).
func taskIDs(b []byte) ([]string, string, error) {
	var w struct {
		TaskIDs stringList `json:"TaskIds"`
		TaskID  stringList `json:"TaskId"`
	}
	if err := unmarshal(b, &w); err != nil {
		return nil, "", err
	}
	list := []string(w.TaskIDs)
	if len(list) == 0 {
		list = w.TaskID
	}
	single := ""
	if len(w.TaskID) > 0 {
		single = w.TaskID[0]
	} else if len(list) > 0 {
		single = list[0]
	}
	return list, single, nil
}

// stringList is a JSON list of strings, a single string (a list of one) or
// null.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			*l = nil
		} else {
			*l = stringList{s}
		}
		return nil
	}
	var s []string
	if err := unmarshal(b, &s); err != nil {
		return err
	}
	*l = s
	return nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
