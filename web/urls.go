package web

import (
	"net/url"
	"strconv"
)

// The paths the pages link to. The server mounts its routes on the same paths;
// static files are served under /static/.

// CatalogURL is the catalog, the home page.
const CatalogURL = "/"

// StartURL is where a lab card's Start form posts.
func StartURL(labID string) string { return "/labs/" + url.PathEscape(labID) + "/start" }

// SessionURL is the learner's lab page (or progress view while provisioning).
func SessionURL(sid string) string { return "/s/" + url.PathEscape(sid) }

// StepURL is the lab page showing step n (1-based).
func StepURL(sid string, n int) string { return SessionURL(sid) + "?step=" + strconv.Itoa(n) }

// EventsURL is the session's Server-Sent Events stream.
func EventsURL(sid string) string { return SessionURL(sid) + "/events" }

// TerminalURL is the path of the terminal websocket; the browser turns it into
// a ws:// or wss:// URL on the page's own host.
func TerminalURL(sid string) string { return SessionURL(sid) + "/terminal" }

// ResetURL is where the "Reset my cluster" form posts.
func ResetURL(sid string) string { return SessionURL(sid) + "/reset" }

// CompleteURL is the completion screen of a session.
func CompleteURL(sid string) string { return SessionURL(sid) + "/complete" }

// AppURL is the proxied lab app service of a session.
func AppURL(sid, service string) string {
	return SessionURL(sid) + "/apps/" + url.PathEscape(service) + "/"
}

// staticURL is the URL of a file of package static.
func staticURL(name string) string { return "/static/" + name }
