package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/web"
)

var stages = []string{stageQueue, stageFiles, stageTerminal, stageReady}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := c.Render(r.Context(), w); err != nil {
		s.Logger.Error("render", "path", r.URL.Path, "error", err)
	}
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, err error) {
	if err != nil && status >= 500 {
		s.Logger.Error("request failed", "path", r.URL.Path, "error", err)
	}
	s.render(w, r, status, web.ErrorPage(web.NewErrorView(status, err, middleware.GetReqID(r.Context()))))
}

func (s *Server) catalog(w http.ResponseWriter, r *http.Request) {
	v := web.CatalogView{CSRF: s.csrfToken(w, r)}
	for _, l := range s.Catalog.Labs {
		v.Labs = append(v.Labs, web.CardFromLab(*l))
	}
	s.render(w, r, http.StatusOK, web.Catalog(v))
}

// start creates a session for a lab and sends the browser to its progress view.
func (s *Server) start(w http.ResponseWriter, r *http.Request) {
	lab, ok := s.Catalog.Lab(chi.URLParam(r, "lab"))
	if !ok {
		s.errorPage(w, r, http.StatusNotFound, publicError{"There is no such lab."})
		return
	}
	if !checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, publicError{"This form has expired. Go back to the labs, reload the page and press Start again."})
		return
	}
	if err := s.admit(clientOf(r).addr); err != nil {
		s.errorPage(w, r, http.StatusTooManyRequests, err)
		return
	}
	l, token, err := s.startSession(r.Context(), clientOf(r).addr, lab, "", "", "")
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, err)
		return
	}
	s.enterSession(w, r, l, token)
}

// Refusals of the per-client limits, in words for the learner.
var (
	errTooManySessions = publicError{"You already have as many labs running as one person may. Finish one (or let it expire), or use the lab you started: its address is in your browser's history."}
	errTooFast         = publicError{"You are starting or resetting labs faster than kindlab allows. Wait a minute and try again."}
)

// admit applies the per-client limits to a new session from client.
func (s *Server) admit(client string) error {
	if !s.starts.allow(client, s.Clock.Now()) {
		s.Logger.Warn("start rate-limited", "client", client)
		return errTooFast
	}
	s.mu.Lock()
	live := 0
	for _, l := range s.learners {
		// A session whose cluster failed does not count: its page offers Try again.
		if l.client == client && l.session().State != "failed" {
			live++
		}
	}
	s.mu.Unlock()
	if live >= s.Limits.SessionsPerClient {
		s.Logger.Warn("start refused: sessions per client", "client", client, "live", live)
		return errTooManySessions
	}
	return nil
}

// enterSession gives the browser the session's cookie, scoped to the session's
// path, and sends it there.
func (s *Server) enterSession(w http.ResponseWriter, r *http.Request, l *learner, token string) {
	sess := l.session()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie(sess.ID), Value: token, Path: web.SessionURL(sess.ID), HttpOnly: true,
		Secure: s.secure(r), SameSite: http.SameSiteLaxMode, Expires: sess.Expires})
	http.Redirect(w, r, web.SessionURL(sess.ID), http.StatusSeeOther)
}

// startSession stores a new session and provisions it in the background. It
// returns the learner and the cookie token, which is only stored hashed.
// A workshop learner's session uses the ID the workshop seated them with.
func (s *Server) startSession(ctx context.Context, client string, lab *labs.Lab, workshop, name, id string) (*learner, string, error) {
	now := s.Clock.Now()
	token := randomToken(32)
	if id == "" {
		id = randomToken(12)
	}
	sess := store.Session{
		ID: id, TokenHash: hashToken(token), TermToken: randomToken(24), Lab: lab.ID, Step: 1,
		State: "provisioning", Created: now, LastSeen: now, Expires: now.Add(s.MaxAge), Workshop: workshop, Name: name,
	}
	if err := s.Store.CreateSession(ctx, sess); err != nil {
		return nil, "", err
	}
	l := newLearner(s, lab, sess)
	l.client = client
	s.mu.Lock()
	s.learners[sess.ID] = l
	s.mu.Unlock()
	s.metrics.sessionsStarted.Add(1)
	l.event(ctx, "join", 0, "")
	go l.provision()
	return l, token, nil
}

