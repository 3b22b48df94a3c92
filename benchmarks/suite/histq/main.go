// Command histq computes quantiles of a Prometheus histogram between two
// scrapes of a /metrics page (text format), with the interpolation
// Prometheus' histogram_quantile uses: linear within the bucket the rank
// falls in, the first bucket starting at 0, a rank in the +Inf bucket
// answered with the highest finite bound.
//
//	histq -metric vpcflow_pipeline_batch_latency_seconds before.txt after.txt [before2.txt after2.txt …]
//
// Several pairs (several processes) are summed bucket by bucket. It prints
// "count=<n> p50=<s> p90=<s> p99=<s>".
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

// buckets maps an upper bound to its cumulative count.
type buckets map[float64]float64

func read(path, metric string) (buckets, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := buckets{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	prefix := metric + "_bucket{"
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		i := strings.Index(line, `le="`)
		if i < 0 {
			continue
		}
		rest := line[i+4:]
		j := strings.IndexByte(rest, '"')
		if j < 0 {
			continue
		}
		le, err := strconv.ParseFloat(rest[:j], 64) // "+Inf" parses as +Inf
		if err != nil {
			return nil, fmt.Errorf("%s: bound %q: %w", path, rest[:j], err)
		}
		fields := strings.Fields(rest[j:])
		if len(fields) < 2 {
			continue
		}
		v, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			return nil, fmt.Errorf("%s: value %q: %w", path, fields[1], err)
		}
		b[le] += v // label sets other than le are summed
	}
	return b, sc.Err()
}

// quantile is Prometheus' bucketQuantile over cumulative buckets sorted by
// upper bound, the last one +Inf.
func quantile(q float64, bounds, counts []float64) float64 {
	if len(bounds) < 2 || !math.IsInf(bounds[len(bounds)-1], 1) {
		return math.NaN()
	}
	total := counts[len(counts)-1]
	if total == 0 {
		return math.NaN()
	}
	rank := q * total
	b := sort.Search(len(counts)-1, func(i int) bool { return counts[i] >= rank })
	if b == len(bounds)-1 {
		return bounds[len(bounds)-2]
	}
	if b == 0 && bounds[0] <= 0 {
		return bounds[0]
	}
	start, end, count := 0.0, bounds[b], counts[b]
	if b > 0 {
		start = bounds[b-1]
		count -= counts[b-1]
		rank -= counts[b-1]
	}
	return start + (end-start)*(rank/count)
}

func main() {
	metric := flag.String("metric", "vpcflow_pipeline_batch_latency_seconds", "histogram name")
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 || len(args)%2 != 0 {
		fmt.Fprintln(os.Stderr, "usage: histq [-metric name] before after [before after …]")
		os.Exit(2)
	}
	sum := buckets{}
	for i := 0; i < len(args); i += 2 {
		before, err := read(args[i], *metric)
		if err != nil {
			fmt.Fprintln(os.Stderr, "histq:", err)
			os.Exit(1)
		}
		after, err := read(args[i+1], *metric)
		if err != nil {
			fmt.Fprintln(os.Stderr, "histq:", err)
			os.Exit(1)
		}
		for le, v := range after {
			sum[le] += v - before[le]
		}
	}
	bounds := make([]float64, 0, len(sum))
	for le := range sum {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	counts := make([]float64, len(bounds))
	for i, le := range bounds {
		counts[i] = sum[le]
	}
	total := 0.0
	if len(counts) > 0 {
		total = counts[len(counts)-1]
	}
	fmt.Printf("count=%.0f p50=%.4f p90=%.4f p99=%.4f\n", total,
		quantile(0.5, bounds, counts), quantile(0.9, bounds, counts), quantile(0.99, bounds, counts))
}
