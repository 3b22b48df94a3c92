package kafkasource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sources/envelope"
)

var (
	_ component.Source           = (*Source)(nil)
	_ component.Readier          = (*Source)(nil)
	_ component.Closer           = (*Source)(nil)
	_ propagation.TextMapCarrier = headerCarrier(nil)
)

// tp names a topic partition.
type tp struct {
	topic string
	part  int32
}

// Source consumes flow logs from Kafka topics as a member of a consumer
// group. Create it with New; it is safe for one Read goroutine plus any
// number of goroutines calling the AckFuncs, Ready and Close.
type Source struct {
	id      string
	cfg     Config
	log     *slog.Logger
	met     *metrics
	payload envelope.Payload
	cl      *kgo.Client
	adm     *kadm.Client

	ctx    context.Context // canceled by Close: stops polls and the lag loop
	cancel context.CancelFunc
	wg     sync.WaitGroup

	ready atomic.Bool
	// failingSince is when fetches started failing without a fetch that
	// succeeded since (unix nanos, 0 when healthy); see Healthy.
	failingSince atomic.Int64
	lastFetchErr atomic.Pointer[string]
	closeOnce    sync.Once
	closeErr     error

	mu      sync.Mutex
	parts   map[tp]*partition // partitions owned now
	pending []pendingBatch    // decoded, not yet handed out
	batches flowlog.BatchPool // acknowledged batches, for reuse
	closed  bool              // Close has finished committing: acks are ignored
}

type pendingBatch struct {
	b  *flowlog.Batch
	in *inflight
}

// New builds a kafka source and starts joining its consumer group. It
// does not wait for the brokers: Ready reports when the group was joined.
func New(ctx context.Context, cfg Config, set component.Settings) (*Source, error) {
	set = set.Normalize()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kafkasource: %w", err)
	}
	payload, _ := envelope.ParsePayload(cfg.Payload)
	met, err := newMetrics(set.Registerer, set.ID)
	if err != nil {
		return nil, fmt.Errorf("kafkasource: metrics: %w", err)
	}
	s := &Source{
		id:      set.ID,
		cfg:     cfg,
		log:     set.Logger,
		met:     met,
		payload: payload,
		parts:   map[tp]*partition{},
	}
	opts, err := connOpts(ctx, &cfg, set)
	if err != nil {
		return nil, fmt.Errorf("kafkasource: %w", err)
	}
	reset := kgo.NewOffset().AtStart()
	if cfg.StartFrom == "latest" {
		reset = kgo.NewOffset().AtEnd()
	}
	opts = append(opts,
		kgo.WithLogger(kgoLogger{set.Logger}),
		kgo.ConsumerGroup(cfg.Group),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.ConsumeResetOffset(reset),
		kgo.FetchMaxBytes(int32(cfg.FetchMaxBytes)),
		kgo.FetchMaxPartitionBytes(int32(cfg.FetchMaxPartitionBytes)),
		kgo.FetchMaxWait(cfg.FetchMaxWait),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.RebalanceTimeout(cfg.RebalanceTimeout),
		kgo.HeartbeatInterval(cfg.HeartbeatInterval),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(cfg.CommitInterval),
		kgo.AutoCommitCallback(s.onCommitted),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(s.onAssigned),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onLost),
	)
	if cfg.TopicRegex != "" {
		// kgo matches the expression anywhere in a name; anchor it so that
		// topic_regex means the whole topic name.
		re := "^(?:" + cfg.TopicRegex + ")$"
		if _, err := regexp.Compile(re); err != nil {
			return nil, fmt.Errorf("kafkasource: topic_regex: %w", err)
		}
		opts = append(opts, kgo.ConsumeTopics(re), kgo.ConsumeRegex())
	} else {
		opts = append(opts, kgo.ConsumeTopics(cfg.topics()...))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafkasource: %w", err)
	}
	s.cl = cl
	s.adm = kadm.NewClient(cl)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.lagLoop()
	return s, nil
}

// Ready reports whether the source has joined its consumer group (it may
// own no partition when the group has more members than partitions).
func (s *Source) Ready() bool { return s.ready.Load() }

