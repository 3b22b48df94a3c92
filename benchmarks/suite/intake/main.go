// Command intake is the local end of the end-to-end benchmark suite: an
// HTTP log intake that counts the records it receives (gunzip, count
// lines) and an EC2 stand-in (enrich/eni/ec2stub) serving the synthetic
// estate internal/gen draws interfaces from.
//
//	intake -addr 127.0.0.1:19380 -ec2 127.0.0.1:19381 -enis 10000 -seed 7
//
// GET /count answers "<records> <requests> <bytes> <first-unix-nanos> <last-unix-nanos>"
// (the times of the first and the latest request with records since the
// last reset, 0 when none); POST /reset sets everything to zero; any other
// POST is a delivery.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/vpcflow/vpcflow/enrich/eni/ec2stub"
	"github.com/vpcflow/vpcflow/internal/gen"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

type intake struct {
	records  atomic.Int64
	requests atomic.Int64
	bytes    atomic.Int64
	first    atomic.Int64
	last     atomic.Int64
	gzips    sync.Pool
}

func (in *intake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/count" && r.Method == http.MethodGet:
		fmt.Fprintf(w, "%d %d %d %d %d\n", in.records.Load(), in.requests.Load(), in.bytes.Load(), in.first.Load(), in.last.Load())
		return
	case r.URL.Path == "/reset" && r.Method == http.MethodPost:
		in.records.Store(0)
		in.requests.Store(0)
		in.bytes.Store(0)
		in.first.Store(0)
		in.last.Store(0)
		return
	case r.Method != http.MethodPost:
		http.Error(w, "POST a body", http.StatusMethodNotAllowed)
		return
	}
	var body io.Reader = r.Body
	switch r.Header.Get("Content-Encoding") {
	case "gzip":
		zr, _ := in.gzips.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(r.Body)
		} else {
			err = zr.Reset(r.Body)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		defer in.gzips.Put(zr)
		body = zr
	case "zstd":
		zr, err := zstd.NewReader(r.Body, zstd.WithDecoderConcurrency(1))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		defer zr.Close()
		body = zr
	}
	n, size, err := countLines(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now().UnixNano()
	if n > 0 {
		in.first.CompareAndSwap(0, now)
		in.last.Store(now)
	}
	in.requests.Add(1)
	in.bytes.Add(size)
	in.records.Add(n)
	w.WriteHeader(http.StatusOK)
}

// countLines counts newline-terminated lines, plus a last line without a
// newline.
func countLines(r io.Reader) (lines, size int64, err error) {
	buf := make([]byte, 256<<10)
	var last byte = '\n'
	for {
		k, err := r.Read(buf)
		if k > 0 {
			lines += int64(bytes.Count(buf[:k], []byte{'\n'}))
			size += int64(k)
			last = buf[k-1]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, 0, err
		}
	}
	if last != '\n' {
		lines++
	}
	return lines, size, nil
}

// estate is the stand-in EC2's table: the interfaces gen draws lines from.
func estate(enis int, seed int64) []*flowlog.ENI {
	pool := gen.NewENIPool(gen.Config{ENIs: enis, Seed: seed})
	table := make([]*flowlog.ENI, 0, len(pool))
	for _, e := range pool {
		table = append(table, &flowlog.ENI{
			InterfaceID: e.ID, AccountID: e.Account, Region: e.Region, VPCID: e.VPCID, SubnetID: e.SubnetID,
			AvailabilityZone: e.AZ, InstanceID: e.InstanceID, InterfaceType: e.Type,
			SecurityGroupIDs: e.SecurityGroups, Addresses: append(append([]netip.Addr(nil), e.PrivateIPs...), e.IPv6...),
			Tags: map[string]string{"Name": "bench-" + e.ID[len(e.ID)-6:]},
		})
	}
	return table
}

func main() {
	addr := flag.String("addr", "127.0.0.1:19380", "address of the HTTP intake")
	ec2Addr := flag.String("ec2", "127.0.0.1:19381", "address of the EC2 stand-in (\"\" for none)")
	enis := flag.Int("enis", 10000, "interfaces in the synthetic estate (as the generator's)")
	seed := flag.Int64("seed", 7, "generator seed (as the generator's)")
	flag.Parse()

	errc := make(chan error, 2)
	if *ec2Addr != "" {
		srv := ec2stub.NewServer(estate(*enis, *seed))
		go func() { errc <- (&http.Server{Addr: *ec2Addr, Handler: srv}).ListenAndServe() }()
	}
	go func() { errc <- (&http.Server{Addr: *addr, Handler: &intake{}}).ListenAndServe() }()
	fmt.Fprintf(os.Stderr, "intake: records on http://%s, EC2 stand-in on http://%s (%d interfaces)\n", *addr, *ec2Addr, *enis)
	err := <-errc
	fmt.Fprintln(os.Stderr, "intake:", err)
	os.Exit(1)
}
