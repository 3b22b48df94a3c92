package s3sqssource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// parquetReadBuffer is the read size of each column chunk reader: every
// ReadAt becomes one ranged GET of up to this many bytes. A flow-log file
// has at most ~60 columns: 60 × 256 KiB bounds the buffers of one object at
// 15 MiB, and a 75 MB object takes ~300 requests.
const parquetReadBuffer = 256 << 10

// parquetRowsPerRead is how many values of each column are decoded at a
// time (18 columns × 1024 × 24 bytes ≈ 450 KiB of parquet.Value).
const parquetRowsPerRead = 1024

// s3ReaderAt reads an object with ranged GETs; it remembers the first
// transport error so that it is not mistaken for bad content.
type s3ReaderAt struct {
	ctx    context.Context
	s      *Source
	bucket string
	key    string
	size   int64
	err    error
}

func (r *s3ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), r.size)
	out, err := r.s.s3.GetObject(r.ctx, &s3.GetObjectInput{
		Bucket: aws.String(r.bucket),
		Key:    aws.String(r.key),
		Range:  aws.String("bytes=" + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(end-1, 10)),
	})
	if err != nil {
		if r.err == nil {
			r.err = err
		}
		return 0, err
	}
	defer out.Body.Close()
	n, err := io.ReadFull(out.Body, p[:end-off])
	r.s.m.bytes.Add(float64(n))
	if err != nil {
		if r.err == nil {
			r.err = err
		}
		return n, err
	}
	if int64(n) < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}

// readParquet streams the rows of a Parquet flow-log object into bt: first
// a header line of the column names (AWS's underscores turned into the
// dashes of flow-log field names, so the parse stage's auto format reads
// it), then one line per row, values space-separated in column order, null
// or empty as "-". Row groups are read one after the other, a few hundred
// rows at a time; column chunks are fetched by ranged GETs.
func (s *Source) readParquet(ctx context.Context, ref objectRef, size int64, bt *batcher) error {
	name := ref.String()
	ra := &s3ReaderAt{ctx: ctx, s: s, bucket: ref.Bucket, key: ref.Key, size: size}
	fail := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var oe *objectError
		switch {
		case errors.As(err, &oe):
		case ra.err != nil:
			oe = &objectError{Kind: classifyS3(ra.err), Object: name, Err: ra.err}
		default:
			oe = &objectError{Kind: objCorrupt, Object: name, Err: err}
		}
		return objectFailed(bt, oe)
	}
	f, err := parquet.OpenFile(ra, size,
		parquet.SkipPageIndex(true),
		parquet.SkipBloomFilters(true),
		parquet.OptimisticRead(true),
		parquet.ReadBufferSize(parquetReadBuffer),
	)
	if err != nil {
		return fail(err)
	}
	cols, header, err := parquetColumns(f.Schema())
	if err != nil {
		return fail(err)
	}
	bt.hint = int64(f.NumRows()) * 100
	if err := bt.add(header); err != nil {
		return fail(err)
	}
	vals := make([][]parquet.Value, len(cols))
	for i := range vals {
		vals[i] = make([]parquet.Value, parquetRowsPerRead)
	}
	for _, rg := range f.RowGroups() {
		if err := s.readRowGroup(rg, cols, vals, bt); err != nil {
			return fail(err)
		}
	}
	return bt.flush()
}

// readRowGroup renders the rows of one row group, reading each column's
// pages directly (no row assembly): parquetRowsPerRead values of every
// column, then those rows as lines. Pages are released once the rows that
// point into them are rendered.
func (s *Source) readRowGroup(rg parquet.RowGroup, cols []parquetColumn, vals [][]parquet.Value, bt *batcher) (err error) {
	chunks := rg.ColumnChunks()
	if len(chunks) != len(cols) {
		return fmt.Errorf("row group has %d columns, schema %d", len(chunks), len(cols))
	}
	cur := make([]columnCursor, len(cols))
	for i, cc := range chunks {
		cur[i].pages = cc.Pages()
	}
	defer func() {
		for i := range cur {
			cur[i].release()
			if cerr := cur[i].pages.Close(); err == nil && cerr != nil {
				err = cerr
			}
		}
	}()
	remaining := rg.NumRows()
	for remaining > 0 {
		want := int(min(remaining, int64(len(vals[0]))))
		for i := range cur {
			n, err := cur[i].fill(vals[i][:want])
			if err != nil && err != io.EOF {
				return err
			}
			if n != want {
				return fmt.Errorf("column %d holds %d values, want %d rows", i, n, want)
			}
		}
		for r := range want {
			rejected, n, err := bt.appendLine(s.cfg.MaxLineBytes, func(dst []byte) []byte {
				for c := range cols {
					if c > 0 {
						dst = append(dst, ' ')
					}
					dst = appendValue(dst, vals[c][r], cols[c])
				}
				return dst
			})
			if err != nil {
				return err
			}
			if rejected != nil {
				s.rejectLine(bt, n, rejected)
			}
		}
		for i := range cur {
			cur[i].release()
		}
		remaining -= int64(want)
	}
	return nil
}

