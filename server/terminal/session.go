package terminal

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/kindlab/kindlab/internal/shellmark"

	"github.com/kindlab/kindlab/internal/clock"
)

// Session defaults.
const (
	DefaultBufferSize = 512 << 10 // bytes of output kept for replay
	DefaultQueueLen   = 256       // chunks queued per client before it is too slow
	MaxSize           = 1000      // largest accepted cols and rows
	readSize          = 32 << 10  // largest chunk read from the terminal
)

// Errors reported by a Session and its clients.
var (
	ErrReadOnly    = errors.New("terminal: read-only client")
	ErrInvalidSize = fmt.Errorf("terminal: cols and rows must be between 1 and %d", MaxSize)
	ErrTooSlow     = errors.New("terminal: client too slow")
	ErrEnded       = errors.New("terminal: session ended")
	ErrDetached    = errors.New("terminal: client detached")
)

// Chunk is one read of terminal output. Data must not be modified: it is
// shared by the replay buffer and every client.
type Chunk struct {
	Seq  uint64
	Data []byte
}

// Replay is what a client missed, computed atomically with its attachment:
// Chunks are followed on the client's Output by the chunk Seq+1, so nothing is
// missed or sent twice.
type Replay struct {
	Seq    uint64  // last sequence number of the session when the client attached
	Gap    bool    // output after the client's lastSeq was dropped from the buffer
	From   uint64  // sequence number of the first chunk the client gets next
	Chunks []Chunk // buffered chunks from From to Seq
}

// SessionOption configures a Session.
type SessionOption interface {
	apply(*Session) error
}

type sessionOptionFunc func(*Session) error

func (f sessionOptionFunc) apply(s *Session) error { return f(s) }

// WithBufferSize bounds the replay buffer to n bytes of output (the newest
// chunk is always kept). The default is DefaultBufferSize.
func WithBufferSize(n int) SessionOption {
	return sessionOptionFunc(func(s *Session) error {
		if n <= 0 {
			return fmt.Errorf("buffer size %d: must be positive", n)
		}
		s.maxBytes = n
		return nil
	})
}

// WithQueueLen sets how many chunks may wait for a client before it is
// dropped as too slow. The default is DefaultQueueLen.
func WithQueueLen(n int) SessionOption {
	return sessionOptionFunc(func(s *Session) error {
		if n <= 0 {
			return fmt.Errorf("queue length %d: must be positive", n)
		}
		s.queueLen = n
		return nil
	})
}

// WithClock sets the clock used for LastActivity.
func WithClock(c clock.Clock) SessionOption {
	return sessionOptionFunc(func(s *Session) error {
		if c == nil {
			return errors.New("clock: must not be nil")
		}
		s.clock = c
		return nil
	})
}

// WithHistory starts the session with output an earlier terminal wrote (a
// shell that ended, or the same learner's terminal before kindlab restarted),
// as if this one had written it: clients that attach replay it first. The
// history is bounded like the buffer.
func WithHistory(data []byte) SessionOption {
	return sessionOptionFunc(func(s *Session) error {
		s.history = data
		return nil
	})
}

// Observer follows what passes through a terminal: what clients typed and, in
// order, the output and the shell integration marks among it.
type Observer interface {
	// Typed is called with each client's input once the terminal took it.
	Typed(p []byte)
	// Output and Mark are called from the session's reader goroutine.
	Output(p []byte)
	Mark(m shellmark.Mark)
}

// WithObserver strips shell integration marks (see shellmark.Mark) from the
// terminal's output before any client sees it, and tells o what is typed,
// written and marked.
func WithObserver(o Observer) SessionOption {
	return sessionOptionFunc(func(s *Session) error {
		if o == nil {
			return errors.New("observer: must not be nil")
		}
		s.observer = o
		return nil
	})
}

// WithLogger sets the session's logger, typically carrying learner and lab keys.
func WithLogger(l *slog.Logger) SessionOption {
	return sessionOptionFunc(func(s *Session) error {
		if l == nil {
			return errors.New("logger: must not be nil")
		}
		s.log = l
		return nil
	})
}

