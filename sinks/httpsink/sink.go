package httpsink

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpcflow/vpcflow/internal/tlsconf"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sinks/encoding"
)

var (
	_ component.Sink    = (*Sink)(nil)
	_ component.Blocker = (*Sink)(nil)
)

// errClosed is returned by Write once the sink is closed, and by Writes
// whose records Close had to abandon; the batch is redelivered.
var errClosed = errors.New("sink closed")

// Sink is an http sink. Create it with New; Write may be called
// concurrently.
type Sink struct {
	id         string
	log        *slog.Logger
	m          *metrics
	enc        encoding.Encoder
	comp       compressor
	headers    *headerSet
	authHeader string
	redact     *redactor
	client     *http.Client
	transport  *http.Transport
	url        string
	method     string
	ctype      string
	trailingNL bool
	maxBytes   int
	maxRecords int
	timeout    time.Duration
	idle       time.Duration
	reqTimeout time.Duration
	maxRetry   time.Duration
	backoff    RetryConfig
	// pendingLimit bounds the bytes waiting in all groups together; past
	// it the largest group is sent early.
	pendingLimit int

	// mu is a lock that waiting can be cancelled: a Write holds it while
	// it encodes and while it hands a full body to the senders.
	mu           chan struct{}
	groups       map[string]*pending
	last         *pending        // the group of the previous record
	lastOrigin   *flowlog.Origin // the Origin of the previous record
	idleTimer    *time.Timer     // sends what is pending after batch.idle_timeout
	lastAdd      time.Time       // when a Write last added records
	keyBuf       []byte
	scratch      []byte // a record moved to the next body
	pendingBytes int
	closed       bool

	queue      chan *request
	hardCtx    context.Context // cancelled when Close gives up waiting
	hardCancel context.CancelFunc
	wg         sync.WaitGroup
	closeOnce  sync.Once
	closeErr   error

	bodies sync.Pool // *[]byte of about max_bytes

	// spool, when set, stores finished requests (disk buffer); sendSlots
	// bounds the stored requests Send posts at once to concurrency.
	spool     component.Spool
	sendSlots chan struct{}

	// blocked counts the requests being retried because of the
	// destination; blockReason is the last error of one of them.
	blocked     atomic.Int32
	blockReason atomic.Pointer[string]
	limiter     *component.RateLimitedLogger
}

// pending is the body being filled for one group of header values.
type pending struct {
	key     string
	header  http.Header
	buf     *[]byte
	n       int
	tickets []*ticket
	lines   lineIndex
	timer   *time.Timer
	sent    bool // handed to a sender
}

// request is a body on its way.
type request struct {
	header  http.Header
	body    *[]byte
	n       int
	tickets []*ticket
	lines   lineIndex

	// A stored request (Send) has no body or tickets: packed is its body
	// as stored (compressed as encoding says), whole when a part ends at
	// packedEnd; unpack gives the uncompressed body, needed only to split
	// it; refuse takes a part the intake refused or the sink gave up on
	// (an error stops the send); ctx ends the send.
	ctx       context.Context
	packed    []byte
	packedEnd int
	encoding  string
	unpack    func() ([]byte, error)
	unpacked  []byte
	refuse    func(part, error) error
}

// context is the request's context: its own, or def.
func (r *request) context(def context.Context) context.Context {
	if r.ctx != nil {
		return r.ctx
	}
	return def
}

// raw returns the uncompressed body.
func (r *request) raw() ([]byte, error) {
	if r.body != nil {
		return *r.body, nil
	}
	if r.unpacked == nil && r.unpack != nil {
		b, err := r.unpack()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errNoSplit, err)
		}
		r.unpacked = b
	}
	if r.unpacked == nil {
		return nil, errNoSplit
	}
	return r.unpacked, nil
}

// ticket tracks one Write: done is closed when every request holding one
// of its records has finished.
type ticket struct {
	refs atomic.Int32
	done chan struct{}
	mu   sync.Mutex
	err  error
	// rejected are the indexes of the Write's records the intake refused
	// (400, 422, or 413 for a record alone), rejectErr the first refusal.
	rejected  []int
	rejectErr error
}

func newTicket() *ticket {
	t := &ticket{done: make(chan struct{})}
	t.refs.Store(1) // held by Write while it encodes
	return t
}

