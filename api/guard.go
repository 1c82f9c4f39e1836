package api

import (
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// DefaultBodyLimit bounds a request body: a query or an action fits in far
// less, and reading more would let one request hold memory.
const DefaultBodyLimit = 1 << 20

// WithAllowedHosts adds names the server answers to besides the loopback
// names and IP literals (e.g. a public DNS name behind a proxy). A request
// whose Host is anything else is refused, which defeats DNS rebinding: a
// page on attacker.example that rebinds its name to 127.0.0.1 still sends
// "Host: attacker.example".
func WithAllowedHosts(names ...string) Option {
	return func(s *Server) {
		for _, n := range names {
			if n = strings.ToLower(strings.TrimSpace(n)); n != "" {
				s.hosts = append(s.hosts, n)
			}
		}
	}
}

// WithBodyLimit sets the largest request body accepted, in bytes.
func WithBodyLimit(n int64) Option { return func(s *Server) { s.bodyLimit = n } }

// guard applies SPEC §7's rules for browsers to every request: the Host
// must be one the appliance answers to, a POST must be JSON (a page can
// send text/plain or a form cross-origin without a CORS preflight, but not
// application/json) and must not come from another origin, and no body may
// exceed the limit.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r.Host) {
			writeJSON(w, http.StatusMisdirectedRequest, ErrorResponse{"host " + quoteHost(r.Host) + " is not served here (allowed: loopback names, IP addresses and the configured http_hosts)"})
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions {
			if msg := crossOrigin(r); msg != "" {
				writeJSON(w, http.StatusForbidden, ErrorResponse{msg})
				return
			}
			if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
				writeJSON(w, http.StatusUnsupportedMediaType, ErrorResponse{"POST requests need Content-Type: application/json"})
				return
			}
		}
		if r.ContentLength > s.bodyLimit {
			writeJSON(w, http.StatusRequestEntityTooLarge, ErrorResponse{bodyTooLarge(s.bodyLimit)})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.bodyLimit)
		next.ServeHTTP(w, r)
	})
}

func bodyTooLarge(limit int64) string {
	return "request body larger than " + formatBytes(limit)
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// hostAllowed reports whether a request's Host header names this server:
// an IP literal (a page can only reach an IP by using it as its own
// origin), "localhost" or a name under ".localhost" (RFC 6761: they resolve
// to loopback), or a configured name.
func (s *Server) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "" {
		return false
	}
	if net.ParseIP(host) != nil || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	for _, n := range s.hosts {
		if host == n {
			return true
		}
	}
	return false
}

// crossOrigin returns why a state-changing request from a browser comes from
// another site, or "" when it does not. Browsers send Sec-Fetch-Site and
// Origin on cross-origin POSTs; command-line clients send neither.
func crossOrigin(r *http.Request) string {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return "cross-origin requests are refused"
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return ""
	}
	u, err := url.Parse(origin)
	if err != nil || origin == "null" || !strings.EqualFold(u.Host, r.Host) {
		return "cross-origin requests are refused (Origin " + quoteHost(origin) + ")"
	}
	return ""
}

// quoteHost quotes attacker-controlled text for an error message, bounded.
func quoteHost(s string) string {
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return `"` + strings.ToValidUTF8(s, "?") + `"`
}
