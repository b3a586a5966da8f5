package emulator

import (
	"fmt"
	"slices"
	"strings"
)

// The catalogue is fixed and shared by every Emulator: only stock changes,
// and each Emulator keeps its own copy of that.

type region struct{ id, name string }

type disk struct {
	id, typ         string
	capacity, count int
}

type compute struct {
	id, cpuInfo, frequency string
	cpu, ram               int
	disks                  []disk
	stock                  int   // initial PurchaseNum
	unitPrice              int64 // per server and month, in cents
}

type goods struct {
	id         int64
	name       string
	region     string
	chargeType string // the list DescribeGpuGoods shows it in
	computes   []*compute
}

type image struct {
	id, name, family, region string
	computes                 []string // ids it is offered for; empty: every compute in the region
}

const (
	chargePrePaid  = "PrePaid"
	chargePostPaid = "PostPaid"
)

var regions = []region{
	{"CN_Hohhot_B", "中国大陆-呼和浩特-可用区B"},
	{"CN_Qingyang_A", "中国大陆-庆阳-可用区A"},
	{"CN_SJZ_B", "中国大陆-石家庄-可用区B"},
}

var catalogue = []*goods{
	{id: 7685, name: "GPU服务器-02SS01（公测）", region: "CN_Hohhot_B", chargeType: chargePostPaid, computes: []*compute{{
		id: "8fbdb61e-b941-46db-89f6-f8953b278ec9", cpuInfo: "Intel Xeon Silver 4110", frequency: "2.1GHz", cpu: 32, ram: 64,
		disks: []disk{{"ab72e15b-f3ab-4448-9094-ab271813f405", "SSD", 480, 1}}, stock: 10, unitPrice: 66600,
	}}},
	{id: 7793, name: "GPU服务器-03SA03（公测）", region: "CN_Hohhot_B", chargeType: chargePrePaid, computes: []*compute{{
		id: "1b69ecca-453c-4535-8c96-16edf1ec6da9", cpuInfo: "Intel Xeon Silver 6148", frequency: "3.5GHz", cpu: 32, ram: 64,
		disks: []disk{{"d7a3f7ef-98e1-417c-a7e4-a5720e273f67", "NVME", 3200, 1}}, stock: 5, unitPrice: 1000000,
	}}},
	{id: 7955, name: "GPU服务器-8卡A100（公测）", region: "CN_Hohhot_B", chargeType: chargePrePaid, computes: []*compute{{
		id: "f7d3b7b4-e77d-47ac-aa37-8c9e3304e469", cpuInfo: "Intel Xeon Platinum 8358", frequency: "2.6GHz", cpu: 128, ram: 1024,
		disks: []disk{
			{"5a0e5c36-3b0e-4a53-9d5e-0c4b7f0e7a11", "SSD", 480, 2},
			{"6b1f6d47-4c1f-4b64-8e6f-1d5c8a1f8b22", "NVME", 3840, 4},
		}, stock: 3, unitPrice: 3980000,
	}}},
	{id: 8001, name: "GPU服务器-4卡T4", region: "CN_Qingyang_A", chargeType: chargePostPaid, computes: []*compute{
		{
			id: "c3b0c9d2-7e41-4f0a-9a35-2f1e6b7d8c01", cpuInfo: "Intel Xeon Gold 6248", frequency: "2.5GHz", cpu: 80, ram: 384,
			disks: []disk{{"0c8d2b1a-5e6f-4a7b-8c9d-0e1f2a3b4c01", "SSD", 960, 2}}, stock: 20, unitPrice: 320000,
		},
		{
			id: "c3b0c9d2-7e41-4f0a-9a35-2f1e6b7d8c02", cpuInfo: "Intel Xeon Gold 6248", frequency: "2.5GHz", cpu: 80, ram: 768,
			disks: []disk{{"0c8d2b1a-5e6f-4a7b-8c9d-0e1f2a3b4c02", "SSD", 1920, 2}}, stock: 10, unitPrice: 450000,
		},
	}},
	{id: 8520, name: "GPU服务器-8卡V100", region: "CN_SJZ_B", chargeType: chargePrePaid, computes: []*compute{
		{
			id: "228c20b9-e27e-4bee-bea2-d7c2985a2f3d", cpuInfo: "Intel Xeon Gold 6133", frequency: "2.5GHz", cpu: 80, ram: 512,
			disks: []disk{{"9d4e3c2b-1a0f-4e8d-9c7b-6a5f4e3d2c10", "SSD", 960, 2}}, stock: 8, unitPrice: 1880000,
		},
		{
			// Sold out, as in the documented PurchaseNum example.
			id: "219a3445-bb9c-4ae9-b50d-3f83c416c626", cpuInfo: "Intel Xeon Gold 6133", frequency: "2.5GHz", cpu: 80, ram: 768,
			disks: []disk{{"9d4e3c2b-1a0f-4e8d-9c7b-6a5f4e3d2c11", "NVME", 3840, 2}}, stock: 0, unitPrice: 2180000,
		},
	}},
}