func (t *ticket) release(err error) {
	if err != nil {
		t.mu.Lock()
		if t.err == nil {
			t.err = err
		}
		t.mu.Unlock()
	}
	if t.refs.Add(-1) == 0 {
		close(t.done)
	}
}

// reject records that the records at first…first+n-1 of the Write were
// refused.
func (t *ticket) reject(err error, first, n int) {
	t.mu.Lock()
	for i := range n {
		t.rejected = append(t.rejected, first+i)
	}
	if t.rejectErr == nil {
		t.rejectErr = err
	}
	t.mu.Unlock()
}

// result is the Write's outcome: an error that fails the whole batch, or
// a component.RejectedError naming the refused records, or nil.
func (t *ticket) result() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return t.err
	}
	return component.Rejected(t.rejectErr, t.rejected)
}

// New builds an http sink from a validated config and starts its senders.
func New(cfg Config, set component.Settings) (*Sink, error) {
	set = set.Normalize()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	encName := cfg.encodingName()
	enc, err := encoding.New(encName, encoding.Options{IncludeLogInfo: cfg.IncludeLogInfo})
	if err != nil {
		return nil, err
	}
	headers, err := compileHeaders(cfg.headerTemplates())
	if err != nil {
		return nil, err
	}
	var authHeader string
	var secrets []string
	switch {
	case cfg.Auth.BearerTokenEnv != "":
		tok := os.Getenv(cfg.Auth.BearerTokenEnv)
		if tok == "" {
			return nil, fmt.Errorf("auth.bearer_token_env: environment variable %s is empty or unset", cfg.Auth.BearerTokenEnv)
		}
		authHeader = "Bearer " + tok
		secrets = append(secrets, tok)
	case cfg.Auth.Username != "":
		authHeader = "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.Auth.Username+":"+cfg.Auth.Password))
		secrets = append(secrets, cfg.Auth.Password, authHeader[6:])
	}
	tlsConf, err := tlsconf.New(tlsconf.Options{CAFile: cfg.TLS.CAFile, InsecureSkipVerify: cfg.TLS.InsecureSkipVerify})
	if err != nil {
		return nil, err
	}
	comp, err := newCompressor(cfg.Compression, cfg.CompressionLevel, cfg.Concurrency)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(set.Registerer, set.ID)
	if err != nil {
		comp.close()
		return nil, err
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          cfg.Concurrency + 4,
		MaxIdleConnsPerHost:   cfg.Concurrency + 4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       tlsConf,
		DisableCompression:    true,
	}
	hardCtx, hardCancel := context.WithCancel(context.WithoutCancel(context.Background()))
	s := &Sink{
		id:           set.ID,
		log:          set.Logger,
		m:            m,
		enc:          enc,
		comp:         comp,
		headers:      headers,
		authHeader:   authHeader,
		redact:       newRedactor(cfg.URL, secrets...),
		transport:    tr,
		client:       &http.Client{Transport: tr, CheckRedirect: checkRedirect},
		url:          cfg.URL,
		method:       cfg.Method,
		ctype:        encoding.ContentType(encName),
		trailingNL:   cfg.TrailingNewline,
		maxBytes:     cfg.Batch.MaxBytes,
		maxRecords:   cfg.Batch.MaxRecords,
		timeout:      cfg.Batch.Timeout,
		idle:         cfg.Batch.IdleTimeout,
		reqTimeout:   cfg.RequestTimeout,
		maxRetry:     cfg.MaxRetryDuration,
		backoff:      cfg.Retry,
		pendingLimit: max(2, cfg.Concurrency) * cfg.Batch.MaxBytes,
		mu:           make(chan struct{}, 1),
		groups:       map[string]*pending{},
		queue:        make(chan *request),
		hardCtx:      hardCtx,
		hardCancel:   hardCancel,
		limiter:      component.NewRateLimitedLogger(set.Logger, 30*time.Second),
		sendSlots:    make(chan struct{}, cfg.Concurrency),
	}
	if s.idle > 0 {
		s.idleTimer = time.AfterFunc(time.Hour, s.idleFlush)
		s.idleTimer.Stop()
	}
	bufCap := min(cfg.Batch.MaxBytes+4096, 16<<20)
	s.bodies.New = func() any { b := make([]byte, 0, bufCap); return &b }
	for range cfg.Concurrency {
		s.wg.Go(s.sender)
	}
	s.log.Info("http sink ready", "url", s.redact.display, "encoding", encName,
		"compression", cfg.Compression, "concurrency", cfg.Concurrency, "max_bytes", cfg.Batch.MaxBytes)
	return s, nil
}

