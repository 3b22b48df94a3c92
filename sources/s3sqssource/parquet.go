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

// parquetRowsPerRead is how many rows are decoded at a time.
const parquetRowsPerRead = 512

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
	rows := make([]parquet.Row, parquetRowsPerRead)
	line := make([]byte, 0, 1024)
	for _, rg := range f.RowGroups() {
		if err := s.readRowGroup(rg, cols, rows, &line, bt); err != nil {
			return fail(err)
		}
	}
	return bt.flush()
}

func (s *Source) readRowGroup(rg parquet.RowGroup, cols []parquetColumn, rows []parquet.Row, line *[]byte, bt *batcher) (err error) {
	rr := rg.Rows()
	defer func() {
		if cerr := rr.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	for {
		n, rerr := rr.ReadRows(rows)
		for _, row := range rows[:n] {
			l, ok := appendRow((*line)[:0], row, cols)
			*line = l
			if !ok {
				return fmt.Errorf("row of %d values does not match the %d columns", len(row), len(cols))
			}
			if len(l) > s.cfg.MaxLineBytes {
				s.rejectLine(bt, len(l), l)
				continue
			}
			if err := bt.add(l); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
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
		if v.IsNull() {
			dst = append(dst, '-')
			continue
		}
		c := cols[i]
		switch v.Kind() {
		case parquet.Boolean:
			dst = strconv.AppendBool(dst, v.Boolean())
		case parquet.Int32:
			if c.unsigned {
				dst = strconv.AppendUint(dst, uint64(v.Uint32()), 10)
			} else {
				dst = strconv.AppendInt(dst, int64(v.Int32()), 10)
			}
		case parquet.Int64:
			if c.unsigned {
				dst = strconv.AppendUint(dst, v.Uint64(), 10)
			} else {
				dst = strconv.AppendInt(dst, v.Int64(), 10)
			}
		case parquet.Float:
			dst = appendFloat(dst, float64(v.Float()), 32)
		case parquet.Double:
			dst = appendFloat(dst, v.Double(), 64)
		case parquet.ByteArray, parquet.FixedLenByteArray:
			b := v.ByteArray()
			if len(b) == 0 {
				dst = append(dst, '-')
			} else {
				dst = append(dst, b...)
			}
		default:
			dst = append(dst, '-')
		}
	}
	return dst, true
}

func appendFloat(dst []byte, f float64, bits int) []byte {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.AppendInt(dst, int64(f), 10)
	}
	return strconv.AppendFloat(dst, f, 'f', -1, bits)
}
