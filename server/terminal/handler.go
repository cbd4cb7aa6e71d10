package terminal

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/kindlab/kindlab/internal/clock"

	"github.com/gorilla/websocket"
)

// Subprotocol is the websocket subprotocol the Handler speaks.
const Subprotocol = "kindlab.term.v1"

// Close codes of the protocol beyond RFC 6455's.
const (
	CloseUnauthorized = 4001
	CloseTooSlow      = 4008
)

// ErrUnavailable, wrapped in an Authorize error, says the client may have
// the terminal but it cannot be had yet (the cluster behind it is being
// made or connected): the connection closes with RFC 6455's 1013, Try Again
// Later, and the client reconnects, where any other error closes it with
// CloseUnauthorized and the client stops.
var ErrUnavailable = errors.New("terminal not available yet")

// Handler defaults.
const (
	DefaultHelloTimeout   = 5 * time.Second
	DefaultPongWait       = 60 * time.Second // time allowed to read the next pong
	DefaultPingPeriod     = DefaultPongWait * 9 / 10
	DefaultWriteWait      = 10 * time.Second // time allowed to write a message
	DefaultMaxMessageSize = 64 << 10
	DefaultMaxBadMessages = 8
)

const (
	controlQueueLen = 16          // control replies waiting for the writer
	closeGrace      = time.Second // wall-clock wait for the peer's close frame
	tooSlowReason   = "too slow; reconnect to catch up"
)

// Limits bounds one connection. Zero fields take the defaults above.
type Limits struct {
	HelloTimeout   time.Duration // the hello must arrive within this
	PongWait       time.Duration // read deadline, extended by every pong
	PingPeriod     time.Duration // must be less than PongWait
	WriteWait      time.Duration // write deadline of every frame
	MaxMessageSize int64         // larger client messages close with 1009
	MaxBadMessages int           // more bad messages in a row close with 1008
}

func (l Limits) withDefaults() Limits {
	if l.HelloTimeout <= 0 {
		l.HelloTimeout = DefaultHelloTimeout
	}
	if l.PongWait <= 0 {
		l.PongWait = DefaultPongWait
	}
	if l.PingPeriod <= 0 || l.PingPeriod >= l.PongWait {
		l.PingPeriod = l.PongWait * 9 / 10
	}
	if l.WriteWait <= 0 {
		l.WriteWait = DefaultWriteWait
	}
	if l.MaxMessageSize <= 0 {
		l.MaxMessageSize = DefaultMaxMessageSize
	}
	if l.MaxBadMessages <= 0 {
		l.MaxBadMessages = DefaultMaxBadMessages
	}
	return l
}

// Hello is the first message of a client.
type Hello struct {
	Token   string `json:"token"`
	LastSeq uint64 `json:"lastSeq"`
}

// Handler serves terminal websockets. Use it as a pointer; it is safe for
// concurrent use once configured.
type Handler struct {
	// Authorize resolves the Session for a connection from the request (its
	// session cookie) and the hello token. A read-only client may only watch.
	// An error closes the connection with CloseUnauthorized (with
	// websocket.CloseTryAgainLater when it wraps ErrUnavailable); the error is
	// logged, never shown to the browser.
	Authorize func(r *http.Request, hello Hello) (s *Session, readOnly bool, err error)

	// AllowedOrigins lists the browser origins ("https://host:port") that
	// may connect. When empty, only the request's own host is allowed.
	// Requests without an Origin (not a browser) are allowed.
	AllowedOrigins []string

	Logger *slog.Logger // nil discards
	Clock  clock.Clock  // nil is the system clock
	Limits Limits
}

// ServeHTTP refuses a foreign Origin (403) or a missing subprotocol (400),
// then upgrades and runs one read pump and one write pump until the
// connection ends.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("remote", r.RemoteAddr)
	if h.Authorize == nil {
		log.Error("terminal handler has no Authorize")
		http.Error(w, "terminal unavailable", http.StatusInternalServerError)
		return
	}
	if !h.originAllowed(r) {
		log.Warn("terminal origin refused", "origin", r.Header.Get("Origin"))
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	if !slices.Contains(websocket.Subprotocols(r), Subprotocol) {
		http.Error(w, "websocket subprotocol "+Subprotocol+" required", http.StatusBadRequest)
		return
	}
	up := websocket.Upgrader{
		Subprotocols: []string{Subprotocol},
		CheckOrigin:  func(*http.Request) bool { return true }, // checked above, with a 403
	}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		log.Debug("terminal upgrade failed", slog.Any("error", err))
		return // Upgrade has replied
	}
	clk := h.Clock
	if clk == nil {
		clk = clock.System{}
	}
	c := &conn{
		ws:         ws,
		r:          r,
		authorize:  h.Authorize,
		log:        log,
		clock:      clk,
		lim:        h.Limits.withDefaults(),
		attached:   make(chan attachment, 1),
		ctrl:       make(chan []byte, controlQueueLen),
		pongs:      make(chan string, 1),
		closeReq:   make(chan closeMsg, 1),
		readerDone: make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	go c.writePump()
	c.readPump()
	<-c.writerDone
	if c.client != nil {
		c.client.Detach()
	}
}

func (h *Handler) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser: no ambient cookie to abuse
	}
	if len(h.AllowedOrigins) > 0 {
		return slices.ContainsFunc(h.AllowedOrigins, func(o string) bool { return strings.EqualFold(o, origin) })
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}