// unhealthyAfter is how long fetches may fail without one succeeding
// before Healthy reports the source as stuck.
const unhealthyAfter = 2 * time.Minute

// Healthy reports an error once every fetch has failed for longer than
// two minutes (brokers unreachable, authorization lost); the engine's
// /healthz then fails.
func (s *Source) Healthy() error {
	since := s.failingSince.Load()
	if since == 0 {
		return nil
	}
	if d := time.Since(time.Unix(0, since)); d > unhealthyAfter {
		msg := ""
		if p := s.lastFetchErr.Load(); p != nil {
			msg = *p
		}
		return fmt.Errorf("kafka fetches failing for %s: %s", d.Round(time.Second), msg)
	}
	return nil
}

// Read returns the next batch: the records of one chunk of one partition,
// in offset order. It polls Kafka when no decoded batch is pending.
func (s *Source) Read(ctx context.Context) (*flowlog.Batch, flowlog.AckFunc, error) {
	for {
		if b, ack, ok := s.next(); ok {
			return b, ack, nil
		}
		if err := s.poll(ctx); err != nil {
			return nil, nil, err
		}
	}
}

// next pops the first pending batch of a partition still owned.
func (s *Source) next() (*flowlog.Batch, flowlog.AckFunc, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.pending) > 0 {
		p := s.pending[0]
		s.pending[0] = pendingBatch{}
		s.pending = s.pending[1:]
		if p.in.p.revoked {
			continue // its new owner reads it again
		}
		return p.b, p.in.ack, true
	}
	s.pending = s.pending[:0]
	return nil, nil, false
}

// poll fetches, decodes the records into pending batches and lets the group
// rebalance again.
func (s *Source) poll(ctx context.Context) error {
	if s.ctx.Err() != nil {
		return fmt.Errorf("kafkasource: closed: %w", component.ErrEndOfInput)
	}
	pctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	fetches := s.cl.PollRecords(pctx, s.cfg.MaxPollRecords)
	stop()
	cancel()
	defer s.cl.AllowRebalance()
	failed := false
	fetches.EachError(func(topic string, part int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kgo.ErrClientClosed) {
			return
		}
		failed = true
		msg := fmt.Sprintf("%s/%d: %v", topic, part, err)
		s.lastFetchErr.Store(&msg)
		s.met.fetchErrors.Inc()
		s.log.Warn("kafka fetch error", "topic", topic, "partition", part, "error", err)
	})
	if failed {
		s.failingSince.CompareAndSwap(0, time.Now().UnixNano())
	} else if fetches.NumRecords() > 0 || ctx.Err() == nil {
		s.failingSince.Store(0)
	}
	// Records polled are always queued, even when ctx ended meanwhile: the
	// client's position has moved past them, so skipping them here would let
	// later batches commit over them.
	type chunk struct {
		p    *partition
		recs []*kgo.Record
	}
	var chunks []chunk
	s.mu.Lock()
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) > 0 {
			chunks = append(chunks, chunk{s.partitionLocked(fp.Topic, fp.Partition), fp.Records})
		}
	})
	s.mu.Unlock()
	// Partitions are decoded in parallel (decompressing envelopes is the
	// costly part); each partition's batches are still queued in order.
	now := time.Now()
	if len(chunks) == 1 || runtime.GOMAXPROCS(0) == 1 {
		for _, c := range chunks {
			s.decodePartition(c.p, c.recs, now)
		}
	} else {
		var wg sync.WaitGroup
		sem := make(chan struct{}, runtime.GOMAXPROCS(0))
		for _, c := range chunks {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				s.decodePartition(c.p, c.recs, now)
			})
		}
		wg.Wait()
	}
	if fetches.IsClientClosed() || s.ctx.Err() != nil {
		return fmt.Errorf("kafkasource: closed: %w", component.ErrEndOfInput)
	}
	return ctx.Err() // batches queued are handed out by the next Read
}

// partitionLocked returns the state of an owned partition, creating it if
// the assignment callback has not (it always runs before fetching starts).
func (s *Source) partitionLocked(topic string, part int32) *partition {
	k := tp{topic, part}
	p := s.parts[k]
	if p == nil {
		p = newPartition(topic, part)
		s.parts[k] = p
	}
	return p
}

