package ec2stub

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// Mode is how the EC2 stand-in answers.
type Mode int

const (
	// OK answers normally.
	OK Mode = iota
	// Throttle answers HTTP 503 with the error code RequestLimitExceeded.
	Throttle
	// ServerError answers HTTP 500 with the error code InternalError.
	ServerError
	// Down closes the connection without answering.
	Down
)

// Server is the EC2 stand-in. It is an http.Handler; it is safe for
// concurrent use.
type Server struct {
	mu       sync.Mutex
	enis     []*flowlog.ENI // sorted by InterfaceID
	mode     Mode
	failNext int
	failMode Mode
	pageSize int
	calls    int
	perID    map[string]int
	hold     chan struct{}
	// Throttling as EC2 does non-mutating calls: a token bucket per
	// caller (account and region).
	refill    rate.Limit
	burst     int
	buckets   map[string]*rate.Limiter
	throttled int
	listings  int
	// literal: filter values are compared as they are, * and ? included
	// (an EC2 that would not honour wildcards).
	literal bool
	latency time.Duration
	// inFlight and maxInFlight count the calls being answered at once.
	inFlight, maxInFlight int
}

// NewServer returns a stand-in that knows enis (which it does not modify).
func NewServer(enis []*flowlog.ENI) *Server {
	s := &Server{perID: map[string]int{}, pageSize: 1000}
	for _, e := range enis {
		s.putLocked(e)
	}
	return s
}

// Put adds or replaces an interface.
func (s *Server) Put(e *flowlog.ENI) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putLocked(e)
}

func (s *Server) putLocked(e *flowlog.ENI) {
	i, found := slices.BinarySearchFunc(s.enis, e.InterfaceID, func(x *flowlog.ENI, id string) int { return strings.Compare(x.InterfaceID, id) })
	if found {
		s.enis[i] = e
		return
	}
	s.enis = slices.Insert(s.enis, i, e)
}

// Delete forgets the interface id.
func (s *Server) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.enis = slices.DeleteFunc(s.enis, func(e *flowlog.ENI) bool { return e.InterfaceID == id })
}

// SetMode sets how every following call is answered.
func (s *Server) SetMode(m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = m
}

// FailNext answers the next n calls with m, then goes back to the mode set
// by SetMode.
func (s *Server) FailNext(n int, m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext, s.failMode = n, m
}

// SetPageSize caps the interfaces of one answer below MaxResults (default
// 1000), to exercise paging.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = max(n, 1)
}

// SetRateLimit makes the stand-in throttle as EC2 throttles non-mutating
// (Describe*) calls: each caller (the account of its access key and the
// region of its signature) has a bucket of burst calls refilled at refill
// calls a second; a call that finds its bucket empty is answered HTTP 503
// with RequestLimitExceeded. EC2's documented figures are a bucket of 100
// refilled at 20/s. refill 0 turns throttling off (the default).
func (s *Server) SetRateLimit(refill float64, burst int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refill, s.burst = rate.Limit(refill), burst
	s.buckets = map[string]*rate.Limiter{}
}

// SetWildcards(false) makes filter values match only themselves, * and ?
// included, as if EC2 did not honour wildcards (it does: * matches any run
// of characters, ? one). On by default.
func (s *Server) SetWildcards(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.literal = !on
}

// SetLatency makes each answer wait d, as EC2's do (a page of 1000
// interfaces takes it a second or more).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// MaxConcurrent returns the most calls that were being answered at once.
func (s *Server) MaxConcurrent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

// Throttled returns the number of calls answered RequestLimitExceeded by
// the rate limit (SetRateLimit), not by SetMode or FailNext.
func (s *Server) Throttled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.throttled
}

// Listings returns the number of DescribeNetworkInterfaces requests that
// named no interface id (pages of full listings), failed ones included.
func (s *Server) Listings() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listings
}

// Hold makes calls wait (after being counted) until release is called.
func (s *Server) Hold() (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.hold = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.hold == ch {
				s.hold = nil
			}
			s.mu.Unlock()
			close(ch)
		})
	}
}

// Calls returns the number of DescribeNetworkInterfaces requests received,
// failed ones included.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// CallsFor returns the number of requests that named the interface id (in
// the network-interface-id filter or NetworkInterfaceId.N).
func (s *Server) CallsFor(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perID[id]
}

// ResetCounters sets Calls and CallsFor back to zero.
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls, s.throttled, s.listings, s.maxInFlight = 0, 0, 0, 0
	clear(s.perID)
}

const xmlns = "http://ec2.amazonaws.com/doc/2016-11-15/"

