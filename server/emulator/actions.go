package emulator

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// One handler per action: parse the arguments (no lock), then act on the
// state under e.mu. Replies are fresh values, encoded after the lock is gone.

// enum reads a string that must be one of values.
func (a *args) enum(name string, required bool, values ...string) string {
	s := a.str(name, required)
	if s != "" && !slices.Contains(values, s) {
		a.fail(invalid(a.name(name), "取值应为"+strings.Join(values, "/")))
	}
	return s
}

// intIn reads an integer in lo..hi, def when absent.
func (a *args) intIn(name string, required bool, lo, hi, def int64) int {
	n, ok := a.integer(name, required)
	if !ok {
		return int(def)
	}
	a.check(n >= lo && n <= hi, invalid(a.name(name), fmt.Sprintf("%d不在%d-%d之间", n, lo, hi)))
	return int(n)
}

// amount reads Amount: 1..100, AmountOversize above.
func (a *args) amount(required bool) int {
	n, ok := a.integer("Amount", required)
	if !ok {
		return 1
	}
	a.check(n <= 100, apiErr(codeAmountOversize, "数量超过上限100: %d", n))
	a.check(n >= 1, invalid("Amount", "数量至少为1"))
	return int(n)
}

// resourceIDs reads ResourceIds: 1..100 distinct ids.
func (a *args) resourceIDs() []string {
	ids := a.strs("ResourceIds", true)
	a.check(len(ids) <= 100, invalid("ResourceIds", "最多100个"))
	seen := map[string]bool{}
	for _, id := range ids {
		a.check(id != "", empty("ResourceIds"))
		a.check(!seen[id], invalid("ResourceIds", "重复的资源ID"))
		seen[id] = true
	}
	return ids
}

// install reads what CreateGpuInstance and ReinstallGpu share: ImageId,
// Password (checked, never kept), Raid and the custom partitions.
func (a *args) install() (imageID string) {
	imageID = a.str("ImageId", true)
	pw := a.str("Password", true)
	if n := utf8.RuneCountInString(pw); pw != "" && (n < 8 || n > 64) {
		a.fail(invalid("Password", "长度应为8-64位"))
	}
	if raid, ok := a.integer("Raid", false); ok {
		a.check(raid == 0 || raid == 1 || raid == 5 || raid == 10 || raid == -1 || raid == -2,
			invalid("Raid", "取值应为0/1/5/10/-1/-2"))
	}
	parts := a.strs("CustomPartition", false)
	sizes := a.ints("CustomPartitionSize")
	if len(parts) > 0 {
		a.check(parts[0] == "/", invalid("CustomPartition", `第一个分区必须是"/"`))
	}
	a.check(len(sizes) == len(parts), invalid("CustomPartitionSize", "与CustomPartition个数不一致"))
	seen := map[string]bool{}
	for i, p := range parts {
		a.check(p == "swap" || strings.HasPrefix(p, "/"), invalid("CustomPartition", `分区应为"swap"或以"/"开头`))
		a.check(!seen[p], invalid("CustomPartition", "分区重复"))
		seen[p] = true
		if i < len(sizes) {
			a.check(sizes[i] > 0 && sizes[i] <= 1<<20, invalid("CustomPartitionSize", "分区大小应为1-1048576GB"))
		}
	}
	return imageID
}

type regionReply struct {
	RegionID   string `json:"RegionId"`
	RegionName string `json:"RegionName"`
}

func (e *Emulator) describeRegions(*args) (any, error) {
	out := make([]regionReply, len(regions))
	for i, r := range regions {
		out[i] = regionReply{r.id, r.name}
	}
	return out, nil
}

type goodsListReply struct {
	PrePaid  []goodsReply `json:"PrePaid"`
	PostPaid []goodsReply `json:"PostPaid"`
}

type goodsReply struct {
	GoodsID   int64          `json:"GoodsId"`
	GoodsName string         `json:"GoodsName"`
	Computes  []computeReply `json:"Computes"`
}

type computeReply struct {
	ID          string      `json:"Id"`
	CPUInfo     string      `json:"CpuInfo"`
	CPU         int         `json:"Cpu"`
	RAM         int         `json:"Ram"`
	Frequency   string      `json:"Frequency"`
	PurchaseNum int         `json:"PurchaseNum"`
	Disks       []diskReply `json:"Disks"`
}

type diskReply struct {
	ID       string `json:"Id"`
	Type     string `json:"Type"`
	Capacity int    `json:"Capacity"`
	Count    int    `json:"Count"`
}

