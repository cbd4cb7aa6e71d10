package web

import (
	"net/url"

	"github.com/kindlab/kindlab/static"
)

// Every path of kindlab, in one place: the pages link to them and the server
// mounts its routes on them (static files are served under /static/). Every
// variable part is escaped with url.PathEscape.

// CatalogURL is the catalog, the home page.
const CatalogURL = "/"

// StartURL is where a lab card's Start form posts.
func StartURL(labID string) string { return "/labs/" + url.PathEscape(labID) + "/start" }

// SessionURL is the learner's lab page (or progress view while provisioning).
func SessionURL(sid string) string { return "/s/" + url.PathEscape(sid) }

// StepURL is where a step link posts the step (1-based) to make it current.
func StepURL(sid string) string { return SessionURL(sid) + "/step" }

// EventsURL is the session's Server-Sent Events stream.
func EventsURL(sid string) string { return SessionURL(sid) + "/events" }

// TerminalURL is the path of the terminal websocket; the browser turns it into
// a ws:// or wss:// URL on the page's own host.
func TerminalURL(sid string) string { return SessionURL(sid) + "/terminal" }

// ResetURL is where the "Reset my cluster" form posts.
func ResetURL(sid string) string { return SessionURL(sid) + "/reset" }

// EndURL is where "End and free my cluster" posts.
func EndURL(sid string) string { return SessionURL(sid) + "/end" }

// CompleteURL is the completion screen of a session.
func CompleteURL(sid string) string { return SessionURL(sid) + "/complete" }

// AppURL is the proxied lab app service of a session.
func AppURL(sid, service string) string {
	return SessionURL(sid) + "/apps/" + url.PathEscape(service) + "/"
}

// staticURL is the URL of a file of package static, with its version (see
// static.URL: browsers keep it until it changes).
func staticURL(name string) string { return static.URL(name) }

// The instructor's paths.
const (
	InstructorURL          = "/instructor" // sign-in, then the workshops
	instructorLoginURL     = "/instructor/login"
	instructorLogoutURL    = "/instructor/logout"
	instructorWorkshopsURL = "/instructor/workshops" // where the new workshop form posts
)

// JoinURL is a workshop's join page (and where its form posts).
func JoinURL(code string) string { return "/join/" + url.PathEscape(code) }

// DashboardURL is a workshop's dashboard.
func DashboardURL(id string) string { return "/w/" + url.PathEscape(id) }

func workshopLiveURL(id string) string      { return DashboardURL(id) + "/live" }
func workshopBroadcastURL(id string) string { return DashboardURL(id) + "/broadcast" }
func workshopExportURL(id, ext string) string {
	return DashboardURL(id) + "/export." + ext
}

// WatchURL is the read-only terminal page of one learner of a workshop.
func WatchURL(id, sid string) string { return DashboardURL(id) + "/watch/" + url.PathEscape(sid) }

// WatchTerminalURL is the websocket of that read-only terminal.
func WatchTerminalURL(id, sid string) string { return WatchURL(id, sid) + "/terminal" }

// learnerActionURL is where a learner action form (reset, fast-forward, extend) posts.
func learnerActionURL(id, sid, action string) string {
	return DashboardURL(id) + "/learners/" + url.PathEscape(sid) + "/" + action
}
