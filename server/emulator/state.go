package emulator

import (
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Server states and their Chinese status text.
const (
	stateCreating   = "creating"
	stateRunning    = "running"
	stateStopping   = "stopping"
	stateStopped    = "stopped"
	stateStarting   = "starting"
	stateRestarting = "restarting"
	stateRebuilding = "rebuilding"
	stateDeleting   = "deleting"
	// stateError: a task failed and left the server broken; it can only be
	// deleted (Faults.ErrorStateRate).
	stateError = "error"
)

var statusText = map[string]string{
	stateCreating:   "创建中",
	stateRunning:    "运行",
	stateStopping:   "关机中",
	stateStopped:    "关机",
	stateStarting:   "开机中",
	stateRestarting: "重启中",
	stateRebuilding: "重装中",
	stateDeleting:   "删除中",
	stateError:      "异常",
}

// Task statuses.
const (
	taskInit    = "init"
	taskSucceed = "succeed"
	taskFailed  = "failed"
)

type server struct {
	seq             uint64 // creation order
	id, name        string
	region          *region
	compute         *compute
	image           *image
	vpcID           string
	subnet          *subnet
	eipID           string // "" without an EIP
	chargeType      string
	autoRenew       int
	bondMode        string
	state           string
	created, expire time.Time // expire is zero for PostPaid
	nic             nic
	volumes         []volume
}

type nic struct {
	id, vlan, ip, netmask, gateway string
	eip, eipLink                   string // the EIP's address and carrier; "" without one
	macs                           [2]string
}

type volume struct {
	id, volumeID, path, diskType string
	capacity                     int
}

// task moves its servers from a transient state to next (or removes them
// when next is ""); a failed task puts each back to prev[i] (or removes it
// when prev[i] is "").
type task struct {
	id          string
	resourceIDs []string
	prev        []string
	next        string
	image       *image // reinstall: the image after success
	fails       bool
	breaks      bool // fails, leaving the servers in stateError
	due         time.Time
	status      string
	ended       time.Time
}

// newTask starts a task over ids, which must already be in their transient
// state. Must hold e.mu.
func (e *Emulator) newTask(now time.Time, ids, prev []string, next string) *task {
	t := &task{
		id:          uuid.NewString(),
		resourceIDs: ids,
		prev:        prev,
		next:        next,
		fails:       e.roll(e.opts.faults.TaskFailureRate),
		breaks:      e.roll(e.opts.faults.ErrorStateRate),
		due:         now.Add(e.opts.taskDelay),
		status:      taskInit,
	}
	e.tasks[t.id] = t
	e.pending = append(e.pending, t)
	return t
}

// settle finishes the tasks due by now and forgets old finished ones. Every
// task has the same delay, so pending is in due order. Must hold e.mu.
func (e *Emulator) settle(now time.Time) {
	for len(e.pending) > 0 && !e.pending[0].due.After(now) {
		t := e.pending[0]
		e.pending[0] = nil
		e.pending = e.pending[1:]
		e.finish(t)
	}
	for len(e.finished) > 0 &&
		(len(e.finished) > maxFinishedTasks || !e.finished[0].ended.Add(e.opts.taskRetention).After(now)) {
		delete(e.tasks, e.finished[0].id)
		e.finished[0] = nil
		e.finished = e.finished[1:]
	}
}

// finish ends t as of its due time, however late it is noticed.
func (e *Emulator) finish(t *task) {
	t.status, t.ended = taskSucceed, t.due
	if t.fails || t.breaks {
		t.status = taskFailed
	}
	for i, id := range t.resourceIDs {
		s := e.servers[id]
		if s == nil {
			continue
		}
		state := t.next
		switch {
		case t.breaks && t.next != "":
			state = stateError
		case t.fails || t.breaks:
			state = t.prev[i]
		}
		if state == "" {
			delete(e.servers, id)
			e.stock[s.compute.id]++
			continue
		}
		s.state = state
		if !t.fails && t.image != nil {
			s.image = t.image
		}
	}
	e.finished = append(e.finished, t)
}

// busy reports whether s is between two stable states.
func (s *server) busy() bool {
	return s.state != stateRunning && s.state != stateStopped && s.state != stateError
}

// lookupServers finds every id or fails with InstanceNotFound. Must hold e.mu.
func (e *Emulator) lookupServers(ids []string) ([]*server, error) {
	out := make([]*server, len(ids))
	for i, id := range ids {
		s := e.servers[id]
		if s == nil {
			return nil, apiErr(codeInstanceNotFound, "实例不存在: %s", id)
		}
		out[i] = s
	}
	return out, nil
}

// transition moves servers to a transient state behind tasks, one task for
// all of them when shared is set, else one each. Each server must be in one
// of from. Must hold e.mu.
func (e *Emulator) transition(now time.Time, ss []*server, from []string, via, next string, img *image, shared bool) ([]*task, error) {
	for _, s := range ss {
		if !slices.Contains(from, s.state) {
			return nil, apiErr(codeInstanceError, "实例当前状态(%s)不允许该操作: %s", s.state, s.id)
		}
	}
	var tasks []*task
	start := func(ss []*server) {
		ids, prev := make([]string, len(ss)), make([]string, len(ss))
		for i, s := range ss {
			ids[i], prev[i], s.state = s.id, s.state, via
		}
		t := e.newTask(now, ids, prev, next)
		t.image = img
		tasks = append(tasks, t)
	}
	if shared {
		start(ss)
	} else {
		for _, s := range ss {
			start([]*server{s})
		}
	}
	return tasks, nil
}

// usedAddrs returns the private addresses taken in sn. Must hold e.mu.
func (e *Emulator) usedAddrs(sn *subnet) map[string]bool {
	used := map[string]bool{}
	for _, s := range e.servers {
		if s.subnet == sn {
			used[s.nic.ip] = true
		}
	}
	return used
}

// allocAddr picks the next address of sn (.2 to .251 of each /24 in it),
// from the subnet's counter on, that is not in used, and marks it used. It
// cannot loop long: a subnet holds at least 16 000 such addresses (a /18)
// and used at most MaxMaxServers. Must hold e.mu.
func (e *Emulator) allocAddr(sn *subnet, used map[string]bool) string {
	base := sn.segment.Masked().Addr().As4()
	blocks := uint32(1) << (24 - sn.segment.Bits())
	for {
		n := e.ipNext[sn.id] % (blocks * 250)
		e.ipNext[sn.id]++
		block := uint32(base[1])<<8 | uint32(base[2]) + n/250
		a := fmt.Sprintf("%d.%d.%d.%d", base[0], byte(block>>8), byte(block), n%250+2)
		if !used[a] {
			used[a] = true
			return a
		}
	}
}

// newNIC builds the network card of server seq in subnet sn with private
// address ip and EIP eip (nil for none).
func newNIC(seq uint64, sn *subnet, ip string, eip *eipInfo) nic {
	h := fnv.New32a()
	h.Write([]byte(sn.id))
	n := nic{
		id:      uuid.NewString(),
		vlan:    fmt.Sprint(1000 + h.Sum32()%3000),
		ip:      ip,
		netmask: netmask(sn.segment),
		gateway: sn.gateway().String(),
	}
	if eip != nil {
		n.eip, n.eipLink = eip.ip, linkType(eip.bandwidthType)
	}
	for i := range n.macs {
		m := seq*2 + uint64(i)
		n.macs[i] = fmt.Sprintf("6C:92:BF:%02X:%02X:%02X", byte(m>>16), byte(m>>8), byte(m))
	}
	return n
}

func newVolumes(c *compute) []volume {
	var out []volume
	for _, d := range c.disks {
		for range d.count {
			out = append(out, volume{
				id:       uuid.NewString(),
				volumeID: uuid.NewString(),
				path:     "sd" + string(rune('a'+len(out)%26)),
				diskType: d.typ,
				capacity: d.capacity,
			})
		}
	}
	return out
}

// China time, as the provider's dates are.
var chinaTime = time.FixedZone("CST", 8*60*60)

const dateForm = "2006-01-02 15:04:05"

func formatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(chinaTime).Format(dateForm)
}

// expiry is the end of a PrePaid purchase: the start of the month after
// created's month, plus months.
func expiry(created time.Time, months int) time.Time {
	c := created.In(chinaTime)
	return time.Date(c.Year(), c.Month()+1+time.Month(months), 1, 0, 0, 0, 0, chinaTime)
}

// runningTime formats d as the provider does: 0天3小时1分钟35秒.
func runningTime(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	return fmt.Sprintf("%d天%d小时%d分钟%d秒", s/86400, s/3600%24, s/60%60, s%60)
}