func (e *Emulator) describeGoods(a *args) (any, error) {
	id := a.str("RegionId", true)
	if err := a.failed(); err != nil {
		return nil, err
	}
	if _, err := lookupRegion(id); err != nil {
		return nil, err
	}
	e.lock()
	defer e.mu.Unlock()
	var out goodsListReply // an empty list stays null, as the provider sends it
	for _, g := range catalogue {
		if g.region != id {
			continue
		}
		gr := goodsReply{GoodsID: g.id, GoodsName: g.name}
		for _, c := range g.computes {
			cr := computeReply{ID: c.id, CPUInfo: c.cpuInfo, CPU: c.cpu, RAM: c.ram, Frequency: c.frequency,
				PurchaseNum: e.stock[c.id], Disks: make([]diskReply, len(c.disks))}
			for i, d := range c.disks {
				cr.Disks[i] = diskReply{d.id, d.typ, d.capacity, d.count}
			}
			gr.Computes = append(gr.Computes, cr)
		}
		if g.chargeType == chargePrePaid {
			out.PrePaid = append(out.PrePaid, gr)
		} else {
			out.PostPaid = append(out.PostPaid, gr)
		}
	}
	return out, nil
}

type priceReply struct {
	Currency    string `json:"Currency"`
	TradeAmount string `json:"TradeAmount"`
	UnitPrice   string `json:"UnitPrice"`
}

func (e *Emulator) describePrice(a *args) (any, error) {
	regionID := a.str("RegionId", true)
	goodsID, _ := a.integer("GoodsId", true)
	computeID := a.str("ComputeId", true)
	charge := a.enum("InstanceChargeType", true, chargePrePaid, chargePostPaid)
	months := a.intIn("PrepaidMonth", false, 0, 36, 0)
	amount := a.amount(false)
	if err := a.failed(); err != nil {
		return nil, err
	}
	c, err := lookupCompute(regionID, goodsID, computeID)
	if err != nil {
		return nil, err
	}
	return priceReply{
		Currency:    "CN",
		TradeAmount: money(c.unitPrice * int64(amount) * billedMonths(charge, months)),
		UnitPrice:   money(c.unitPrice),
	}, nil
}

type imageReply struct {
	ID   string `json:"Id"`
	Name string `json:"Name"`
	Type string `json:"Type"`
}

func (e *Emulator) describeImages(a *args) (any, error) {
	typ := a.enum("ImageType", true, "public", "private")
	regionID := a.str("RegionId", true)
	osType := a.str("OsType", false)
	computeID := a.str("ComputeId", typ == "public")
	if err := a.failed(); err != nil {
		return nil, err
	}
	if _, err := lookupRegion(regionID); err != nil {
		return nil, err
	}
	if computeID != "" && !computeInRegion(regionID, computeID) {
		return nil, invalid("ComputeId", "规格配置不存在")
	}
	out := map[string][]imageReply{}
	if typ == "private" { // the emulator has no private images
		return out, nil
	}
	for _, im := range images {
		if im.offers(regionID, computeID) && familyMatches(im.family, osType) {
			out[im.family] = append(out[im.family], imageReply{im.id, im.name, "public"})
		}
	}
	return out, nil
}

type gpuListReply struct {
	Records    []gpuRecord `json:"Records"`
	TotalCount int         `json:"TotalCount"`
	PageSize   int         `json:"PageSize"`
	Pages      int         `json:"Pages"`
	PageNumber int         `json:"PageNumber"`
}

type serverBase struct {
	ResourceID         string `json:"ResourceId"`
	Name               string `json:"Name"`
	CPU                int    `json:"Cpu"`
	RAM                int    `json:"Ram"`
	State              string `json:"State"`
	Status             string `json:"Status"`
	RegionID           string `json:"RegionId"`
	RegionName         string `json:"RegionName"`
	AppID              string `json:"AppId"`
	AppName            string `json:"AppName"`
	InstanceChargeType string `json:"InstanceChargeType"`
	IsAutoRenewal      int    `json:"IsAutoRenewal"`
	CreateDate         string `json:"CreateDate"`
}

type gpuRecord struct {
	serverBase
	Networks struct {
		NetworkCards []cardReply `json:"NetworkCards"`
	} `json:"Networks"`
}

type cardBase struct {
	ID        string `json:"Id"`
	VlanID    string `json:"VlanId"`
	IPType    string `json:"IpType"`
	IPVersion string `json:"IpVersion"`
	IPAddress string `json:"IpAddress"`
	Netmask   string `json:"Netmask"`
	Gateway   string `json:"Gateway"`
}