func (s *Sink) lock(ctx context.Context) error {
	select {
	case s.mu <- struct{}{}:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (s *Sink) unlock() { <-s.mu }

// Write encodes b's records (or, for a batch of an .errors output, its
// failures) into the pending request bodies and returns once every request
// holding one of them has been answered with a 2xx. It returns a
// component.Permanent error when one of those requests failed permanently, and
// a plain error when ctx ends first or the sink is closed.
func (s *Sink) Write(ctx context.Context, b *flowlog.Batch) error {
	if len(b.Records) == 0 && len(b.Failed) == 0 {
		return nil
	}
	t := newTicket()
	if err := s.lock(ctx); err != nil {
		return err
	}
	var err error
	if s.closed {
		err = errClosed
	} else if len(b.Records) > 0 {
		for i := range b.Records {
			if err = s.add(ctx, t, i, &b.Records[i], nil, nil); err != nil {
				break
			}
		}
	} else {
		for i := range b.Failed {
			f := &b.Failed[i]
			if err = s.add(ctx, t, i, nil, f.Origin, f); err != nil {
				break
			}
		}
	}
	s.m.pendingSize.Set(float64(s.pendingBytes))
	if s.idleTimer != nil && len(s.groups) > 0 {
		s.lastAdd = time.Now()
		s.idleTimer.Reset(s.idle)
	}
	s.unlock()
	t.release(nil)
	if err != nil {
		return err
	}
	select {
	case <-t.done:
		if err := t.result(); err != nil {
			return err
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for delivery: %w", context.Cause(ctx))
	}
}

// add encodes one record (or failure f), the idx-th of its Write, into its
// group's body, sending bodies that are full. Called with the lock held.
func (s *Sink) add(ctx context.Context, t *ticket, idx int, r *flowlog.Record, o *flowlog.Origin, f *flowlog.Failure) error {
	p := s.group(r, o)
	if s.maxRecords > 0 && p.n >= s.maxRecords {
		if err := s.flush(ctx, p); err != nil {
			return err
		}
		p = s.group(r, o)
	}
	buf := *p.buf
	mark := len(buf)
	if r != nil {
		buf = s.enc.AppendRecord(buf, r)
	} else {
		buf = s.enc.AppendFailure(buf, f)
	}
	*p.buf = buf
	size := len(buf) - mark
	if size == 0 {
		return nil // the encoding drops this record
	}
	s.pendingBytes += size
	if p.n > 0 && len(buf) > s.maxBytes {
		// It does not fit: send the body without it, then start a new one
		// with it. The record is kept in a scratch copy meanwhile.
		s.scratch = append(s.scratch[:0], buf[mark:]...)
		*p.buf = buf[:mark]
		s.pendingBytes -= size
		if err := s.flush(ctx, p); err != nil {
			return err
		}
		p = s.group(r, o)
		*p.buf = append(*p.buf, s.scratch...)
		s.pendingBytes += size
	}
	p.n++
	p.lines.add(t, idx, len(*p.buf))
	if k := len(p.tickets); k == 0 || p.tickets[k-1] != t {
		t.refs.Add(1)
		p.tickets = append(p.tickets, t)
	}
	if len(*p.buf) >= s.maxBytes || s.maxRecords > 0 && p.n >= s.maxRecords {
		return s.flush(ctx, p)
	}
	if s.pendingBytes > s.pendingLimit {
		return s.flush(ctx, s.largest())
	}
	return nil
}

// group returns the pending body for the record's header values, creating
// it when needed. Called with the lock held.
func (s *Sink) group(r *flowlog.Record, o *flowlog.Origin) *pending {
	if r != nil {
		o = r.Origin
	}
	if p := s.last; p != nil && !p.sent && s.headers.originOnly && o == s.lastOrigin {
		return p // same Origin, same header values
	}
	s.lastOrigin = o
	s.keyBuf = s.headers.key(s.keyBuf[:0], r, o)
	if p := s.last; p != nil && !p.sent && p.key == string(s.keyBuf) {
		return p
	}
	p, ok := s.groups[string(s.keyBuf)]
	if !ok {
		key := string(s.keyBuf)
		p = &pending{key: key, header: s.headers.header(key), buf: s.bodies.Get().(*[]byte)}
		p.timer = time.AfterFunc(s.timeout, func() { s.expire(p) })
		s.groups[key] = p
	}
	s.last = p
	return p
}

func (s *Sink) largest() *pending {
	var big *pending
	for _, p := range s.groups {
		if big == nil || len(*p.buf) > len(*big.buf) {
			big = p
		}
	}
	return big
}

// expire sends p when its batch.timeout has passed.
func (s *Sink) expire(p *pending) {
	if s.lock(s.hardCtx) != nil {
		return
	}
	defer s.unlock()
	if !s.closed && s.groups[p.key] == p {
		_ = s.flush(s.hardCtx, p) // only fails when Close gave up; Close abandons p then
		s.m.pendingSize.Set(float64(s.pendingBytes))
	}
}

// idleFlush sends every pending body once no Write has added records for
// batch.idle_timeout.
func (s *Sink) idleFlush() {
	if s.lock(s.hardCtx) != nil {
		return
	}
	defer s.unlock()
	if s.closed {
		return
	}
	if since := time.Since(s.lastAdd); since < s.idle {
		s.idleTimer.Reset(s.idle - since) // a Write came meanwhile
		return
	}
	for _, p := range s.groups {
		if s.flush(s.hardCtx, p) != nil {
			return
		}
	}
	s.m.pendingSize.Set(float64(s.pendingBytes))
}

// flush hands p to a sender, waiting for one to be free: that wait is the
// backpressure. On success p is no longer pending; when ctx ends first, p
// stays pending. Called with the lock held.
func (s *Sink) flush(ctx context.Context, p *pending) error {
	if p.n == 0 {
		return nil
	}
	// The sender owns p.buf once it has it: read its size before.
	size := len(*p.buf)
	req := &request{header: p.header, body: p.buf, n: p.n, tickets: p.tickets, lines: p.lines}
	select {
	case s.queue <- req:
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-s.hardCtx.Done():
		return errClosed
	}
	p.sent = true
	p.timer.Stop()
	s.pendingBytes -= size
	delete(s.groups, p.key)
	if s.last == p {
		s.last = nil
	}
	return nil
}

// Close sends what is pending and waits for every request to finish, until
// ctx ends; then it cancels what is still in flight (those Writes fail and
// their batches are redelivered). It is idempotent.
func (s *Sink) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = s.close(ctx) })
	return s.closeErr
}