var images = []*image{
	{id: "d32af696-5774-4936-8f09-e9f4cf069b31", name: "ubuntu14.04_64", family: "Ubuntu", region: "CN_Hohhot_B"},
	{id: "7e1c2f30-6a7b-4c55-9b0e-3d2a1f0e9c01", name: "ubuntu20.04_64", family: "Ubuntu", region: "CN_Hohhot_B"},
	{id: "7e1c2f30-6a7b-4c55-9b0e-3d2a1f0e9c02", name: "ubuntu22.04_64_cuda12", family: "Ubuntu", region: "CN_Hohhot_B",
		computes: []string{"f7d3b7b4-e77d-47ac-aa37-8c9e3304e469"}},
	{id: "232af696-5774-4936-8f09-e9f4cf069b31", name: "rhel7.6_64", family: "Redhat", region: "CN_Hohhot_B"},
	{id: "d6012cd8-b672-11e9-9265-525400b97470", name: "centos7.6_64", family: "Centos", region: "CN_Hohhot_B"},
	{id: "7e1c2f30-6a7b-4c55-9b0e-3d2a1f0e9c11", name: "ubuntu20.04_64", family: "Ubuntu", region: "CN_Qingyang_A"},
	{id: "7e1c2f30-6a7b-4c55-9b0e-3d2a1f0e9c12", name: "centos7.9_64", family: "Centos", region: "CN_Qingyang_A"},
	{id: "bd597daa-2157-4a6f-8e29-8c212eb86tes", name: "ubuntu18.04_64", family: "Ubuntu", region: "CN_SJZ_B"},
	{id: "7e1c2f30-6a7b-4c55-9b0e-3d2a1f0e9c21", name: "centos7.6_64", family: "Centos", region: "CN_SJZ_B"},
}

var (
	regionByID  = map[string]*region{}
	goodsByID   = map[int64]*goods{}
	computeByID = map[string]*compute{}
	imageByID   = map[string]*image{}
)

func init() {
	for i := range regions {
		regionByID[regions[i].id] = &regions[i]
	}
	for _, g := range catalogue {
		goodsByID[g.id] = g
		for _, c := range g.computes {
			computeByID[c.id] = c
		}
	}
	for _, im := range images {
		imageByID[im.id] = im
	}
}

// offers reports whether im can be installed on compute c in region r.
func (im *image) offers(r, c string) bool {
	return im.region == r && (len(im.computes) == 0 || slices.Contains(im.computes, c))
}

// lookupImage finds image id offered for compute c in region r, or fails
// with ImageNotFound.
func lookupImage(id, r, c string) (*image, error) {
	if im := imageByID[id]; im != nil && im.offers(r, c) {
		return im, nil
	}
	return nil, apiErr(codeImageNotFound, "镜像不存在: %s", id)
}

func lookupRegion(id string) (*region, error) {
	if r := regionByID[id]; r != nil {
		return r, nil
	}
	return nil, invalid("RegionId", "站点不存在")
}

// lookupCompute finds compute computeID of goods goodsID in region regionID.
func lookupCompute(regionID string, goodsID int64, computeID string) (*compute, error) {
	if _, err := lookupRegion(regionID); err != nil {
		return nil, err
	}
	g := goodsByID[goodsID]
	if g == nil || g.region != regionID {
		return nil, invalid("GoodsId", "商品不存在")
	}
	for _, c := range g.computes {
		if c.id == computeID {
			return c, nil
		}
	}
	return nil, invalid("ComputeId", "规格配置不存在")
}

// computeInRegion reports whether computeID is sold in regionID.
func computeInRegion(regionID, computeID string) bool {
	for _, g := range catalogue {
		if g.region != regionID {
			continue
		}
		for _, c := range g.computes {
			if c.id == computeID {
				return true
			}
		}
	}
	return false
}

// money formats cents as the provider does: "666.00".
func money(cents int64) string {
	return fmt.Sprintf("%d.%02d", cents/100, cents%100)
}

// billedMonths is the number of months a purchase is charged for.
func billedMonths(chargeType string, prepaidMonth int) int64 {
	if chargeType == chargePrePaid && prepaidMonth > 1 {
		return int64(prepaidMonth)
	}
	return 1
}

// familyMatches matches an OsType filter ("centos") to an image family
// ("Centos"); no filter matches every family.
func familyMatches(family, osType string) bool {
	return osType == "" || strings.EqualFold(family, osType)
}