type cardReply struct {
	cardBase
	EipAddress  string `json:"EipAddress,omitempty"`
	EipLinkType string `json:"EipLinkType,omitempty"`
}

// detailCardReply spells the EIP fields as DescribeGpuDetail's example does.
type detailCardReply struct {
	cardBase
	Mac         []string `json:"Mac"`
	WorkMode    string   `json:"WorkMode"`
	EipAddress  string   `json:"eipAddress,omitempty"`
	EipLinkType string   `json:"eipLinkType,omitempty"`
}

// eipLinkType is the carrier of the server's EIP, "" without one.
func (n *nic) eipLinkType() string { return n.eipLink }

func (s *server) base() serverBase {
	return serverBase{
		ResourceID: s.id, Name: s.name, CPU: s.compute.cpu, RAM: s.compute.ram,
		State: s.state, Status: statusText[s.state],
		RegionID: s.region.id, RegionName: s.region.name,
		AppID: s.vpcID, AppName: s.subnet.vpc.name,
		InstanceChargeType: s.chargeType, IsAutoRenewal: s.autoRenew, CreateDate: formatDate(s.created),
	}
}

func (n *nic) base() cardBase {
	return cardBase{ID: n.id, VlanID: n.vlan, IPType: "subnet", IPVersion: "ipV4",
		IPAddress: n.ip, Netmask: n.netmask, Gateway: n.gateway}
}

func (e *Emulator) describeGpu(a *args) (any, error) {
	vpc := a.str("AppId", false)
	name := a.str("Name", false)
	page := a.intIn("PageNumber", false, 1, 1<<31-1, 1)
	size := a.intIn("PageSize", false, 1, 1000, 500)
	if err := a.failed(); err != nil {
		return nil, err
	}
	e.lock()
	defer e.mu.Unlock()
	var match []*server
	for _, s := range e.servers {
		if (vpc == "" || s.vpcID == vpc) && strings.Contains(s.name, name) {
			match = append(match, s)
		}
	}
	slices.SortFunc(match, func(x, y *server) int { return cmp.Compare(x.seq, y.seq) })
	out := gpuListReply{Records: []gpuRecord{}, TotalCount: len(match), PageSize: size,
		Pages: (len(match) + size - 1) / size, PageNumber: page}
	if lo := (page - 1) * size; lo < len(match) {
		for _, s := range match[lo:min(lo+size, len(match))] {
			r := gpuRecord{serverBase: s.base()}
			r.Networks.NetworkCards = []cardReply{{cardBase: s.nic.base(), EipAddress: s.nic.eip, EipLinkType: s.nic.eipLinkType()}}
			out.Records = append(out.Records, r)
		}
	}
	return out, nil
}

type detailReply struct {
	serverBase
	BillStatus  string `json:"BillStatus"`
	ExpireDate  string `json:"ExpireDate"`
	ImageName   string `json:"ImageName"`
	RunningTime string `json:"RunningTime"`
	Networks    struct {
		NetworkCards []detailCardReply `json:"NetworkCards"`
	} `json:"Networks"`
	Volumes []volumeReply `json:"Volumes"`
}

type volumeReply struct {
	ID         string `json:"Id"`
	Type       string `json:"Type"`
	Capacity   int    `json:"Capacity"`
	VolumeID   string `json:"VolumeId"`
	VolumePath string `json:"VolumePath"`
	VolumeType string `json:"VolumeType"`
}

func (e *Emulator) describeDetail(a *args) (any, error) {
	id := a.str("ResourceId", true)
	if err := a.failed(); err != nil {
		return nil, err
	}
	now := e.lock()
	defer e.mu.Unlock()
	ss, err := e.lookupServers([]string{id})
	if err != nil {
		return nil, err
	}
	s := ss[0]
	out := detailReply{
		serverBase:  s.base(),
		BillStatus:  "1",
		ExpireDate:  formatDate(s.expire),
		ImageName:   s.image.name,
		RunningTime: runningTime(now.Sub(s.created)),
		Volumes:     make([]volumeReply, len(s.volumes)),
	}
	out.Networks.NetworkCards = []detailCardReply{{cardBase: s.nic.base(), Mac: slices.Clone(s.nic.macs[:]),
		WorkMode: s.bondMode, EipAddress: s.nic.eip, EipLinkType: s.nic.eipLinkType()}}
	for i, v := range s.volumes {
		out.Volumes[i] = volumeReply{v.id, "hard", v.capacity, v.volumeID, v.path, v.diskType}
	}
	return out, nil
}

