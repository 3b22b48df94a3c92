package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/vpcflow/vpcflow/enrich/eni/ec2stub"
	"github.com/vpcflow/vpcflow/internal/gen"
	"github.com/vpcflow/vpcflow/processor"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// devPipeline is the graph `vpcflow dev` runs; %s are filled with the
// stand-ins' addresses.
const devPipeline = `
sources:
  flows:
    type: kafka
    brokers: [%q]
    topic: vpc-flow-logs
    group: vpcflow-dev
    start_from: earliest
    payload: auto
stages:
  parse:
    type: parse_flowlog
    inputs: [flows]
    format: default
  drop_internal:
    type: cidr_filter
    inputs: [parse]
    drop_when_both_in: ["10.255.0.0/16"]
  eni:
    type: eni_enrich
    inputs: [drop_internal]
    endpoint: %q
    region: us-east-1
  flow_metrics:
    type: flow_metrics
    inputs: [eni]
sinks:
  sumo:
    type: http
    inputs: [flow_metrics]
    url: "${VPCFLOW_DEV_INTAKE_URL}"
    encoding: sumo_vpc_json
    preset: sumologic
    compression: gzip
  parse_errors:
    type: file
    inputs: [parse.errors]
    path: %q
    encoding: json
telemetry:
  listen: %q
  log_level: warn
  tap: true # vpcflow tap; the data is synthetic
`

// intake is a local HTTP log intake: it counts what it receives.
type intake struct {
	requests atomic.Int64
	records  atomic.Int64
	bytes    atomic.Int64
	mu       sync.Mutex
	sample   string
}

func (in *intake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n := bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	in.requests.Add(1)
	in.records.Add(int64(n))
	in.bytes.Add(int64(len(data)))
	if i := bytes.IndexByte(data, '\n'); i > 0 {
		in.mu.Lock()
		in.sample = string(data[:i])
		in.mu.Unlock()
	}
	w.WriteHeader(http.StatusOK)
}

func cmdDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", 0, "stop after this long (0: until Ctrl-C)")
	rate := fs.Float64("rate", 20000, "synthetic flow-log records per second produced to Kafka")
	enis := fs.Int("enis", 500, "network interfaces in the synthetic ENI table")
	partitions := fs.Int("partitions", 6, "partitions of the in-process Kafka topic")
	listen := fs.String("listen", "127.0.0.1:8080", "address of /metrics, /healthz and /readyz (\"\" for none)")
	every := fs.Duration("every", 3*time.Second, "how often to print progress")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rate <= 0 || *enis <= 0 || *partitions <= 0 {
		return usageError{"--rate, --enis and --partitions must be positive"}
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	// The stand-in EC2 and the SDK need credentials and a region; dev
	// never talks to AWS.
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "dev", "AWS_SECRET_ACCESS_KEY": "dev", "AWS_REGION": "us-east-1"} {
		if os.Getenv(k) == "" {
			os.Setenv(k, v)
		}
	}

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(*partitions), "vpc-flow-logs"))
	if err != nil {
		return fmt.Errorf("in-process kafka: %w", err)
	}
	defer cluster.Close()
	broker := cluster.ListenAddrs()[0]

	genCfg := gen.Config{Format: "default", Rate: *rate, ENIs: *enis, Seed: 1, Region: "us-east-1"}
	pool := gen.NewENIPool(genCfg)
	table := make([]*flowlog.ENI, 0, len(pool))
	for _, e := range pool {
		table = append(table, &flowlog.ENI{
			InterfaceID: e.ID, AccountID: e.Account, Region: e.Region, VPCID: e.VPCID, SubnetID: e.SubnetID,
			AvailabilityZone: e.AZ, InstanceID: e.InstanceID, InterfaceType: e.Type,
			SecurityGroupIDs: e.SecurityGroups, Addresses: append(append([]netip.Addr(nil), e.PrivateIPs...), e.IPv6...),
			Tags: map[string]string{"Name": "dev-" + e.ID[len(e.ID)-6:]},
		})
	}
	ec2 := ec2stub.NewServer(table)
	ec2srv := httptest.NewServer(ec2)
	defer ec2srv.Close()

	in := &intake{}
	intakeSrv := httptest.NewServer(in)
	defer intakeSrv.Close()
	os.Setenv("VPCFLOW_DEV_INTAKE_URL", intakeSrv.URL+"/receiver/v1/http/dev-token")

	errFile, err := os.CreateTemp("", "vpcflow-dev-parse-errors-*.json")
	if err != nil {
		return err
	}
	errFile.Close()
	defer os.Remove(errFile.Name())

	addr := *listen
	if addr != "" {
		if ln, err := net.Listen("tcp", addr); err != nil {
			fmt.Fprintf(stderr, "%s is busy; serving metrics on a free port instead\n", addr)
			addr = "127.0.0.1:0"
		} else {
			ln.Close()
		}
	}
	yamlText := fmt.Sprintf(devPipeline, broker, ec2srv.URL, errFile.Name(), addr)
	cfg, err := processor.ParseConfig([]byte(yamlText), os.LookupEnv)
	if err != nil {
		return err
	}
	if err := processor.Validate(cfg, factories()); err != nil {
		return err
	}

	// Producer: synthetic lines, 100 per Kafka record.
	prodCtx, stopProd := context.WithCancel(ctx)
	defer stopProd()
	prod, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.DefaultProduceTopic("vpc-flow-logs"), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer prod.Close()
	var produced atomic.Int64
	var prodWG sync.WaitGroup
	prodWG.Go(func() {
		w := &kafkaLineWriter{ctx: prodCtx, cl: prod, per: 100, produced: &produced}
		if err := gen.Run(prodCtx, w, genCfg); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintf(stderr, "generator stopped: %v\n", err)
		}
		w.flush()
	})

	fmt.Fprintf(stdout, "vpcflow dev: in-process Kafka at %s (topic vpc-flow-logs, %d partitions), stand-in EC2 at %s (%d ENIs), HTTP intake at %s\n",
		broker, *partitions, ec2srv.URL, len(table), intakeSrv.URL)
	fmt.Fprintf(stdout, "graph: kafka -> parse_flowlog -> cidr_filter -> eni_enrich -> flow_metrics -> http (sumo_vpc_json, gzip); parse errors -> %s\n", errFile.Name())

	var reg *prometheus.Registry
	var regMu sync.Mutex
	statsDone := make(chan struct{})
	var statsWG sync.WaitGroup
	started := func(p *processor.Pipeline, a string, r *prometheus.Registry) {
		regMu.Lock()
		reg = r
		regMu.Unlock()
		if a != "" {
			fmt.Fprintf(stdout, "metrics: http://%s/metrics  health: http://%s/healthz  ready: http://%s/readyz\n", a, a, a)
			fmt.Fprintf(stdout, "watch it: vpcflow top --url %s   records leaving a stage: vpcflow tap eni --limit 5 --url %s\n", a, a)
		}
		statsWG.Go(func() { printStats(stdout, r, in, &produced, *every, statsDone) })
	}
	err = runPipelineWith(ctx, cfg, stderr, started)
	stopProd()
	prodWG.Wait()
	close(statsDone)
	statsWG.Wait()
	regMu.Lock()
	r := reg
	regMu.Unlock()
	if r != nil {
		s := gatherStats(r)
		fmt.Fprintf(stdout, "done: produced %d, read %.0f, delivered %.0f records in %d requests; ENI cache hit ratio %.3f\n",
			produced.Load(), s.in, s.delivered, in.requests.Load(), s.hitRatio())
		in.mu.Lock()
		if in.sample != "" {
			fmt.Fprintf(stdout, "sample delivered record: %s\n", in.sample)
		}
		in.mu.Unlock()
	}
	if err != nil && ctx.Err() != nil {
		return nil
	}
	return err
}

