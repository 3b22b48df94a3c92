package gen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/processor/parse"
)

// Config configures the generator. Zero values take the defaults noted.
type Config struct {
	// Format is "default" (the default), "v2" … "v8", "tgw" or a custom
	// "${field} …" format; see Format.
	Format string
	// Count is the number of lines to write (the header not included);
	// 0 or less writes until ctx is done.
	Count int
	// Rate caps the output in records per second; 0 is unlimited.
	Rate float64
	// ENIs is the size of the interface pool (default 50).
	ENIs int
	// Seed makes the output reproducible.
	Seed int64
	// Header writes the S3 header line (the format's field names) first.
	Header bool
	// Accounts is the number of AWS accounts the interfaces belong to
	// (default 1, at most 128).
	Accounts int
	// Region is the AWS region of every interface (default us-east-1).
	Region string
	// Start is the start of the first capture window; the zero value
	// means a minute before now. Capture windows then advance by one
	// second per thousand lines.
	Start time.Time
}

// chunkLines is the unit of parallel generation: chunk k is drawn from a
// random stream of its own, so the output does not depend on how many
// workers drew it.
const chunkLines = 4096

// Run writes synthetic flow-log lines to w, one per line ("\n"), until
// cfg.Count lines are written or ctx is done (ctx's error is returned
// then, unless Count is 0 or less). Output is buffered. Unthrottled runs
// draw chunks of lines on every CPU and write them in order; the output is
// the same as a throttled run's.
func Run(ctx context.Context, w io.Writer, cfg Config) error {
	g, err := New(cfg)
	if err != nil {
		return err
	}
	if g.cfg.Header {
		if _, err := w.Write(append(g.format.AppendHeader(nil), '\n')); err != nil {
			return err
		}
	}
	if g.cfg.Rate == 0 {
		return runParallel(ctx, w, g, max(1, min(runtime.GOMAXPROCS(0), 8)))
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	var (
		start = time.Now()
		timer *time.Timer
	)
	for n := 0; g.cfg.Count <= 0 || n < g.cfg.Count; n++ {
		if n%chunkLines == 0 {
			if err := ctx.Err(); err != nil {
				if g.cfg.Count <= 0 {
					err = nil
				}
				return errors.Join(err, bw.Flush())
			}
			g.seek(n / chunkLines)
		}
		if due := start.Add(time.Duration(float64(n) / g.cfg.Rate * float64(time.Second))); time.Until(due) > 0 {
			if err := bw.Flush(); err != nil {
				return err
			}
			if timer == nil {
				timer = time.NewTimer(time.Until(due))
				defer timer.Stop()
			} else {
				timer.Reset(time.Until(due))
			}
			select {
			case <-ctx.Done():
				if g.cfg.Count <= 0 {
					return bw.Flush()
				}
				return errors.Join(ctx.Err(), bw.Flush())
			case <-timer.C:
			}
		}
		buf := g.AppendLine(bw.AvailableBuffer())
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// runParallel draws chunks on workers goroutines and writes them in
// order.
func runParallel(ctx context.Context, w io.Writer, g *Generator, workers int) error {
	type job struct {
		k, n int
		out  chan []byte // buffered: workers never block
	}
	var (
		jobs  = make(chan job)
		order = make(chan chan []byte, 2*workers)
		free  = make(chan []byte, 2*workers+2)
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			cg := g.clone()
			for j := range jobs {
				var buf []byte
				select {
				case buf = <-free:
				default:
					buf = make([]byte, 0, chunkLines*160)
				}
				cg.seek(j.k)
				for range j.n {
					buf = cg.AppendLine(buf)
					buf = append(buf, '\n')
				}
				j.out <- buf
			}
		})
	}
	wg.Go(func() {
		defer close(order)
		defer close(jobs)
		for k := 0; g.cfg.Count <= 0 || k*chunkLines < g.cfg.Count; k++ {
			n := chunkLines
			if g.cfg.Count > 0 {
				n = min(n, g.cfg.Count-k*chunkLines)
			}
			out := make(chan []byte, 1)
			select {
			case order <- out:
			case <-stop:
				return
			}
			select {
			case jobs <- job{k: k, n: n, out: out}:
			case <-stop:
				return
			}
		}
	})
	var err error
	for out := range order {
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			break
		}
		buf := <-out
		if _, err = w.Write(buf); err != nil {
			break
		}
		select {
		case free <- buf[:0]:
		default:
		}
	}
	close(stop)
	for range order { // let the producer finish; workers drain jobs
	}
	wg.Wait()
	if err != nil && g.cfg.Count <= 0 && ctx.Err() != nil {
		return nil
	}
	return err
}

