package kinesissource

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// coordinate renews, checkpoints, takes and releases leases and keeps the
// lease table in step with the shard list, until Close.
func (s *Source) coordinate() {
	ctx := s.runCtx
	renew := time.NewTicker(s.cfg.FailoverTime / 3)
	defer renew.Stop()
	syncT := time.NewTicker(s.cfg.ShardSyncInterval)
	defer syncT.Stop()
	// Leases asked for are looked at more often than renewals, so that a
	// shard waits little once its old owner handed it over.
	poll := time.NewTicker(min(s.cfg.FailoverTime/3, time.Second))
	defer poll.Stop()
	s.round(ctx, s.syncShards)
	s.round(ctx, s.balance)
	for {
		select {
		case <-ctx.Done():
			return
		case <-renew.C:
			s.round(ctx, s.renewAll)
			s.round(ctx, s.balance)
		case <-syncT.C:
			s.round(ctx, s.syncShards)
		case <-poll.C:
			if len(s.pending) > 0 {
				s.round(ctx, s.checkPending)
			}
		case h := <-s.handoffReady:
			s.round(ctx, func(ctx context.Context) { s.finishHandoff(ctx, h) })
		case <-s.poke:
			finished := false
			s.round(ctx, func(ctx context.Context) { finished = s.finishShards(ctx) })
			if finished {
				s.round(ctx, s.syncShards)
				s.round(ctx, s.balance)
			}
		}
	}
}

// round runs one coordinator step within failover_time, so that a hung
// call cannot keep leases from being renewed for long.
func (s *Source) round(ctx context.Context, f func(context.Context)) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.FailoverTime)
	defer cancel()
	f(ctx)
}

func (s *Source) pokeCoordinator() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

func (s *Source) countOp(op string, err error) {
	outcome := "ok"
	switch {
	case errors.Is(err, errLeaseLost):
		outcome = "lost"
	case err != nil:
		outcome = "error"
	}
	s.m.leaseOps.WithLabelValues(op, outcome).Inc()
}

// heldList returns the held leases.
func (s *Source) heldList() []*held {
	s.mu.Lock()
	defer s.mu.Unlock()
	hs := make([]*held, 0, len(s.held))
	for _, h := range s.held {
		hs = append(hs, h)
	}
	return hs
}

// renewAll renews every held lease, writing its checkpoint when it moved.
// A lease found marked for a hand-off by this instance starts one; a
// drained hand-off is completed.
func (s *Source) renewAll(ctx context.Context) {
	for _, h := range s.heldList() {
		if h.handoff != nil && h.handoff.isReady() {
			s.finishHandoff(ctx, h)
			continue
		}
		cp := s.pendingCheckpoint(h) // SHARD_END once finished; finishShards then releases it
		err := s.table.renew(ctx, &h.l, cp, false)
		if ctx.Err() != nil {
			return
		}
		s.countOp("renew", err)
		switch {
		case err == nil:
			h.renewedAt = time.Now()
			if cp != nil {
				h.written = *cp
				s.m.checkpoints.Inc()
			}
			if h.handoff == nil && h.l.handingOver(s.cfg.WorkerID) {
				s.beginHandoff(h)
			}
		case errors.Is(err, errLeaseLost):
			s.log.Info("lease taken by another instance", "shard", h.l.Key)
			s.drop(h)
		default:
			s.log.Warn("renew lease", "shard", h.l.Key, "error", err)
			if time.Since(h.renewedAt) > s.cfg.FailoverTime {
				// Others may consider it expired by now: stop reading.
				s.log.Warn("lease not renewed within failover_time, stopping", "shard", h.l.Key)
				s.drop(h)
			}
		}
	}
}

// beginHandoff starts handing h over to the instance that asked for it
// (h.l.Owner): no record of the shard is handed out any more; once every
// batch handed out is acknowledged, or handoff_timeout passed, the
// coordinator checkpoints and lets go (finishHandoff). Meanwhile the lease
// is renewed as usual, so that nobody takes it as expired.
func (s *Source) beginHandoff(h *held) {
	ho := &handoff{ready: make(chan struct{})}
	h.handoff = ho
	s.log.Info("handing lease over", "shard", h.l.Key, "to", h.l.Owner, "in_flight", h.tr.inflight())
	h.cancel()
	timeout := s.cfg.drainTimeout()
	s.wg.Go(func() {
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-h.done:
			select {
			case <-h.tr.idle():
			case <-t.C:
			case <-s.runCtx.Done():
				return // Close completes the hand-off
			}
		case <-t.C:
		case <-s.runCtx.Done():
			return
		}
		close(ho.ready)
		select {
		case s.handoffReady <- h:
		case <-s.runCtx.Done():
		}
	})
}

