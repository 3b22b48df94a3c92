package kinesissource

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func leasesOf(owners ...string) []lease {
	var ls []lease
	for i, o := range owners {
		ls = append(ls, lease{Key: fmt.Sprintf("shard-%d", i), Owner: o, Counter: 1, Checkpoint: position{Seq: cpTrimHorizon}})
	}
	return ls
}

func keys(ls []lease) []string {
	var k []string
	for _, l := range ls {
		k = append(k, l.Key)
	}
	slices.Sort(k)
	return k
}

func TestBalancerPlan(t *testing.T) {
	now := time.Unix(1000, 0)
	fresh := func(ls []lease) map[string]seenLease {
		s := map[string]seenLease{}
		observe(s, ls, now)
		return s
	}
	old := func(ls []lease) map[string]seenLease {
		s := map[string]seenLease{}
		observe(s, ls, now.Add(-time.Minute))
		return s
	}
	heldOf := func(ls []lease, me string) map[string]bool {
		h := map[string]bool{}
		for _, l := range ls {
			if l.Owner == me {
				h[l.Key] = true
			}
		}
		return h
	}
	for _, tc := range []struct {
		name      string
		leases    []lease
		seen      func([]lease) map[string]seenLease
		maxLeases int
		wantTake  int
		wantSteal []string
	}{
		{name: "all unowned, alone", leases: leasesOf("", "", "", ""), seen: fresh, wantTake: 4},
		{name: "unowned, capped", leases: leasesOf("", "", "", ""), seen: fresh, maxLeases: 3, wantTake: 3},
		{name: "balanced", leases: leasesOf("me", "me", "b", "b"), seen: fresh},
		{name: "other holds all: steal one", leases: leasesOf("b", "b", "b", "b"), seen: fresh, wantSteal: []string{"b"}},
		{name: "after one steal: steal again", leases: leasesOf("me", "b", "b", "b"), seen: fresh, wantSteal: []string{"b"}},
		{name: "odd count: no ping-pong", leases: leasesOf("me", "b", "b"), seen: fresh},
		{name: "expired owner", leases: leasesOf("me", "me", "dead", "dead"), seen: old, wantTake: 2},
		{name: "three workers rounding", leases: leasesOf("me", "b", "b", "c", "c"), seen: fresh},
		{name: "ours from an earlier life", leases: leasesOf("me", "b"), seen: fresh, wantTake: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := balancer{me: "me", failover: 10 * time.Second, maxLeases: tc.maxLeases, rand: func(n int) int { return n - 1 }}
			held := heldOf(tc.leases, "me")
			if tc.name == "ours from an earlier life" {
				held = map[string]bool{}
			}
			p := b.plan(tc.leases, tc.seen(tc.leases), held, now)
			if len(p.take) != tc.wantTake {
				t.Errorf("take %v, want %d", keys(p.take), tc.wantTake)
			}
			var stolen []string
			for _, l := range p.steal {
				stolen = append(stolen, l.Owner)
			}
			if !slices.Equal(stolen, tc.wantSteal) {
				t.Errorf("steal from %v, want %v", stolen, tc.wantSteal)
			}
			for _, l := range p.take {
				if held[l.Key] {
					t.Errorf("takes held lease %s", l.Key)
				}
			}
		})
	}
}

func TestBalancerWaitsForParents(t *testing.T) {
	now := time.Now()
	ls := []lease{
		{Key: "parent", Checkpoint: position{Seq: "123"}, Owner: ""},
		{Key: "child", Checkpoint: position{Seq: cpTrimHorizon}, Parents: []string{"parent", "gone"}},
		{Key: "done", Checkpoint: position{Seq: cpShardEnd}},
		{Key: "child2", Checkpoint: position{Seq: cpTrimHorizon}, Parents: []string{"done"}},
	}
	b := balancer{me: "me", failover: time.Second, rand: func(int) int { return 0 }}
	seen := map[string]seenLease{}
	observe(seen, ls, now)
	p := b.plan(ls, seen, map[string]bool{}, now)
	if got := keys(p.take); !slices.Equal(got, []string{"child2", "parent"}) {
		t.Fatalf("take %v, want [child2 parent]", got)
	}
}

func TestObserveExpiry(t *testing.T) {
	t0 := time.Unix(0, 0)
	seen := map[string]seenLease{}
	observe(seen, []lease{{Key: "a", Owner: "x", Counter: 1}}, t0)
	observe(seen, []lease{{Key: "a", Owner: "x", Counter: 1}}, t0.Add(5*time.Second))
	if got := seen["a"].since; !got.Equal(t0) {
		t.Fatalf("unchanged counter reset since to %v", got)
	}
	observe(seen, []lease{{Key: "a", Owner: "x", Counter: 2}}, t0.Add(6*time.Second))
	if got := seen["a"].since; !got.Equal(t0.Add(6 * time.Second)) {
		t.Fatalf("renewal not noticed: since %v", got)
	}
	observe(seen, nil, t0)
	if len(seen) != 0 {
		t.Fatal("vanished lease kept")
	}
}

// A lease being handed over counts as its taker's and is never stolen
// again; one its taker gave up is free only once its old owner let go (or
// stopped renewing it).
func TestBalancerHandoff(t *testing.T) {
	now := time.Unix(1000, 0)
	b := balancer{me: "me", failover: 10 * time.Second, rand: func(n int) int { return 0 }}
	moving := func(owner, cpo string) []lease {
		ls := leasesOf("b", "b", "b", "b")
		ls[0].Owner, ls[0].CheckpointOwner = owner, cpo
		return ls
	}
	seen := func(ls []lease, at time.Time) map[string]seenLease {
		s := map[string]seenLease{}
		observe(s, ls, at)
		return s
	}
	// Asked for by "c": b holds 3, c 1, me 0: steal one of b's, not the
	// moving one.
	ls := moving("c", "b")
	p := b.plan(ls, seen(ls, now), map[string]bool{}, now)
	if len(p.take) != 0 || len(p.steal) != 1 || p.steal[0].Key == "shard-0" {
		t.Errorf("plan %+v, want one steal of a lease not moving", p)
	}
	// Its taker gave it up while b hands it over: not free yet, b's.
	ls = moving("", "b")
	p = b.plan(ls, seen(ls, now), map[string]bool{}, now)
	if len(p.take) != 0 || len(p.steal) != 1 || p.steal[0].Key == "shard-0" {
		t.Errorf("plan %+v, want one steal of a lease not moving", p)
	}
	// ... and free once its counter stood still for failover_time.
	sn := seen(ls, now)
	sn["shard-0"] = seenLease{counter: ls[0].Counter, since: now.Add(-time.Minute)}
	p = b.plan(ls, sn, map[string]bool{}, now)
	if got := keys(p.take); !slices.Equal(got, []string{"shard-0"}) {
		t.Errorf("take %v, want [shard-0]", got)
	}
}