func (s *Server) labPage(w http.ResponseWriter, r *http.Request) {
	l := learnerOf(r)
	l.touch()
	sess := l.session()
	csrf := s.csrfToken(w, r)
	if sess.State != "ready" {
		p := l.currentProgress()
		s.render(w, r, http.StatusOK, web.Progress(web.ProgressView{
			SessionID: sess.ID, CSRF: csrf, LabID: l.lab.ID, LabTitle: l.lab.Title,
			Stages: stages, Stage: p.Stage, Queue: p.Queue, Error: p.Error,
		}))
		return
	}
	n := sess.Step
	if q := r.URL.Query().Get("step"); q != "" {
		if v, err := strconv.Atoi(q); err == nil && v >= 1 && v <= len(l.lab.Steps) && v != n {
			n = v
			l.startStep(n)
		}
	}
	checks := l.currentChecks()
	var results []web.CheckResult
	if checks.Step == n {
		results = checks.Results
	}
	step := l.lab.Steps[n-1]
	sv, err := web.NewStepView(n, step, results)
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, err)
		return
	}
	v := web.LabPageView{
		SessionID: sess.ID, CSRF: csrf, LabID: l.lab.ID, LabTitle: l.lab.Title,
		Steps: web.StepLinks(*l.lab, l.passedSteps(r.Context())), Step: sv, TerminalToken: sess.TermToken,
		AppLinks: appLinks(sess.ID, step),
	}
	s.render(w, r, http.StatusOK, web.LabPage(v))
}

// appLinks offers a link for each lab app a step's prose mentions by Service name.
func appLinks(sid string, step labs.Step) []web.AppLink {
	var out []web.AppLink
	for _, app := range []string{"homepage", "numbers-web"} {
		if strings.Contains(step.Body, "app link") && strings.Contains(step.Body, app) {
			out = append(out, web.AppLink{Name: app, URL: web.AppURL(sid, app)})
		}
	}
	return out
}

func (s *Server) complete(w http.ResponseWriter, r *http.Request) {
	l := learnerOf(r)
	sess := l.session()
	passed := l.passedSteps(r.Context())
	n := 0
	for _, p := range passed {
		if p {
			n++
		}
	}
	s.render(w, r, http.StatusOK, web.Complete(web.CompleteView{
		SessionID: sess.ID, LabTitle: l.lab.Title, TimeTaken: s.Clock.Now().Sub(sess.Created),
		StepsPassed: n, Steps: web.StepLinks(*l.lab, passed),
	}))
}

func (s *Server) reset(w http.ResponseWriter, r *http.Request) {
	l := learnerOf(r)
	if !checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, publicError{"This form has expired. Reload the page and try again."})
		return
	}
	if !s.starts.allow(clientOf(r).addr, s.Clock.Now()) {
		s.errorPage(w, r, http.StatusTooManyRequests, errTooFast)
		return
	}
	go l.reset(s.ctx)
	http.Redirect(w, r, web.SessionURL(l.session().ID), http.StatusSeeOther)
}

// events streams the learner's events as Server-Sent Events.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	l := learnerOf(r)
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	ch, unsubscribe := l.subscribe()
	defer unsubscribe()
	keepalive := time.NewTicker(20 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
			l.touch()
		case e := <-ch:
			data, err := json.Marshal(e.Data)
			if err != nil {
				continue
			}
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Name, data)
		}
		flusher.Flush()
	}
}

