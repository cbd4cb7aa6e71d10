package terminal

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/kindlab/kindlab/internal/clock"

	"github.com/gorilla/websocket"
)

// conn is one websocket connection: readPump runs on the ServeHTTP goroutine,
// writePump on its own, and only writePump writes to ws.
type conn struct {
	ws        *websocket.Conn
	r         *http.Request
	authorize func(*http.Request, Hello) (*Session, bool, error)
	log       *slog.Logger
	clock     clock.Clock
	lim       Limits

	attached   chan attachment // reader → writer, once, after hello
	ctrl       chan []byte     // control replies, reader → writer
	pongs      chan string     // websocket pings to answer
	closeReq   chan closeMsg   // the first close request wins
	readerDone chan struct{}
	writerDone chan struct{}

	client *Client // set by readPump
}

type attachment struct {
	client *Client
	replay Replay
}

type closeMsg struct {
	code   int
	reason string
}

// clientMessage is any message from the browser.
type clientMessage struct {
	Type    string `json:"type"`
	Token   string `json:"token"`
	LastSeq uint64 `json:"lastSeq"`
	Epoch   string `json:"epoch"`
	Data    string `json:"data"`
	Cols    int    `json:"cols"`
	Rows    int    `json:"rows"`
}

type helloMessage struct {
	Type     string `json:"type"`
	Seq      uint64 `json:"seq"`
	Epoch    string `json:"epoch"`
	ReadOnly bool   `json:"readOnly"`
}

type gapMessage struct {
	Type string `json:"type"`
	From uint64 `json:"from"`
}

type exitMessage struct {
	Type string `json:"type"`
	Code int    `json:"code"`
}

type errorMessage struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

var errTooBig = errors.New("message too big")

func (c *conn) requestClose(code int, reason string) {
	select {
	case c.closeReq <- closeMsg{code, reason}:
	default: // a close is already under way
	}
}

// reply queues a control message; a client that does not read them is too
// slow, like one that does not read its output.
func (c *conn) reply(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.log.Error("terminal reply", slog.Any("error", err))
		return
	}
	select {
	case c.ctrl <- b:
	default:
		c.requestClose(CloseTooSlow, tooSlowReason)
	}
}

func (c *conn) replyError(msg string) { c.reply(errorMessage{Type: "error", Message: msg}) }

func (c *conn) readPump() {
	defer close(c.readerDone)
	// The writer answers pings and close frames: only it writes.
	c.ws.SetPingHandler(func(data string) error {
		select {
		case c.pongs <- data:
		default:
		}
		return nil
	})
	c.ws.SetCloseHandler(func(int, string) error { return nil })
	c.ws.SetPongHandler(func(string) error { return c.ws.SetReadDeadline(time.Now().Add(c.lim.PongWait)) })
	_ = c.ws.SetReadDeadline(time.Now().Add(c.lim.PongWait))
	helloTimer := c.clock.AfterFunc(c.lim.HelloTimeout, func() {
		c.requestClose(websocket.ClosePolicyViolation, fmt.Sprintf("no hello within %v", c.lim.HelloTimeout))
	})
	defer helloTimer.Stop()

	bad := 0
	for {
		typ, data, err := c.next()
		switch {
		case errors.Is(err, errTooBig):
			c.requestClose(websocket.CloseMessageTooBig, fmt.Sprintf("message too big: the limit is %d bytes", c.lim.MaxMessageSize))
			c.drain()
			return
		case err != nil:
			if _, closed := errors.AsType[*websocket.CloseError](err); !closed {
				c.log.Debug("terminal read", slog.Any("error", err))
			}
			c.requestClose(websocket.CloseNormalClosure, "")
			return
		}
		if c.client == nil {
			if !c.hello(typ, data, helloTimer) {
				c.drain()
				return
			}
			continue
		}
		if c.handle(typ, data) {
			bad = 0
			continue
		}
		if bad++; bad > c.lim.MaxBadMessages {
			c.requestClose(websocket.ClosePolicyViolation, "too many malformed messages")
			c.drain()
			return
		}
	}
}

// next reads one message, enforcing MaxMessageSize. gorilla's SetReadLimit
// would enforce it too, but it sends its own close frame, with no reason,
// from the reading goroutine; reading through a LimitReader lets the writer
// close with 1009 and a reason, and never buffers more than the limit.
func (c *conn) next() (int, []byte, error) {
	typ, r, err := c.ws.NextReader()
	if err != nil {
		return 0, nil, err
	}
	data, err := io.ReadAll(io.LimitReader(r, c.lim.MaxMessageSize+1))
	if err != nil {
		return 0, nil, err
	}
	if int64(len(data)) > c.lim.MaxMessageSize {
		return 0, nil, errTooBig
	}
	return typ, data, nil
}

// drain discards messages after a close request until the peer answers with
// its close frame or the writer gives up and closes the socket.
func (c *conn) drain() {
	for {
		if _, _, err := c.ws.NextReader(); err != nil {
			return
		}
	}
}

// hello authorizes the first message and attaches the client; it reports
// false when the connection is closing.
func (c *conn) hello(typ int, data []byte, timer clock.Timer) bool {
	var m clientMessage
	if typ != websocket.TextMessage || json.Unmarshal(data, &m) != nil || m.Type != "hello" {
		c.requestClose(websocket.ClosePolicyViolation, "the first message must be hello")
		return false
	}
	if !timer.Stop() {
		return false // too late: the timeout has asked to close
	}
	s, readOnly, err := c.authorize(c.r, Hello{Token: m.Token, LastSeq: m.LastSeq})
	if err == nil && s == nil {
		err = errors.New("no session")
	}
	if errors.Is(err, ErrUnavailable) {
		c.log.Info("terminal not available yet; the client tries again", slog.Any("error", err))
		c.requestClose(websocket.CloseTryAgainLater, "the terminal is not ready yet: reconnecting")
		return false
	}
	if err != nil {
		c.log.Warn("terminal not authorized", slog.Any("error", err))
		c.requestClose(CloseUnauthorized, "not authorized: reload the page to sign in again")
		return false
	}
	if m.Epoch != "" && m.Epoch != s.Epoch() {
		m.LastSeq = 0 // it saw another terminal's output: all of this one's
	}
	cl, replay := s.Attach(m.LastSeq, readOnly)
	c.client = cl
	c.attached <- attachment{cl, replay}
	return true
}

