package processor

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// ErrUnknownComponent is returned by Pipeline.Tap when the output named is
// not a source's or stage's (or their .errors).
var ErrUnknownComponent = errors.New("unknown component")

// Default tap settings, used where TapOptions leaves a zero.
const (
	// DefaultTapRate is the records a tap copies per second at most: enough
	// to read, few enough that copying them costs the pipeline nothing
	// measurable (1000 × ~500 bytes ≈ 0.5 MB/s).
	DefaultTapRate = 1000
	// DefaultTapBuffer is the batches of copies a tap holds for its reader;
	// when they are all waiting, newer copies are dropped (and counted).
	DefaultTapBuffer = 64
)

// TapOptions tune a tap.
type TapOptions struct {
	// Limit ends the copying after this many records (0: no limit).
	Limit int
	// Rate is the records copied per second at most (default
	// DefaultTapRate). A batch larger than what is left of the second is
	// sampled evenly.
	Rate int
	// Buffer is the batches of copies waiting for the reader (default
	// DefaultTapBuffer).
	Buffer int
}

// TapBatch is what a tap hands out: copies of records leaving a component
// (Records), or of the inputs it could not handle (Failed, for a tap of
// <id>.errors). The copies own their lines; Origin and ENI are shared and
// immutable.
type TapBatch struct {
	Records []flowlog.Record
	Failed  []flowlog.Failure
}

// Tap receives copies of what leaves one output of a running pipeline.
// Copying never blocks the pipeline: when the reader is slow, copies are
// dropped and counted in vpcflow_tap_dropped_records_total{component}.
type Tap struct {
	// Output is the tapped output: a component id, or "<id>.errors".
	Output string

	c      chan TapBatch
	pt     *tapPoint
	hub    *tapHub
	once   sync.Once
	rate   int
	unlim  bool
	mu     sync.Mutex
	left   int       // records still wanted, with a Limit
	window time.Time // start of the current second
	used   int       // records copied in this second
}

// C delivers the copies. It is never closed: a reader stops on its own
// (context, Limit reached, end of the pipeline).
func (t *Tap) C() <-chan TapBatch { return t.c }

// Close detaches the tap. It is idempotent.
func (t *Tap) Close() {
	t.once.Do(func() {
		t.pt.mu.Lock()
		old := t.pt.subs.Load()
		var subs []*Tap
		for _, s := range *old {
			if s != t {
				subs = append(subs, s)
			}
		}
		t.pt.subs.Store(&subs)
		t.pt.mu.Unlock()
		t.hub.sessions.WithLabelValues(t.Output).Dec()
		t.hub.active.Add(-1)
	})
}

// take reserves how many of n records to copy now: what the limit and
// this second's rate leave.
func (t *Tap) take(n int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now := time.Now(); now.Sub(t.window) >= time.Second {
		t.window, t.used = now, 0
	}
	k := min(n, t.rate-t.used)
	if !t.unlim {
		k = min(k, t.left)
		t.left -= max(k, 0)
	}
	if k <= 0 {
		return 0
	}
	t.used += k
	return k
}

// giveBack returns k reserved records that were dropped, so that a tap
// with a Limit still gets its count.
func (t *Tap) giveBack(k int) {
	if t.unlim {
		return
	}
	t.mu.Lock()
	t.left += k
	t.mu.Unlock()
}

// tapHub is the pipeline's taps: one point per output, made at Build and
// read without locks after.
type tapHub struct {
	// active counts open taps; process loads it once per batch, and only
	// when it is not zero does walk look at the points.
	active   atomic.Int32
	points   map[string]*tapPoint
	dropped  *prometheus.CounterVec
	sessions *prometheus.GaugeVec
}

// tapPoint is one tappable output.
type tapPoint struct {
	id      string
	mu      sync.Mutex // serialises changes of subs
	subs    atomic.Pointer[[]*Tap]
	dropped prometheus.Counter
}