type taskReply struct {
	ResourceIDs []string `json:"ResourceIds"`
	Status      string   `json:"Status"`
}

func (e *Emulator) describeTask(a *args) (any, error) {
	id := a.str("TaskId", true)
	if err := a.failed(); err != nil {
		return nil, err
	}
	e.lock()
	defer e.mu.Unlock()
	t := e.tasks[id]
	if t == nil {
		return nil, apiErr(codeDataNotExists, "任务不存在: %s", id)
	}
	return taskReply{slices.Clone(t.resourceIDs), t.status}, nil
}

type taskIDsReply struct {
	TaskIDs []string `json:"TaskIds"`
}

func (e *Emulator) reinstall(a *args) (any, error) {
	id := a.str("ResourceId", true)
	imageID := a.install()
	if err := a.failed(); err != nil {
		return nil, err
	}
	now := e.lock()
	defer e.mu.Unlock()
	ss, err := e.lookupServers([]string{id})
	if err != nil {
		return nil, err
	}
	im, err := lookupImage(imageID, ss[0].region.id, ss[0].compute.id)
	if err != nil {
		return nil, err
	}
	tasks, err := e.transition(now, ss, []string{stateRunning, stateStopped}, stateRebuilding, stateRunning, im, true)
	if err != nil {
		return nil, err
	}
	return taskIDsReply{[]string{tasks[0].id}}, nil
}

type powerReply struct {
	ResourceIDs []string `json:"ResourceIds"`
	TaskIDs     []string `json:"TaskIds"`
}

// powerOps are OperateGpuPower's transitions: from a stable state, through a
// transient one, to the next stable state.
var powerOps = map[string]struct{ from, via, next string }{
	"start": {stateStopped, stateStarting, stateRunning},
	"stop":  {stateRunning, stateStopping, stateStopped},
	"reset": {stateRunning, stateRestarting, stateRunning},
}

func (e *Emulator) operatePower(a *args) (any, error) {
	op := a.enum("Operate", true, "start", "stop", "reset")
	ids := a.resourceIDs()
	if err := a.failed(); err != nil {
		return nil, err
	}
	now := e.lock()
	defer e.mu.Unlock()
	ss, err := e.lookupServers(ids)
	if err != nil {
		return nil, err
	}
	p := powerOps[op]
	tasks, err := e.transition(now, ss, []string{p.from}, p.via, p.next, nil, false)
	if err != nil {
		return nil, err
	}
	out := powerReply{ResourceIDs: slices.Clone(ids), TaskIDs: make([]string, len(tasks))}
	for i, t := range tasks {
		out.TaskIDs[i] = t.id
	}
	return out, nil
}

