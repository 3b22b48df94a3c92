package cidrfilter

import (
	"bytes"
	"context"
	"net/netip"
	"strings"

	"github.com/gaissmai/bart"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// The rules, in the order they are tried.
const (
	ruleBoth = iota
	ruleEither
	ruleKeep
	rulePrefix
	numRules
	keep = -1
)

var ruleNames = [numRules]string{"drop_when_both_in", "drop_when_either_in", "keep_when_either_in", "prefix_strings"}

// Stage is the cidr_filter stage. It is immutable after New and safe for
// concurrent use.
type Stage struct {
	both, either, keepIn *bart.Lite // nil when the rule is not configured
	packet               bool
	prefixes             [][]byte
	metrics              *metrics
}

var _ component.Stage = (*Stage)(nil)

// New builds the stage from cfg, which must be valid.
func New(cfg Config, set component.Settings) (*Stage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	set = set.Normalize()
	s := &Stage{packet: cfg.Addresses == "packet"}
	s.both = table(cfg.DropWhenBothIn)
	s.either = table(cfg.DropWhenEitherIn)
	s.keepIn = table(cfg.KeepWhenEitherIn)
	for _, p := range cfg.PrefixStrings {
		if p = strings.TrimSpace(p); p != "" {
			s.prefixes = append(s.prefixes, []byte(p))
			if strings.Contains(p, "/") {
				set.Logger.Warn("prefix_strings item is matched as text, as the Lambda did, and a CIDR never matches; use drop_when_both_in for CIDRs", "item", p)
			}
		}
	}
	m, err := newMetrics(set.Registerer, set.ID)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	return s, nil
}

func table(cidrs []string) *bart.Lite {
	if len(cidrs) == 0 {
		return nil
	}
	t := new(bart.Lite)
	for _, c := range cidrs {
		p, _ := parsePrefix(c) // validated
		t.Insert(p)
	}
	return t
}

// Process removes the records a rule drops, keeping the order of the rest.
func (s *Stage) Process(_ context.Context, b *flowlog.Batch) error {
	var dropped [numRules]int
	// Kept records move down in runs (one copy per run, not per record),
	// keeping their order.
	out, run := 0, 0 // run: start of the kept records not yet moved
	for i := range b.Records {
		if rule := s.Match(&b.Records[i]); rule != keep {
			dropped[rule]++
			if run < i {
				if out != run {
					copy(b.Records[out:], b.Records[run:i])
				}
				out += i - run
			}
			run = i + 1
		}
	}
	if n := len(b.Records); run < n {
		if out != run {
			copy(b.Records[out:], b.Records[run:n])
		}
		out += n - run
	}
	clear(b.Records[out:])
	b.Records = b.Records[:out]
	for i, n := range dropped {
		if n > 0 {
			s.metrics.dropped[i].Add(float64(n))
		}
	}
	return nil
}

// Match returns the index of the first rule that drops r, or -1 to keep
// it.
func (s *Stage) Match(r *flowlog.Record) int {
	var (
		src, dst   netip.Addr
		hasS, hasD bool
		srcF, dstF = flowlog.FSrcAddr, flowlog.FDstAddr
	)
	if s.packet {
		srcF, dstF = flowlog.FPktSrcAddr, flowlog.FPktDstAddr
		src, dst = r.PktSrcAddr, r.PktDstAddr
	} else {
		src, dst = r.SrcAddr, r.DstAddr
	}
	hasS, hasD = r.Present.Has(srcF), r.Present.Has(dstF)
	if !hasS && !hasD {
		return keep
	}
	if src.Is4In6() {
		src = src.Unmap()
	}
	if dst.Is4In6() {
		dst = dst.Unmap()
	}
	if s.both != nil && hasS && hasD && s.both.Contains(src) && s.both.Contains(dst) {
		return ruleBoth
	}
	if s.either != nil && (hasS && s.either.Contains(src) || hasD && s.either.Contains(dst)) {
		return ruleEither
	}
	if s.keepIn != nil && !(hasS && s.keepIn.Contains(src) || hasD && s.keepIn.Contains(dst)) {
		return ruleKeep
	}
	if s.prefixes != nil && hasS && hasD && s.hasPrefix(r.Text(srcF)) && s.hasPrefix(r.Text(dstF)) {
		return rulePrefix
	}
	return keep
}

// hasPrefix reports whether text starts with one of the prefix strings:
// the Lambda's String.startsWith, textual, not CIDR.
func (s *Stage) hasPrefix(text []byte) bool {
	for _, p := range s.prefixes {
		if bytes.HasPrefix(text, p) {
			return true
		}
	}
	return false
}
