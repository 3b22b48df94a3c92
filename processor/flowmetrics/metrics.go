package flowmetrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vpcflow/vpcflow/processor/component"
)

// metrics holds the stage's collectors. Several flow_metrics stages may
// share one registry: the second one reuses the vectors of the first and
// keeps its own series through the stage label.
type metrics struct {
	flows    *prometheus.CounterVec
	packets  *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	nodata   *prometheus.CounterVec
	skipdata *prometheus.CounterVec
	rejected *prometheus.CounterVec

	vpcOverflow  prometheus.Counter
	portOverflow prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, stage string) (*metrics, error) {
	flowLabels := []string{"stage", "vpc_id", "action", "direction", "protocol"}
	var problems []error
	m := &metrics{
		flows: component.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_flows_total",
			Help: "Flow-log records seen by the flow_metrics stage, by VPC (top max_vpcs, the rest \"other\"), action, direction, protocol and log status.",
		}, append(flowLabels, "log_status")), &problems),
		packets: component.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_flow_packets_total",
			Help: "Packets carried by the flows seen by the flow_metrics stage, by VPC, action, direction and protocol.",
		}, flowLabels), &problems),
		bytes: component.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_flow_bytes_total",
			Help: "Bytes carried by the flows seen by the flow_metrics stage, by VPC, action, direction and protocol.",
		}, flowLabels), &problems),
		nodata: component.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_flow_nodata_total",
			Help: "Records with log-status NODATA (no traffic on the interface during the aggregation interval), by VPC.",
		}, []string{"stage", "vpc_id"}), &problems),
		skipdata: component.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_flow_skipdata_total",
			Help: "Records with log-status SKIPDATA (AWS skipped flow records during the aggregation interval), by VPC.",
		}, []string{"stage", "vpc_id"}), &problems),
		rejected: component.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_flow_rejected_dstport_total",
			Help: "Rejected flows by destination port (always_track_dstports plus the first max_rejected_dstports ports seen, the rest \"other\").",
		}, []string{"stage", "dstport"}), &problems),
	}
	overflow := component.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_flow_label_overflow_total",
		Help: "Records whose vpc_id or dstport label was folded into \"other\" because max_vpcs or max_rejected_dstports was reached.",
	}, []string{"stage", "label"}), &problems)
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	m.vpcOverflow = overflow.WithLabelValues(stage, "vpc_id")
	m.portOverflow = overflow.WithLabelValues(stage, "dstport")
	return m, nil
}