// Session owns one Terminal for its whole life, across browser reconnects.
// A single reader goroutine copies the terminal's output into a bounded
// replay buffer and hands each chunk to every attached client without ever
// blocking (see the package documentation for the slow-client policy).
type Session struct {
	term     Terminal
	clock    clock.Clock
	log      *slog.Logger
	maxBytes int
	queueLen int
	observer Observer // nil: marks are output like anything else
	marks    shellmark.Filter
	epoch    string // tells this session's sequence numbers from another's
	history  []byte // WithHistory's output, published before the terminal's

	inMu      sync.Mutex // serializes Write and Resize
	closeOnce sync.Once
	closing   atomic.Bool // Close was called: the end is no surprise
	closeErr  error
	done      chan struct{}

	mu       sync.Mutex
	chunks   []Chunk // contiguous sequence numbers, oldest first
	bytes    int     // sum of len(Data) over chunks
	lastSeq  uint64
	clients  map[*Client]struct{}
	activity time.Time
	ended    bool
	code     int
	err      error
}

// NewSession starts reading t and returns the Session that now owns it. On
// error, t is left to the caller.
func NewSession(t Terminal, opts ...SessionOption) (*Session, error) {
	s := &Session{
		term:     t,
		clock:    clock.System{},
		log:      slog.New(slog.DiscardHandler),
		maxBytes: DefaultBufferSize,
		queueLen: DefaultQueueLen,
		done:     make(chan struct{}),
		clients:  make(map[*Client]struct{}),
	}
	for _, o := range opts {
		if err := o.apply(s); err != nil {
			return nil, fmt.Errorf("new session: %w", err)
		}
	}
	s.activity = s.clock.Now()
	s.epoch = rand.Text()[:16]
	if len(s.history) > s.maxBytes {
		s.history = s.history[len(s.history)-s.maxBytes:]
	}
	for p := s.history; len(p) > 0; {
		n := min(len(p), readSize)
		s.publish(bytes.Clone(p[:n]))
		p = p[n:]
	}
	s.history = nil
	go s.readLoop()
	return s, nil
}

// Epoch names this session's sequence of output: a client that saw another
// epoch (the terminal before a restart) must start again from the first chunk.
func (s *Session) Epoch() string { return s.epoch }

// Since returns the output after sequence number seq still in the buffer, and
// the last sequence number; a caller saving the output passes the last it saved.
func (s *Session) Since(seq uint64) ([]byte, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	oldest := s.lastSeq + 1 - uint64(len(s.chunks))
	var out []byte
	for i := max(seq+1, oldest); i <= s.lastSeq; i++ {
		out = append(out, s.chunks[i-oldest].Data...)
	}
	return out, s.lastSeq
}

func (s *Session) readLoop() {
	buf := make([]byte, readSize)
	for {
		n, err := s.term.Read(buf)
		if n > 0 {
			s.output(buf[:n])
		}
		if err != nil {
			if held := s.marks.Flush(); len(held) > 0 {
				s.publish(held)
			}
			s.end(err)
			return
		}
	}
}

// output publishes what the terminal wrote, without its marks.
func (s *Session) output(p []byte) {
	if s.observer == nil {
		s.publish(bytes.Clone(p))
		return
	}
	var data []byte
	for _, piece := range s.marks.Filter(p) {
		if piece.Mark != nil {
			s.observer.Mark(*piece.Mark)
			continue
		}
		data = append(data, piece.Output...)
		s.observer.Output(piece.Output)
	}
	if len(data) > 0 {
		s.publish(data)
	}
}

// publish appends a chunk to the buffer and queues it for every client. It
// never blocks: a client whose queue is full is dropped as too slow.
func (s *Session) publish(data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastSeq++
	c := Chunk{Seq: s.lastSeq, Data: data}
	s.chunks = append(s.chunks, c)
	s.bytes += len(data)
	for s.bytes > s.maxBytes && len(s.chunks) > 1 {
		s.bytes -= len(s.chunks[0].Data)
		s.chunks[0] = Chunk{} // let the evicted data be collected
		s.chunks = s.chunks[1:]
	}
	s.activity = s.clock.Now()
	for cl := range s.clients {
		select {
		case cl.out <- c:
		default:
			s.log.Info("terminal client too slow", "seq", c.Seq, "queue", cap(cl.out), "readOnly", cl.readOnly)
			s.dropLocked(cl, ErrTooSlow)
		}
	}
}

func (s *Session) end(readErr error) {
	code, err := exitStatus(readErr)
	if err != nil && !s.closing.Load() {
		s.Notice("The connection to your terminal broke; kindlab is checking your cluster.")
	}
	s.closeTerm()
	s.mu.Lock()
	s.ended, s.code, s.err = true, code, err
	for cl := range s.clients {
		s.dropLocked(cl, ErrEnded)
	}
	s.mu.Unlock()
	s.log.Info("terminal ended", "code", code, slog.Any("error", err))
	close(s.done)
}

