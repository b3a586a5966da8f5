package upstream

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gpubms/gpubms/server/signature"
)

// The provider's actions.
const (
	ActionDescribeGpuRegions    = "DescribeGpuRegions"
	ActionDescribeGpuGoods      = "DescribeGpuGoods"
	ActionDescribeGpuGoodsPrice = "DescribeGpuGoodsPrice"
	ActionDescribeGpu           = "DescribeGpu"
	ActionDescribeGpuDetail     = "DescribeGpuDetail"
	ActionDescribeGpuTask       = "DescribeGpuTask"
	ActionReinstallGpu          = "ReinstallGpu"
	ActionDescribeGpuImage      = "DescribeGpuImage"
	ActionCreateGpuInstance     = "CreateGpuInstance"
	ActionOperateGpuPower       = "OperateGpuPower"
	ActionDeleteGpuInstances    = "DeleteGpuInstances"
)

// Requests mirror the provider's parameters: JSON tags are its key names and
// POST bodies are these structs marshalled as they are. An optional number is
// a pointer, so nil is absent from the request and a pointer to 0 sends 0
// (Raid 0 is a real RAID level). An optional string or list is absent when
// empty.

// DescribeGpuRegionsRequest has no parameters.
type DescribeGpuRegionsRequest struct{}

// DescribeGpuGoodsRequest lists the goods sold in a region (GET).
type DescribeGpuGoodsRequest struct {
	RegionID string `json:"RegionId"`
}

// DescribeGpuGoodsPriceRequest prices an order (POST, a read).
type DescribeGpuGoodsPriceRequest struct {
	RegionID           string `json:"RegionId"`
	GoodsID            int64  `json:"GoodsId"`
	ComputeID          string `json:"ComputeId"`
	InstanceChargeType string `json:"InstanceChargeType"` // PrePaid or PostPaid
	PrepaidMonth       *int32 `json:"PrepaidMonth,omitempty"`
	Amount             int32  `json:"Amount"`
}

// DescribeGpuRequest lists servers, a page at a time (GET). Unset fields
// leave the provider's defaults (page 1 of 500).
type DescribeGpuRequest struct {
	AppID      string `json:"AppId,omitempty"`
	Name       string `json:"Name,omitempty"`
	PageNumber *int32 `json:"PageNumber,omitempty"`
	PageSize   *int32 `json:"PageSize,omitempty"`
}

// DescribeGpuDetailRequest reads one server (GET).
type DescribeGpuDetailRequest struct {
	ResourceID string `json:"ResourceId"`
}

// DescribeGpuTaskRequest reads one task (GET).
type DescribeGpuTaskRequest struct {
	TaskID string `json:"TaskId"`
}

// ReinstallGpuRequest reinstalls a server's system (POST, mutating). The
// password travels only in the request body.
type ReinstallGpuRequest struct {
	ResourceID          string   `json:"ResourceId"`
	ImageID             string   `json:"ImageId"`
	Password            Secret   `json:"Password"`
	Raid                *int32   `json:"Raid,omitempty"`
	CustomPartition     []string `json:"CustomPartition,omitempty"`
	CustomPartitionSize []int64  `json:"CustomPartitionSize,omitempty"`
}

// DescribeGpuImageRequest lists images (POST, a read).
type DescribeGpuImageRequest struct {
	ImageType string `json:"ImageType"` // public or private
	RegionID  string `json:"RegionId"`
	OsType    string `json:"OsType,omitempty"`
	ComputeID string `json:"ComputeId,omitempty"`
}

// CreateGpuInstanceRequest orders servers (POST, mutating). The password
// travels only in the request body.
type CreateGpuInstanceRequest struct {
	RegionID            string     `json:"RegionId"`
	VpcNetwork          VpcNetwork `json:"VpcNetWork"` // sic: the provider's spelling
	Password            Secret     `json:"Password"`
	InstanceName        string     `json:"InstanceName"`
	AssignHostNo        string     `json:"AssignHostNo,omitempty"`
	InstanceChargeType  string     `json:"InstanceChargeType"`
	AutoRenew           *int32     `json:"AutoRenew,omitempty"`
	PrepaidMonth        *int32     `json:"PrepaidMonth,omitempty"`
	ComputeID           string     `json:"ComputeId"`
	GoodsID             int64      `json:"GoodsId"`
	ImageID             string     `json:"ImageId"`
	BondMode            string     `json:"BondMode,omitempty"`
	Raid                *int32     `json:"Raid,omitempty"`
	Amount              int32      `json:"Amount"`
	CustomPartition     []string   `json:"CustomPartition,omitempty"`
	CustomPartitionSize []int64    `json:"CustomPartitionSize,omitempty"`
	SubjectID           string     `json:"SubjectId,omitempty"`
	PortMode            string     `json:"PortMode,omitempty"`
}

