package kinesissource

import (
	"math/rand/v2"
	"time"
)

// seenLease is what the coordinator last observed of a lease it does not
// hold: a lease whose counter has not moved for failover_time is expired.
type seenLease struct {
	counter int64
	owner   string
	since   time.Time
}

// observe records the leases of a scan and forgets those that vanished.
func observe(seen map[string]seenLease, leases []lease, now time.Time) {
	keep := make(map[string]bool, len(leases))
	for _, l := range leases {
		keep[l.Key] = true
		if s, ok := seen[l.Key]; ok && s.counter == l.Counter && s.owner == l.Owner {
			continue
		}
		seen[l.Key] = seenLease{counter: l.Counter, owner: l.Owner, since: now}
	}
	for k := range seen {
		if !keep[k] {
			delete(seen, k)
		}
	}
}

// plan is the outcome of one balancing round.
type plan struct {
	take  []lease // unowned or expired leases
	steal []lease // at most one lease of the most loaded instance
}

// balancer decides which leases this instance takes so that every instance
// ends with an even share of the shards ready to be read.
type balancer struct {
	me        string
	failover  time.Duration
	maxLeases int
	rand      func(n int) int
}

// ready reports whether a shard may be read: it is not finished and each of
// its parents is finished (checkpointed SHARD_END) or gone from the table.
func ready(l lease, byKey map[string]lease) bool {
	if l.Checkpoint.Seq == cpShardEnd {
		return false
	}
	for _, p := range l.Parents {
		if pl, ok := byKey[p]; ok && pl.Checkpoint.Seq != cpShardEnd {
			return false
		}
	}
	return true
}

// plan picks leases to take. held holds the keys this instance reads.
func (b *balancer) plan(leases []lease, seen map[string]seenLease, held map[string]bool, now time.Time) plan {
	byKey := make(map[string]lease, len(leases))
	for _, l := range leases {
		byKey[l.Key] = l
	}
	expired := func(l lease) bool {
		if l.Owner == "" && l.CheckpointOwner == "" {
			return true
		}
		if l.Owner == "" {
			// Its taker gave it up while its old owner still hands it
			// over: free once that is done, or once its counter stood
			// still.
			s, ok := seen[l.Key]
			return ok && now.Sub(s.since) > b.failover
		}
		if l.Owner == b.me {
			return !held[l.Key] // ours from an earlier life of this worker id
		}
		s, ok := seen[l.Key]
		return ok && now.Sub(s.since) > b.failover
	}
	counts := map[string]int{}
	var active, avail []lease
	for _, l := range leases {
		if !ready(l, byKey) {
			continue
		}
		active = append(active, l)
		switch {
		case held[l.Key]:
			counts[b.me]++
		case expired(l):
			avail = append(avail, l)
		case l.Owner == "":
			counts[l.CheckpointOwner]++
		default:
			counts[l.Owner]++
		}
	}
	if len(active) == 0 {
		return plan{}
	}
	workers := len(counts)
	if _, ok := counts[b.me]; !ok {
		workers++
	}
	target := (len(active) + workers - 1) / workers
	if b.maxLeases > 0 {
		target = min(target, b.maxLeases)
	}
	need := target - counts[b.me]
	if need <= 0 {
		return plan{}
	}
	if len(avail) > 0 {
		// Shuffled so that instances starting together contend less.
		for i := len(avail) - 1; i > 0; i-- {
			j := b.rand(i + 1)
			avail[i], avail[j] = avail[j], avail[i]
		}
		return plan{take: avail[:min(need, len(avail))]}
	}
	// Nothing free: steal one lease from the most loaded instance when that
	// brings the counts closer.
	var victim string
	most := 0
	for w, n := range counts {
		if w != b.me && (n > most || n == most && w < victim) {
			victim, most = w, n
		}
	}
	if most > target || most == target && need > 1 {
		var theirs []lease
		for _, l := range active {
			if l.Owner == victim && !held[l.Key] && l.CheckpointOwner == "" { // not one already moving
				theirs = append(theirs, l)
			}
		}
		if len(theirs) > 0 {
			return plan{steal: []lease{theirs[b.rand(len(theirs))]}}
		}
	}
	return plan{}
}

func randIntN(n int) int { return rand.IntN(n) }
