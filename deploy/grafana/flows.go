package grafana

import "strconv"

// The flow dashboards filter by job (one vpcflow deployment) and vpc_id.
const (
	flowSel = `job=~"$job",vpc_id=~"$vpc_id"`
	jobSel  = `job=~"$job"`
)

func flowVars() []Variable {
	return []Variable{
		datasourceVar(),
		queryVar("job", "Deployment", "label_values(vpcflow_flows_total, job)"),
		queryVar("vpc_id", "VPC", `label_values(vpcflow_flows_total{job=~"$job"}, vpc_id)`),
	}
}

// rate of a flow counter, summed by the given labels ("" for a total).
func flowRate(metric, extra, by string) string {
	sel := flowSel
	if extra != "" {
		sel += "," + extra
	}
	if by == "" {
		return "sum(rate(" + metric + "{" + sel + "}[$__rate_interval]))"
	}
	return "sum by (" + by + ") (rate(" + metric + "{" + sel + "}[$__rate_interval]))"
}

// flowTotal is the increase of a flow counter over the dashboard's range.
func flowTotal(metric, extra, by string) string {
	sel := flowSel
	if extra != "" {
		sel += "," + extra
	}
	if by == "" {
		return "sum(increase(" + metric + "{" + sel + "}[$__range]))"
	}
	return "sum by (" + by + ") (increase(" + metric + "{" + sel + "}[$__range]))"
}

func topk(n int, expr string) string {
	return "topk(" + strconv.Itoa(n) + ", " + expr + ")"
}

const (
	accepted = `action="ACCEPT"`
	rejected = `action="REJECT"`
	inbound  = `direction="inbound"`
	outbound = `direction="outbound"`
)

// securityOverview rebuilds "Amazon VPC Flow Logs - Security Monitoring
// Overview": how much is rejected, where it comes in, what it aims at.
func securityOverview() *Dashboard {
	b := &builder{}
	b.row("Overview")
	b.stat("Flows", "Flow records in the time range.", "short", nil, q{flowTotal("vpcflow_flows_total", "", ""), ""})
	b.stat("Rejected flows", "Flows that a security group or network ACL rejected.", "short", nil,
		q{flowTotal("vpcflow_flows_total", rejected, ""), ""})
	b.stat("Reject ratio", "Rejected flows / all flows with an action.", "percentunit", steps(0.05, 0.2),
		q{flowTotal("vpcflow_flows_total", rejected, "") + " / " + flowTotal("vpcflow_flows_total", `action=~"ACCEPT|REJECT"`, ""), ""})
	b.stat("Rejected bytes", "Bytes of rejected flows.", "bytes", nil, q{flowTotal("vpcflow_flow_bytes_total", rejected, ""), ""})
	b.stat("Inbound rejects", "Rejected flows towards the interfaces: probes and scans from outside.", "short", nil,
		q{flowTotal("vpcflow_flows_total", rejected+","+inbound, ""), ""})
	b.stat("SKIPDATA records", "Intervals in which AWS skipped flow records: the flow logs are incomplete there.", "short", steps(1, 10),
		q{flowTotal("vpcflow_flow_skipdata_total", "", ""), ""})

	b.row("Rejected traffic")
	b.timeseries("Accepted and rejected flows", "Flows per second by action.", "cps", 12, false,
		q{flowRate("vpcflow_flows_total", `action=~"ACCEPT|REJECT"`, "action"), "{{action}}"})
	b.timeseries("Rejected flows by direction", "Inbound rejects are traffic that reached the VPC and was refused; outbound rejects are instances trying to reach what they may not.", "cps", 12, true,
		q{flowRate("vpcflow_flows_total", rejected, "direction"), "{{direction}}"})
	b.bars("Top rejected destination ports", "Destination ports of rejected flows in the time range (always-tracked ports plus the first ports seen; the rest is \"other\").", "short", 8,
		q{topk(15, `sum by (dstport) (increase(vpcflow_flow_rejected_dstport_total{`+jobSel+`}[$__range]))`), "{{dstport}}"})
	b.pie("Rejected flows by protocol", "", "short", 8, q{flowTotal("vpcflow_flows_total", rejected, "protocol"), "{{protocol}}"})
	b.bars("VPCs with the most rejected flows", "", "short", 8, q{topk(10, flowTotal("vpcflow_flows_total", rejected, "vpc_id")), "{{vpc_id}}"})
	b.timeseries("Rejected destination ports over time", "Rejected flows per second for the ten busiest ports.", "cps", 24, true,
		q{topk(10, `sum by (dstport) (rate(vpcflow_flow_rejected_dstport_total{`+jobSel+`}[$__rate_interval]))`), "port {{dstport}}"})

	b.row("Data quality")
	b.timeseries("SKIPDATA and NODATA records", "SKIPDATA: AWS skipped records during an aggregation interval (capacity or internal error). NODATA: no traffic on the interface.", "cps", 24, false,
		q{flowRate("vpcflow_flow_skipdata_total", "", "vpc_id"), "SKIPDATA {{vpc_id}}"},
		q{flowRate("vpcflow_flow_nodata_total", "", "vpc_id"), "NODATA {{vpc_id}}"})
	return newDashboard("vpcflow-security-overview", "VPC Flow Logs - Security Monitoring Overview",
		"Rejected traffic, targeted ports and protocols, and flow-log completeness, from the flow_metrics stage of vpcflow.",
		[]string{"vpc-flow-logs", "security"}, flowVars(), b.panels)
}