// VpcNetwork places new servers in a VPC subnet.
type VpcNetwork struct {
	VpcID      string    `json:"VpcId"`
	ReserveEip *bool     `json:"ReserveEip,omitempty"`
	NetID      string    `json:"NetId,omitempty"`
	EipIDList  []string  `json:"EipIdList,omitempty"`
	Segments   []Segment `json:"Segments,omitempty"`
}

// Segment pins one new server's private address.
type Segment struct {
	SegmentID string `json:"SegmentId"`
	Address   string `json:"Address"`
}

// OperateGpuPowerRequest starts, stops or resets servers (POST, mutating).
type OperateGpuPowerRequest struct {
	Operate     string   `json:"Operate"` // start, stop or reset
	ResourceIDs []string `json:"ResourceIds"`
}

// DeleteGpuInstancesRequest deletes servers (POST, mutating).
type DeleteGpuInstancesRequest struct {
	ResourceIDs []string `json:"ResourceIds"`
}

// DescribeGpuRegions lists the regions where GPU servers are sold. Cached
// (WithCache) and coalesced; the reply is shared: do not modify it.
func (c *Client) DescribeGpuRegions(ctx context.Context, _ *DescribeGpuRegionsRequest) ([]Region, error) {
	out, err := fetch[[]Region](ctx, c, call{action: ActionDescribeGpuRegions, method: http.MethodGet, read: true})
	if err != nil {
		return nil, err
	}
	return *out, nil
}

// DescribeGpuGoods lists the goods (and their computes and disks) of a
// region. Cached (WithCache) and coalesced; the reply is shared: do not
// modify it.
func (c *Client) DescribeGpuGoods(ctx context.Context, req *DescribeGpuGoodsRequest) (*DescribeGpuGoodsData, error) {
	req = orZero(req)
	q := []signature.Param{{Name: "RegionId", Value: req.RegionID}}
	return fetch[DescribeGpuGoodsData](ctx, c, getCall(ActionDescribeGpuGoods, q))
}

// DescribeGpuGoodsPrice prices an order. It is a POST but a read: retried,
// cached (WithCache) and coalesced; the reply is shared: do not modify it.
func (c *Client) DescribeGpuGoodsPrice(ctx context.Context, req *DescribeGpuGoodsPriceRequest) (*DescribeGpuGoodsPriceData, error) {
	return fetch[DescribeGpuGoodsPriceData](ctx, c, postCall(ActionDescribeGpuGoodsPrice, orZero(req), true))
}

// DescribeGpu lists servers, one page at a time. Never cached, but
// coalesced; the reply is shared: do not modify it.
func (c *Client) DescribeGpu(ctx context.Context, req *DescribeGpuRequest) (*DescribeGpuData, error) {
	req = orZero(req)
	q := make([]signature.Param, 0, 4)
	q = setString(q, "AppId", req.AppID)
	q = setString(q, "Name", req.Name)
	q = setInt(q, "PageNumber", req.PageNumber)
	q = setInt(q, "PageSize", req.PageSize)
	return fetch[DescribeGpuData](ctx, c, getCall(ActionDescribeGpu, q))
}

// DescribeGpuDetail reads one server in full. Never cached, but coalesced;
// the reply is shared: do not modify it.
func (c *Client) DescribeGpuDetail(ctx context.Context, req *DescribeGpuDetailRequest) (*DescribeGpuDetailData, error) {
	req = orZero(req)
	q := []signature.Param{{Name: "ResourceId", Value: req.ResourceID}}
	return fetch[DescribeGpuDetailData](ctx, c, getCall(ActionDescribeGpuDetail, q))
}

// DescribeGpuTask reads the status of a task. Never cached, but coalesced;
// the reply is shared: do not modify it.
func (c *Client) DescribeGpuTask(ctx context.Context, req *DescribeGpuTaskRequest) (*DescribeGpuTaskData, error) {
	req = orZero(req)
	q := []signature.Param{{Name: "TaskId", Value: req.TaskID}}
	return fetch[DescribeGpuTaskData](ctx, c, getCall(ActionDescribeGpuTask, q))
}