// ServeHTTP answers one EC2 Query API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "MalformedQueryString", err.Error())
		return
	}
	if a := r.Form.Get("Action"); a != "DescribeNetworkInterfaces" {
		writeError(w, http.StatusBadRequest, "InvalidAction", fmt.Sprintf("The action %s is not valid for this web service.", a))
		return
	}
	s.mu.Lock()
	q, err := parseQuery(r.Form, !s.literal)
	account, region := caller(r)
	s.calls++
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	latency := s.latency
	if len(q.named) == 0 {
		s.listings++
	}
	for _, id := range q.named {
		s.perID[id]++
	}
	mode := s.mode
	if s.failNext > 0 {
		s.failNext--
		mode = s.failMode
	}
	if mode == OK && s.refill > 0 {
		b := s.buckets[account+"/"+region]
		if b == nil {
			b = rate.NewLimiter(s.refill, s.burst)
			s.buckets[account+"/"+region] = b
		}
		if !b.Allow() {
			s.throttled++
			mode = Throttle
		}
	}
	hold := s.hold
	s.mu.Unlock()
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	switch mode {
	case Throttle:
		writeError(w, http.StatusServiceUnavailable, "RequestLimitExceeded", "Request limit exceeded.")
		return
	case ServerError:
		writeError(w, http.StatusInternalServerError, "InternalError", "An internal error has occurred.")
		return
	case Down:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidParameterValue", err.Error())
		return
	}
	s.mu.Lock()
	pageSize := s.pageSize
	var match []*flowlog.ENI
	visible := func(e *flowlog.ENI) bool {
		return (account == "" || e.AccountID == "" || e.AccountID == account) &&
			(region == "" || e.Region == "" || e.Region == region) && q.matches(e)
	}
	if q.max > 0 {
		pageSize = min(pageSize, q.max)
	}
	resp := response{Xmlns: xmlns, RequestID: requestID()}
	if ids := q.idSet(); ids != nil {
		// Named interfaces: found by id rather than by a scan of the
		// table; NextToken is an offset among them.
		for _, id := range ids {
			if i, ok := slices.BinarySearchFunc(s.enis, id, func(x *flowlog.ENI, id string) int { return strings.Compare(x.InterfaceID, id) }); ok && visible(s.enis[i]) {
				match = append(match, s.enis[i])
			}
		}
		s.mu.Unlock()
		for _, id := range q.ids {
			if !slices.ContainsFunc(match, func(e *flowlog.ENI) bool { return e.InterfaceID == id }) {
				writeError(w, http.StatusBadRequest, "InvalidNetworkInterfaceID.NotFound",
					fmt.Sprintf("The networkInterface ID '%s' does not exist", id))
				return
			}
		}
		if q.start > len(match) {
			writeError(w, http.StatusBadRequest, "InvalidParameterValue", "Invalid value for NextToken")
			return
		}
		match = match[q.start:]
		if len(match) > pageSize {
			resp.NextToken = token(q.start + pageSize)
			match = match[:pageSize]
		}
	} else {
		// A listing: NextToken is the table position of the next
		// interface to answer, so a page costs its own size, not the
		// table's.
		if q.start > len(s.enis) {
			s.mu.Unlock()
			writeError(w, http.StatusBadRequest, "InvalidParameterValue", "Invalid value for NextToken")
			return
		}
		start := q.start
		if q.prefix != "" && start == 0 {
			start, _ = slices.BinarySearchFunc(s.enis, q.prefix, func(x *flowlog.ENI, p string) int { return strings.Compare(x.InterfaceID, p) })
		}
		for i := start; i < len(s.enis); i++ {
			if q.prefix != "" && !strings.HasPrefix(s.enis[i].InterfaceID, q.prefix) {
				break
			}
			if !visible(s.enis[i]) {
				continue
			}
			if len(match) == pageSize {
				resp.NextToken = token(i)
				break
			}
			match = append(match, s.enis[i])
		}
		s.mu.Unlock()
	}
	for _, e := range match {
		resp.Set.Items = append(resp.Set.Items, toXML(e))
	}
	writeXML(w, http.StatusOK, resp)
}

// writeXML writes v as a complete XML document with its Content-Length.
func token(n int) string { return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(n))) }