// app proxies to a Service of the learner's cluster through the API server's
// service proxy on 127.0.0.1; only the session's own cookie gets here.
func (s *Server) app(w http.ResponseWriter, r *http.Request) {
	l := learnerOf(r)
	conn := l.connection()
	if conn == nil {
		s.errorPage(w, r, http.StatusServiceUnavailable, publicError{"Your cluster is not ready yet."})
		return
	}
	service := chi.URLParam(r, "service")
	if !validName(service) {
		s.errorPage(w, r, http.StatusNotFound, nil)
		return
	}
	ns := l.lab.Namespace
	if ns == "" {
		ns = labs.DefaultNamespace
	}
	base, err := url.Parse(conn.Config.Host)
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, err)
		return
	}
	prefix := web.AppURL(l.session().ID, service)
	sub := strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(prefix, "/"))
	target, err := appTarget(r.Context(), conn.Client, ns, service)
	if err != nil {
		s.errorPage(w, r, http.StatusBadGateway, publicError{"The app " + service + " is not running in your cluster yet: " + err.Error()})
		return
	}
	target += sub
	ctx, cancel := context.WithTimeout(r.Context(), appTimeout)
	defer cancel()
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.Host = base.Scheme, base.Host, base.Host
			pr.Out.URL.Path, pr.Out.URL.RawPath = target, ""
			// Only an allow-list of headers goes on: never kindlab's cookies, nor
			// anything that tells the app about kindlab's origin or the learner.
			for k := range pr.Out.Header {
				if !appRequestHeaders[http.CanonicalHeaderKey(k)] {
					pr.Out.Header.Del(k)
				}
			}
		},
		Transport: conn.Transport(),
		ModifyResponse: func(resp *http.Response) error {
			sandboxApp(resp.Header)
			if resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusNotFound {
				resp.Header.Set("Content-Type", "text/plain; charset=utf-8")
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.Logger.Warn("app proxy", "service", service, "error", err)
			msg := "The app " + service + " does not answer. Is its Service there, and are its pods ready?"
			if errors.Is(err, context.DeadlineExceeded) {
				msg = "The app " + service + " took longer than " + appTimeout.String() + " to answer."
			}
			s.errorPage(w, r, http.StatusBadGateway, publicError{msg})
		},
	}
	proxy.ServeHTTP(w, r.WithContext(ctx))
}

// appTimeout bounds one request to a learner's app, end to end.
const appTimeout = 30 * time.Second

// appRequestHeaders are the request headers an app link forwards.
var appRequestHeaders = map[string]bool{
	"Accept": true, "Accept-Language": true, "Accept-Encoding": true, "Cache-Control": true,
	"Content-Type": true, "Content-Length": true, "If-Match": true, "If-None-Match": true,
	"If-Modified-Since": true, "If-Unmodified-Since": true, "Range": true, "User-Agent": true,
}

// sandboxApp makes a learner's app response harmless on kindlab's origin: the page
// runs in a sandbox with an opaque origin (its script cannot read kindlab's cookies,
// storage or pages, nor call kindlab as the learner), and the headers that could
// set or clear kindlab's cookies, register a service worker or change how the
// browser treats the origin are dropped.
func sandboxApp(h http.Header) {
	for _, k := range []string{"Set-Cookie", "Set-Cookie2", "Service-Worker-Allowed", "Clear-Site-Data",
		"Strict-Transport-Security", "Content-Security-Policy", "Content-Security-Policy-Report-Only",
		"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Refresh", "Link",
		"Origin-Agent-Cluster", "Cross-Origin-Opener-Policy", "Cross-Origin-Embedder-Policy"} {
		h.Del(k)
	}
	h.Set("Content-Security-Policy", "sandbox allow-scripts allow-forms allow-popups allow-modals")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
}

// appTarget is the API server path that reaches an app: its Service when there is
// one (through the service proxy), else a ready pod of the Deployment of that name
// (as a port-forward would, before the lab has made a Service).
func appTarget(ctx context.Context, cs kubernetes.Interface, ns, name string) (string, error) {
	if _, err := cs.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
		return fmt.Sprintf("/api/v1/namespaces/%s/services/%s/proxy", ns, name), nil
	}
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("no Service or Deployment named %s", name)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return "", err
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return "", err
	}
	for _, p := range pods.Items {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
				port := 80
				if cs := p.Spec.Containers; len(cs) > 0 && len(cs[0].Ports) > 0 {
					port = int(cs[0].Ports[0].ContainerPort)
				}
				return fmt.Sprintf("/api/v1/namespaces/%s/pods/%s:%d/proxy", ns, p.Name, port), nil
			}
		}
	}
	return "", fmt.Errorf("no ready pod of Deployment %s", name)
}

func validName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