// Generator draws flow-log records. It is not safe for concurrent use.
type Generator struct {
	cfg     Config
	format  *parse.Format
	version uint8
	enis    []ENI
	r       *rand.Rand
	n       int64
	base    int64
	pub4    []peer
	pub6    []peer
	bySub   map[string][]int  // subnet → indexes into enis
	tgwID   map[string]string // account → tgw id
	attach  map[string]string // vpc → tgw attachment id
	rec     flowlog.Record
	scratch []byte
}

type peer struct {
	addr    netip.Addr
	service string // AWS service name for pkt-*-aws-service, or ""
}

// New returns a generator for cfg.
func New(cfg Config) (*Generator, error) {
	cfg.defaults()
	f, err := Format(cfg.Format)
	if err != nil {
		return nil, err
	}
	if cfg.Rate < 0 {
		return nil, fmt.Errorf("rate must not be negative, got %v", cfg.Rate)
	}
	g := &Generator{
		cfg:     cfg,
		format:  f,
		version: uint8(formatVersion(f)),
		enis:    NewENIPool(cfg),
		r:       rand.New(rand.NewPCG(uint64(cfg.Seed), 0x666c6f7773)), // "flows"
		bySub:   map[string][]int{},
		tgwID:   map[string]string{},
		attach:  map[string]string{},
		scratch: make([]byte, 0, 1024),
	}
	start := cfg.Start
	if start.IsZero() {
		start = time.Now().Add(-time.Minute)
	}
	g.base = start.Unix()
	g.pub4 = publicV4(g.r)
	g.pub6 = publicV6(g.r)
	for i := range g.enis {
		e := &g.enis[i]
		g.bySub[e.SubnetID] = append(g.bySub[e.SubnetID], i)
		if _, ok := g.tgwID[e.Account]; !ok {
			g.tgwID[e.Account] = "tgw-" + hexID(g.r, 17)
		}
		if _, ok := g.attach[e.VPCID]; !ok {
			g.attach[e.VPCID] = "tgw-attach-" + hexID(g.r, 17)
		}
	}
	return g, nil
}

// seek positions g at the start of chunk k: its own random stream and
// clock.
func (g *Generator) seek(k int) {
	g.r = rand.New(rand.NewPCG(uint64(g.cfg.Seed), 0x666c6f7773+uint64(k)<<32))
	g.n = int64(k) * chunkLines
}

// clone returns a generator sharing g's read-only tables (pool, peers,
// ids) with its own random stream, record and scratch space.
func (g *Generator) clone() *Generator {
	c := *g
	c.rec = flowlog.Record{}
	c.scratch = make([]byte, 0, 1024)
	c.seek(0)
	return &c
}

// Format returns the format lines are written in.
func (g *Generator) Format() *parse.Format { return g.format }

// ENIs returns the interface pool (shared; do not modify).
func (g *Generator) ENIs() []ENI { return g.enis }

// publicV4 draws public IPv4 peers from ranges real traffic goes to, some
// of them AWS service ranges.
func publicV4(r *rand.Rand) []peer {
	ranges := []struct {
		a, b    byte
		service string
	}{
		{52, 216, "S3"}, {3, 5, "S3"}, {52, 94, "DYNAMODB"}, {54, 239, "AMAZON"}, {52, 46, "EC2"},
		{13, 32, ""}, {142, 250, ""}, {151, 101, ""}, {104, 16, ""}, {34, 120, ""},
		{185, 199, ""}, {198, 51, ""}, {203, 0, ""}, {93, 184, ""}, {8, 8, ""}, {1, 1, ""},
		{45, 33, ""}, {89, 248, ""}, {162, 142, ""}, {71, 6, ""},
	}
	out := make([]peer, 256)
	for i := range out {
		rg := ranges[r.IntN(len(ranges))]
		out[i] = peer{addr: netip.AddrFrom4([4]byte{rg.a, rg.b, byte(r.IntN(256)), byte(1 + r.IntN(254))}), service: rg.service}
	}
	return out
}