func (e *Emulator) deleteServers(a *args) (any, error) {
	ids := a.resourceIDs()
	if err := a.failed(); err != nil {
		return nil, err
	}
	now := e.lock()
	defer e.mu.Unlock()
	ss, err := e.lookupServers(ids)
	if err != nil {
		return nil, err
	}
	if _, err := e.transition(now, ss, []string{stateRunning, stateStopped, stateError}, stateDeleting, "", nil, true); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

type createRequest struct {
	regionID, computeID     string
	goodsID                 int64
	imageID                 string
	vpcID, netID            string
	subnet                  *subnet // set by checkNetwork
	reserveEIP              bool
	eipIDs                  []string
	addresses               []string // explicit private addresses, one per server
	name                    string
	firstNo, noWidth        int
	chargeType              string
	autoRenew, prepaidMonth int
	bondMode                string
	amount                  int
}

// parseCreate reads CreateGpuInstance's body. The password is checked and
// dropped: it is never stored.
func parseCreate(a *args) (createRequest, error) {
	r := createRequest{firstNo: 1, noWidth: 3}
	r.regionID = a.str("RegionId", true)
	r.amount = a.amount(true)
	if net := a.object("VpcNetWork", true); net != nil {
		r.vpcID = net.id("VpcId")
		r.netID = net.id("NetId")
		r.reserveEIP = net.boolean("ReserveEip")
		eips := net.strs("EipIdList", false)
		r.eipIDs = eips
		net.check(len(eips) == 0 || (r.reserveEIP && len(eips) == r.amount),
			invalid("VpcNetWork.EipIdList", "仅在ReserveEip为true时有效, 个数应等于Amount"))
		segs := net.objects("Segments")
		net.check(len(segs) == 0 || len(segs) == r.amount, invalid("VpcNetWork.Segments", "个数应等于Amount"))
		for _, seg := range segs {
			seg.str("SegmentId", false)
			ip := seg.str("Address", true)
			addr, err := netip.ParseAddr(ip)
			seg.check(ip == "" || (err == nil && addr.Is4() && addr.String() == ip),
				invalid("VpcNetWork.Segments.Address", "应为IPv4地址"))
			seg.check(!slices.Contains(r.addresses, ip), invalid("VpcNetWork.Segments.Address", "IP重复"))
			r.addresses = append(r.addresses, ip)
		}
	}
	r.imageID = a.install()
	r.name = a.str("InstanceName", true)
	a.check(utf8.RuneCountInString(r.name) <= 64, invalid("InstanceName", "长度不超过64"))
	if no := a.str("AssignHostNo", false); no != "" {
		n, err := strconv.Atoi(no)
		a.check(err == nil && n >= 0 && len(no) <= 9, invalid("AssignHostNo", "应为不超过9位的数字"))
		r.firstNo, r.noWidth = n, max(3, len(no))
	}
	r.chargeType = a.enum("InstanceChargeType", true, chargePrePaid, chargePostPaid)
	r.autoRenew = a.intIn("AutoRenew", false, 0, 1, 1)
	r.prepaidMonth = a.intIn("PrepaidMonth", false, 0, 36, 0)
	r.computeID = a.str("ComputeId", true)
	r.goodsID, _ = a.integer("GoodsId", true)
	r.bondMode = a.enum("BondMode", false, "noBond", "bond1", "bond6")
	if r.bondMode == "" {
		r.bondMode = "noBond"
	}
	a.enum("PortMode", false, "trunk", "access")
	a.str("SubjectId", false)
	if r.chargeType == chargePostPaid {
		r.autoRenew = 0
	}
	return r, a.failed()
}

func (e *Emulator) create(a *args) (any, error) {
	r, err := parseCreate(a)
	if err != nil {
		return nil, err
	}
	c, err := lookupCompute(r.regionID, r.goodsID, r.computeID)
	if err != nil {
		return nil, err
	}
	im, err := lookupImage(r.imageID, r.regionID, c.id)
	if err != nil {
		return nil, err
	}
	if err := checkNetwork(&r); err != nil {
		return nil, err
	}
	now := e.lock()
	defer e.mu.Unlock()
	if e.stock[c.id] < r.amount {
		return nil, apiErr(codeNotSufficient, "库存不足: 可购买%d台, 需要%d台", e.stock[c.id], r.amount)
	}
	if len(e.servers)+r.amount > e.opts.maxServers {
		return nil, apiErr(codeNotSufficient, "资源不足: 模拟器最多%d台服务器", e.opts.maxServers)
	}
	eipsTaken, err := e.pickEIPs(&r)
	if err != nil {
		return nil, err
	}
	used := e.usedAddrs(r.subnet)
	for _, ip := range r.addresses {
		if used[ip] {
			return nil, invalid("VpcNetWork.Segments.Address", "IP已被占用: "+ip)
		}
		used[ip] = true
	}
	ids, prev := make([]string, r.amount), make([]string, r.amount)
	for i := range r.amount {
		e.seq++
		var ip string
		if len(r.addresses) > 0 { // one per server
			ip = r.addresses[i]
		} else {
			ip = e.allocAddr(r.subnet, used)
		}
		var eip *eipInfo
		if eipsTaken != nil {
			eip = eipsTaken[i]
		}
		s := &server{
			seq:        e.seq,
			id:         uuid.NewString(),
			name:       fmt.Sprintf("%s%0*d", r.name, r.noWidth, r.firstNo+i),
			region:     regionByID[r.regionID],
			compute:    c,
			image:      im,
			vpcID:      r.vpcID,
			subnet:     r.subnet,
			chargeType: r.chargeType,
			autoRenew:  r.autoRenew,
			bondMode:   r.bondMode,
			state:      stateCreating,
			created:    now,
			nic:        newNIC(e.seq, r.subnet, ip, eip),
			volumes:    newVolumes(c),
		}
		if r.chargeType == chargePrePaid {
			s.expire = expiry(now, r.prepaidMonth)
		}
		if eip != nil {
			s.eipID = eip.id
		}
		e.servers[s.id] = s
		ids[i] = s.id
	}
	e.stock[c.id] -= r.amount
	t := e.newTask(now, ids, prev, stateRunning) // prev "": a failed create removes them
	return struct {
		TaskID string `json:"taskId"`
	}{t.id}, nil
}