// acceptsRejects rebuilds "Amazon VPC Flow Logs - Accepts & Rejects".
func acceptsRejects() *Dashboard {
	b := &builder{}
	b.row("Totals")
	b.stat("Accepted flows", "", "short", nil, q{flowTotal("vpcflow_flows_total", accepted, ""), ""})
	b.stat("Rejected flows", "", "short", nil, q{flowTotal("vpcflow_flows_total", rejected, ""), ""})
	b.stat("Accepted bytes", "", "bytes", nil, q{flowTotal("vpcflow_flow_bytes_total", accepted, ""), ""})
	b.stat("Rejected bytes", "", "bytes", nil, q{flowTotal("vpcflow_flow_bytes_total", rejected, ""), ""})
	b.stat("Accepted packets", "", "short", nil, q{flowTotal("vpcflow_flow_packets_total", accepted, ""), ""})
	b.stat("Rejected packets", "", "short", nil, q{flowTotal("vpcflow_flow_packets_total", rejected, ""), ""})

	b.row("Over time")
	b.timeseries("Flows by action", "", "cps", 8, false, q{flowRate("vpcflow_flows_total", `action=~"ACCEPT|REJECT"`, "action"), "{{action}}"})
	b.timeseries("Bytes by action", "", "Bps", 8, false, q{flowRate("vpcflow_flow_bytes_total", "", "action"), "{{action}}"})
	b.timeseries("Packets by action", "", "pps", 8, false, q{flowRate("vpcflow_flow_packets_total", "", "action"), "{{action}}"})
	b.pie("Accepts and rejects (flows)", "", "short", 6, q{flowTotal("vpcflow_flows_total", `action=~"ACCEPT|REJECT"`, "action"), "{{action}}"})
	b.pie("Accepts and rejects (bytes)", "", "bytes", 6, q{flowTotal("vpcflow_flow_bytes_total", "", "action"), "{{action}}"})
	b.pie("Accepted flows by protocol", "", "short", 6, q{flowTotal("vpcflow_flows_total", accepted, "protocol"), "{{protocol}}"})
	b.pie("Rejected flows by protocol", "", "short", 6, q{flowTotal("vpcflow_flows_total", rejected, "protocol"), "{{protocol}}"})

	b.row("By VPC")
	b.timeseries("Rejected flows by VPC", "The ten VPCs with the most rejects.", "cps", 12, true,
		q{topk(10, flowRate("vpcflow_flows_total", rejected, "vpc_id")), "{{vpc_id}}"})
	b.timeseries("Reject ratio by VPC", "Rejected / all flows, per VPC.", "percentunit", 12, false,
		q{flowRate("vpcflow_flows_total", rejected, "vpc_id") + " / " + flowRate("vpcflow_flows_total", `action=~"ACCEPT|REJECT"`, "vpc_id"), "{{vpc_id}}"})
	b.bars("VPCs with the most accepted bytes", "", "bytes", 12, q{topk(10, flowTotal("vpcflow_flow_bytes_total", accepted, "vpc_id")), "{{vpc_id}}"})
	b.bars("VPCs with the most rejected bytes", "", "bytes", 12, q{topk(10, flowTotal("vpcflow_flow_bytes_total", rejected, "vpc_id")), "{{vpc_id}}"})
	return newDashboard("vpcflow-accepts-rejects", "VPC Flow Logs - Accepts & Rejects",
		"Accepted and rejected flows, bytes and packets by VPC and protocol, from the flow_metrics stage of vpcflow.",
		[]string{"vpc-flow-logs"}, flowVars(), b.panels)
}

