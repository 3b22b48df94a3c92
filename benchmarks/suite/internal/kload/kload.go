// Package kload produces synthetic flow-log lines to Kafka, a fixed
// number of lines per Kafka record, for the end-to-end benchmark suite.
package kload

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vpcflow/vpcflow/internal/gen"
)

// Produce writes the lines gen.Run draws for cfg to the client's default
// topic, per lines to a Kafka record, and waits until every record is
// acknowledged. It returns the number of lines acknowledged. With
// cfg.Count 0 it produces until ctx is done, which is then not an error.
func Produce(ctx context.Context, cl *kgo.Client, cfg gen.Config, per int) (int64, error) {
	var acked atomic.Int64
	var produceErr atomic.Pointer[error]
	w := &lineWriter{ctx: ctx, cl: cl, per: per, acked: &acked, failed: &produceErr}
	err := gen.Run(ctx, w, cfg)
	if cfg.Count <= 0 && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		err = nil
	}
	w.flush()
	// Wait for what is in flight even when ctx is done.
	if ferr := cl.Flush(context.WithoutCancel(ctx)); ferr != nil && err == nil {
		err = ferr
	}
	if p := produceErr.Load(); p != nil && err == nil {
		err = *p
	}
	return acked.Load(), err
}

type lineWriter struct {
	ctx    context.Context
	cl     *kgo.Client
	per    int
	buf    []byte
	lines  int
	rest   []byte
	acked  *atomic.Int64
	failed *atomic.Pointer[error]
}

func (w *lineWriter) Write(p []byte) (int, error) {
	data := p
	if len(w.rest) > 0 {
		data = append(w.rest, p...)
	}
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		w.buf = append(w.buf, data[:i+1]...)
		data = data[i+1:]
		w.lines++
		if w.lines >= w.per {
			w.flush()
		}
	}
	w.rest = append(w.rest[:0], data...)
	return len(p), nil
}

func (w *lineWriter) flush() {
	if w.lines == 0 {
		return
	}
	rec := &kgo.Record{Value: append([]byte(nil), w.buf...)}
	n := int64(w.lines)
	w.buf, w.lines = w.buf[:0], 0
	// The produce context is not ctx: records already drawn are sent even
	// when the generator is stopped.
	w.cl.Produce(context.WithoutCancel(w.ctx), rec, func(_ *kgo.Record, err error) {
		if err != nil {
			w.failed.CompareAndSwap(nil, &err)
			return
		}
		w.acked.Add(n)
	})
}
