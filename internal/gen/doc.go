// Package gen generates synthetic VPC flow logs: the engine behind
// `vpcflow gen`, the test corpus and the benchmarks.
//
// Output is deterministic for a given Config (Seed included; Start fixes
// the clock). Lines are drawn from a pool of network interfaces
// (NewENIPool) spread over accounts, VPCs and subnets, with a realistic
// mix: ACCEPT and REJECT, TCP, UDP and ICMP, well-known and ephemeral
// ports, outbound flows (srcaddr is the interface) and inbound ones
// (dstaddr is), private traffic within a subnet and across subnets,
// traffic to and from public addresses, IPv6, secondary private
// addresses, and some NODATA and SKIPDATA records. Every line parses with
// processor/parse in the format it was written in.
package gen