// columnCursor reads the values of one column chunk across its pages.
type columnCursor struct {
	pages parquet.Pages
	page  parquet.Page
	vr    parquet.ValueReader
	done  []parquet.Page // read to their end, still referenced by values
}

// fill reads len(buf) values (fewer at the end of the chunk, with io.EOF).
func (c *columnCursor) fill(buf []parquet.Value) (int, error) {
	n := 0
	for n < len(buf) {
		if c.vr == nil {
			p, err := c.pages.ReadPage()
			if err != nil {
				return n, err
			}
			c.page, c.vr = p, p.Values()
		}
		k, err := c.vr.ReadValues(buf[n:])
		n += k
		if err == io.EOF {
			c.done = append(c.done, c.page)
			c.page, c.vr = nil, nil
			continue
		}
		if err != nil {
			return n, err
		}
		if k == 0 {
			return n, io.ErrNoProgress
		}
	}
	return n, nil
}

// release gives back the pages read to their end.
func (c *columnCursor) release() {
	for _, p := range c.done {
		parquet.Release(p)
	}
	clear(c.done)
	c.done = c.done[:0]
}

type parquetColumn struct {
	kind     parquet.Kind
	unsigned bool
}

// parquetColumns returns the leaf columns of a flat schema and the header
// line naming them.
func parquetColumns(sch *parquet.Schema) ([]parquetColumn, []byte, error) {
	paths := sch.Columns()
	if len(paths) == 0 {
		return nil, nil, errors.New("parquet schema has no columns")
	}
	cols := make([]parquetColumn, len(paths))
	var hdr strings.Builder
	for i, p := range paths {
		leaf, ok := sch.Lookup(p...)
		if !ok || len(p) != 1 || leaf.MaxRepetitionLevel > 0 {
			return nil, nil, fmt.Errorf("parquet column %q is not a flat flow-log column", strings.Join(p, "."))
		}
		t := leaf.Node.Type()
		c := parquetColumn{kind: t.Kind()}
		if lt := t.LogicalType(); lt != nil {
			if it, ok := lt.Value.(*format.IntType); ok && !it.IsSigned {
				c.unsigned = true
			}
		}
		cols[i] = c
		if i > 0 {
			hdr.WriteByte(' ')
		}
		hdr.WriteString(strings.ReplaceAll(p[0], "_", "-"))
	}
	return cols, []byte(hdr.String()), nil
}

// appendRow renders one row as a flow-log line. It reports false when the
// row does not hold exactly one value per column.
func appendRow(dst []byte, row parquet.Row, cols []parquetColumn) ([]byte, bool) {
	if len(row) != len(cols) {
		return dst, false
	}
	for i, v := range row {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = appendValue(dst, v, cols[i])
	}
	return dst, true
}

// appendValue renders one value: null or empty as "-".
func appendValue(dst []byte, v parquet.Value, c parquetColumn) []byte {
	if v.IsNull() {
		return append(dst, '-')
	}
	switch v.Kind() {
	case parquet.Boolean:
		return strconv.AppendBool(dst, v.Boolean())
	case parquet.Int32:
		if c.unsigned {
			return strconv.AppendUint(dst, uint64(v.Uint32()), 10)
		}
		return strconv.AppendInt(dst, int64(v.Int32()), 10)
	case parquet.Int64:
		if c.unsigned {
			return strconv.AppendUint(dst, v.Uint64(), 10)
		}
		return strconv.AppendInt(dst, v.Int64(), 10)
	case parquet.Float:
		return appendFloat(dst, float64(v.Float()), 32)
	case parquet.Double:
		return appendFloat(dst, v.Double(), 64)
	case parquet.ByteArray, parquet.FixedLenByteArray:
		if b := v.ByteArray(); len(b) > 0 {
			return append(dst, b...)
		}
	}
	return append(dst, '-')
}

func appendFloat(dst []byte, f float64, bits int) []byte {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.AppendInt(dst, int64(f), 10)
	}
	return strconv.AppendFloat(dst, f, 'f', -1, bits)
}
