package ec2stub

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// Synthetic returns n made-up interfaces of account in region, for
// development runs and benchmarks. Interface i (id SyntheticID(i)) sits in
// subnet s = i/250 (250 interfaces a subnet, 16 subnets a VPC) with the
// primary address 10.<s/256>.<s%256>.<4+i%250> (SyntheticAddr), a secondary
// IPv4 in 100.64.0.0/10 every 4th interface, one IPv6 address, one or two
// security groups, an instance every other interface and a Name tag.
func Synthetic(account, region string, n int) []*flowlog.ENI {
	out := make([]*flowlog.ENI, 0, n)
	for i := range n {
		subnet := i / 250
		host := 4 + i%250
		a := SyntheticAddr(i)
		e := &flowlog.ENI{
			InterfaceID:      SyntheticID(i),
			AccountID:        account,
			Region:           region,
			VPCID:            fmt.Sprintf("vpc-%017x", subnet/16),
			SubnetID:         fmt.Sprintf("subnet-%017x", subnet),
			AvailabilityZone: region + string(rune('a'+subnet%3)),
			InterfaceType:    "interface",
			SecurityGroupIDs: []string{fmt.Sprintf("sg-%017x", i%97)},
			Addresses:        []netip.Addr{a},
			Tags:             map[string]string{"Name": fmt.Sprintf("synthetic-%d", i)},
		}
		if i%4 == 0 {
			e.Addresses = append(e.Addresses, netip.AddrFrom4([4]byte{100, 64 + byte(subnet>>8&63), byte(subnet), byte(host)}))
		}
		e.Addresses = append(e.Addresses, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, byte(subnet >> 8), byte(subnet), 14: byte(host >> 8), 15: byte(host)}))
		if i%3 == 0 {
			e.SecurityGroupIDs = append(e.SecurityGroupIDs, fmt.Sprintf("sg-%017x", 1000+i%13))
		}
		if i%2 == 0 {
			e.InstanceID = fmt.Sprintf("i-%017x", i)
		}
		out = append(out, e)
	}
	return out
}

// SyntheticAddr returns the primary address of Synthetic's i-th interface.
func SyntheticAddr(i int) netip.Addr {
	subnet := i / 250
	return netip.AddrFrom4([4]byte{10, byte(subnet >> 8), byte(subnet), byte(4 + i%250)})
}

// SyntheticID returns the interface id of Synthetic's i-th interface: 17
// hex digits, the first i%16 (as evenly spread as real ids' first digit),
// then i/16.
func SyntheticID(i int) string { return fmt.Sprintf("eni-%x%016x", i%16, i/16) }

// SyntheticIndex returns i for SyntheticID(i), and false for any other id.
func SyntheticIndex(id string) (int, bool) {
	if len(id) != 21 || !strings.HasPrefix(id, "eni-") {
		return 0, false
	}
	lo, err1 := strconv.ParseUint(id[4:5], 16, 8)
	hi, err2 := strconv.ParseUint(id[5:], 16, 63)
	if err1 != nil || err2 != nil || hi > math.MaxInt/16 {
		return 0, false
	}
	i := int(hi)*16 + int(lo)
	return i, SyntheticID(i) == id
}
