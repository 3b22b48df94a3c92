package httpsink

import (
	"cmp"
	"errors"
	"net/url"
	"slices"
	"strings"
)

// redactor hides the secrets a sink knows (its URL's path, query and user
// information, auth values) in strings bound for logs and errors.
type redactor struct {
	// display is the URL as it may be shown: scheme://host/….
	display string
	secrets []string
}

func newRedactor(raw string, extra ...string) *redactor {
	r := &redactor{display: "(url hidden)"}
	add := func(s string) {
		if len(s) >= 3 && !slices.Contains(r.secrets, s) {
			r.secrets = append(r.secrets, s)
		}
	}
	add(raw)
	if u, err := url.Parse(raw); err == nil {
		r.display = u.Scheme + "://" + u.Host + "/…"
		add(u.String())
		if u.Path != "/" {
			add(u.Path)
			add(u.EscapedPath())
			add(strings.TrimPrefix(u.Path, "/"))
			for _, seg := range strings.Split(u.Path, "/") {
				add(seg) // a token segment quoted alone
			}
		}
		add(u.RawQuery)
		add(u.Fragment)
		if u.User != nil {
			add(u.User.String())
			if p, ok := u.User.Password(); ok {
				add(p)
			}
		}
	}
	for _, s := range extra {
		add(s)
	}
	// Longest first, so a secret's substring never leaves a part behind.
	slices.SortFunc(r.secrets, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return r
}

// string returns s with every secret replaced by "…".
func (r *redactor) string(s string) string {
	for _, sec := range r.secrets {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "…")
		}
	}
	return s
}

// transportError describes err from http.Client.Do without the URL that
// *url.Error carries, and with any other secret hidden.
func (r *redactor) transportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return r.string(err.Error())
}