func publicV6(r *rand.Rand) []peer {
	prefixes := []struct {
		p       [4]byte
		service string
	}{
		{[4]byte{0x2a, 0x00, 0x14, 0x50}, ""}, {[4]byte{0x26, 0x06, 0x47, 0x00}, ""}, {[4]byte{0x20, 0x01, 0x48, 0x60}, ""},
		{[4]byte{0x26, 0x00, 0x1f, 0xa0}, "S3"}, {[4]byte{0x26, 0x00, 0x90, 0x00}, "CLOUDFRONT"},
	}
	out := make([]peer, 64)
	for i := range out {
		p := prefixes[r.IntN(len(prefixes))]
		var a [16]byte
		copy(a[:], p.p[:])
		for k := 4; k < 16; k++ {
			if k >= 6 && k < 12 && r.IntN(2) == 0 {
				continue // zero runs, as real addresses have
			}
			a[k] = byte(r.Uint32())
		}
		out[i] = peer{addr: netip.AddrFrom16(a), service: p.service}
	}
	return out
}

// flow is one drawn flow, before it is laid out in a format.
type flow struct {
	eni            *ENI
	peerENI        *ENI // the other side, when it is an interface of the pool
	src, dst       netip.Addr
	pktSrc, pktDst netip.Addr
	sport, dport   uint16
	proto          uint8
	packets, bytes uint64
	start, end     int64
	action         string
	status         string
	ingress        bool
	tcpFlags       uint16
	srcSvc, dstSvc string
	trafficPath    uint8 // 0: absent
	rejectReason   string
	ecs            bool
}

var wellKnownTCP = []uint16{443, 443, 443, 443, 80, 80, 22, 5432, 3306, 6379, 8080, 9092, 27017, 8443, 25}

func (g *Generator) ephemeral() uint16 { return uint16(32768 + g.r.IntN(28232)) }