func (s *Sink) close(ctx context.Context) error {
	stop := context.AfterFunc(ctx, s.hardCancel)
	defer stop()
	var err error
	if s.idleTimer != nil {
		s.idleTimer.Stop()
	}
	if s.lock(s.hardCtx) == nil {
		s.closed = true
		for _, p := range s.groups {
			if err == nil {
				err = s.flush(s.hardCtx, p)
			}
			if err != nil { // gave up: the Writes of p fail and are redelivered
				p.timer.Stop()
				for _, t := range p.tickets {
					t.release(errClosed)
				}
			}
		}
		clear(s.groups)
		s.last = nil
		close(s.queue)
		s.unlock()
	} else {
		// Close timed out before it could take the lock: a Write is blocked
		// handing a body over; the senders give up now, which frees it.
		s.wg.Wait()
		s.lock(context.Background())
		s.closed = true
		for _, p := range s.groups {
			p.timer.Stop()
			for _, t := range p.tickets {
				t.release(errClosed)
			}
		}
		clear(s.groups)
		close(s.queue)
		s.unlock()
	}
	s.wg.Wait()
	s.hardCancel()
	s.transport.CloseIdleConnections()
	s.comp.close()
	if ctx.Err() != nil {
		return fmt.Errorf("undelivered requests abandoned: %w", ctx.Err())
	}
	return nil
}

// checkRedirect follows only 307 and 308, which keep the method and body;
// a 301, 302 or 303 would turn the POST into a body-less GET whose 2xx
// would pass for a delivery. Such a response is returned as is (and is a
// permanent failure).
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("stopped after 5 redirects")
	}
	if r := req.Response; r != nil && r.StatusCode != http.StatusTemporaryRedirect && r.StatusCode != http.StatusPermanentRedirect {
		return http.ErrUseLastResponse
	}
	return nil
}