type kafkaLineWriter struct {
	ctx      context.Context
	cl       *kgo.Client
	per      int
	buf      []byte
	lines    int
	rest     []byte
	produced *atomic.Int64
}

func (w *kafkaLineWriter) Write(p []byte) (int, error) {
	n := len(p)
	data := append(w.rest, p...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		w.buf = append(w.buf, data[:i+1]...)
		data = data[i+1:]
		w.lines++
		if w.lines >= w.per {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	w.rest = append(w.rest[:0], data...)
	return n, nil
}

func (w *kafkaLineWriter) flush() error {
	if w.lines == 0 {
		return nil
	}
	rec := &kgo.Record{Value: append([]byte(nil), w.buf...)}
	n := w.lines
	w.buf, w.lines = w.buf[:0], 0
	w.cl.Produce(w.ctx, rec, func(_ *kgo.Record, err error) {
		if err == nil {
			w.produced.Add(int64(n))
		}
	})
	return w.ctx.Err()
}

type devStats struct {
	in, delivered, lag, hits, misses float64
}

func (s devStats) hitRatio() float64 {
	if s.hits+s.misses == 0 {
		return 0
	}
	return s.hits / (s.hits + s.misses)
}

func gatherStats(reg *prometheus.Registry) devStats {
	var s devStats
	mfs, err := reg.Gather()
	if err != nil {
		return s
	}
	for _, mf := range mfs {
		var sum float64
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				sum += c.GetValue()
			} else if g := m.GetGauge(); g != nil {
				sum += g.GetValue()
			}
		}
		switch mf.GetName() {
		case "vpcflow_source_records_in_total":
			s.in = sum
		case "vpcflow_sink_records_delivered_total":
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "sink" && l.GetValue() == "sumo" {
						s.delivered += m.GetCounter().GetValue()
					}
				}
			}
		case "vpcflow_source_lag_records":
			s.lag = sum
		case "vpcflow_eni_cache_hits_total":
			s.hits = sum
		case "vpcflow_eni_cache_misses_total":
			s.misses = sum
		}
	}
	return s
}

func printStats(w io.Writer, reg *prometheus.Registry, in *intake, produced *atomic.Int64, every time.Duration, done <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	prev, prevT := gatherStats(reg), time.Now()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			s := gatherStats(reg)
			secs := now.Sub(prevT).Seconds()
			fmt.Fprintf(w, "%s  in %7.0f rec/s  out %7.0f rec/s  lag %6.0f records  ENI cache hit %5.1f%%  intake %d records / %d requests  (produced %d)\n",
				now.Format("15:04:05"), (s.in-prev.in)/secs, (s.delivered-prev.delivered)/secs, s.lag, 100*s.hitRatio(),
				in.records.Load(), in.requests.Load(), produced.Load())
			prev, prevT = s, now
		}
	}
}