// draw picks the next flow.
func (g *Generator) draw() flow {
	r := g.r
	e := &g.enis[r.IntN(len(g.enis))]
	t := g.base + g.n/1000
	g.n++
	fl := flow{eni: e, start: t, end: t + 1 + int64(r.IntN(60)), ecs: e.Type == "interface" && e.InstanceID != "" && e.InstanceID[2] < '3'}
	switch p := r.IntN(1000); {
	case p < 20:
		fl.status = "NODATA"
		return fl
	case p < 25:
		fl.status = "SKIPDATA"
		return fl
	}
	fl.status = "OK"
	fl.action = "ACCEPT"
	own := e.PrivateIPs[0]
	if len(e.PrivateIPs) > 1 && r.IntN(3) == 0 {
		own = e.PrivateIPs[1+r.IntN(len(e.PrivateIPs)-1)]
	}
	switch k := r.IntN(100); {
	case k < 35: // outbound to the internet
		pe := g.pub4[r.IntN(len(g.pub4))]
		fl.src, fl.dst, fl.dstSvc = own, pe.addr, pe.service
		g.ports(&fl, false)
		fl.trafficPath = uint8(1 + r.IntN(8))
	case k < 55: // replies from the internet
		pe := g.pub4[r.IntN(len(g.pub4))]
		fl.src, fl.dst, fl.srcSvc = pe.addr, own, pe.service
		g.ports(&fl, true)
		fl.ingress = true
	case k < 65: // inbound connection attempts from the internet
		pe := g.pub4[r.IntN(len(g.pub4))]
		fl.src, fl.dst = pe.addr, own
		fl.proto = 6
		fl.sport = g.ephemeral()
		fl.dport = []uint16{22, 3389, 443, 80, 23, 445, 8080}[r.IntN(7)]
		fl.ingress = true
		if r.IntN(10) < 6 {
			fl.action = "REJECT"
		}
	case k < 90: // private: same subnet or across subnets and VPCs
		sameSubnet := k < 80
		other := g.peerIn(e, sameSubnet)
		fl.peerENI = other
		if r.IntN(2) == 0 {
			fl.src, fl.dst = own, other.PrivateIPs[0]
			g.ports(&fl, false)
		} else {
			fl.src, fl.dst = other.PrivateIPs[0], own
			g.ports(&fl, false)
			fl.ingress = true
		}
		if !fl.ingress {
			fl.trafficPath = 1
		}
	default: // IPv6, when the interface has an address
		if len(e.IPv6) == 0 {
			pe := g.pub4[r.IntN(len(g.pub4))]
			fl.src, fl.dst, fl.dstSvc = own, pe.addr, pe.service
			g.ports(&fl, false)
			fl.trafficPath = 8
			break
		}
		pe := g.pub6[r.IntN(len(g.pub6))]
		if r.IntN(2) == 0 {
			fl.src, fl.dst, fl.dstSvc = e.IPv6[0], pe.addr, pe.service
			g.ports(&fl, false)
			fl.trafficPath = 8
		} else {
			fl.src, fl.dst, fl.srcSvc = pe.addr, e.IPv6[0], pe.service
			g.ports(&fl, true)
			fl.ingress = true
		}
	}
	if fl.action == "ACCEPT" && r.IntN(100) < 4 {
		fl.action = "REJECT"
	}
	if fl.action == "REJECT" && fl.ingress && r.IntN(5) == 0 {
		fl.rejectReason = "BPA"
	}
	fl.pktSrc, fl.pktDst = fl.src, fl.dst
	if fl.action == "REJECT" {
		fl.packets = 1 + uint64(r.IntN(3))
		fl.bytes = fl.packets * uint64(40+r.IntN(24))
	} else {
		// Heavy-tailed: mostly small flows, some up to ~8000 packets.
		fl.packets = 1 + uint64(r.IntN(16))<<(r.Uint32()%10)
		fl.bytes = fl.packets * uint64(40+r.IntN(1461))
	}
	if fl.proto == 6 {
		fl.tcpFlags = []uint16{2, 18, 19, 3, 1, 4, 16, 24, 27, 0}[r.IntN(10)]
		if fl.action == "REJECT" {
			fl.tcpFlags = 2
		}
	}
	return fl
}

// ports picks protocol and ports; reply puts the well-known port on the
// source side.
func (g *Generator) ports(fl *flow, reply bool) {
	r := g.r
	switch p := r.IntN(100); {
	case p < 4: // ICMP / ICMPv6
		fl.proto = 1
		if fl.src.Is6() {
			fl.proto = 58
		}
		return
	case p < 24: // UDP: DNS, NTP, QUIC
		fl.proto = 17
		fl.dport = []uint16{53, 53, 53, 123, 443}[r.IntN(5)]
	default:
		fl.proto = 6
		fl.dport = wellKnownTCP[r.IntN(len(wellKnownTCP))]
	}
	fl.sport = g.ephemeral()
	if reply {
		fl.sport, fl.dport = fl.dport, fl.sport
	}
}

// peerIn returns another interface in e's subnet (sameSubnet) or in
// another subnet; e itself only when the pool has a single interface.
func (g *Generator) peerIn(e *ENI, sameSubnet bool) *ENI {
	if sameSubnet {
		if idx := g.bySub[e.SubnetID]; len(idx) > 1 {
			for {
				if o := &g.enis[idx[g.r.IntN(len(idx))]]; o != e {
					return o
				}
			}
		}
	}
	for range 16 {
		if o := &g.enis[g.r.IntN(len(g.enis))]; o.SubnetID != e.SubnetID {
			return o
		}
	}
	for i := range g.enis {
		if o := &g.enis[i]; o != e {
			return o
		}
	}
	return e
}

// AppendLine draws one flow and appends it as a line of the generator's
// format (without a newline) to dst.
func (g *Generator) AppendLine(dst []byte) []byte {
	fl := g.draw()
	g.fill(&fl)
	return g.format.Append(dst, &g.rec)
}

