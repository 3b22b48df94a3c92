package processor

import (
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/vpcflow/vpcflow/internal/sinkbuf"
	"github.com/vpcflow/vpcflow/processor/component"
)

// Settings is what the caller injects into the engine.
type Settings struct {
	Logger         *slog.Logger
	Registerer     prometheus.Registerer
	TracerProvider trace.TracerProvider
}

// Pipeline is a built stage graph, ready to Run.
type Pipeline struct {
	cfg    *Config
	log    *slog.Logger
	m      *metrics
	tracer trace.Tracer

	sources []*sourceNode
	stages  map[string]*stageNode
	sinks   map[string]*sinkNode
	order   []string // stage ids, topological

	workers  []chan *job
	sem      chan struct{}
	inflight sync.WaitGroup
	seed     maphash.Seed

	running  atomic.Bool
	fatalMu  sync.Mutex
	fatalErr error
	closed   atomic.Bool

	taps tapHub
}

type sourceNode struct {
	id    string
	where string // "sources.<id> (<type>)", the prefix of its errors
	span  string // span name, "batch <id>"
	ok    prometheus.Counter
	nack  prometheus.Counter
	src   component.Source
	root  *planNode
	done  atomic.Bool
}

type stageNode struct {
	id    string
	where string // "stages.<id> (<type>)"
	span  string // span name, "stage <id>"
	stage component.Stage
	in    prometheus.Counter
	out   prometheus.Counter
	drop  prometheus.Counter
	fail  prometheus.Counter
	dur   prometheus.Observer
	// retries counts failed Process calls the engine retried.
	retries prometheus.Counter
	limiter *component.RateLimitedLogger
}

type sinkNode struct {
	id         string
	where      string // "sinks.<id> (<type>)"
	span       string // span name, "sink <id>"
	sink       component.Sink
	deadLetter *sinkNode
	onRejected string // OnRejectedBlock or OnRejectedDrop
	ordered    bool
	lanes      []chan sinkJob
	// buf, when set, takes every batch for the sink; a drain goroutine
	// delivers it.
	buf        *sinkbuf.Buffer
	bufDropped prometheus.Counter
	// spooler is the sink when it stores its own requests in buf (a disk
	// buffer): Writes go to it directly, and the drain calls its Send.
	spooler component.Spooler

	pending  atomic.Int64
	lastDone atomic.Int64 // unix nanos

	delivered prometheus.Counter
	failed    prometheus.Counter
	dead      prometheus.Counter
	retries   prometheus.Counter
	dur       prometheus.Observer
	log       *slog.Logger
	limiter   *component.RateLimitedLogger

	blockState
}

// planNode is one step of a source's unrolled graph.
type planNode struct {
	id       string
	stage    *stageNode // nil for the source itself
	children []*planNode
	sinks    []*sinkNode
	errSinks []*sinkNode
	// discarded counts, and errLog reports, failures of <id>.errors when no
	// sink takes them.
	discarded prometheus.Counter
	errLog    *component.RateLimitedLogger
	// tap and errTap are where taps of id and id.errors attach.
	tap, errTap *tapPoint
}