// initTaps makes a tap point for every source's and stage's output and
// its .errors, and hangs them on the plan nodes.
func (p *Pipeline) initTaps(reg prometheus.Registerer) error {
	h := &p.taps
	h.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_tap_dropped_records_total",
		Help: "Records copied for a tap (vpcflow tap) and dropped because its reader was slower than the pipeline.",
	}, []string{"component"})
	h.sessions = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vpcflow_tap_sessions",
		Help: "Taps attached to an output (a component id or <id>.errors).",
	}, []string{"component"})
	for _, c := range []prometheus.Collector{h.dropped, h.sessions} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	h.points = map[string]*tapPoint{}
	point := func(id string) *tapPoint {
		pt := h.points[id]
		if pt == nil {
			pt = &tapPoint{id: id, dropped: h.dropped.WithLabelValues(id)}
			pt.subs.Store(new([]*Tap))
			h.points[id] = pt
		}
		return pt
	}
	var hang func(n *planNode)
	hang = func(n *planNode) {
		n.tap, n.errTap = point(n.id), point(n.id+".errors")
		for _, c := range n.children {
			hang(c)
		}
	}
	for _, s := range p.sources {
		hang(s.root)
	}
	// Stages no source reaches still answer a tap (that stays empty).
	for id := range p.stages {
		point(id)
		point(id + ".errors")
	}
	return nil
}

// Tap attaches a tap to output: a source or stage id for the records
// leaving it, "<id>.errors" for the inputs it could not handle. An
// output the pipeline does not have is an ErrUnknownComponent naming the
// ones it has.
func (p *Pipeline) Tap(output string, o TapOptions) (*Tap, error) {
	pt := p.taps.points[output]
	if pt == nil {
		return nil, p.unknownOutput(output)
	}
	if o.Rate <= 0 {
		o.Rate = DefaultTapRate
	}
	if o.Buffer <= 0 {
		o.Buffer = DefaultTapBuffer
	}
	t := &Tap{Output: output, c: make(chan TapBatch, o.Buffer), pt: pt, hub: &p.taps,
		rate: o.Rate, unlim: o.Limit <= 0, left: o.Limit}
	pt.mu.Lock()
	subs := append(append([]*Tap(nil), *pt.subs.Load()...), t)
	pt.subs.Store(&subs)
	pt.mu.Unlock()
	p.taps.sessions.WithLabelValues(output).Inc()
	p.taps.active.Add(1)
	return t, nil
}

func (p *Pipeline) unknownOutput(output string) error {
	id := strings.TrimSuffix(output, ".errors")
	if _, ok := p.sinks[id]; ok {
		return fmt.Errorf("%w %q: sinks.%s is a sink, nothing leaves it; tap one of its inputs (%s)",
			ErrUnknownComponent, output, id, strings.Join(p.cfg.Sinks[id].Inputs, ", "))
	}
	var ids []string
	for k := range p.taps.points {
		if !strings.HasSuffix(k, ".errors") {
			ids = append(ids, k)
		}
	}
	sort.Strings(ids)
	return fmt.Errorf("%w %q: outputs are %s (each also as <id>.errors)", ErrUnknownComponent, output, strings.Join(ids, ", "))
}

// offerRecords copies a sample of recs to every tap of pt.
func (pt *tapPoint) offerRecords(recs []flowlog.Record) {
	pt.offer(len(recs), func(k int) TapBatch {
		out := make([]flowlog.Record, k)
		size := 0
		for i := range k {
			out[i] = recs[i*len(recs)/k]
			size += len(out[i].Raw)
		}
		buf := make([]byte, 0, size)
		for i := range out {
			buf = append(buf, out[i].Raw...)
			out[i].Raw = buf[len(buf)-len(out[i].Raw) : len(buf) : len(buf)]
		}
		return TapBatch{Records: out}
	})
}

// offerFailures copies a sample of fs to every tap of pt.
func (pt *tapPoint) offerFailures(fs []flowlog.Failure) {
	pt.offer(len(fs), func(k int) TapBatch {
		out := make([]flowlog.Failure, k)
		for i := range k {
			out[i] = fs[i*len(fs)/k]
			out[i].Raw = append([]byte(nil), out[i].Raw...)
		}
		return TapBatch{Failed: out}
	})
}

// offer sends every tap of pt the copies sample makes of k of n items,
// k being what the tap takes now.
func (pt *tapPoint) offer(n int, sample func(k int) TapBatch) {
	if n == 0 {
		return
	}
	for _, t := range *pt.subs.Load() {
		k := t.take(n)
		if k == 0 {
			continue
		}
		if len(t.c) == cap(t.c) { // the reader is behind: do not copy in vain
			pt.drop(t, k)
			continue
		}
		pt.send(t, sample(k), k)
	}
}

func (pt *tapPoint) send(t *Tap, tb TapBatch, k int) {
	select {
	case t.c <- tb:
	default:
		pt.drop(t, k)
	}
}

// drop counts k records selected for t that its reader had no room for.
func (pt *tapPoint) drop(t *Tap, k int) {
	pt.dropped.Add(float64(k))
	t.giveBack(k)
}