// Record draws one flow and returns it as a parsed record whose Raw is a
// newly allocated line.
func (g *Generator) Record() (flowlog.Record, error) {
	r := flowlog.Record{Raw: g.AppendLine(nil)}
	err := g.format.Parse(&r)
	return r, err
}

// fill lays fl out in g.rec: typed fields for numbers and addresses,
// string fields as spans into a scratch buffer that becomes rec.Raw.
func (g *Generator) fill(fl *flow) {
	r := &g.rec
	*r = flowlog.Record{}
	s := g.scratch[:0]
	str := func(f flowlog.Field, v string) {
		if v == "" || v == "-" {
			return
		}
		off := len(s)
		s = append(s, v...)
		r.SetSpan(f, off, len(v))
	}
	has := func(f flowlog.Field) { r.SetSpan(f, 0, 0) }
	e := fl.eni
	data := fl.status == "OK"
	for _, f := range g.format.Fields() {
		switch f {
		case flowlog.FVersion:
			r.Version = g.version
			has(f)
		case flowlog.FAccountID:
			str(f, e.Account)
		case flowlog.FInterfaceID:
			str(f, e.ID)
		case flowlog.FSrcAddr:
			if data {
				r.SrcAddr = fl.src
				has(f)
			}
		case flowlog.FDstAddr:
			if data {
				r.DstAddr = fl.dst
				has(f)
			}
		case flowlog.FPktSrcAddr:
			if data {
				r.PktSrcAddr = fl.pktSrc
				has(f)
			}
		case flowlog.FPktDstAddr:
			if data {
				r.PktDstAddr = fl.pktDst
				has(f)
			}
		case flowlog.FSrcPort:
			if data {
				r.SrcPort = fl.sport
				has(f)
			}
		case flowlog.FDstPort:
			if data {
				r.DstPort = fl.dport
				has(f)
			}
		case flowlog.FProtocol:
			if data {
				r.Protocol = fl.proto
				has(f)
			}
		case flowlog.FPackets:
			if data {
				r.Packets = fl.packets
				has(f)
			}
		case flowlog.FBytes:
			if data {
				r.Bytes = fl.bytes
				has(f)
			}
		case flowlog.FStart:
			r.Start = fl.start
			has(f)
		case flowlog.FEnd:
			r.End = fl.end
			has(f)
		case flowlog.FAction:
			str(f, fl.action)
		case flowlog.FLogStatus:
			str(f, fl.status)
		case flowlog.FVPCID:
			str(f, e.VPCID)
		case flowlog.FSubnetID:
			str(f, e.SubnetID)
		case flowlog.FInstanceID:
			str(f, e.InstanceID)
		case flowlog.FTCPFlags:
			if data && fl.proto == 6 {
				r.TCPFlags = fl.tcpFlags
				has(f)
			}
		case flowlog.FType:
			if data {
				if fl.src.Is6() {
					str(f, "IPv6")
				} else {
					str(f, "IPv4")
				}
			}
		case flowlog.FRegion:
			str(f, e.Region)
		case flowlog.FAZID:
			str(f, e.AZID)
		case flowlog.FPktSrcAWSService:
			str(f, fl.srcSvc)
		case flowlog.FPktDstAWSService:
			str(f, fl.dstSvc)
		case flowlog.FFlowDirection:
			if data {
				if fl.ingress {
					str(f, "ingress")
				} else {
					str(f, "egress")
				}
			}
		case flowlog.FTrafficPath:
			if data && fl.trafficPath != 0 {
				r.TrafficPath = fl.trafficPath
				has(f)
			}
		case flowlog.FECSClusterARN, flowlog.FECSClusterName, flowlog.FECSContainerInstanceARN,
			flowlog.FECSContainerInstanceID, flowlog.FECSContainerID, flowlog.FECSServiceName,
			flowlog.FECSTaskDefinitionARN, flowlog.FECSTaskARN, flowlog.FECSTaskID:
			if fl.ecs {
				s = g.appendECS(s, r, f, e)
			}
		case flowlog.FRejectReason:
			str(f, fl.rejectReason)
		case flowlog.FResourceType:
			str(f, "TransitGatewayAttachment")
		case flowlog.FTGWID:
			str(f, g.tgwID[e.Account])
		case flowlog.FTGWAttachmentID:
			str(f, g.attach[e.VPCID])
		case flowlog.FTGWSrcVPCAccountID, flowlog.FTGWSrcVPCID, flowlog.FTGWSrcSubnetID, flowlog.FTGWSrcENI, flowlog.FTGWSrcAZID,
			flowlog.FTGWDstVPCAccountID, flowlog.FTGWDstVPCID, flowlog.FTGWDstSubnetID, flowlog.FTGWDstENI, flowlog.FTGWDstAZID:
			src, dst := e, fl.peerENI
			if fl.ingress {
				src, dst = fl.peerENI, e
			}
			side := src
			switch f {
			case flowlog.FTGWDstVPCAccountID, flowlog.FTGWDstVPCID, flowlog.FTGWDstSubnetID, flowlog.FTGWDstENI, flowlog.FTGWDstAZID:
				side = dst
			}
			if side != nil && data {
				str(f, tgwValue(f, side))
			}
		case flowlog.FTGWPairAttachmentID:
			if fl.peerENI != nil && data {
				str(f, g.attach[fl.peerENI.VPCID])
			}
		case flowlog.FPacketsLostNoRoute, flowlog.FPacketsLostBlackhole, flowlog.FPacketsLostMTUExceeded, flowlog.FPacketsLostTTLExpired:
			if data {
				if g.r.IntN(50) == 0 {
					r.PacketsLost[f-flowlog.FPacketsLostNoRoute] = uint64(1 + g.r.IntN(5))
				}
				has(f)
			}
		}
	}
	g.scratch = s
	r.Raw = s
}

