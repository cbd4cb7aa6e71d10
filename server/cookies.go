package server

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/kindlab/kindlab/server/session"
)

// Every cookie kindlab sets. All are HttpOnly, Secure over HTTPS (see secure).
//
//   - kindlab_csrf: the browser's double-submit CSRF token (Path /, Strict).
//   - kindlab_<session ID>: a learner's session token, scoped to the session's own
//     path, so one browser can hold several sessions and no session's cookie
//     reaches another's URLs (Lax: the redirect after Start carries it).
//   - kindlab_instructor: an instructor's sign-in session (Path /, Strict).
//   - kindlab_w_<workshop ID>: a workshop's own instructor token, so one
//     workshop's instructor cannot open another's dashboard (Path /, Strict).
const (
	csrfCookie           = "kindlab_csrf"
	instructorCookie     = "kindlab_instructor"
	workshopCookiePrefix = "kindlab_w_"
)

func sessionCookie(sid string) string { return "kindlab_" + sid }

func workshopCookie(id string) string { return workshopCookiePrefix + id }

// workshopOfCookie returns the workshop ID a workshop cookie is for.
func workshopOfCookie(c *http.Cookie) (string, bool) {
	return strings.CutPrefix(c.Name, workshopCookiePrefix)
}

// csrfToken returns the double-submit token of this browser, setting it if new.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 16 {
		return c.Value
	}
	t := session.RandomToken(18)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: t, Path: "/", HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteStrictMode})
	return t
}

// checkCSRF verifies a form's csrf field against the cookie.
func checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) == 1
}
