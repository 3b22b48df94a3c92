package httpsink

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// compressor compresses whole bodies with pooled encoders.
type compressor interface {
	// compress appends the compressed src to dst.
	compress(dst, src []byte) []byte
	// contentEncoding is the Content-Encoding value ("" for none).
	contentEncoding() string
	close()
}

func newCompressor(name string, level, concurrency int) (compressor, error) {
	switch name {
	case "gzip":
		if level == 0 {
			level = gzip.BestSpeed
		}
		if _, err := gzip.NewWriterLevel(nil, level); err != nil {
			return nil, fmt.Errorf("compression_level: %w", err)
		}
		return &poolCompressor{enc: "gzip", pool: sync.Pool{New: func() any {
			w, _ := gzip.NewWriterLevel(nil, level)
			return w
		}}}, nil
	case "deflate":
		if level == 0 {
			level = zlib.BestSpeed
		}
		if _, err := zlib.NewWriterLevel(nil, level); err != nil {
			return nil, fmt.Errorf("compression_level: %w", err)
		}
		return &poolCompressor{enc: "deflate", pool: sync.Pool{New: func() any {
			w, _ := zlib.NewWriterLevel(nil, level)
			return w
		}}}, nil
	case "zstd":
		if level == 0 {
			level = 1
		}
		e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
			zstd.WithEncoderConcurrency(concurrency))
		if err != nil {
			return nil, fmt.Errorf("compression: %w", err)
		}
		return zstdCompressor{e}, nil
	case "none":
		return noCompressor{}, nil
	}
	return nil, fmt.Errorf("compression: unknown %q", name)
}

// appendWriter is an io.Writer appending to a slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

type poolCompressor struct {
	enc  string
	pool sync.Pool
}

func (c *poolCompressor) compress(dst, src []byte) []byte {
	aw := &appendWriter{b: dst}
	switch w := c.pool.Get().(type) {
	case *gzip.Writer:
		w.Reset(aw)
		w.Write(src) // writes to memory cannot fail
		w.Close()
		c.pool.Put(w)
	case *zlib.Writer:
		w.Reset(aw)
		w.Write(src)
		w.Close()
		c.pool.Put(w)
	}
	return aw.b
}

func (c *poolCompressor) contentEncoding() string { return c.enc }
func (c *poolCompressor) close()                  {}

type zstdCompressor struct{ e *zstd.Encoder }

func (c zstdCompressor) compress(dst, src []byte) []byte { return c.e.EncodeAll(src, dst) }
func (c zstdCompressor) contentEncoding() string         { return "zstd" }
func (c zstdCompressor) close()                          { c.e.Close() }

type noCompressor struct{}

func (noCompressor) compress(dst, src []byte) []byte { return append(dst, src...) }
func (noCompressor) contentEncoding() string         { return "" }
func (noCompressor) close()                          {}
