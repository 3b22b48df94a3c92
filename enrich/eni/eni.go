package eni

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"golang.org/x/time/rate"

	"github.com/vpcflow/vpcflow/internal/awsconf"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// Stage is the eni_enrich stage. It is safe for concurrent use by the
// engine's workers.
type Stage struct {
	cfg     *Config
	set     component.Settings
	awsCfg  aws.Config
	m       *metrics
	regions *regions
	// defRegion is the region of records that carry none (the config's,
	// else the SDK default's); 0 when there is none.
	defRegion uint32
	store     *store
	f         *fetcher
	clients   *clients
	invs      inventories
	scratch   sync.Pool
	// invLife is how long a listed interface is trusted: ttl, or longer
	// when refresh_interval + inventory_wait is (so that listed interfaces
	// do not expire between two listings); invRetry the pause after a
	// failed listing. maxEntries is the positive cache's size allowed by
	// max_memory_mib; capWarned says it was reached.
	invLife    time.Duration
	invRetry   time.Duration
	maxEntries int
	capWarned  atomic.Bool
	strs       interner

	// backoffBase and backoffMax bound the retry backoff of one call;
	// breakerBase and breakerMax the pause of a client after a failed
	// look-up.
	backoffBase, backoffMax time.Duration
	breakerBase, breakerMax time.Duration
	closeOnce               sync.Once
}

var (
	_ component.Stage     = (*Stage)(nil)
	_ component.Starter   = (*Stage)(nil)
	_ component.Closer    = (*Stage)(nil)
	_ component.Validator = (*Config)(nil)
)

// New builds the stage. The EC2 clients come from the SDK's default
// configuration chain (environment, shared files, web identity, instance
// or task role), with the file's region and endpoint on top; nothing is
// called until records or the warm-up need it.
func New(ctx context.Context, cfg *Config, set component.Settings, opts ...Opt) (*Stage, error) {
	var o options
	for _, opt := range opts {
		opt.apply(&o)
	}
	return newStage(ctx, cfg, set, o.load...)
}

func newStage(ctx context.Context, cfg *Config, set component.Settings, loadOpts ...func(*config.LoadOptions) error) (*Stage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	set = set.Normalize()
	// role_arn is assumed per client (it may name each account), not here.
	awsCfg, err := awsconf.Load(ctx, awsconf.Options{Region: cfg.Region, ID: set.ID, Logger: set.Logger, Load: loadOpts})
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	awsCfg.HTTPClient = guardHTTPClient(awsCfg.HTTPClient)
	s := &Stage{
		cfg:         cfg,
		set:         set,
		awsCfg:      awsCfg,
		regions:     newRegions(),
		backoffBase: 200 * time.Millisecond,
		backoffMax:  5 * time.Second,
		breakerBase: time.Second,
		breakerMax:  30 * time.Second,
		invLife:     cfg.TTL,
		invRetry:    time.Minute,
		maxEntries:  max(cfg.MaxMemoryMiB<<20/bytesPerInterface, 1),
	}
	if cfg.Inventory {
		s.invLife = max(cfg.TTL, cfg.RefreshInterval+cfg.InventoryWait)
	}
	s.invs.m = map[clientKey]*inventory{}
	s.strs.m = map[string]string{}
	if awsCfg.Region != "" {
		id, ok := s.regions.idString(awsCfg.Region)
		if !ok {
			return nil, fmt.Errorf("region %q is not a region name", awsCfg.Region)
		}
		s.defRegion = id
	} else {
		set.Logger.Warn("eni: no region configured (region, AWS_REGION); records without a region field pass unenriched")
	}
	var m *metrics
	s.store = newStore(min(cfg.CacheSize, s.maxEntries), cfg.TTL, s.invLife, cfg.NegativeTTL, func() { m.evictions.Inc() })
	m, err = newMetrics(set.Registerer, set.ID, s.store.len, gauges{
		capacity:   func() float64 { return float64(s.store.capacity.Load()) },
		interfaces: func() float64 { return float64(s.invs.known()) },
		listings:   func() float64 { return float64(s.invs.inProgress.Load()) },
		waiting:    func() float64 { return float64(s.invs.waiting.Load()) },
	})
	if err != nil {
		return nil, err
	}
	s.m = m
	s.clients = &clients{m: map[clientKey]*client{}, newAPI: s.newEC2, rate: rate.Limit(cfg.RateLimit), burst: cfg.RateBurst}
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.f = &fetcher{s: s, inflight: map[key]*call{}, queues: map[clientKey]*queue{}, ctx: fctx, cancel: cancel}
	s.scratch.New = func() any { return &scratch{waited: map[*call]struct{}{}} }
	return s, nil
}

// scratch is per-Process working memory, pooled.
type scratch struct {
	misses []miss
	touch  []touchKey
	waited map[*call]struct{}
	invs   []*inventory
}

type miss struct {
	i    int
	k    key
	ent  *entry
	call *call
	err  error
	// inv is the inventory whose first listing the record waits for.
	inv *inventory
}

type touchKey struct {
	k        key
	negative bool
}

// memo remembers the account and region of the previous record: they
// rarely change within a batch. A 12-digit account-id text is kept as two
// words so that the usual comparison is two loads.
type memo struct {
	acct, region []byte
	acctW0       uint64
	acctW1       uint32
	origin       *flowlog.Origin
	valid        bool
	account      uint64
	regionID     uint32
	regionValid  bool
}

