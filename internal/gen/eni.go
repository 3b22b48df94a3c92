package gen

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
)

// ENI is one network interface of the synthetic estate. A stand-in EC2
// serves the same interfaces from NewENIPool, so enrichment finds what the
// generator wrote.
type ENI struct {
	ID         string // eni-0123456789abcdef0
	Account    string // 12 digits
	Region     string
	VPCID      string
	SubnetID   string
	AZ         string // availability zone name, e.g. us-east-1a
	AZID       string // availability zone id, e.g. use1-az1
	InstanceID string // "" for interfaces without an instance
	Type       string // EC2 InterfaceType: interface, natGateway, lambda, …
	// PrivateIPs holds the private IPv4 addresses, primary first.
	PrivateIPs []netip.Addr
	// IPv6 holds the interface's IPv6 addresses (may be empty).
	IPv6           []netip.Addr
	SecurityGroups []string
	// SubnetCIDR and VPCCIDR are the IPv4 ranges of the subnet and VPC.
	SubnetCIDR netip.Prefix
	VPCCIDR    netip.Prefix
}

// Topology constants: each account has vpcsPerAccount VPCs of
// subnetsPerVPC subnets, one per availability zone.
const (
	vpcsPerAccount = 2
	subnetsPerVPC  = 3
)

func (c *Config) defaults() {
	if c.Format == "" {
		c.Format = "default"
	}
	if c.ENIs <= 0 {
		c.ENIs = 50
	}
	if c.Accounts <= 0 {
		c.Accounts = 1
	}
	if c.Accounts > 128 {
		c.Accounts = 128 // 10.0.0.0/8 holds 128 accounts of two /16 VPCs
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
}

// subnetHosts is the highest host number given out in a /20 subnet: AWS
// reserves the first four addresses and the last.
const subnetHosts = 4094

// NewENIPool returns the interfaces lines are drawn from, a pure function
// of cfg.Seed, cfg.ENIs, cfg.Accounts and cfg.Region. Interfaces are
// spread round-robin over accounts, VPCs and subnets; VPC v of account a
// is 10.(a*2+v).0.0/16 and its subnet s is 10.(a*2+v).(16*s).0/20 in zone
// s (a, b, c), so addresses stay unique up to about 24000 interfaces per
// account.
func NewENIPool(cfg Config) []ENI {
	cfg.defaults()
	r := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x656e69706f6f6c)) // "enipool"
	accounts := make([]string, cfg.Accounts)
	for i := range accounts {
		accounts[i] = fmt.Sprintf("%012d", 100000000000+r.Int64N(899999999999))
	}
	type subnet struct {
		id     string
		cidr   netip.Prefix
		v6     netip.Prefix
		hasV6  bool
		next   int
		az     string
		azid   string
		vpc    string
		vpcNet netip.Prefix
		sgs    []string
	}
	nv := cfg.Accounts * vpcsPerAccount
	subnets := make([]subnet, 0, nv*subnetsPerVPC)
	short := regionShort(cfg.Region)
	for v := range nv {
		vpcID := "vpc-" + hexID(r, 17)
		vpcNet := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(v), 0, 0}), 16)
		v6base := uint16(r.Uint32())
		sgs := make([]string, 5)
		for i := range sgs {
			sgs[i] = "sg-" + hexID(r, 17)
		}
		for s := range subnetsPerVPC {
			var v6 [16]byte
			copy(v6[:], []byte{0x26, 0x00, 0x1f, 0x18, byte(v6base >> 8), byte(v6base), byte(v), byte(s)})
			subnets = append(subnets, subnet{
				id:     "subnet-" + hexID(r, 17),
				cidr:   netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(v), byte(s * 16), 0}), 20),
				v6:     netip.PrefixFrom(netip.AddrFrom16(v6), 64),
				hasV6:  v%2 == 0 || s == 0,
				next:   4, // .0-.3 are reserved by AWS
				az:     cfg.Region + string(rune('a'+s)),
				azid:   fmt.Sprintf("%s-az%d", short, s+1),
				vpc:    vpcID,
				vpcNet: vpcNet,
				sgs:    sgs,
			})
		}
	}
	enis := make([]ENI, cfg.ENIs)
	for i := range enis {
		// Round-robin over VPCs first, so accounts and VPCs all get
		// interfaces, then over the subnets of the VPC.
		v := i % nv
		s := (i / nv) % subnetsPerVPC
		sn := &subnets[v*subnetsPerVPC+s]
		e := &enis[i]
		e.ID = "eni-" + hexID(r, 17)
		e.Account = accounts[v/vpcsPerAccount]
		e.Region = cfg.Region
		e.VPCID = sn.vpc
		e.SubnetID = sn.id
		e.AZ = sn.az
		e.AZID = sn.azid
		e.SubnetCIDR = sn.cidr
		e.VPCCIDR = sn.vpcNet
		switch p := r.IntN(100); {
		case p < 80:
			e.Type = "interface"
			e.InstanceID = "i-" + hexID(r, 17)
		case p < 85:
			e.Type = "natGateway"
		case p < 90:
			e.Type = "network_load_balancer"
		case p < 95:
			e.Type = "lambda"
		default:
			e.Type = "vpc_endpoint"
		}
		nips := 1
		if r.IntN(4) == 0 {
			nips += 1 + r.IntN(2)
		}
		for range nips {
			host := sn.next
			sn.next++
			if host > subnetHosts { // subnet full: wrap (duplicates are tolerable)
				host = 4 + (host-4)%(subnetHosts-3)
			}
			base := sn.cidr.Addr().As4()
			base[2] += byte(host >> 8)
			base[3] = byte(host)
			e.PrivateIPs = append(e.PrivateIPs, netip.AddrFrom4(base))
		}
		if sn.hasV6 && r.IntN(10) < 6 {
			a := sn.v6.Addr().As16()
			for k := 8; k < 16; k++ {
				a[k] = byte(r.Uint32())
			}
			e.IPv6 = append(e.IPv6, netip.AddrFrom16(a))
		}
		ng := 1 + r.IntN(3)
		perm := r.Perm(len(sn.sgs))
		for _, k := range perm[:ng] {
			e.SecurityGroups = append(e.SecurityGroups, sn.sgs[k])
		}
	}
	return enis
}

const hexDigits = "0123456789abcdef"

func hexID(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = hexDigits[r.IntN(16)]
	}
	return string(b)
}

// regionShort returns the zone-id prefix of a region: us-east-1 → use1,
// ap-southeast-2 → apse2.
func regionShort(region string) string {
	parts := strings.Split(region, "-")
	if len(parts) != 3 {
		return region
	}
	dir := parts[1]
	switch dir {
	case "east", "west", "north", "south", "central":
		dir = dir[:1]
	case "southeast":
		dir = "se"
	case "northeast":
		dir = "ne"
	case "northwest":
		dir = "nw"
	case "southwest":
		dir = "sw"
	}
	return parts[0] + dir + parts[2]
}