// decodePartition splits the records of one partition into batches of at
// most batch_max_records flow records and queues them.
func (s *Source) decodePartition(p *partition, recs []*kgo.Record, now time.Time) {
	var (
		b      *flowlog.Batch
		o      *flowlog.Origin
		first  int64
		newest time.Time
	)
	seal := func(last *kgo.Record) {
		if first == last.Offset {
			o.Name = p.name + "@" + strconv.FormatInt(first, 10)
		} else {
			o.Name = p.name + "@" + strconv.FormatInt(first, 10) + "-" + strconv.FormatInt(last.Offset, 10)
		}
		in := &inflight{s: s, p: p, next: last.Offset + 1, epoch: last.LeaderEpoch, b: b}
		s.mu.Lock()
		p.track(in)
		empty := len(b.Records) == 0 && len(b.Failed) == 0
		if empty {
			// Nothing to hand out (control messages, empty values): done.
			in.b = nil
			s.ackLocked(in, nil)
		} else {
			s.pending = append(s.pending, pendingBatch{b, in})
		}
		s.mu.Unlock()
		if empty {
			s.batches.Put(b)
		}
		b = nil
	}
	remaining := 0 // estimated flow records not yet decoded
	for _, r := range recs {
		remaining += estimateRecords(r.Value)
	}
	for i, r := range recs {
		if b == nil {
			b = s.newBatch(s.batchCap(len(recs)-i, remaining))
			b.Source, b.Partition, b.Read = s.id, p.name, now
			o = &flowlog.Origin{}
			first = r.Offset
		}
		kind := s.payload
		if kind == envelope.Auto && envelope.Detect(r.Value) == envelope.Lines {
			kind = envelope.Lines
		}
		origin := o
		if kind != envelope.Lines {
			// an envelope: its Origin names the exact record
			origin = &flowlog.Origin{Name: recordName(p, r)}
		}
		if err := envelope.Decode(b, r.Value, kind, origin); err != nil {
			s.met.decodeFailures.Inc()
			b.Fail(s.id, fmt.Errorf("kafkasource: %s: %w", recordName(p, r), err), r.Value,
				&flowlog.Origin{Name: recordName(p, r)})
		}
		if !b.Span.IsValid() && len(r.Headers) > 0 {
			b.Span = spanFromHeaders(r.Headers)
		}
		if r.Timestamp.After(newest) {
			newest = r.Timestamp
		}
		remaining -= estimateRecords(r.Value)
		if len(b.Records) >= s.cfg.BatchMaxRecords {
			seal(r)
		}
	}
	if b != nil {
		seal(recs[len(recs)-1])
	}
	if !newest.IsZero() {
		s.mu.Lock()
		if newest.After(p.newest) {
			p.newest = newest
		}
		s.mu.Unlock()
	}
}

// newBatch returns an empty batch with room for n records, recycled when
// one is free.
func (s *Source) newBatch(n int) *flowlog.Batch {
	if b := s.batches.Get(); b != nil {
		if cap(b.Records) < n {
			b.Records = make([]flowlog.Record, 0, n)
		}
		return b
	}
	return &flowlog.Batch{Records: make([]flowlog.Record, 0, n)}
}

// estimateRecords guesses, high, how many flow records a value holds: a
// flow line takes at least ~64 bytes, and a compressed CloudWatch Logs
// envelope about 16 bytes per event.
func estimateRecords(v []byte) int {
	if len(v) > 2 && (v[0] == 0x1f && v[1] == 0x8b || v[0] == 'H' && v[1] == '4') {
		return len(v)/16 + 1
	}
	return len(v)/64 + 1
}

// batchCap sizes the next batch's slice so that it rarely grows; a batch
// that will be full gets room for the Kafka record that crosses
// batch_max_records.
func (s *Source) batchCap(records, est int) int {
	est = max(records, est)
	if est >= s.cfg.BatchMaxRecords {
		return s.cfg.BatchMaxRecords + min(s.cfg.BatchMaxRecords/8, 512)
	}
	return est
}