// same reports whether acct and reg are the memo's texts.
func (mm *memo) same(acct, reg []byte) bool {
	if len(acct) != len(mm.acct) || len(reg) != len(mm.region) {
		return false
	}
	if len(acct) == 12 {
		if binary.LittleEndian.Uint64(acct) != mm.acctW0 || binary.LittleEndian.Uint32(acct[8:]) != mm.acctW1 {
			return false
		}
	} else if !bytes.Equal(acct, mm.acct) {
		return false
	}
	return len(reg) == 0 || bytes.Equal(reg, mm.region)
}

// keyStatus says whether a record's key could be built, and if not why.
type keyStatus uint8

const (
	keyOK keyStatus = iota
	keyNoInterface
	keyNoRegion
)

// Process enriches every record of b in place and sets its direction. No
// record is ever dropped: records whose interface cannot be known in time
// pass unenriched and are counted by reason.
func (s *Stage) Process(ctx context.Context, b *flowlog.Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	sc := s.scratch.Get().(*scratch)
	defer s.putScratch(sc)
	nowT := time.Now()
	now := nowT.UnixNano()
	var hits, negHits, noIface, noRegion int
	var mm memo

	// Records are taken in chunks: keys first, then the cache look-ups in
	// a tight loop (independent memory reads overlap), then the rest.
	const chunk = 32
	var (
		keys   [chunk]key
		status [chunk]keyStatus
		ents   [chunk]*entry
	)
	sec := uint32(nowT.Unix())
	recs := b.Records
	s.store.mu.RLock()
	for base := 0; base < len(recs); base += chunk {
		n := min(chunk, len(recs)-base)
		for j := range n {
			keys[j], status[j] = s.keyOf(&recs[base+j], &mm)
		}
		for j := range n {
			switch {
			case status[j] != keyOK:
				ents[j] = nil
			case j > 0 && status[j-1] == keyOK && keys[j] == keys[j-1]:
				ents[j] = ents[j-1]
			default:
				ents[j] = s.store.lookupLocked(keys[j])
			}
		}
		for j := range n {
			r := &recs[base+j]
			if status[j] != keyOK {
				if status[j] == keyNoInterface {
					noIface++
				} else {
					noRegion++
				}
				r.ENI = nil
				r.Direction = s.store.directionLocked(r, nil, now)
				continue
			}
			ent := ents[j]
			if ent == nil || ent.expires < now {
				sc.misses = append(sc.misses, miss{i: base + j, k: keys[j]})
				continue
			}
			if sec-ent.touched.Load() > s.store.touchEvery {
				ent.touched.Store(sec)
				sc.touch = append(sc.touch, touchKey{keys[j], ent.eni == nil})
			}
			r.ENI = ent.eni
			if ent.eni == nil {
				negHits++
			} else {
				hits++
			}
			r.Direction = s.store.directionLocked(r, ent, now)
		}
	}
	s.store.mu.RUnlock()

	for _, t := range sc.touch {
		s.store.touch(t.k, t.negative)
	}
	if len(sc.misses) > 0 {
		s.resolve(ctx, b, sc, nowT)
	}
	if hits > 0 {
		s.m.hits.Add(float64(hits))
	}
	if negHits > 0 {
		s.m.negHits.Add(float64(negHits))
		s.m.reasons[reasonUnknownENI].Add(float64(negHits))
	}
	if noIface > 0 {
		s.m.reasons[reasonNoInterface].Add(float64(noIface))
	}
	if noRegion > 0 {
		s.m.reasons[reasonNoRegion].Add(float64(noRegion))
	}
	return nil
}

func (s *Stage) putScratch(sc *scratch) {
	clear(sc.misses)
	sc.misses = sc.misses[:0]
	sc.touch = sc.touch[:0]
	clear(sc.waited)
	clear(sc.invs)
	sc.invs = sc.invs[:0]
	s.scratch.Put(sc)
}

// keyOf builds r's cache key: account from the record's account-id, else
// its input's; region from the record's region, else its input's, else the
// stage's. The status says why a record cannot be looked up.
func (s *Stage) keyOf(r *flowlog.Record, mm *memo) (key, keyStatus) {
	lo, hi, ok := parseID(r.Text(flowlog.FInterfaceID))
	if !ok {
		return key{}, keyNoInterface
	}
	acct := r.Text(flowlog.FAccountID)
	reg := r.Text(flowlog.FRegion)
	if !mm.valid || mm.origin != r.Origin || !mm.same(acct, reg) {
		s.originOf(r, acct, reg, mm)
	}
	if !mm.regionValid || mm.regionID == 0 {
		return key{}, keyNoRegion
	}
	return mkKey(mm.account, lo, hi, mm.regionID), keyOK
}

// originOf fills mm with the account and region of r, whose account-id and
// region texts are acct and reg.
func (s *Stage) originOf(r *flowlog.Record, acct, reg []byte, mm *memo) {
	mm.valid, mm.origin, mm.acct, mm.region = true, r.Origin, acct, reg
	if len(acct) == 12 {
		mm.acctW0, mm.acctW1 = binary.LittleEndian.Uint64(acct), binary.LittleEndian.Uint32(acct[8:])
	}
	mm.account = 0
	if acct != nil {
		mm.account = parseAccount(acct)
	} else if r.Origin != nil && r.Origin.Account != "" {
		mm.account = parseAccount([]byte(r.Origin.Account))
	}
	switch {
	case reg != nil:
		mm.regionID, mm.regionValid = s.regions.id(reg)
	case r.Origin != nil && r.Origin.Region != "":
		mm.regionID, mm.regionValid = s.regions.idString(r.Origin.Region)
	default:
		mm.regionID, mm.regionValid = s.defRegion, s.defRegion != 0
	}
}
