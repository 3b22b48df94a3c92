// Package flowmetrics is the flow_metrics stage: it turns the flows that
// pass through it into Prometheus counters, so that the dashboards of a
// flow-log analytics app (accepted and rejected traffic, traffic by
// direction and protocol, rejected destination ports, SKIPDATA) can be
// built on Prometheus instead of a log search.
//
//	stages:
//	  flow_metrics:
//	    type: flow_metrics
//	    inputs: [eni]
//	    max_vpcs: 100
//	    max_rejected_dstports: 100
//
// The stage never changes, drops or fails a record: every record of a
// batch is passed on unchanged, in order.
//
// # Metrics
//
//	vpcflow_flows_total{stage,vpc_id,action,direction,protocol,log_status}
//	vpcflow_flow_packets_total{stage,vpc_id,action,direction,protocol}
//	vpcflow_flow_bytes_total{stage,vpc_id,action,direction,protocol}
//	vpcflow_flow_nodata_total{stage,vpc_id}
//	vpcflow_flow_skipdata_total{stage,vpc_id}
//	vpcflow_flow_rejected_dstport_total{stage,dstport}
//	vpcflow_flow_label_overflow_total{stage,label}
//
// Label values:
//   - action: ACCEPT, REJECT, or unknown when the record has none (NODATA
//     and SKIPDATA records, formats without action).
//   - direction: inbound, outbound or internal as set by enrichment; when
//     enrichment did not set one, the record's flow-direction field
//     (ingress → inbound, egress → outbound); otherwise unknown.
//   - protocol: tcp (6), udp (17), icmp (1), icmpv6 (58), other for any
//     other IANA number, unknown when the record has none.
//   - vpc_id: the record's vpc-id field, or the VPC of its network
//     interface from enrichment; unknown when neither is known.
//   - log_status: OK, NODATA, SKIPDATA, or unknown when absent.
//   - dstport: the destination port of rejected flows, as a number.
//
// # Bounded cardinality
//
// vpc_id and dstport come from the data, so their label values are
// bounded. The first max_vpcs distinct VPC ids the stage sees get their
// own label value; the VPCs seen after them are counted as "other". Ports
// listed in always_track_dstports (by default the ports that scanners and
// intruders probe most: SSH, RDP, SMB, databases, …) always have their own
// label value; besides them the first max_rejected_dstports distinct
// ports of rejected flows get one, and later ones are counted as "other".
// Admission is first seen, first admitted, and admitted values keep their
// series for the life of the process, so counters never reset under a
// running rate(). vpcflow_flow_label_overflow_total counts records folded
// into "other", telling an operator to raise a limit. With the defaults a
// stage exposes at most a few tens of thousands of series in theory and a
// few hundred in practice (most combinations never occur).
//
// # Cost
//
// Records are aggregated per batch in a small local table, and the
// counters are updated once per batch and distinct label set, so the
// cost per record is a few table look-ups and no allocation.
package flowmetrics
