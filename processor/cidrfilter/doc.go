// Package cidrfilter is the cidr_filter stage: it drops flow records by
// the addresses they carry.
//
//	stages:
//	  drop_internal:
//	    type: cidr_filter
//	    inputs: [parse]
//	    drop_when_both_in: ["10.0.0.0/8", "172.16.0.0/12", "fd00::/8"]
//
// Rules, each optional, applied to srcaddr/dstaddr (addresses: flow, the
// default) or to pkt-srcaddr/pkt-dstaddr (addresses: packet):
//
//   - drop_when_both_in: drop when both addresses are inside the set
//     (internal traffic);
//   - drop_when_either_in: drop when either address is inside the set;
//   - keep_when_either_in: keep only records with an address inside the
//     set;
//   - prefix_strings: the Sumo Logic Lambda's VPC_CIDR_PREFIX, reproduced
//     exactly: drop when the text of both addresses, as written in the
//     line, starts with one of the strings (possibly different ones).
//     "10.1" also matches 10.10.x.x and "10.0.0.0/16" matches nothing, as
//     in the Lambda. Unlike the Lambda, the addresses are found by field
//     name rather than by position, so custom formats work.
//
// A record is dropped when any rule says so. Records without addresses
// (NODATA and SKIPDATA, or a format without the address fields) pass
// every rule; a rule about both addresses needs both. IPv4-mapped IPv6
// addresses are matched as IPv4. CIDR lists may mix IPv4 and IPv6 and are
// held in prefix tables (github.com/gaissmai/bart), so look-ups cost the
// same for 3 prefixes or 30000.
//
// Dropped records are removed from the batch (the engine counts them as
// dropped); vpcflow_cidr_filter_dropped_total{stage,rule} says which rule
// dropped them.
package cidrfilter
