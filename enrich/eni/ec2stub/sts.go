package ec2stub

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// keyPrefix starts the access keys the STS stand-in issues; the account
// follows.
const keyPrefix = "ASIAVPCFLOW"

// AccessKeyFor returns the access key id the STS stand-in issues for a role
// of account; the EC2 stand-in maps it back to the account.
func AccessKeyFor(account string) string { return keyPrefix + account }

// STS is the STS stand-in: it answers AssumeRole. It is an http.Handler.
type STS struct {
	mu    sync.Mutex
	calls map[string]int
	// TTL is the lifetime of the credentials it issues (default 1 h).
	TTL time.Duration
}

// NewSTS returns an STS stand-in.
func NewSTS() *STS { return &STS{calls: map[string]int{}, TTL: time.Hour} }

// Calls returns the number of AssumeRole requests for roleARN.
func (s *STS) Calls(roleARN string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[roleARN]
}

// ServeHTTP answers one STS Query API request.
func (s *STS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		stsError(w, http.StatusBadRequest, "MalformedQueryString", err.Error())
		return
	}
	if a := r.Form.Get("Action"); a != "AssumeRole" {
		stsError(w, http.StatusBadRequest, "InvalidAction", fmt.Sprintf("Could not find operation %s", a))
		return
	}
	arn := r.Form.Get("RoleArn")
	session := r.Form.Get("RoleSessionName")
	parts := strings.Split(arn, ":")
	if len(parts) < 6 || parts[0] != "arn" || len(parts[4]) != 12 || !strings.HasPrefix(parts[5], "role/") || session == "" {
		stsError(w, http.StatusBadRequest, "ValidationError", fmt.Sprintf("invalid RoleArn %q or RoleSessionName", arn))
		return
	}
	account := parts[4]
	s.mu.Lock()
	s.calls[arn]++
	n := s.calls[arn]
	ttl := s.TTL
	s.mu.Unlock()
	type creds struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	}
	v := struct {
		XMLName xml.Name `xml:"AssumeRoleResponse"`
		Xmlns   string   `xml:"xmlns,attr"`
		Result  struct {
			User struct {
				Arn string `xml:"Arn"`
				ID  string `xml:"AssumedRoleId"`
			} `xml:"AssumedRoleUser"`
			Credentials creds `xml:"Credentials"`
		} `xml:"AssumeRoleResult"`
		RequestID string `xml:"ResponseMetadata>RequestId"`
	}{Xmlns: "https://sts.amazonaws.com/doc/2011-06-15/", RequestID: requestID()}
	v.Result.User.Arn = fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", account, strings.TrimPrefix(parts[5], "role/"), session)
	v.Result.User.ID = "AROASTANDIN" + account + ":" + session
	v.Result.Credentials = creds{
		AccessKeyID:     AccessKeyFor(account),
		SecretAccessKey: fmt.Sprintf("stand-in-secret-%s-%d", account, n),
		SessionToken:    fmt.Sprintf("stand-in-token-%s-%d", account, n),
		Expiration:      time.Now().Add(ttl).UTC().Format(time.RFC3339),
	}
	writeXML(w, http.StatusOK, v)
}

func stsError(w http.ResponseWriter, status int, code, msg string) {
	type xerr struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	v := struct {
		XMLName   xml.Name `xml:"ErrorResponse"`
		Error     xerr     `xml:"Error"`
		RequestID string   `xml:"RequestId"`
	}{Error: xerr{"Sender", code, msg}, RequestID: requestID()}
	writeXML(w, status, v)
}