// trafficDirection rebuilds "Amazon VPC Flow Logs - Traffic Direction
// Monitoring". Direction comes from ENI enrichment (inbound, outbound,
// internal) or the flow-direction field of version 5 logs.
func trafficDirection() *Dashboard {
	b := &builder{}
	b.row("Totals")
	b.stat("Inbound bytes", "", "bytes", nil, q{flowTotal("vpcflow_flow_bytes_total", inbound, ""), ""})
	b.stat("Outbound bytes", "", "bytes", nil, q{flowTotal("vpcflow_flow_bytes_total", outbound, ""), ""})
	b.stat("Internal bytes", "Traffic between addresses of the same VPC.", "bytes", nil, q{flowTotal("vpcflow_flow_bytes_total", `direction="internal"`, ""), ""})
	b.stat("Inbound flows", "", "short", nil, q{flowTotal("vpcflow_flows_total", inbound, ""), ""})
	b.stat("Outbound flows", "", "short", nil, q{flowTotal("vpcflow_flows_total", outbound, ""), ""})
	b.stat("Flows without direction", "Neither enrichment nor a flow-direction field gave a direction: enable eni_enrich or log version 5 fields.", "short", steps(1, 1e9),
		q{flowTotal("vpcflow_flows_total", `direction="unknown",log_status!~"NODATA|SKIPDATA"`, ""), ""})

	b.row("Traffic by direction")
	b.timeseries("Bytes by direction", "", "Bps", 12, true, q{flowRate("vpcflow_flow_bytes_total", "", "direction"), "{{direction}}"})
	b.timeseries("Packets by direction", "", "pps", 12, true, q{flowRate("vpcflow_flow_packets_total", "", "direction"), "{{direction}}"})
	b.timeseries("Inbound flows by action", "", "cps", 12, false, q{flowRate("vpcflow_flows_total", inbound, "action"), "{{action}}"})
	b.timeseries("Outbound flows by action", "", "cps", 12, false, q{flowRate("vpcflow_flows_total", outbound, "action"), "{{action}}"})
	b.pie("Bytes by direction", "", "bytes", 8, q{flowTotal("vpcflow_flow_bytes_total", "", "direction"), "{{direction}}"})
	b.pie("Inbound bytes by protocol", "", "bytes", 8, q{flowTotal("vpcflow_flow_bytes_total", inbound, "protocol"), "{{protocol}}"})
	b.pie("Outbound bytes by protocol", "", "bytes", 8, q{flowTotal("vpcflow_flow_bytes_total", outbound, "protocol"), "{{protocol}}"})

	b.row("By VPC")
	b.bars("VPCs receiving the most bytes", "", "bytes", 12, q{topk(10, flowTotal("vpcflow_flow_bytes_total", inbound, "vpc_id")), "{{vpc_id}}"})
	b.bars("VPCs sending the most bytes", "Large outbound volumes can be data leaving the VPC.", "bytes", 12, q{topk(10, flowTotal("vpcflow_flow_bytes_total", outbound, "vpc_id")), "{{vpc_id}}"})
	b.timeseries("Outbound bytes by VPC", "", "Bps", 24, true, q{topk(10, flowRate("vpcflow_flow_bytes_total", outbound, "vpc_id")), "{{vpc_id}}"})
	return newDashboard("vpcflow-traffic-direction", "VPC Flow Logs - Traffic Direction Monitoring",
		"Inbound, outbound and internal traffic by VPC, action and protocol, from the flow_metrics stage of vpcflow.",
		[]string{"vpc-flow-logs"}, flowVars(), b.panels)
}
