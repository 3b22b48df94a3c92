package flowmetrics

import (
	"bytes"
	"context"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// Label values of the small, fixed dimensions, indexed by their code in a
// key.
var (
	actionNames    = [...]string{"unknown", "ACCEPT", "REJECT"}
	directionNames = [...]string{"unknown", "inbound", "outbound", "internal"}
	protocolNames  = [...]string{"unknown", "tcp", "udp", "icmp", "icmpv6", "other"}
	statusNames    = [...]string{"unknown", "OK", "NODATA", "SKIPDATA"}
)

const (
	actUnknown, actAccept, actReject = 0, 1, 2

	statusUnknown, statusOK, statusNoData, statusSkipData = 0, 1, 2, 3

	// vpcUnknown and vpcOther are the first two VPC indexes; admitted VPC
	// ids follow.
	vpcUnknown, vpcOther = 0, 1

	// portOther is the port key of rejected flows whose port has no label.
	portOther = 1 << 16
)

// key packs the labels of one vpcflow_flows_total series:
// vpc<<16 | action<<12 | direction<<8 | protocol<<4 | status.
type key uint32

func makeKey(vpc uint16, action, dir, proto, status uint8) key {
	return key(vpc)<<16 | key(action)<<12 | key(dir)<<8 | key(proto)<<4 | key(status)
}

func (k key) vpc() uint16   { return uint16(k >> 16) }
func (k key) action() uint8 { return uint8(k>>12) & 0xf }
func (k key) dir() uint8    { return uint8(k>>8) & 0xf }
func (k key) proto() uint8  { return uint8(k>>4) & 0xf }
func (k key) status() uint8 { return uint8(k) & 0xf }

// noStatus is k without its log-status, the key of the packets and bytes
// series.
func (k key) noStatus() key { return k &^ 0xf }

// Stage is the flow_metrics stage. It is safe for concurrent use.
type Stage struct {
	id      string
	metrics *metrics

	// vpcs is the copy-on-write table of admitted VPC ids: lock-free to
	// read, replaced whole (under vpcMu) when a VPC is admitted, which
	// happens at most MaxVPCs times.
	vpcs    atomic.Pointer[vpcTable]
	vpcMu   sync.Mutex
	vpcFull atomic.Bool // set once MaxVPCs are admitted
	maxVPCs int

	// ports marks the destination ports that have their own label; bits
	// are set (under portMu) and never cleared.
	ports     [1 << 10]atomic.Uint64
	portMu    sync.Mutex
	portsFull atomic.Bool // set once MaxRejectedDstPorts are admitted
	portsLeft int

	// series caches the counters of each label set, so a batch resolves
	// each of its distinct label sets once without hashing label strings.
	seriesMu sync.RWMutex
	caches   [kindRejected + 1]map[uint32]prometheus.Counter // by kind, then key

	aggs sync.Pool
}

var _ component.Stage = (*Stage)(nil)

type vpcTable struct {
	index map[string]uint16
	names []string // by index; names[vpcUnknown] = "unknown", names[vpcOther] = "other"
}

// NewStage builds the stage from a validated config.
func NewStage(cfg Config, set component.Settings) (*Stage, error) {
	set = set.Normalize()
	m, err := newMetrics(set.Registerer, set.ID)
	if err != nil {
		return nil, err
	}
	s := &Stage{
		id:        set.ID,
		metrics:   m,
		maxVPCs:   cfg.MaxVPCs,
		portsLeft: cfg.MaxRejectedDstPorts,
	}
	for i := range s.caches {
		s.caches[i] = make(map[uint32]prometheus.Counter)
	}
	s.vpcs.Store(&vpcTable{index: map[string]uint16{}, names: []string{"unknown", "other"}})
	for _, p := range cfg.AlwaysTrackDstPorts {
		if p >= 0 && p < 1<<16 {
			s.ports[p>>6].Or(1 << (p & 63))
		}
	}
	s.aggs.New = func() any { return newAgg() }
	return s, nil
}

// cell accumulates one label set within a batch.
type cell struct {
	k                     key
	flows, packets, bytes uint64
}

// agg is the per-batch aggregation table, pooled. cells holds one entry
// per distinct key; slots is an open-addressing index into it (linear
// probing), emptied between batches by bumping gen rather than clearing.
type agg struct {
	slots []slot
	gen   uint32
	cells []cell
	ports map[uint32]uint64

	// The last VPC text and the last ENI looked up, with their indexes:
	// consecutive records of one interface share them.
	lastVPC    []byte
	lastIdx    uint16
	lastENI    *flowlog.ENI
	lastENIIdx uint16

	// Records whose vpc_id or dstport was folded into "other".
	vpcOverflow, portOverflow uint64

	// pending are additions to series not created yet.
	pending []op
}

// slot is one entry of agg's index: cells[idx] holds key k when gen is
// the table's current generation.
type slot struct {
	k   key
	gen uint32
	idx int32
}

const initialSlots = 256 // a power of two; grown when half full

func newAgg() *agg {
	return &agg{slots: make([]slot, initialSlots), gen: 1, cells: make([]cell, 0, initialSlots/2), ports: make(map[uint32]uint64, 16)}
}

// cell returns the batch's cell of k, adding an empty one.
func (a *agg) cell(k key) *cell {
	mask := uint32(len(a.slots) - 1)
	for h := uint32(k) * 0x9e3779b1 >> 7 & mask; ; h = (h + 1) & mask {
		sl := &a.slots[h]
		if sl.gen != a.gen {
			if 2*len(a.cells) >= len(a.slots) {
				a.grow()
				return a.cell(k)
			}
			*sl = slot{k: k, gen: a.gen, idx: int32(len(a.cells))}
			a.cells = append(a.cells, cell{k: k})
			return &a.cells[len(a.cells)-1]
		}
		if sl.k == k {
			return &a.cells[sl.idx]
		}
	}
}

// grow doubles the index and re-inserts every cell.
func (a *agg) grow() {
	a.slots = make([]slot, 2*len(a.slots))
	a.gen = 1
	mask := uint32(len(a.slots) - 1)
	for i, c := range a.cells {
		h := uint32(c.k) * 0x9e3779b1 >> 7 & mask
		for a.slots[h].gen == a.gen {
			h = (h + 1) & mask
		}
		a.slots[h] = slot{k: c.k, gen: a.gen, idx: int32(i)}
	}
}

func (a *agg) reset() {
	a.gen++
	if a.gen == 0 { // wrapped: stale slots could look current
		clear(a.slots)
		a.gen = 1
	}
	a.cells = a.cells[:0]
	clear(a.ports)
	a.lastVPC, a.lastENI = nil, nil
	a.vpcOverflow, a.portOverflow = 0, 0
	a.pending = a.pending[:0]
}

// Process counts the records of b. It never changes b.
func (s *Stage) Process(_ context.Context, b *flowlog.Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	a := s.aggs.Get().(*agg)
	for i := range b.Records {
		s.count(a, &b.Records[i])
	}
	s.flush(a)
	a.reset()
	s.aggs.Put(a)
	return nil
}

// count adds one record to the batch table.
func (s *Stage) count(a *agg, r *flowlog.Record) {
	action := uint8(actUnknown)
	if t := r.Text(flowlog.FAction); t != nil {
		switch string(t) {
		case "ACCEPT":
			action = actAccept
		case "REJECT":
			action = actReject
		}
	}
	status := uint8(statusUnknown)
	if t := r.Text(flowlog.FLogStatus); t != nil {
		switch string(t) {
		case "OK":
			status = statusOK
		case "NODATA":
			status = statusNoData
		case "SKIPDATA":
			status = statusSkipData
		}
	}
	c := a.cell(makeKey(s.vpcIndex(a, r), action, direction(r), protocol(r), status))
	c.flows++
	c.packets += r.Packets
	c.bytes += r.Bytes
	if action == actReject && r.Has(flowlog.FDstPort) {
		p := s.portKey(r.DstPort)
		if p == portOther {
			a.portOverflow++
		}
		a.ports[p]++
	}
}

func direction(r *flowlog.Record) uint8 {
	if r.Direction != flowlog.DirUnknown {
		if r.Direction <= flowlog.DirInternal {
			return uint8(r.Direction)
		}
		return 0
	}
	switch string(r.Text(flowlog.FFlowDirection)) {
	case "ingress":
		return uint8(flowlog.DirInbound)
	case "egress":
		return uint8(flowlog.DirOutbound)
	}
	return 0
}

func protocol(r *flowlog.Record) uint8 {
	if !r.Has(flowlog.FProtocol) {
		return 0
	}
	switch r.Protocol {
	case 6:
		return 1
	case 17:
		return 2
	case 1:
		return 3
	case 58:
		return 4
	}
	return 5
}

// vpcIndex returns the index of the record's VPC label value.
func (s *Stage) vpcIndex(a *agg, r *flowlog.Record) uint16 {
	if v := r.Text(flowlog.FVPCID); v != nil {
		if a.lastVPC != nil && bytes.Equal(v, a.lastVPC) {
			return s.other(a, a.lastIdx)
		}
		i, ok := s.vpcs.Load().index[string(v)]
		if !ok {
			if s.vpcFull.Load() {
				i = vpcOther
			} else {
				i = s.admitVPC(string(v))
			}
		}
		a.lastVPC, a.lastIdx = v, i
		return s.other(a, i)
	}
	e := r.ENI
	if e == nil || e.VPCID == "" {
		return vpcUnknown
	}
	if e == a.lastENI {
		return s.other(a, a.lastENIIdx)
	}
	i, ok := s.vpcs.Load().index[e.VPCID]
	if !ok {
		if s.vpcFull.Load() {
			i = vpcOther
		} else {
			i = s.admitVPC(e.VPCID)
		}
	}
	a.lastENI, a.lastENIIdx = e, i
	return s.other(a, i)
}

// other counts i in the batch's overflow when it is vpcOther.
func (s *Stage) other(a *agg, i uint16) uint16 {
	if i == vpcOther {
		a.vpcOverflow++
	}
	return i
}

// admitVPC gives v its own label value while fewer than MaxVPCs have one,
// and returns vpcOther after that.
func (s *Stage) admitVPC(v string) uint16 {
	s.vpcMu.Lock()
	defer s.vpcMu.Unlock()
	t := s.vpcs.Load()
	if i, ok := t.index[v]; ok {
		return i
	}
	if len(t.index) >= s.maxVPCs {
		s.vpcFull.Store(true)
		return vpcOther
	}
	n := &vpcTable{index: make(map[string]uint16, len(t.index)+1), names: make([]string, len(t.names), len(t.names)+1)}
	for name, i := range t.index {
		n.index[name] = i
	}
	copy(n.names, t.names)
	i := uint16(len(n.names))
	n.index[v] = i
	n.names = append(n.names, v)
	s.vpcs.Store(n)
	return i
}

// portKey returns p when the port has its own label value, admitting it
// while MaxRejectedDstPorts allows, and portOther otherwise.
func (s *Stage) portKey(p uint16) uint32 {
	w, bit := &s.ports[p>>6], uint64(1)<<(p&63)
	if w.Load()&bit != 0 {
		return uint32(p)
	}
	if s.portsFull.Load() {
		return portOther
	}
	s.portMu.Lock()
	defer s.portMu.Unlock()
	if w.Load()&bit != 0 {
		return uint32(p)
	}
	if s.portsLeft <= 0 {
		s.portsFull.Store(true)
		return portOther
	}
	s.portsLeft--
	w.Or(bit)
	return uint32(p)
}

// Kinds of counter, for flush.
const (
	kindFlows = iota
	kindPackets
	kindBytes
	kindNoData
	kindSkipData
	kindRejected
)

// op is one addition to a counter whose series is not cached yet.
type op struct {
	kind uint8
	k    uint32
	n    uint64
}

// flush adds the batch table to the counters. Series already cached are
// added to under one read lock; the first batch of a label set creates its
// series under the write lock.
func (s *Stage) flush(a *agg) {
	s.seriesMu.RLock()
	for i := range a.cells {
		c := &a.cells[i]
		s.add(a, kindFlows, uint32(c.k), c.flows)
		s.add(a, kindPackets, uint32(c.k.noStatus()), c.packets)
		s.add(a, kindBytes, uint32(c.k.noStatus()), c.bytes)
		switch c.k.status() {
		case statusNoData:
			s.add(a, kindNoData, uint32(c.k.vpc()), c.flows)
		case statusSkipData:
			s.add(a, kindSkipData, uint32(c.k.vpc()), c.flows)
		}
	}
	for p, n := range a.ports {
		s.add(a, kindRejected, p, n)
	}
	s.seriesMu.RUnlock()

	if len(a.pending) > 0 {
		names := s.vpcs.Load().names
		s.seriesMu.Lock()
		for _, o := range a.pending {
			s.series(o.kind, o.k, names).Add(float64(o.n))
		}
		s.seriesMu.Unlock()
	}
	if a.vpcOverflow != 0 {
		s.metrics.vpcOverflow.Add(float64(a.vpcOverflow))
	}
	if a.portOverflow != 0 {
		s.metrics.portOverflow.Add(float64(a.portOverflow))
	}
}

// add adds n to the cached series of (kind, k), or queues the addition
// when the series does not exist yet. Zero packets or bytes create no
// series. The caller holds seriesMu for reading.
func (s *Stage) add(a *agg, kind uint8, k uint32, n uint64) {
	if n == 0 {
		return
	}
	if c, ok := s.caches[kind][k]; ok {
		c.Add(float64(n))
		return
	}
	a.pending = append(a.pending, op{kind, k, n})
}

// series returns the counter of (kind, k), creating it. The caller holds
// seriesMu.
func (s *Stage) series(kind uint8, k uint32, names []string) prometheus.Counter {
	if c, ok := s.caches[kind][k]; ok {
		return c
	}
	var c prometheus.Counter
	fk := key(k)
	switch kind {
	case kindFlows:
		c = s.metrics.flows.WithLabelValues(s.id, names[fk.vpc()], actionNames[fk.action()],
			directionNames[fk.dir()], protocolNames[fk.proto()], statusNames[fk.status()])
	case kindPackets, kindBytes:
		vec := s.metrics.packets
		if kind == kindBytes {
			vec = s.metrics.bytes
		}
		c = vec.WithLabelValues(s.id, names[fk.vpc()], actionNames[fk.action()],
			directionNames[fk.dir()], protocolNames[fk.proto()])
	case kindNoData:
		c = s.metrics.nodata.WithLabelValues(s.id, names[k])
	case kindSkipData:
		c = s.metrics.skipdata.WithLabelValues(s.id, names[k])
	case kindRejected:
		label := "other"
		if k != portOther {
			label = strconv.Itoa(int(k))
		}
		c = s.metrics.rejected.WithLabelValues(s.id, label)
	}
	s.caches[kind][k] = c
	return c
}
