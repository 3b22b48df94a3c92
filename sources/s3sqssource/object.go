package s3sqssource

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
)

// s3API is the part of the S3 client the source uses.
type s3API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// objectError is why an object could not be read to its end. Kind is one
// of the obj* outcomes.
type objectError struct {
	Kind   string
	Object string // s3://bucket/key
	Err    error
}

func (e *objectError) Error() string { return e.Object + ": " + e.Kind + ": " + e.Err.Error() }
func (e *objectError) Unwrap() error { return e.Err }

// permanent reports whether reading the object again cannot succeed, so
// its message goes to the dead letter rather than being retried.
func (e *objectError) permanent() bool {
	switch e.Kind {
	case objNotFound, objDenied, objCorrupt, objTooLarge:
		return true
	}
	return false
}

var errTooLarge = errors.New("object exceeds max_object_bytes")

// classifyS3 turns an S3 call error into an outcome.
func classifyS3(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NoSuchBucket", "NotFound":
			return objNotFound
		case "AccessDenied", "Forbidden", "AllAccessDisabled", "InvalidObjectState", "InvalidAccessKeyId", "SignatureDoesNotMatch":
			return objDenied
		}
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusNotFound:
			return objNotFound
		case http.StatusForbidden:
			return objDenied
		}
	}
	return objError
}

// countingReader counts the bytes of the S3 body and remembers whether the
// body itself failed (a transport error, as opposed to bad content).
type countingReader struct {
	r     io.Reader
	n     int64
	err   error
	count func(int)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if n > 0 && c.count != nil {
		c.count(n)
	}
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

// limitReader fails with errTooLarge once more than max bytes were read.
type limitReader struct {
	r        io.Reader
	n, limit int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.limit > 0 && l.n >= l.limit {
		// Probe for one more byte: an object of exactly limit bytes is fine.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, errTooLarge
		}
		return 0, err
	}
	if l.limit > 0 && int64(len(p)) > l.limit-l.n {
		p = p[:l.limit-l.n]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}

// readObject streams one object into bt: gzip or plain text split into
// lines, or Parquet rows rendered as lines. Records read before a failure
// are emitted; the failure is returned as an *objectError (or the context
// error).
func (s *Source) readObject(ctx context.Context, ref objectRef, bt *batcher) error {
	name := ref.String()
	out, err := s.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(ref.Bucket), Key: aws.String(ref.Key)})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return objectFailed(bt, &objectError{Kind: classifyS3(err), Object: name, Err: err})
	}
	body := out.Body
	defer body.Close()
	size := aws.ToInt64(out.ContentLength)

	cr := &countingReader{r: body, count: func(n int) { s.m.bytes.Add(float64(n)) }}
	br := bufio.NewReaderSize(cr, 64<<10)
	magic, _ := br.Peek(4)

	if len(magic) == 0 {
		if cr.err != nil {
			return s.textError(ctx, name, cr, cr.err, bt)
		}
		return nil // an empty object
	}
	if string(magic) == "PAR1" || strings.HasSuffix(ref.Key, ".parquet") {
		// Parquet needs random access: ranged GETs from here on.
		body.Close()
		if s.cfg.MaxObjectBytes > 0 && size > s.cfg.MaxObjectBytes {
			return objectFailed(bt, &objectError{Kind: objTooLarge, Object: name, Err: fmt.Errorf("%d bytes: %w", size, errTooLarge)})
		}
		return s.readParquet(ctx, ref, size, bt)
	}

	var src io.Reader = br
	bt.hint = size
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return s.textError(ctx, name, cr, err, bt)
		}
		defer zr.Close()
		src = zr
		bt.hint = size * 8 // flow logs compress about 8:1
	}
	lr := &limitReader{r: src, limit: s.cfg.MaxObjectBytes}
	if err := s.splitLines(lr, bt); err != nil {
		return s.textError(ctx, name, cr, err, bt)
	}
	return bt.flush()
}

// textError classifies a failure while reading a text object, after
// flushing what was read before it.
func (s *Source) textError(ctx context.Context, name string, cr *countingReader, err error, bt *batcher) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var oe *objectError
	switch {
	case errors.As(err, &oe):
		// Already classified (e.g. the consumer went away).
	case cr.err != nil:
		oe = &objectError{Kind: classifyS3(cr.err), Object: name, Err: cr.err}
	case errors.Is(err, errTooLarge):
		oe = &objectError{Kind: objTooLarge, Object: name, Err: err}
	case isCorrupt(err):
		oe = &objectError{Kind: objCorrupt, Object: name, Err: err}
	default:
		oe = &objectError{Kind: objError, Object: name, Err: err}
	}
	return objectFailed(bt, oe)
}

// objectFailed puts the failure in the object's last batch (so that it
// reaches the source's .errors output with the records read before it),
// flushes that batch and returns oe, or the error of handing it on.
func objectFailed(bt *batcher, oe *objectError) error {
	bt.fail(fmt.Errorf("%w (after %d records)", oe, bt.records+int64(len(bt.batch().Records))), bt.partial)
	if err := bt.flush(); err != nil {
		return err
	}
	return oe
}

func isCorrupt(err error) bool {
	var ce flate.CorruptInputError
	return errors.As(err, &ce) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

// splitLines reads r line by line into bt. A line longer than
// max_line_bytes is rejected (bt.fail) and skipped; the rest flows.
func (s *Source) splitLines(r io.Reader, bt *batcher) error {
	maxLine := s.cfg.MaxLineBytes
	lr := bufio.NewReaderSize(r, max(maxLine+2, 256<<10))
	for {
		line, err := lr.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// Far too long: keep the start for the error, skip the rest.
			n := len(line)
			head := bytes.Clone(line[:min(n, maxFailedRaw)])
			for err == bufio.ErrBufferFull {
				line, err = lr.ReadSlice('\n')
				n += len(line)
			}
			s.rejectLine(bt, n, head)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			continue
		}
		if len(line) > 0 {
			trimmed := bytes.TrimRight(line, "\r\n")
			if len(trimmed) > maxLine {
				if t := bytes.TrimSpace(trimmed); len(t) > maxLine {
					s.rejectLine(bt, len(trimmed), trimmed)
					goto next
				}
			}
			if err != nil && err != io.EOF {
				// A partial line cut by a read error: do not
				// hand it out as a record; it becomes the Raw of the
				// object's failure.
				s.m.lines.WithLabelValues("truncated").Inc()
				bt.partial = bytes.Clone(trimmed)
				return err
			}
			if aerr := bt.add(trimmed); aerr != nil {
				return aerr
			}
		}
	next:
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (s *Source) rejectLine(bt *batcher, n int, head []byte) {
	s.m.lines.WithLabelValues("too_long").Inc()
	bt.fail(fmt.Errorf("%s: line of %d bytes after record %d exceeds max_line_bytes (%d)",
		bt.partition, n, bt.records+int64(len(bt.batch().Records)), s.cfg.MaxLineBytes), head)
}