func tgwValue(f flowlog.Field, e *ENI) string {
	switch f {
	case flowlog.FTGWSrcVPCAccountID, flowlog.FTGWDstVPCAccountID:
		return e.Account
	case flowlog.FTGWSrcVPCID, flowlog.FTGWDstVPCID:
		return e.VPCID
	case flowlog.FTGWSrcSubnetID, flowlog.FTGWDstSubnetID:
		return e.SubnetID
	case flowlog.FTGWSrcENI, flowlog.FTGWDstENI:
		return e.ID
	case flowlog.FTGWSrcAZID, flowlog.FTGWDstAZID:
		return e.AZID
	}
	return ""
}

// appendECS appends the value of ECS field f for the task behind e.
func (g *Generator) appendECS(s []byte, r *flowlog.Record, f flowlog.Field, e *ENI) []byte {
	off := len(s)
	arn := func(kind string) {
		s = append(s, "arn:aws:ecs:"...)
		s = append(s, e.Region...)
		s = append(s, ':')
		s = append(s, e.Account...)
		s = append(s, ':')
		s = append(s, kind...)
	}
	id := e.ID[4:12]
	switch f {
	case flowlog.FECSClusterARN:
		arn("cluster/prod")
	case flowlog.FECSClusterName:
		s = append(s, "prod"...)
	case flowlog.FECSContainerInstanceARN:
		arn("container-instance/prod/")
		s = append(s, e.InstanceID[2:]...)
	case flowlog.FECSContainerInstanceID:
		s = append(s, e.InstanceID[2:]...)
	case flowlog.FECSContainerID:
		s = append(s, e.ID[4:]...)
		s = append(s, "c0"...)
	case flowlog.FECSServiceName:
		s = append(s, "svc-"...)
		s = append(s, e.SubnetID[7:11]...)
	case flowlog.FECSTaskDefinitionARN:
		arn("task-definition/svc:")
		s = strconv.AppendInt(s, int64(len(e.SecurityGroups)), 10)
	case flowlog.FECSTaskARN:
		arn("task/prod/")
		s = append(s, id...)
	case flowlog.FECSTaskID:
		s = append(s, id...)
	}
	if len(s) > off {
		r.SetSpan(f, off, len(s)-off)
	}
	return s
}