// ReinstallGpu reinstalls a server. Never retried.
func (c *Client) ReinstallGpu(ctx context.Context, req *ReinstallGpuRequest) (*ReinstallGpuData, error) {
	req = orZero(req)
	body := reinstallBody{ReinstallGpuRequest: req, Password: string(req.Password)}
	return fetch[ReinstallGpuData](ctx, c, postCall(ActionReinstallGpu, body, false))
}

// DescribeGpuImage lists images by OS family. It is a POST but a read:
// retried, cached (WithCache) and coalesced; the reply is shared: do not
// modify it.
func (c *Client) DescribeGpuImage(ctx context.Context, req *DescribeGpuImageRequest) (*DescribeGpuImageData, error) {
	return fetch[DescribeGpuImageData](ctx, c, postCall(ActionDescribeGpuImage, orZero(req), true))
}

// CreateGpuInstance orders servers. Never retried: a lost reply may mean the
// order was placed.
func (c *Client) CreateGpuInstance(ctx context.Context, req *CreateGpuInstanceRequest) (*CreateGpuInstanceData, error) {
	req = orZero(req)
	body := createBody{CreateGpuInstanceRequest: req, Password: string(req.Password)}
	return fetch[CreateGpuInstanceData](ctx, c, postCall(ActionCreateGpuInstance, body, false))
}

// OperateGpuPower starts, stops or resets servers. Never retried.
func (c *Client) OperateGpuPower(ctx context.Context, req *OperateGpuPowerRequest) (*OperateGpuPowerData, error) {
	req = orZero(req)
	body := *req
	body.ResourceIDs = nonNil(body.ResourceIDs)
	return fetch[OperateGpuPowerData](ctx, c, postCall(ActionOperateGpuPower, body, false))
}

// DeleteGpuInstances deletes servers. Never retried.
func (c *Client) DeleteGpuInstances(ctx context.Context, req *DeleteGpuInstancesRequest) (*DeleteGpuInstancesData, error) {
	req = orZero(req)
	body := DeleteGpuInstancesRequest{ResourceIDs: nonNil(req.ResourceIDs)}
	return fetch[DeleteGpuInstancesData](ctx, c, postCall(ActionDeleteGpuInstances, body, false))
}

// reinstallBody and createBody put the password on the wire: the outer
// Password field is shallower than the embedded request's Secret field, so
// encoding/json uses it and ignores the redacting one. Marshalling the public
// request types themselves (say, into a log) redacts the password.
type reinstallBody struct {
	*ReinstallGpuRequest
	Password string `json:"Password"`
}

type createBody struct {
	*CreateGpuInstanceRequest
	Password string `json:"Password"`
}

func getCall(action string, q []signature.Param) call {
	return call{action: action, method: http.MethodGet, query: q, read: true}
}

func postCall(action string, body any, read bool) call {
	return call{action: action, method: http.MethodPost, body: body, read: read}
}

// fetch runs a call and returns its decoded Data. A read goes through the
// cache and the coalescing of identical reads (Client.read); a mutating call
// goes straight to the provider, and moves the client's epoch on when it
// ends, so that later reads do not share a request begun before it; a
// create or delete also drops the cached replies it may change.
func fetch[T any](ctx context.Context, c *Client, k call) (*T, error) {
	if err := k.encode(); err != nil {
		return nil, err
	}
	if !k.read {
		defer c.mutated(k.action)
		out := new(T)
		if err := c.do(ctx, k, out); err != nil {
			return nil, err
		}
		return out, nil
	}
	v, err := c.read(ctx, k, func(ctx, rctx context.Context) (any, error) {
		out := new(T)
		if err := c.run(ctx, rctx, k, out); err != nil {
			return nil, err
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*T), nil
}

func orZero[T any](p *T) *T {
	if p == nil {
		return new(T)
	}
	return p
}

// nonNil makes a missing list an empty JSON array rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func setString(q []signature.Param, name, v string) []signature.Param {
	if v != "" {
		q = append(q, signature.Param{Name: name, Value: v})
	}
	return q
}

func setInt(q []signature.Param, name string, v *int32) []signature.Param {
	if v != nil {
		q = append(q, signature.Param{Name: name, Value: strconv.FormatInt(int64(*v), 10)})
	}
	return q
}
