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
func (s *Source) renewAll(ctx context.Context) {
	for _, h := range s.heldList() {
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
	heldKeys := map[string]bool{}
	for _, h := range s.heldList() {
		heldKeys[h.l.Key] = true
	}
	// A held lease that another instance owns now was stolen.
	for _, l := range leases {
		if heldKeys[l.Key] && l.Owner != s.cfg.WorkerID {
			s.mu.Lock()
			h := s.held[l.Key]
			s.mu.Unlock()
			if h != nil {
				s.log.Info("lease taken by another instance", "shard", l.Key, "owner", l.Owner)
				s.drop(h)
				delete(heldKeys, l.Key)
			}
		}
	}
	p := s.bal.plan(leases, s.seen, heldKeys, now)
	for _, l := range p.take {
		s.takeLease(ctx, l, "take")
	}
	for _, l := range p.steal {
		s.takeLease(ctx, l, "steal")
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
	// Registered even when closing, so that Close releases it.
	s.log.Info("lease acquired", "shard", l.Key, "how", op, "from", l.Owner, "checkpoint", got.Checkpoint.Seq)
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