// handle acts on one message after hello; it reports false for a bad
// message (not JSON, unknown type, binary), which is answered with an error.
func (c *conn) handle(typ int, data []byte) bool {
	var m clientMessage
	switch {
	case typ != websocket.TextMessage:
		c.replyError("binary messages are not accepted; send JSON text messages")
		return false
	case json.Unmarshal(data, &m) != nil:
		c.replyError("malformed message: expected a JSON object with a type")
		return false
	}
	switch m.Type {
	case "input":
		if _, err := c.client.Write([]byte(m.Data)); errors.Is(err, ErrReadOnly) {
			c.replyError("this terminal is read-only: input is not accepted")
		} else if err != nil {
			c.log.Debug("terminal input", slog.Any("error", err))
		}
	case "resize":
		if m.Cols < 1 || m.Cols > MaxSize || m.Rows < 1 || m.Rows > MaxSize {
			c.replyError(fmt.Sprintf("resize: cols and rows must be between 1 and %d", MaxSize))
			return true
		}
		if err := c.client.Resize(uint16(m.Cols), uint16(m.Rows)); errors.Is(err, ErrReadOnly) {
			c.replyError("this terminal is read-only: resize is not accepted")
		} else if err != nil {
			c.log.Warn("terminal resize", slog.Any("error", err))
		}
	case "ping":
		c.reply(struct {
			Type string `json:"type"`
		}{"pong"})
	case "hello":
		c.replyError("hello was already received")
		return false
	default:
		c.replyError(fmt.Sprintf("unknown message type %.40q", m.Type))
		return false
	}
	return true
}

func (c *conn) writePump() {
	defer close(c.writerDone)
	ticker := c.clock.NewTicker(c.lim.PingPeriod)
	defer ticker.Stop()
	var (
		client *Client
		out    <-chan Chunk
		ctrl   <-chan []byte // nil until hello, so that hello goes first
	)
	for {
		var err error
		select {
		case a := <-c.attached:
			client, out, ctrl = a.client, a.client.Output(), c.ctrl
			err = c.writeAttach(a)
		case ch, ok := <-out:
			if !ok {
				c.finish(client)
				return
			}
			err = c.writeChunk(ch)
		case b := <-ctrl:
			err = c.write(websocket.TextMessage, b)
		case data := <-c.pongs:
			err = c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(c.lim.WriteWait))
		case <-ticker.C():
			err = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.lim.WriteWait))
		case m := <-c.closeReq:
			c.close(m)
			return
		}
		if err != nil {
			c.log.Debug("terminal write", slog.Any("error", err))
			c.ws.Close()
			return
		}
	}
}

func (c *conn) writeAttach(a attachment) error {
	if err := c.writeJSON(helloMessage{Type: "hello", Seq: a.replay.Seq, Epoch: a.client.s.Epoch(), ReadOnly: a.client.ReadOnly()}); err != nil {
		return err
	}
	if a.replay.Gap {
		if err := c.writeJSON(gapMessage{Type: "gap", From: a.replay.From}); err != nil {
			return err
		}
	}
	for _, ch := range a.replay.Chunks {
		if err := c.writeChunk(ch); err != nil {
			return err
		}
	}
	return nil
}

// finish ends the connection once the session stopped feeding the client.
func (c *conn) finish(client *Client) {
	switch err := client.Err(); {
	case errors.Is(err, ErrEnded):
		code, _ := client.s.Wait()
		if c.writeJSON(exitMessage{Type: "exit", Code: code}) != nil {
			c.ws.Close()
			return
		}
		c.close(closeMsg{websocket.CloseNormalClosure, "terminal exited"})
	case errors.Is(err, ErrTooSlow):
		c.close(closeMsg{CloseTooSlow, tooSlowReason})
	default:
		c.close(closeMsg{websocket.CloseNormalClosure, ""})
	}
}

// close sends a close frame, waits a moment for the peer's (so the socket is
// not reset before the peer has read the reason), then closes the socket.
func (c *conn) close(m closeMsg) {
	if m.code != websocket.CloseNormalClosure {
		c.log.Info("terminal connection closed", "code", m.code, "reason", m.reason)
	}
	err := c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(m.code, m.reason), time.Now().Add(c.lim.WriteWait))
	if err == nil {
		select {
		case <-c.readerDone:
		case <-time.After(closeGrace):
		}
	}
	c.ws.Close()
}

func (c *conn) writeChunk(ch Chunk) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.lim.WriteWait))
	w, err := c.ws.NextWriter(websocket.BinaryMessage)
	if err != nil {
		return err
	}
	var seq [8]byte
	binary.BigEndian.PutUint64(seq[:], ch.Seq)
	if _, err := w.Write(seq[:]); err != nil {
		return err
	}
	if _, err := w.Write(ch.Data); err != nil {
		return err
	}
	return w.Close()
}

func (c *conn) writeJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.write(websocket.TextMessage, b)
}

func (c *conn) write(typ int, b []byte) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.lim.WriteWait))
	return c.ws.WriteMessage(typ, b)
}
