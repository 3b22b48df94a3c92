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

// maxRetryAfter caps a server's Retry-After, so that no wait between two
// tries exceeds a minute (retry.max_interval is capped the same).
const maxRetryAfter = time.Minute

// sender delivers requests until the queue is closed or Close gives up.
func (s *Sink) sender() {
	var comp []byte
	for {
		select {
		case req, ok := <-s.queue:
			if !ok {
				return
			}
			if s.spool != nil {
				comp = s.store(req, comp[:0])
			} else {
				comp = s.deliver(req, comp[:0])
			}
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

// retryable reports whether the error is about the destination (network,
// 5xx, 408, 429) rather than the request.
func (e *attemptError) retryable() bool {
	return e.status == 0 || e.status == http.StatusRequestTimeout ||
		e.status == http.StatusTooManyRequests || e.status >= 500
}

// refusesContent reports whether the intake refused the request for what
// it holds (400, 422: a record it cannot take; 413: too large), which no
// retry of the same body can fix. Every other failure (401, 403, 404,
// other 4xx, 5xx, network) is about the destination and is retried.
func (e *attemptError) refusesContent() bool {
	return e.status == http.StatusBadRequest || e.status == http.StatusUnprocessableEntity ||
		e.status == http.StatusRequestEntityTooLarge
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

// deliver sends one request until it succeeds, the intake refuses records
// of it, it fails permanently (max_retry_duration) or Close gives up, then
// releases its Writes. comp is scratch for the compressed body; deliver
// returns it.
func (s *Sink) deliver(req *request, comp []byte) []byte {
	s.m.inFlight.Inc()
	defer s.m.inFlight.Dec()
	whole := req.lines.whole()
	if whole.end != len(*req.body) {
		// Cannot happen: every byte of a body belongs to a record.
		whole = part{start: 0, end: len(*req.body)}
	}
	comp, err := s.sendPart(req, whole, comp)
	*req.body = (*req.body)[:0]
	s.bodies.Put(req.body)
	req.body = nil
	req.lines.release()
	s.finish(req, err)
	return comp
}

// sendPart sends the records of p until the intake accepts them or refuses
// them for their content; a refused part of several records is split in
// halves and each half sent again, so that only the offending records are
// reported to their Writes (or, for a stored request, to req.refuse). An
// error it returns fails every Write of req: Close gave up (errClosed) or
// max_retry_duration passed (permanent).
func (s *Sink) sendPart(req *request, p part, comp []byte) ([]byte, error) {
	var body []byte
	enc := s.comp.contentEncoding()
	if req.packed != nil && p.start == 0 && p.end == req.packedEnd {
		// A stored request, whole: sent as it was made.
		body, enc = req.packed, req.encoding
	} else {
		all, err := req.raw()
		if err != nil {
			return comp, err
		}
		raw := all[p.start:p.end]
		if !s.trailingNL && len(raw) > 0 && raw[len(raw)-1] == '\n' {
			raw = raw[:len(raw)-1]
		}
		if req.packed == nil {
			s.m.batchBytes.Observe(float64(len(raw)))
		}
		body = raw
		if enc != "" {
			comp = s.comp.compress(comp[:0], raw)
			body = comp
		}
	}
	n := p.records()
	splittable := p.owners != nil || req.refuse != nil
	if !splittable { // no index: the request as one unit
		n = req.n
	}
	ctx := req.context(s.hardCtx)
	first := time.Now()
	blocked := false
	defer func() {
		if blocked {
			s.blocked.Add(-1)
		}
	}()
	for attempt := 1; ; attempt++ {
		err := s.attempt(ctx, req, body, enc)
		if err == nil {
			s.m.requests.WithLabelValues("success").Inc()
			s.m.delivered.Add(float64(n))
			if attempt > 1 {
				s.log.Info("http intake accepted a retried request", "url", s.redact.display,
					"attempts", attempt, "after", time.Since(first).Round(time.Millisecond))
			}
			return comp, nil
		}
		if ctx.Err() != nil {
			return comp, errClosed
		}
		if err.refusesContent() && splittable {
			s.m.requests.WithLabelValues("rejected").Inc()
			if n == 1 {
				s.m.failed.Inc()
				s.limiter.Warn("http intake refused a record", "url", s.redact.display, "status", err.status, "error", err.msg)
				if req.refuse != nil {
					return comp, req.refuse(p, errors.New(err.msg))
				}
				p.reject(errors.New(err.msg))
				return comp, nil
			}
			a, b := p.halves()
			comp, e := s.sendPart(req, a, comp)
			if e != nil {
				return comp, e
			}
			return s.sendPart(req, b, comp)
		}
		wait := s.backoffFor(attempt)
		if err.retryAfter > 0 {
			wait = err.retryAfter
		}
		if s.maxRetry > 0 && time.Since(first)+wait > s.maxRetry {
			s.m.requests.WithLabelValues("permanent").Inc()
			s.m.failed.Add(float64(n))
			s.log.Error("http sink gave up retrying a request (max_retry_duration)", "url", s.redact.display,
				"records", n, "attempts", attempt, "error", err.msg)
			return comp, component.Permanent(fmt.Errorf("giving up after %d attempts in %s: %s",
				attempt, time.Since(first).Round(time.Millisecond), err.msg))
		}
		reason := err.msg
		s.blockReason.Store(&reason)
		if !blocked {
			blocked = true
			s.blocked.Add(1)
		}
		s.m.requests.WithLabelValues("retry").Inc()
		s.m.retries.WithLabelValues(err.class()).Inc()
		s.limiter.Warn("http intake unavailable, retrying", "url", s.redact.display, "status", err.status,
			"attempt", attempt, "retry_in", wait.Round(time.Millisecond), "blocked_for", time.Since(first).Round(time.Second),
			"error", err.msg)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return comp, errClosed
		}
	}
}

// Blocked reports why the sink cannot deliver while at least one request
// is being retried because of its destination (refused, unreachable,
// failing), or nil.
func (s *Sink) Blocked() error {
	if s.blocked.Load() == 0 {
		return nil
	}
	if r := s.blockReason.Load(); r != nil {
		return fmt.Errorf("blocked by its destination: %s", *r)
	}
	return errors.New("blocked by its destination")
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
func (s *Sink) attempt(ctx context.Context, req *request, body []byte, enc string) *attemptError {
	ctx, cancel := context.WithTimeout(ctx, s.reqTimeout)
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
	if enc != "" {
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
		if ctx.Err() != nil && req.context(s.hardCtx).Err() == nil {
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