func recordName(p *partition, r *kgo.Record) string {
	return p.name + "@" + strconv.FormatInt(r.Offset, 10)
}

// headerCarrier reads W3C trace context from Kafka record headers.
type headerCarrier []kgo.RecordHeader

func (h headerCarrier) Get(key string) string {
	for _, kv := range h {
		if len(kv.Key) == len(key) && (kv.Key == key || equalFold(kv.Key, key)) {
			return string(kv.Value)
		}
	}
	return ""
}

func (h headerCarrier) Set(string, string) {}

func (h headerCarrier) Keys() []string {
	keys := make([]string, len(h))
	for i, kv := range h {
		keys[i] = kv.Key
	}
	return keys
}

func equalFold(a, b string) bool {
	for i := range len(a) {
		ca, cb := a[i]|0x20, b[i]|0x20
		if ca != cb {
			return false
		}
	}
	return true
}

var traceContext propagation.TraceContext

// spanFromHeaders returns the remote span context of a traceparent header,
// or an invalid one.
func spanFromHeaders(h []kgo.RecordHeader) trace.SpanContext {
	if headerCarrier(h).Get("traceparent") == "" {
		return trace.SpanContext{}
	}
	ctx := traceContext.Extract(context.Background(), headerCarrier(h))
	return trace.SpanContextFromContext(ctx)
}

// onAssigned runs in the group loop when partitions are assigned (also with
// none: the group was joined).
func (s *Source) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	s.mu.Lock()
	n := 0
	for topic, parts := range assigned {
		for _, part := range parts {
			// A partition assigned again gets a fresh state: acks of batches
			// from its previous ownership must not commit.
			if old := s.parts[tp{topic, part}]; old != nil {
				old.revoked = true
			}
			s.parts[tp{topic, part}] = newPartition(topic, part)
			n++
		}
	}
	s.met.assigned.Set(float64(len(s.parts)))
	s.mu.Unlock()
	s.ready.Store(true)
	s.met.rebalances.WithLabelValues("assigned").Inc()
	if n > 0 {
		s.log.Info("kafka partitions assigned", "partitions", fmtAssignment(assigned))
	}
}

// onRevoked commits what was acknowledged of the revoked partitions and
// forgets them: acks of their batches still in flight are ignored.
func (s *Source) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	s.drop(revoked)
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		s.met.commits.WithLabelValues("error").Inc()
		s.log.Warn("kafka commit on revocation failed; the next owner reads again from the last commit", "error", err)
	}
	if len(revoked) > 0 {
		s.met.rebalances.WithLabelValues("revoked").Inc()
		s.log.Info("kafka partitions revoked", "partitions", fmtAssignment(revoked))
	}
}

// onLost forgets partitions lost without a chance to commit (session
// expired, fenced).
func (s *Source) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	s.drop(lost)
	s.ready.Store(false)
	s.met.rebalances.WithLabelValues("lost").Inc()
	if len(lost) > 0 {
		s.log.Warn("kafka partitions lost; their uncommitted work is read again", "partitions", fmtAssignment(lost))
	}
}

func (s *Source) drop(parts map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for topic, ps := range parts {
		for _, part := range ps {
			k := tp{topic, part}
			if p := s.parts[k]; p != nil {
				p.revoked = true
				p.batches.Reset()
				delete(s.parts, k)
				s.met.forget(p.name)
			}
		}
	}
	s.met.assigned.Set(float64(len(s.parts)))
}

func (s *Source) onCommitted(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
	if err == nil && resp != nil {
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					err = fmt.Errorf("%s/%d: error code %d", t.Topic, p.Partition, p.ErrorCode)
				}
			}
		}
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return
		}
		s.met.commits.WithLabelValues("error").Inc()
		s.log.Warn("kafka offset commit failed; it is retried with the next one", "error", err)
		return
	}
	s.met.commits.WithLabelValues("ok").Inc()
}

// Close stops reading, commits what was acknowledged, leaves the group and
// closes the client. Batches not acknowledged by then are read again by the
// partitions' next owner. Close is idempotent.
func (s *Source) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = s.close(ctx) })
	return s.closeErr
}

