package filesink

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sinks/encoding"
)

var _ component.Sink = (*Sink)(nil)

// Type is the config `type:` of this sink.
const Type = "file"

// NewFactory returns the factory of the `file` sink.
func NewFactory() component.SinkFactory {
	return component.SinkFactory{
		Type:             Type,
		NewDefaultConfig: func() any { return NewDefaultConfig() },
		Create: func(_ context.Context, cfg any, set component.Settings) (component.Sink, error) {
			c, err := component.ConfigAs[Config](Type, cfg)
			if err != nil {
				return nil, err
			}
			return New(*c, set)
		},
	}
}

// Sink writes encoded records to a file.
type Sink struct {
	cfg    Config
	set    component.Settings
	enc    encoding.Encoder
	mu     sync.Mutex
	w      io.Writer
	f      *os.File
	bufs   sync.Pool
	closed atomic.Bool
}

// New opens the output.
func New(cfg Config, set component.Settings) (*Sink, error) {
	set = set.Normalize()
	enc, err := encoding.New(cfg.Encoding, encoding.Options{IncludeLogInfo: cfg.IncludeLogInfo})
	if err != nil {
		return nil, fmt.Errorf("encoding: %w", err)
	}
	s := &Sink{cfg: cfg, set: set, enc: enc}
	if cfg.Path == "-" {
		s.w = os.Stdout
	} else {
		flags := os.O_CREATE | os.O_WRONLY
		if cfg.Append {
			flags |= os.O_APPEND
		} else {
			flags |= os.O_TRUNC
		}
		f, err := os.OpenFile(cfg.Path, flags, 0o644)
		if err != nil {
			return nil, err
		}
		s.f, s.w = f, f
	}
	return s, nil
}

// SetOutput replaces the writer (for tests of stdout output).
func (s *Sink) SetOutput(w io.Writer) { s.w = w }

// Ordered asks the engine for in-order writes per partition.
func (s *Sink) Ordered() bool { return true }

// Write encodes b and writes it in one call.
func (s *Sink) Write(_ context.Context, b *flowlog.Batch) error {
	bp, _ := s.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	buf := (*bp)[:0]
	for i := range b.Records {
		buf = s.enc.AppendRecord(buf, &b.Records[i])
	}
	for i := range b.Failed {
		buf = s.enc.AppendFailure(buf, &b.Failed[i])
	}
	s.mu.Lock()
	_, err := s.w.Write(buf)
	if err == nil && s.cfg.Sync && s.f != nil {
		err = s.f.Sync()
	}
	s.mu.Unlock()
	*bp = buf
	if cap(buf) <= 8<<20 {
		s.bufs.Put(bp)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", s.cfg.Path, err)
	}
	return nil
}

// Close closes the file (never standard output).
func (s *Sink) Close(context.Context) error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.f != nil {
		return s.f.Close()
	}
	return nil
}