func (s *Session) dropLocked(c *Client, reason error) {
	delete(s.clients, c)
	c.err = reason
	close(c.out)
}

// Attach adds a client that has seen output up to lastSeq (0 for none) and
// returns what it missed. A lastSeq beyond the session's last sequence number
// (a client of an earlier session) is reported as a gap. A read-only client
// (an instructor watching) cannot send input or resize.
func (s *Session) Attach(lastSeq uint64, readOnly bool) (*Client, Replay) {
	c := &Client{s: s, readOnly: readOnly, out: make(chan Chunk, s.queueLen)}
	s.mu.Lock()
	defer s.mu.Unlock()
	oldest := s.lastSeq + 1 - uint64(len(s.chunks)) // s.lastSeq+1 when empty
	r := Replay{Seq: s.lastSeq, From: oldest}
	switch {
	case lastSeq > s.lastSeq || lastSeq+1 < oldest:
		r.Gap = true
		r.Chunks = slices.Clone(s.chunks)
	default:
		r.From = lastSeq + 1
		r.Chunks = slices.Clone(s.chunks[lastSeq+1-oldest:])
	}
	if s.ended {
		c.err = ErrEnded
		close(c.out)
	} else {
		s.clients[c] = struct{}{}
	}
	return c, r
}

// Done is closed when the terminal has ended and every attached client has
// been handed all of its output.
func (s *Session) Done() <-chan struct{} { return s.done }

// Wait waits for Done and returns the exit status: code -1 and the error when
// the terminal ended without one (for example, the connection to the pod
// broke).
func (s *Session) Wait() (code int, err error) {
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.code, s.err
}

// Notice writes a line from kindlab itself (not the shell) to every client,
// on a line of its own, in bold yellow: what is about to happen to the
// terminal, in plain words. Control characters in text are dropped.
func (s *Session) Notice(text string) {
	clean := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, text)
	s.publish([]byte("\r\n\x1b[1;33m[kindlab] " + clean + "\x1b[0m\r\n"))
}

// Close ends the terminal. Attached clients get the remaining output and the
// exit once the reader sees the end.
func (s *Session) Close() error {
	s.closing.Store(true)
	s.closeTerm()
	return s.closeErr
}

func (s *Session) closeTerm() {
	s.closeOnce.Do(func() { s.closeErr = s.term.Close() })
}

// LastActivity reports when the terminal last produced output or received
// input.
func (s *Session) LastActivity() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.activity
}

// Clients reports how many clients are attached.
func (s *Session) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

// Client is one attachment to a Session: a browser tab, or an instructor
// watching read-only.
type Client struct {
	s        *Session
	readOnly bool
	out      chan Chunk
	err      error // why out was closed; guarded by s.mu
}

// Output delivers live chunks after the Replay returned by Attach. It is
// closed, after the last chunk, when the client is dropped; Err says why.
func (c *Client) Output() <-chan Chunk { return c.out }

// Err reports why Output was closed: ErrTooSlow, ErrEnded or ErrDetached,
// or nil while the client is attached.
func (c *Client) Err() error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.err
}

// ReadOnly reports whether the client may only watch.
func (c *Client) ReadOnly() bool { return c.readOnly }

// Write sends input to the terminal.
func (c *Client) Write(p []byte) (int, error) {
	if err := c.check(); err != nil {
		return 0, err
	}
	c.s.inMu.Lock()
	defer c.s.inMu.Unlock()
	if c.s.observer != nil { // before the shell can answer it
		c.s.observer.Typed(p)
	}
	return c.s.term.Write(p)
}

// Resize sets the terminal's size; cols and rows must be in 1..MaxSize.
func (c *Client) Resize(cols, rows uint16) error {
	if err := c.check(); err != nil {
		return err
	}
	if cols < 1 || cols > MaxSize || rows < 1 || rows > MaxSize {
		return ErrInvalidSize
	}
	c.s.inMu.Lock()
	defer c.s.inMu.Unlock()
	return c.s.term.Resize(cols, rows)
}

func (c *Client) check() error {
	if c.readOnly {
		return ErrReadOnly
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.s.activity = c.s.clock.Now()
	return nil
}

// Detach removes the client from the session; it is safe to call more than
// once and after the client was dropped.
func (c *Client) Detach() {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if _, ok := c.s.clients[c]; ok {
		c.s.dropLocked(c, ErrDetached)
	}
}
