package cidrfilter

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Config configures the cidr_filter stage.
type Config struct {
	// DropWhenBothIn drops records whose source and destination addresses
	// are both inside one of these prefixes (CIDRs or single addresses,
	// IPv4 and IPv6 mixed).
	DropWhenBothIn []string `yaml:"drop_when_both_in"`
	// DropWhenEitherIn drops records with either address inside.
	DropWhenEitherIn []string `yaml:"drop_when_either_in"`
	// KeepWhenEitherIn, when set, keeps only records with an address
	// inside (and records without addresses).
	KeepWhenEitherIn []string `yaml:"keep_when_either_in"`
	// Addresses picks the addresses the rules look at: "flow" (srcaddr,
	// dstaddr; the default) or "packet" (pkt-srcaddr, pkt-dstaddr, the
	// addresses of the packet before NAT).
	Addresses string `yaml:"addresses"`
	// PrefixStrings are the Sumo Logic Lambda's VPC_CIDR_PREFIX values
	// (the env var split on ","): textual prefixes of the address text.
	// Items are trimmed and empty items ignored, as the Lambda does.
	PrefixStrings []string `yaml:"prefix_strings"`
}

// NewDefaultConfig returns a configuration that drops nothing and looks at
// the flow addresses (srcaddr, dstaddr), what the Lambda's VPC_CIDR_PREFIX
// looked at.
func NewDefaultConfig() *Config {
	return &Config{Addresses: "flow"}
}

// Validate checks every prefix and the addresses key, reporting every
// problem at once.
func (c *Config) Validate() error {
	var errs []error
	for _, l := range []struct {
		key  string
		vals []string
	}{
		{"drop_when_both_in", c.DropWhenBothIn},
		{"drop_when_either_in", c.DropWhenEitherIn},
		{"keep_when_either_in", c.KeepWhenEitherIn},
	} {
		for i, v := range l.vals {
			if _, err := parsePrefix(v); err != nil {
				errs = append(errs, fmt.Errorf("%s[%d]: %w", l.key, i, err))
			}
		}
	}
	switch c.Addresses {
	case "", "flow", "packet":
	default:
		errs = append(errs, fmt.Errorf("addresses: must be flow or packet, got %q", c.Addresses))
	}
	return errors.Join(errs...)
}

// parsePrefix parses a CIDR ("10.0.0.0/8", "2600:1f18::/32") or a single
// address (a /32 or /128). Host bits are cleared; IPv4-mapped IPv6
// prefixes are unmapped.
func parsePrefix(s string) (netip.Prefix, error) {
	t := strings.TrimSpace(s)
	if !strings.Contains(t, "/") {
		a, err := netip.ParseAddr(t)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(t)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
	}
	if a := p.Addr(); a.Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q: IPv4-mapped prefix shorter than /96", s)
		}
		p = netip.PrefixFrom(a.Unmap(), bits)
	}
	return p.Masked(), nil
}
