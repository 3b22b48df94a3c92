package eni

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a record passes unenriched (label reason of
// vpcflow_eni_unenriched_records_total).
const (
	reasonNoInterface = "no_interface" // no usable interface-id in the record
	reasonNoRegion    = "no_region"    // no region in the record, its input or the config
	reasonUnknownENI  = "unknown_eni"  // EC2 does not know the interface
	reasonTimeout     = "timeout"      // the look-up took longer than max_wait
	reasonEC2Error    = "ec2_error"    // EC2 failed (after retries) or is backed off
	reasonClosed      = "closed"       // the stage is shutting down
	// reasonInventoryTimeout: the first listing of the record's account
	// and region took longer than inventory_wait.
	reasonInventoryTimeout = "inventory_timeout"
)

// Outcomes of one EC2 call attempt (label outcome of vpcflow_eni_ec2_calls_total).
const (
	outcomeOK          = "ok"
	outcomeThrottled   = "throttled"
	outcomeServerError = "server_error"
	outcomeClientError = "client_error"
	outcomeNetwork     = "network_error"
	outcomeCanceled    = "canceled"
	// outcomeError labels a failed listing (vpcflow_eni_inventory_listings_total).
	outcomeError = "error"
)

// gauges reads what the gauge functions report.
type gauges struct {
	capacity, interfaces, listings, waiting func() float64
}

type metrics struct {
	hits       prometheus.Counter
	misses     prometheus.Counter
	negHits    prometheus.Counter
	evictions  prometheus.Counter
	throttles  prometheus.Counter
	calls      *prometheus.CounterVec
	lookup     prometheus.Histogram
	unenriched *prometheus.CounterVec
	reasons    map[string]prometheus.Counter

	invPages    prometheus.Counter
	invListings *prometheus.CounterVec
	invDuration prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, stage string, size func() (pos, neg int), g gauges) (*metrics, error) {
	cl := prometheus.Labels{"stage": stage}
	m := &metrics{
		hits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vpcflow_eni_cache_hits_total", ConstLabels: cl,
			Help: "Records whose interface was found in the cache.",
		}),
		misses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vpcflow_eni_cache_misses_total", ConstLabels: cl,
			Help: "Records whose interface was not in the cache and had to be looked up.",
		}),
		negHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vpcflow_eni_cache_negative_hits_total", ConstLabels: cl,
			Help: "Records whose interface is cached as unknown to EC2.",
		}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vpcflow_eni_cache_evictions_total", ConstLabels: cl,
			Help: "Cache entries removed: expired, pushed out by size, or replaced by a kind change.",
		}),
		throttles: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vpcflow_eni_ec2_throttles_total", ConstLabels: cl,
			Help: "EC2 calls answered with a throttling error (RequestLimitExceeded, Throttling).",
		}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_eni_ec2_calls_total", ConstLabels: cl,
			Help: "DescribeNetworkInterfaces attempts (each page and retry), by outcome.",
		}, []string{"outcome"}),
		lookup: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vpcflow_eni_lookup_duration_seconds", ConstLabels: cl,
			Help:    "Duration of one coalesced look-up: all pages, retries and rate-limit waits.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		unenriched: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_eni_unenriched_records_total", ConstLabels: cl,
			Help: "Records passed on without enrichment, by reason.",
		}, []string{"reason"}),
		reasons: map[string]prometheus.Counter{},
		invPages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vpcflow_eni_inventory_pages_total", ConstLabels: cl,
			Help: "Pages of inventory listings (DescribeNetworkInterfaces without an id filter) received.",
		}),
		invListings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_eni_inventory_listings_total", ConstLabels: cl,
			Help: "Inventory listings ended, by outcome (ok: every page; error: stopped by an EC2 error).",
		}, []string{"outcome"}),
		invDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vpcflow_eni_inventory_listing_duration_seconds", ConstLabels: cl,
			Help:    "Duration of one inventory listing: every page, retries and rate-limit waits.",
			Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600},
		}),
	}
	for _, r := range []string{reasonNoInterface, reasonNoRegion, reasonUnknownENI, reasonTimeout, reasonEC2Error, reasonClosed, reasonInventoryTimeout} {
		m.reasons[r] = m.unenriched.WithLabelValues(r)
	}
	for _, o := range []string{outcomeOK, outcomeThrottled, outcomeServerError, outcomeClientError, outcomeNetwork, outcomeCanceled} {
		m.calls.WithLabelValues(o)
	}
	gauge := func(kind string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vpcflow_eni_cache_size", ConstLabels: prometheus.Labels{"stage": stage, "kind": kind},
			Help: "Entries in the cache: positive (described interfaces) and negative (unknown to EC2).",
		}, f)
	}
	for _, o := range []string{outcomeOK, outcomeError} {
		m.invListings.WithLabelValues(o)
	}
	gaugeFunc := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, ConstLabels: cl, Help: help}, f)
	}
	cs := []prometheus.Collector{m.hits, m.misses, m.negHits, m.evictions, m.throttles, m.calls, m.lookup, m.unenriched,
		gauge("positive", func() float64 { p, _ := size(); return float64(p) }),
		gauge("negative", func() float64 { _, n := size(); return float64(n) }),
		m.invPages, m.invListings, m.invDuration,
		gaugeFunc("vpcflow_eni_cache_capacity", "Positive entries the cache may hold: cache_size plus the inventories, within max_memory_mib.", g.capacity),
		gaugeFunc("vpcflow_eni_inventory_interfaces", "Interfaces known from the inventories' listings (the last complete one of each, or the one in progress when larger).", g.interfaces),
		gaugeFunc("vpcflow_eni_inventory_listings_in_progress", "Inventory listings running (first listings and refreshes).", g.listings),
		gaugeFunc("vpcflow_eni_inventory_waiting_records", "Records parked in a batch that waits for the first listing of their account and region.", g.waiting),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}