// finishHandoff checkpoints what was acknowledged of a lease being handed
// over and removes checkpointOwner: the instance that asked for the lease
// then reads on from that checkpoint. Batches still unacknowledged (the
// hand-off timed out) are read again by it.
func (s *Source) finishHandoff(ctx context.Context, h *held) {
	s.mu.Lock()
	cur := s.held[h.l.Key]
	s.mu.Unlock()
	if cur != h {
		return // dropped meanwhile
	}
	if h.tr.finished() {
		// Read to its end: SHARD_END is checkpointed and the lease freed.
		s.finishShards(ctx)
		return
	}
	n := h.tr.inflight()
	cp := s.pendingCheckpoint(h)
	h.tr.kill() // acks from now on are too late: their batches are read again
	to := h.l.Owner
	err := s.table.renew(ctx, &h.l, cp, true)
	if ctx.Err() != nil {
		return
	}
	s.countOp("handoff", err)
	switch {
	case err == nil:
		if cp != nil {
			h.written = *cp
			s.m.checkpoints.Inc()
		}
		if n > 0 {
			s.log.Warn("handoff_timeout passed with batches unacknowledged; the new owner reads them again", "shard", h.l.Key, "to", to, "batches", n)
		}
		s.log.Info("lease handed over", "shard", h.l.Key, "to", to, "checkpoint", h.l.Checkpoint.Seq)
		s.drop(h)
	case errors.Is(err, errLeaseLost):
		s.log.Info("lease taken by another instance during its hand-off", "shard", h.l.Key)
		s.drop(h)
	default:
		s.log.Warn("hand lease over", "shard", h.l.Key, "error", err) // retried at the next renewal
	}
}

// drop stops reading a lease that is no longer ours.
func (s *Source) drop(h *held) {
	h.tr.kill()
	h.cancel()
	s.mu.Lock()
	delete(s.held, h.l.Key)
	n := len(s.held)
	s.mu.Unlock()
	s.m.leasesHeld.Set(float64(n))
	s.m.lag.DeleteLabelValues(h.l.Key)
}

// finishShards checkpoints SHARD_END on fully acknowledged shards and
// releases them. It reports whether any finished.
func (s *Source) finishShards(ctx context.Context) bool {
	any := false
	for _, h := range s.heldList() {
		if !h.tr.finished() {
			continue
		}
		<-h.done
		// Leases for the children first, so that they exist, naming their
		// parents, before the parent is released.
		for _, c := range h.children {
			l := lease{Key: aws.ToString(c.ShardId), Checkpoint: position{Seq: cpTrimHorizon}, Parents: c.ParentShards}
			created, err := s.table.create(ctx, l)
			if err != nil {
				s.countOp("create", err)
				s.log.Warn("create child lease", "shard", l.Key, "error", err)
			} else if created {
				s.countOp("create", nil)
			}
		}
		err := s.table.renew(ctx, &h.l, &position{Seq: cpShardEnd}, true)
		if ctx.Err() != nil {
			return any
		}
		s.countOp("checkpoint", err)
		if err != nil && !errors.Is(err, errLeaseLost) {
			s.log.Warn("checkpoint shard end", "shard", h.l.Key, "error", err)
			continue // retried on the next poke or renewal
		}
		if err == nil {
			s.m.checkpoints.Inc()
			s.log.Debug("shard finished", "shard", h.l.Key)
		}
		s.drop(h)
		any = true
	}
	return any
}

// balance takes unowned and expired leases, or steals one, to reach an even
// share.
func (s *Source) balance(ctx context.Context) {
	select {
	case <-s.closing:
		return
	default:
	}
	leases, err := s.table.list(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("list leases", "error", err)
		}
		return
	}
	now := time.Now()
	observe(s.seen, leases, now)
	// Leases being handed over count as their taker's; leases asked for
	// count as this instance's.
	heldKeys := map[string]bool{}
	for _, h := range s.heldList() {
		if h.handoff == nil {
			heldKeys[h.l.Key] = true
		}
	}
	for _, l := range leases {
		_, asked := s.pending[l.Key]
		if !asked && l.Owner == s.cfg.WorkerID && l.CheckpointOwner != "" && !heldKeys[l.Key] {
			// Asked for by an earlier life of this worker id: wait for the
			// hand-off as it would have.
			s.pending[l.Key] = &pendingLease{from: l.CheckpointOwner, marked: now, counter: l.Counter, since: now}
		}
	}
	for k := range s.pending {
		heldKeys[k] = true
	}
	// A held lease that another instance owns now was stolen, or is asked
	// for.
	for _, l := range leases {
		if _, asked := s.pending[l.Key]; asked || !heldKeys[l.Key] || l.Owner == s.cfg.WorkerID {
			continue
		}
		s.mu.Lock()
		h := s.held[l.Key]
		s.mu.Unlock()
		if h == nil {
			continue
		}
		delete(heldKeys, l.Key)
		if l.handingOver(s.cfg.WorkerID) {
			h.l.Owner, h.l.CheckpointOwner, h.l.Counter = l.Owner, l.CheckpointOwner, max(h.l.Counter, l.Counter)
			s.beginHandoff(h)
			continue
		}
		s.log.Info("lease taken by another instance", "shard", l.Key, "owner", l.Owner)
		s.drop(h)
	}
	p := s.bal.plan(leases, s.seen, heldKeys, now)
	for _, l := range p.take {
		s.takeLease(ctx, l, "take")
	}
	for _, l := range p.steal {
		if s.cfg.HandoffTimeout > 0 {
			s.askForLease(ctx, l)
		} else {
			s.takeLease(ctx, l, "steal")
		}
	}
}

