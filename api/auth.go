package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Off loopback every route but the probes needs the token (SPEC §7): the
// dashboards and DAG pages show the shop's data and logs as much as the
// SQL endpoint does. Programs send it as a Bearer header; a browser signs
// in once on /login, which sets a session cookie the page's own requests
// then carry.

// sessionCookie is the name of the browser's session cookie.
const sessionCookie = "cartwheel_session"

// openPaths are served without the token: the probes (an orchestrator's
// health checks carry no credentials) and the sign-in page with its script.
var openPaths = map[string]bool{"/healthz": true, "/readyz": true, "/login": true, "/login.js": true, "/api/login": true}

// sessionValue is the session cookie's value: an HMAC of a fixed label
// keyed by the token, so that the cookie is not the token itself and a
// new token ends every session.
func (s *Server) sessionValue() string {
	m := hmac.New(sha256.New, []byte(s.token))
	io.WriteString(m, "cartwheel browser session v1")
	return hex.EncodeToString(m.Sum(nil))
}

// authorized reports whether r, on a server off loopback (requireAuth
// lets loopback through first), carries the token as a Bearer header or a
// valid session cookie.
func (s *Server) authorized(r *http.Request) bool {
	if s.token == "" {
		return false
	}
	if got, ok := bearerToken(r.Header.Get("Authorization")); ok {
		return subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) == 1
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		return subtle.ConstantTimeCompare([]byte(c.Value), []byte(s.sessionValue())) == 1
	}
	return false
}

// requireAuth refuses a request that is not authorized. A page a browser
// navigates to is sent to the sign-in page; anything else gets 401. A
// client whose wrong tokens piled up gets 429 without a check (authlimit),
// so that the token cannot be guessed at speed. Session cookies are not
// counted: an HMAC cannot be guessed, and a browser holding one from
// before the token changed sends it with every request of its page.
func (s *Server) requireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if openPaths[r.URL.Path] || s.loopback {
			next.ServeHTTP(w, r)
			return
		}
		guess := r.Header.Get("Authorization") != ""
		if guess && !s.limiter.Allow(r.RemoteAddr) {
			s.tooManyAttempts(w)
			return
		}
		if s.authorized(r) {
			next.ServeHTTP(w, r)
			return
		}
		if guess {
			s.limiter.Failed(r.RemoteAddr)
		}
		if _, err := r.Cookie(sessionCookie); err == nil {
			s.clearSession(w, r) // stale: the token changed
		}
		if r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/html") {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeJSON(w, http.StatusUnauthorized, ErrorResponse{"missing or wrong token"})
	})
}

func (s *Server) tooManyAttempts(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(int(s.limiter.RetryAfter().Seconds())))
	writeJSON(w, http.StatusTooManyRequests, ErrorResponse{"too many wrong tokens from this address: try again later"})
}

// LoginRequest is the body of POST /api/login.
type LoginRequest struct {
	Token string `json:"token"`
}

// login checks the token and sets the session cookie: HttpOnly (no script
// reads it), SameSite=Strict (no other site's page sends it), Secure when
// the connection is TLS.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req LoginRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, ErrorResponse{`body must be {"token": "..."}`})
		return
	}
	if !s.limiter.Allow(r.RemoteAddr) {
		s.tooManyAttempts(w)
		return
	}
	if s.token == "" || subtle.ConstantTimeCompare([]byte(req.Token), []byte(s.token)) != 1 {
		s.limiter.Failed(r.RemoteAddr)
		writeJSON(w, http.StatusUnauthorized, ErrorResponse{"wrong token"})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.sessionValue(), Path: "/", MaxAge: 7 * 24 * 3600,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	writeJSON(w, http.StatusOK, map[string]bool{"signed_in": true})
}

// logout ends the browser's session.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	s.clearSession(w, r)
	writeJSON(w, http.StatusOK, map[string]bool{"signed_in": false})
}

func (s *Server) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}

// pageCSP is the sign-in page's Content-Security-Policy: its one script
// comes from this server, and it may only talk to this server.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; " +
	"form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

func (s *Server) loginPage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	io.WriteString(w, loginHTML)
}

func loginScript(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	io.WriteString(w, loginJS)
}

const loginHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · Cartwheel</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>
body { font-family: system-ui, sans-serif; margin: 0; min-height: 100vh; display: grid; place-items: center; background: #f4f5f7; color: #1d2330 }
form { background: #fff; padding: 2em; border-radius: 8px; box-shadow: 0 1px 4px rgba(0,0,0,.12); width: 20em }
h1 { font-size: 1.3em; margin: 0 0 1em }
label, input, button { display: block; width: 100%; box-sizing: border-box; font: inherit }
input { margin: .4em 0 1em; padding: .5em; border: 1px solid #b8bfcc; border-radius: 4px }
button { padding: .55em; border: 0; border-radius: 4px; background: #2f5fd0; color: #fff; cursor: pointer }
#error { color: #b42318; min-height: 1.4em; margin: .8em 0 0 }
@media (prefers-color-scheme: dark) { body { background: #14171d; color: #dde2ea } form { background: #1e232c } input { background: #14171d; color: inherit; border-color: #3a4252 } }
</style></head>
<body>
<form id="login">
<h1>Cartwheel</h1>
<label for="token">This appliance is reachable from other hosts: give its token (<code>token:</code> or <code>CARTWHEEL_TOKEN</code>).</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
<p id="error" role="alert"></p>
</form>
<script src="/login.js"></script>
</body></html>
`

// loginJS posts the token as JSON (the guard refuses forms) and goes on to
// the page the user asked for: a path on this server only, never another
// site (an open redirect would help phishing).
const loginJS = `"use strict";
document.getElementById("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const error = document.getElementById("error");
  error.textContent = "";
  let next = new URLSearchParams(location.search).get("next") || "/";
  if (!next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) next = "/";
  try {
    const resp = await fetch("/api/login", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({token: document.getElementById("token").value})});
    if (resp.ok) { location.replace(next); return; }
    error.textContent = resp.status === 401 ? "Wrong token." :
      resp.status === 429 ? "Too many wrong tokens: wait a minute." : "Sign-in failed: " + resp.status;
  } catch (e) {
    error.textContent = "Sign-in failed: " + e;
  }
});
`