func writeXML(w http.ResponseWriter, status int, v any) {
	body, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	body = append([]byte(xml.Header), body...)
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// query is a parsed DescribeNetworkInterfaces request.
type query struct {
	filters map[string][]string
	// patterns are network-interface-id values with wildcards (when
	// honoured); prefix, when every value is one pattern "<prefix>*", is
	// where a listing may start in the sorted table.
	patterns []string
	prefix   string
	ids      []string // NetworkInterfaceId.N
	named    []string // every interface id named
	max      int
	start    int
}

var knownFilters = map[string]bool{
	"network-interface-id": true, "private-ip-address": true, "addresses.private-ip-address": true,
	"vpc-id": true, "subnet-id": true, "owner-id": true,
}

func parseQuery(form map[string][]string, wildcards bool) (query, error) {
	q := query{filters: map[string][]string{}}
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	for n := 1; ; n++ {
		name := get(fmt.Sprintf("Filter.%d.Name", n))
		if name == "" {
			break
		}
		if !knownFilters[name] {
			return q, fmt.Errorf("The filter '%s' is invalid", name)
		}
		var vals []string
		for m := 1; ; m++ {
			v, ok := form[fmt.Sprintf("Filter.%d.Value.%d", n, m)]
			if !ok {
				break
			}
			vals = append(vals, v[0])
		}
		if name == "network-interface-id" && wildcards {
			// Patterns match apart (matchesPattern); the literal ids stay
			// in the filter, which is kept even when it has none.
			lits := []string{}
			for _, v := range vals {
				if strings.ContainsAny(v, "*?") {
					q.patterns = append(q.patterns, v)
				} else {
					lits = append(lits, v)
				}
			}
			vals = lits
		}
		q.filters[name] = append(q.filters[name], vals...)
		if name == "network-interface-id" {
			q.named = append(q.named, vals...)
		}
	}
	// One pattern "<prefix>*" and no literal id: a listing may start at
	// the prefix in the sorted table.
	if len(q.patterns) == 1 && len(q.filters["network-interface-id"]) == 0 {
		if rest, ok := strings.CutSuffix(q.patterns[0], "*"); ok && !strings.ContainsAny(rest, "*?\\") {
			q.prefix = rest
		}
	}
	for n := 1; ; n++ {
		v, ok := form[fmt.Sprintf("NetworkInterfaceId.%d", n)]
		if !ok {
			break
		}
		q.ids = append(q.ids, v[0])
		q.named = append(q.named, v[0])
	}
	if m := get("MaxResults"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 5 || n > 1000 {
			return q, fmt.Errorf("Value ( %s ) for parameter maxResults is invalid. Expecting a value between 5 and 1000", m)
		}
		if len(q.ids) > 0 {
			return q, fmt.Errorf("The parameter NetworkInterfaceIds cannot be used with the parameter maxResults")
		}
		q.max = n
	}
	if t := get("NextToken"); t != "" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || n < 0 {
			return q, fmt.Errorf("Invalid value for NextToken")
		}
		q.start = n
	}
	return q, nil
}

// idSet returns the interface ids every answer must be among (sorted, no
// duplicates), or nil when the query names none.
func (q *query) idSet() []string {
	if len(q.patterns) > 0 {
		return nil // ids and patterns: a listing
	}
	var ids []string
	switch f, ok := q.filters["network-interface-id"]; {
	case ok:
		ids = slices.Clone(f)
	case len(q.ids) > 0:
		ids = slices.Clone(q.ids)
	default:
		return nil
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// matchesPattern reports whether id matches one of the wildcard values (*
// any run of characters, ? one; path.Match's syntax, which ids, holding no
// '/', meet).
func (q *query) matchesPattern(id string) bool {
	for _, p := range q.patterns {
		if ok, _ := path.Match(p, id); ok {
			return true
		}
	}
	return false
}

func (q *query) matches(e *flowlog.ENI) bool {
	for name, vals := range q.filters {
		ok := false
		switch name {
		case "network-interface-id":
			ok = slices.Contains(vals, e.InterfaceID) || q.matchesPattern(e.InterfaceID)
		case "private-ip-address", "addresses.private-ip-address":
			for _, a := range e.Addresses {
				if a.Is4() && slices.Contains(vals, a.String()) {
					ok = true
				}
			}
		case "vpc-id":
			ok = slices.Contains(vals, e.VPCID)
		case "subnet-id":
			ok = slices.Contains(vals, e.SubnetID)
		case "owner-id":
			ok = slices.Contains(vals, e.AccountID)
		}
		if !ok {
			return false
		}
	}
	if len(q.ids) > 0 && !slices.Contains(q.ids, e.InterfaceID) {
		return false
	}
	return true
}

// caller returns the account (for keys made by the STS stand-in) and the
// region of the request's SigV4 credential scope.
func caller(r *http.Request) (account, region string) {
	auth := r.Header.Get("Authorization")
	i := strings.Index(auth, "Credential=")
	if i < 0 {
		return "", ""
	}
	cred := auth[i+len("Credential="):]
	if j := strings.IndexAny(cred, ", "); j >= 0 {
		cred = cred[:j]
	}
	parts := strings.Split(cred, "/") // AKID/date/region/service/aws4_request
	if len(parts) >= 3 {
		region = parts[2]
	}
	if a, ok := strings.CutPrefix(parts[0], keyPrefix); ok {
		account = a
	}
	return account, region
}

var (
	idMu  sync.Mutex
	idSeq int
)

func requestID() string {
	idMu.Lock()
	defer idMu.Unlock()
	idSeq++
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", idSeq)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	type xerr struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	v := struct {
		XMLName   xml.Name `xml:"Response"`
		Errors    []xerr   `xml:"Errors>Error"`
		RequestID string   `xml:"RequestID"`
	}{Errors: []xerr{{code, msg}}, RequestID: requestID()}
	writeXML(w, status, v)
}
