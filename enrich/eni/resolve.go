// Resolving a batch's misses: inventories being listed, parked batches,
// look-ups by id.

package eni

import (
	"context"
	"errors"
	"time"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// resolve looks up the batch's misses. Records of an (account, region)
// whose inventory is being listed for the first time wait for it (parked,
// see park); the others, and those the inventory does not hold, are looked
// up one by one and waited for at most max_wait.
func (s *Stage) resolve(ctx context.Context, b *flowlog.Batch, sc *scratch, nowT time.Time) {
	s.m.misses.Add(float64(len(sc.misses)))
	now0 := nowT.UnixNano()
	var (
		lastInv *inventory
		lastCK  clientKey
		parked  int
	)
	for j := range sc.misses {
		m := &sc.misses[j]
		if j > 0 && sc.misses[j-1].k == m.k {
			prev := sc.misses[j-1]
			m.ent, m.call, m.err, m.inv = prev.ent, prev.call, prev.err, prev.inv
			if m.inv != nil {
				parked++
			}
			continue
		}
		if s.cfg.Inventory {
			ck := clientKey{region: m.k.region()}
			if s.perAccount() {
				ck.account = m.k.account()
			}
			if lastInv == nil || ck != lastCK {
				lastInv, lastCK = s.inventoryFor(m.k), ck
			}
			if lastInv.listing() {
				if now0 < lastInv.deadline {
					m.inv = lastInv
					parked++
					if len(sc.invs) == 0 || sc.invs[len(sc.invs)-1] != lastInv {
						sc.invs = append(sc.invs, lastInv)
					}
				} else {
					m.err = errInventoryTimeout
				}
				continue
			}
		}
		m.ent, m.call, m.err = s.f.request(m.k, nowT)
	}
	if parked > 0 {
		s.park(ctx, sc, parked)
		nowT = time.Now()
		for j := range sc.misses {
			m := &sc.misses[j]
			if m.inv == nil {
				continue
			}
			if j > 0 && sc.misses[j-1].k == m.k {
				prev := sc.misses[j-1]
				m.ent, m.call, m.err = prev.ent, prev.call, prev.err
				continue
			}
			if ent := s.store.get(m.k, nowT.UnixNano()); ent != nil {
				m.ent = ent
			} else if !m.inv.listing() {
				// Listed and not found: a new interface, or one EC2 does
				// not know; asked by id.
				m.ent, m.call, m.err = s.f.request(m.k, nowT)
			} else {
				m.err = errInventoryTimeout
			}
		}
	}

	var timer *time.Timer
	expired := false
	for j := range sc.misses {
		c := sc.misses[j].call
		if c == nil || expired {
			continue
		}
		if _, seen := sc.waited[c]; seen {
			continue
		}
		sc.waited[c] = struct{}{}
		select {
		case <-c.done:
			continue
		default:
		}
		// When the client's rate limit cannot let the call through within
		// max_wait, waiting would only hold the worker: its records pass
		// now, and the call fills the cache for later batches.
		if c.cl != nil && c.cl.backlog() > s.cfg.MaxWait {
			continue
		}
		if timer == nil {
			timer = time.NewTimer(s.cfg.MaxWait)
			defer timer.Stop()
		}
		select {
		case <-c.done:
		case <-timer.C:
			expired = true
		case <-ctx.Done():
			expired = true
		}
	}

	var counts [5]int // unknown, timeout, ec2, closed, inventory timeout
	now := time.Now().UnixNano()
	s.store.mu.RLock()
	for j := range sc.misses {
		m := &sc.misses[j]
		r := &b.Records[m.i]
		ent, err := m.ent, m.err
		if ent == nil && m.call != nil {
			select {
			case <-m.call.done:
				ent, err = m.call.ent, m.call.err
			default:
				err = errTimeout
			}
		}
		var e *flowlog.ENI
		switch {
		case ent != nil && ent.eni != nil:
			e = ent.eni
		case ent != nil:
			ent = nil
			counts[0]++
		case err == errTimeout:
			counts[1]++
		case err == errClosed:
			counts[3]++
		case err == errInventoryTimeout:
			counts[4]++
		default:
			counts[2]++
		}
		r.ENI = e
		r.Direction = s.store.directionLocked(r, ent, now)
	}
	s.store.mu.RUnlock()
	for i, reason := range []string{reasonUnknownENI, reasonTimeout, reasonEC2Error, reasonClosed, reasonInventoryTimeout} {
		if counts[i] > 0 {
			s.m.reasons[reason].Add(float64(counts[i]))
		}
	}
}

var errTimeout = errors.New("look-up took longer than max_wait")

// park waits until the first listings of sc.invs end, each at most until
// its deadline (its start plus inventory_wait), or ctx ends. Only batches
// with records of those inventories wait: the others, and the records of
// this batch that hit, are not held by it.
func (s *Stage) park(ctx context.Context, sc *scratch, records int) {
	s.invs.waiting.Add(int64(records))
	defer s.invs.waiting.Add(-int64(records))
	for _, inv := range sc.invs {
		d := time.Until(time.Unix(0, inv.deadline))
		if d <= 0 {
			continue
		}
		t := time.NewTimer(d)
		select {
		case <-inv.ready:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		if ctx.Err() != nil {
			return
		}
	}
}
