package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vpcflow/vpcflow/processor"
	"github.com/vpcflow/vpcflow/sinks/encoding"
)

// live is the running pipeline as the telemetry listener's /graph and
// /tap see it.
type live struct {
	p    atomic.Pointer[processor.Pipeline]
	tap  bool          // telemetry.tap
	done chan struct{} // closed once the pipeline has stopped
	once sync.Once
}

func newLive(tap bool) *live { return &live{tap: tap, done: make(chan struct{})} }

// stopped ends the taps being served: what they hold is sent, then their
// streams end.
func (l *live) stopped() { l.once.Do(func() { close(l.done) }) }

func (l *live) routes(mux *http.ServeMux) {
	mux.HandleFunc("/graph", l.serveGraph)
	mux.HandleFunc("/tap", l.serveTap)
}

// serveGraph answers the components in the graph's order, as JSON:
// {"components":[{"id","kind","type","inputs"}…]}.
func (l *live) serveGraph(w http.ResponseWriter, _ *http.Request) {
	p := l.p.Load()
	if p == nil {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(struct {
		Components []processor.GraphNode `json:"components"`
	}{p.Graph()})
}

// serveTap streams, as NDJSON in the chosen encoding, a sample of the
// records leaving ?component= (an id, or <id>.errors), until ?limit=
// records were sent, the client leaves or the pipeline stops. ?rate= caps
// the records copied per second (default processor.DefaultTapRate).
func (l *live) serveTap(w http.ResponseWriter, r *http.Request) {
	if !l.tap {
		http.Error(w, "tap is off: set telemetry.tap: true in the pipeline file (it shows flow data: keep the listen address inside the pod)", http.StatusForbidden)
		return
	}
	if !fromLoopback(r) {
		http.Error(w, "tap answers only from inside the pod (127.0.0.1 or ::1): it shows flow data; use kubectl port-forward", http.StatusForbidden)
		return
	}
	p := l.p.Load()
	if p == nil {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	q := r.URL.Query()
	output := q.Get("component")
	if output == "" {
		http.Error(w, "component is required: /tap?component=<id>[.errors]", http.StatusBadRequest)
		return
	}
	encName := q.Get("encoding")
	if encName == "" {
		encName = encoding.JSON
	}
	enc, err := encoding.New(encName, encoding.Options{IncludeLogInfo: true})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var o processor.TapOptions
	for _, v := range []struct {
		key string
		dst *int
	}{{"limit", &o.Limit}, {"rate", &o.Rate}} {
		if s := q.Get(v.key); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				http.Error(w, v.key+": must be a whole number ≥ 0, got "+strconv.Quote(s), http.StatusBadRequest)
				return
			}
			*v.dst = n
		}
	}
	t, err := p.Tap(output, o)
	if errors.Is(err, processor.ErrUnknownComponent) {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	} else if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer t.Close()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush() // the client knows the tap is attached
	sent := 0
	var buf []byte
	send := func(tb processor.TapBatch) bool {
		buf = buf[:0]
		for i := range tb.Records {
			buf = enc.AppendRecord(buf, &tb.Records[i])
		}
		for i := range tb.Failed {
			buf = enc.AppendFailure(buf, &tb.Failed[i])
		}
		sent += len(tb.Records) + len(tb.Failed)
		if _, err := w.Write(buf); err != nil || rc.Flush() != nil {
			return false
		}
		return o.Limit == 0 || sent < o.Limit
	}
	for {
		select {
		case tb := <-t.C():
			if !send(tb) {
				return
			}
		case <-r.Context().Done():
			return
		case <-l.done:
			for {
				select {
				case tb := <-t.C():
					if !send(tb) {
						return
					}
				default:
					return
				}
			}
		}
	}
}

// fromLoopback reports whether r came over a loopback connection: from
// inside the pod (kubectl port-forward arrives there too), not from
// another pod or through a Service.
func fromLoopback(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// cmdTap streams a sample of what leaves a component of a running
// instance to stdout, one record a line.
func cmdTap(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: vpcflow tap <component>[.errors] [flags]

Streams a sample of the records leaving a source or stage of a running
instance (or, for <id>.errors, the inputs it could not handle), one a line.
The instance must have telemetry.tap: true.

`)
		fs.PrintDefaults()
	}
	base := fs.String("url", defaultURL, "telemetry address of the running instance")
	limit := fs.Int("limit", 0, "stop after this many records (0: until Ctrl-C)")
	rate := fs.Int("rate", processor.DefaultTapRate, "records copied per second at most")
	enc := fs.String("encoding", encoding.JSON, "json, raw or sumo_vpc_json")
	output, err := parseWithArg(fs, args)
	if err != nil {
		return err
	}
	if output == "" {
		fs.Usage()
		return usageError{"a component to tap is required"}
	}
	if *limit < 0 || *rate <= 0 {
		return usageError{"--limit must not be negative and --rate must be positive"}
	}
	u, err := endpoint(*base, "/tap")
	if err != nil {
		return err
	}
	u.RawQuery = url.Values{"component": {output}, "encoding": {*enc},
		"limit": {strconv.Itoa(*limit)}, "rate": {strconv.Itoa(*rate)}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return responseError(resp)
	}
	fmt.Fprintf(stderr, "tapping %s on %s://%s, at most %d records/s (Ctrl-C to stop)\n", output, u.Scheme, u.Host, *rate)
	in := bufio.NewReaderSize(resp.Body, 64<<10)
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	n := 0
	for {
		line, err := in.ReadSlice('\n')
		if len(line) > 0 {
			out.Write(line)
			if in.Buffered() == 0 {
				out.Flush()
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading the tap: %w", err)
		}
		if n++; *limit > 0 && n >= *limit {
			return nil
		}
	}
}

// defaultURL is where vpcflow dev serves its telemetry.
const defaultURL = "http://127.0.0.1:8080"

// parseWithArg parses fs around one positional argument, which may come
// before or after the flags.
func parseWithArg(fs *flag.FlagSet, args []string) (string, error) {
	var arg string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		arg, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	switch {
	case arg == "" && fs.NArg() == 1:
		return fs.Arg(0), nil
	case fs.NArg() > 0:
		return "", usageError{"unexpected arguments: " + strings.Join(fs.Args(), " ")}
	}
	return arg, nil
}

// endpoint joins a telemetry address (with or without http://) and a path.
func endpoint(base, path string) (*url.URL, error) {
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, usageError{fmt.Sprintf("--url: not an address: %q", base)}
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	return u, nil
}

// responseError is the message of a refused request.
func responseError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	msg := strings.TrimSpace(string(body))
	if msg == "" {
		msg = resp.Status
	}
	return errors.New(msg)
}