func (s *Source) close(ctx context.Context) error {
	s.cancel()
	s.wg.Wait()
	var errs []error
	if err := s.cl.CommitMarkedOffsets(ctx); err != nil {
		errs = append(errs, fmt.Errorf("kafkasource: commit: %w", err))
	}
	// Leaving revokes every partition: onRevoked commits acks that came in
	// meanwhile, then nothing more is committed.
	s.cl.AllowRebalance()
	if err := s.cl.LeaveGroupContext(ctx); err != nil && !errors.Is(err, context.Canceled) {
		errs = append(errs, fmt.Errorf("kafkasource: leave group: %w", err))
	}
	s.cl.Close()
	s.mu.Lock()
	s.closed = true
	for k, p := range s.parts {
		p.revoked = true
		s.met.forget(p.name)
		delete(s.parts, k)
	}
	s.pending = nil
	s.met.assigned.Set(0)
	s.mu.Unlock()
	s.ready.Store(false)
	return errors.Join(errs...)
}

// lagLoop refreshes the lag and age gauges every lag_interval.
func (s *Source) lagLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.LagInterval)
	defer t.Stop()
	for {
		s.refreshLag()
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Source) refreshLag() {
	s.mu.Lock()
	var topics []string
	seen := map[string]bool{}
	for k := range s.parts {
		if !seen[k.topic] {
			seen[k.topic] = true
			topics = append(topics, k.topic)
		}
	}
	s.mu.Unlock()
	if len(topics) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, max(s.cfg.LagInterval, time.Second))
	defer cancel()
	ends, err := s.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		if s.ctx.Err() == nil {
			s.log.Debug("kafka lag: list end offsets", "error", err)
		}
		return
	}
	committed := s.cl.CommittedOffsets()
	type owned struct {
		k tp
		p *partition
	}
	s.mu.Lock()
	var snap []owned
	needStarts := false
	for k, p := range s.parts {
		snap = append(snap, owned{k, p})
		if c, ok := committed[k.topic][k.part]; (!ok || c.Offset < 0) && p.base < 0 && s.cfg.StartFrom == "earliest" {
			needStarts = true
		}
	}
	s.mu.Unlock()
	var starts kadm.ListedOffsets
	if needStarts {
		// no commit yet: the group starts from the log start offset
		if starts, err = s.adm.ListStartOffsets(ctx, topics...); err != nil {
			return
		}
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range snap {
		k, p := o.k, o.p
		if s.parts[k] != p {
			continue // revoked meanwhile
		}
		end, ok := ends.Lookup(k.topic, k.part)
		if !ok || end.Err != nil || end.Offset < 0 {
			continue
		}
		pos := int64(-1)
		if c, ok := committed[k.topic][k.part]; ok && c.Offset >= 0 {
			pos = c.Offset
		} else if p.base >= 0 {
			pos = p.base
		} else if s.cfg.StartFrom == "latest" {
			p.base, pos = end.Offset, end.Offset
		} else if st, ok := starts.Lookup(k.topic, k.part); ok && st.Err == nil && st.Offset >= 0 {
			pos = st.Offset
		}
		if pos < 0 {
			continue
		}
		s.met.lag.WithLabelValues(p.name).Set(float64(max(end.Offset-pos, 0)))
		if !p.newest.IsZero() {
			s.met.age.WithLabelValues(p.name).Set(now.Sub(p.newest).Seconds())
		}
	}
}

func fmtAssignment(m map[string][]int32) string {
	out := ""
	for t, ps := range m {
		if out != "" {
			out += " "
		}
		out += fmt.Sprintf("%s%v", t, ps)
	}
	return out
}

// kgoLogger passes the client's warnings and errors to slog.
type kgoLogger struct{ l *slog.Logger }

func (k kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := slog.LevelInfo
	switch level {
	case kgo.LogLevelError:
		lv = slog.LevelError
	case kgo.LogLevelWarn:
		lv = slog.LevelWarn
	case kgo.LogLevelDebug:
		lv = slog.LevelDebug
	}
	k.l.Log(context.Background(), lv, "kafka client: "+msg, keyvals...)
}