// askForLease marks a lease of another instance for a graceful hand-off
// to this one (see leaseTable.requestHandoff); checkPending starts reading
// it once its owner let go.
func (s *Source) askForLease(ctx context.Context, l lease) {
	got, err := s.table.requestHandoff(ctx, l)
	s.countOp("handoff_request", err)
	if err != nil {
		if !errors.Is(err, errLeaseLost) && ctx.Err() == nil {
			s.log.Warn("ask for lease", "shard", l.Key, "error", err)
		}
		return
	}
	now := time.Now()
	s.log.Info("lease asked for", "shard", l.Key, "from", l.Owner)
	s.pending[l.Key] = &pendingLease{from: l.Owner, marked: now, counter: got.Counter, since: now}
}

// checkPending looks at the leases asked for: one its old owner handed over
// (checkpointOwner removed) is read from its checkpoint. One whose owner
// does not answer (its counter stood still for failover_time, or the
// hand-off lasts longer than handoff_timeout + failover_time) is taken
// from it.
func (s *Source) checkPending(ctx context.Context) {
	select {
	case <-s.closing:
		return // Close gives them up
	default:
	}
	for key, p := range s.pending {
		cur, ok, err := s.table.get(ctx, key)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("read lease asked for", "shard", key, "error", err)
			}
			continue
		}
		now := time.Now()
		switch {
		case !ok || cur.Owner != s.cfg.WorkerID:
			delete(s.pending, key)
			s.log.Info("lease asked for went elsewhere", "shard", key, "owner", cur.Owner)
		case cur.CheckpointOwner == "":
			delete(s.pending, key)
			if cur.Checkpoint.Seq == cpShardEnd {
				err := s.table.renew(ctx, &cur, nil, true)
				s.countOp("release", err)
				continue
			}
			s.startLease(cur, "handoff", p.from)
		default:
			if cur.Counter != p.counter {
				p.counter, p.since = cur.Counter, now
			}
			if now.Sub(p.since) <= s.cfg.FailoverTime && now.Sub(p.marked) <= s.cfg.HandoffTimeout+s.cfg.FailoverTime {
				continue
			}
			got, err := s.table.forceHandoff(ctx, cur)
			s.countOp("handoff_force", err)
			if err != nil {
				if !errors.Is(err, errLeaseLost) && ctx.Err() == nil {
					s.log.Warn("take lease not handed over", "shard", key, "error", err)
				}
				continue // looked at again at the next poll
			}
			delete(s.pending, key)
			s.log.Warn("lease not handed over in time; taken, what its owner did not checkpoint is read again",
				"shard", key, "from", cur.CheckpointOwner, "waited", now.Sub(p.marked).Round(time.Millisecond))
			s.startLease(got, "handoff_force", cur.CheckpointOwner)
		}
	}
}

func (s *Source) takeLease(ctx context.Context, l lease, op string) {
	got, err := s.table.take(ctx, l)
	s.countOp(op, err)
	if err != nil {
		if !errors.Is(err, errLeaseLost) && ctx.Err() == nil {
			s.log.Warn(op+" lease", "shard", l.Key, "error", err)
		}
		return
	}
	s.startLease(got, op, l.Owner)
}

// startLease registers a lease just acquired and starts reading it from its
// checkpoint. It is registered even when closing, so that Close releases
// it.
func (s *Source) startLease(got lease, how, from string) {
	s.log.Info("lease acquired", "shard", got.Key, "how", how, "from", from, "checkpoint", got.Checkpoint.Seq)
	rctx, cancel := context.WithCancel(s.readCtx)
	h := &held{l: got, cancel: cancel, done: make(chan struct{}), written: got.Checkpoint, renewedAt: time.Now()}
	h.tr = newTracker(got.Checkpoint, s.pokeCoordinator)
	s.mu.Lock()
	s.held[got.Key] = h
	n := len(s.held)
	s.mu.Unlock()
	s.m.leasesHeld.Set(float64(n))
	s.wg.Go(func() {
		defer close(h.done)
		s.readShard(rctx, h, got.Key, got.Checkpoint)
	})
}
