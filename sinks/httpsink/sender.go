package httpsink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vpcflow/vpcflow/processor/component"
)

// maxRetryAfter caps a server's Retry-After.
const maxRetryAfter = 10 * time.Minute

// sender delivers requests until the queue is closed or Close gives up.
func (s *Sink) sender() {
	var comp []byte
	for {
		select {
		case req, ok := <-s.queue:
			if !ok {
				return
			}
			comp = s.deliver(req, comp[:0])
			if cap(comp) > 4*s.maxBytes { // do not keep a huge single record's buffer
				comp = nil
			}
		case <-s.hardCtx.Done():
			return
		}
	}
}

// attemptError is the outcome of a failed attempt. Its message holds no
// secret.
type attemptError struct {
	msg        string
	status     int           // 0 for a transport error
	retryAfter time.Duration // from Retry-After, 0 when absent
}

func (e *attemptError) Error() string { return e.msg }

func (e *attemptError) retryable() bool {
	return e.status == 0 || e.status == http.StatusRequestTimeout ||
		e.status == http.StatusTooManyRequests || e.status >= 500
}

func (e *attemptError) class() string {
	switch {
	case e.status == 0:
		return "network"
	case e.status >= 500:
		return "5xx"
	}
	return "4xx"
}

// deliver sends one request until it succeeds, fails permanently or Close
// gives up, then releases its Writes. comp is scratch for the compressed
// body; deliver returns it.
func (s *Sink) deliver(req *request, comp []byte) []byte {
	s.m.inFlight.Inc()
	defer s.m.inFlight.Dec()
	raw := *req.body
	if !s.trailingNL && len(raw) > 0 && raw[len(raw)-1] == '\n' {
		raw = raw[:len(raw)-1]
	}
	s.m.batchBytes.Observe(float64(len(raw)))
	body := raw
	if enc := s.comp.contentEncoding(); enc != "" {
		comp = s.comp.compress(comp, raw)
		body = comp
		// The uncompressed body is no longer needed while retrying.
		*req.body = (*req.body)[:0]
		s.bodies.Put(req.body)
		req.body = nil
	}
	defer func() {
		if req.body != nil {
			*req.body = (*req.body)[:0]
			s.bodies.Put(req.body)
		}
	}()

	first := time.Now()
	for attempt := 1; ; attempt++ {
		err := s.attempt(req, body)
		if err == nil {
			s.m.requests.WithLabelValues("success").Inc()
			s.m.delivered.Add(float64(req.n))
			if attempt > 1 {
				s.log.Info("http intake accepted a retried request", "url", s.redact.display,
					"attempts", attempt, "after", time.Since(first).Round(time.Millisecond))
			}
			s.finish(req, nil)
			return comp
		}
		if s.hardCtx.Err() != nil {
			s.finish(req, errClosed)
			return comp
		}
		if !err.retryable() {
			s.m.requests.WithLabelValues("permanent").Inc()
			s.m.failed.Add(float64(req.n))
			s.log.Error("http intake refused a request; its batches go to the dead letter", "url", s.redact.display,
				"records", req.n, "error", err.msg)
			s.finish(req, component.Permanent(errors.New(err.msg)))
			return comp
		}
		wait := s.backoffFor(attempt)
		if err.retryAfter > 0 {
			wait = err.retryAfter
		}
		if s.maxRetry > 0 && time.Since(first)+wait > s.maxRetry {
			s.m.requests.WithLabelValues("permanent").Inc()
			s.m.failed.Add(float64(req.n))
			s.log.Error("http sink gave up retrying a request (max_retry_duration)", "url", s.redact.display,
				"records", req.n, "attempts", attempt, "error", err.msg)
			s.finish(req, component.Permanent(fmt.Errorf("giving up after %d attempts in %s: %s",
				attempt, time.Since(first).Round(time.Millisecond), err.msg)))
			return comp
		}
		s.m.requests.WithLabelValues("retry").Inc()
		s.m.retries.WithLabelValues(err.class()).Inc()
		if attempt&(attempt-1) == 0 { // attempts 1, 2, 4, 8…: a log line per doubling
			s.log.Warn("http intake unavailable, retrying", "url", s.redact.display, "attempt", attempt,
				"retry_in", wait.Round(time.Millisecond), "error", err.msg)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.hardCtx.Done():
			t.Stop()
			s.finish(req, errClosed)
			return comp
		}
	}
}

// finish releases the Writes waiting on req.
func (s *Sink) finish(req *request, err error) {
	for _, t := range req.tickets {
		t.release(err)
	}
	req.tickets = nil
}

// backoffFor returns the jittered exponential wait before attempt+1.
func (s *Sink) backoffFor(attempt int) time.Duration {
	d := s.backoff.InitialInterval
	for i := 1; i < attempt && d < s.backoff.MaxInterval; i++ {
		d *= 2
	}
	d = min(d, s.backoff.MaxInterval)
	return d/2 + rand.N(d/2+1)
}

// attempt sends body once.
func (s *Sink) attempt(req *request, body []byte) *attemptError {
	ctx, cancel := context.WithTimeout(s.hardCtx, s.reqTimeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, s.method, s.url, bytes.NewReader(body))
	if err != nil {
		return &attemptError{msg: "building request: " + s.redact.transportError(err), status: 400}
	}
	for k, v := range s.headers.static {
		hr.Header[k] = v
	}
	for k, v := range req.header {
		hr.Header[k] = v
	}
	if enc := s.comp.contentEncoding(); enc != "" {
		hr.Header.Set("Content-Encoding", enc)
	}
	if hr.Header.Get("Content-Type") == "" {
		hr.Header.Set("Content-Type", s.ctype)
	}
	if s.authHeader != "" {
		hr.Header.Set("Authorization", s.authHeader)
	}
	start := time.Now()
	s.m.sentBytes.Add(float64(len(body)))
	resp, err := s.client.Do(hr)
	if err != nil {
		s.m.latency.Observe(time.Since(start).Seconds())
		msg := s.redact.transportError(err)
		if ctx.Err() != nil && s.hardCtx.Err() == nil {
			msg = fmt.Sprintf("no response within request_timeout %s: %s", s.reqTimeout, msg)
		}
		return &attemptError{msg: fmt.Sprintf("%s %s: %s", s.method, s.redact.display, msg)}
	}
	snippet, readErr := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	resp.Body.Close()
	s.m.latency.Observe(time.Since(start).Seconds())
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	e := &attemptError{status: resp.StatusCode, retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	text := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.TrimSpace(string(snippet)))
	e.msg = fmt.Sprintf("%s %s: %s", s.method, s.redact.display, resp.Status)
	if text != "" {
		e.msg += ": " + s.redact.string(text)
	}
	if readErr != nil && !errors.Is(readErr, io.EOF) && e.retryable() {
		e.msg += " (reading body: " + s.redact.transportError(readErr) + ")"
	}
	return e
}

// parseRetryAfter reads a Retry-After value: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		d = time.Duration(min(n, int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}
