package terminal

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kindlab/kindlab/internal/clock"

	"github.com/gorilla/websocket"
)

// failAfter bounds every client read so that a bug fails a test instead of
// hanging it; no test asserts on how long anything takes.
const failAfter = 30 * time.Second

type testEnv struct {
	term  *fakeTerm
	sess  *Session
	clock *clock.Fake
	h     *Handler
	srv   *httptest.Server
	url   string
}

func newEnv(t testing.TB, echo bool, lim Limits, opts ...SessionOption) *testEnv {
	t.Helper()
	e := &testEnv{term: newFakeTerm(echo), clock: newFakeClock()}
	e.sess = newTestSession(t, e.term, opts...)
	e.h = &Handler{
		Authorize: func(r *http.Request, h Hello) (*Session, bool, error) {
			switch h.Token {
			case "learner":
				return e.sess, false, nil
			case "instructor":
				return e.sess, true, nil
			case "learner-too-soon":
				return nil, false, fmt.Errorf("%w: the cluster is being connected", ErrUnavailable)
			}
			return nil, false, errors.New("unknown token")
		},
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:  e.clock,
		Limits: lim,
	}
	// httptest does not wait for hijacked connections; wait for every
	// ServeHTTP, after the clients have closed, so none outlives the test.
	var wg sync.WaitGroup
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		e.h.ServeHTTP(w, r)
	})) // 127.0.0.1
	t.Cleanup(e.srv.Close)
	t.Cleanup(wg.Wait)
	e.url = "ws" + strings.TrimPrefix(e.srv.URL, "http")
	return e
}

func (e *testEnv) dial(t testing.TB, origin string, protos ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	d := websocket.Dialer{Subprotocols: protos, HandshakeTimeout: failAfter}
	ws, resp, err := d.Dial(e.url, h)
	if err == nil {
		t.Cleanup(func() { ws.Close() })
	}
	return ws, resp, err
}

// open dials with the right Origin and subprotocol, without hello.
func (e *testEnv) open(t testing.TB) *websocket.Conn {
	t.Helper()
	ws, _, err := e.dial(t, e.srv.URL, Subprotocol)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return ws
}

// connect opens a connection, says hello and checks the server's hello.
func (e *testEnv) connect(t testing.TB, token string, lastSeq uint64) (*websocket.Conn, serverMsg) {
	t.Helper()
	ws := e.open(t)
	send(t, ws, map[string]any{"type": "hello", "token": token, "lastSeq": lastSeq})
	f := readFrame(t, ws)
	if f.out || f.msg.Type != "hello" {
		t.Fatalf("first frame = %+v; want hello", f)
	}
	return ws, f.msg
}

type serverMsg struct {
	Type     string `json:"type"`
	Seq      uint64 `json:"seq"`
	Epoch    string `json:"epoch"`
	ReadOnly bool   `json:"readOnly"`
	From     uint64 `json:"from"`
	Code     int    `json:"code"`
	Message  string `json:"message"`
}

type frame struct {
	out  bool // output; else msg
	seq  uint64
	data string
	msg  serverMsg
}

func send(t testing.TB, ws *websocket.Conn, v any) {
	t.Helper()
	if err := ws.WriteJSON(v); err != nil {
		t.Fatalf("send %v: %v", v, err)
	}
}

func nextFrame(ws *websocket.Conn) (frame, error) {
	ws.SetReadDeadline(time.Now().Add(failAfter))
	typ, b, err := ws.ReadMessage()
	if err != nil {
		return frame{}, err
	}
	if typ == websocket.BinaryMessage {
		if len(b) < 8 {
			return frame{}, fmt.Errorf("binary frame of %d bytes", len(b))
		}
		return frame{out: true, seq: binary.BigEndian.Uint64(b), data: string(b[8:])}, nil
	}
	var f frame
	err = json.Unmarshal(b, &f.msg)
	return f, err
}

func readFrame(t testing.TB, ws *websocket.Conn) frame {
	t.Helper()
	f, err := nextFrame(ws)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return f
}

func readMsg(t testing.TB, ws *websocket.Conn, typ string) serverMsg {
	t.Helper()
	f := readFrame(t, ws)
	if f.out || f.msg.Type != typ {
		t.Fatalf("got %+v; want a %s message", f, typ)
	}
	return f.msg
}

func readOutput(t testing.TB, ws *websocket.Conn) frame {
	t.Helper()
	f := readFrame(t, ws)
	if !f.out {
		t.Fatalf("got %+v; want output", f)
	}
	return f
}

// expectClose reads, discarding frames, until the connection closes, and
// checks the close code and that the reason contains reason.
func expectClose(t *testing.T, ws *websocket.Conn, code int, reason string) {
	t.Helper()
	for {
		_, err := nextFrame(ws)
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code || !strings.Contains(ce.Text, reason) {
			t.Fatalf("connection ended with %v; want close %d %q", err, code, reason)
		}
		return
	}
}

// stillUp checks that the connection answers a ping.
func stillUp(t *testing.T, ws *websocket.Conn) {
	t.Helper()
	send(t, ws, map[string]string{"type": "ping"})
	readMsg(t, ws, "pong")
}

func TestHelloAndOutput(t *testing.T) {
	e := newEnv(t, true, Limits{})
	ws, hello := e.connect(t, "learner", 0)
	if hello != (serverMsg{Type: "hello", Seq: 0, Epoch: e.sess.Epoch(), ReadOnly: false}) || hello.Epoch == "" {
		t.Errorf("hello = %+v; want seq 0, the session's epoch, not read-only", hello)
	}
	e.term.emit([]byte("$ "))
	send(t, ws, map[string]string{"type": "input", "data": "ls\r"})
	for i, want := range []string{"$ ", "ls\r"} {
		if f := readOutput(t, ws); f.seq != uint64(i+1) || f.data != want {
			t.Errorf("output %d = seq %d %q; want seq %d %q", i, f.seq, f.data, i+1, want)
		}
	}
}

func TestReconnectReplay(t *testing.T) {
	tests := []struct {
		name    string
		lastSeq uint64
		want    []uint64
	}{
		{name: "from the start", lastSeq: 0, want: seqRange(1, 8)},
		{name: "missed three", lastSeq: 5, want: seqRange(6, 8)},
		{name: "missed one", lastSeq: 7, want: []uint64{8}},
		{name: "up to date", lastSeq: 8, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, false, Limits{})
			ws, _ := e.connect(t, "learner", 0)
			for i := range 5 {
				e.term.emit(fmt.Appendf(nil, "o%d", i+1))
				readOutput(t, ws)
			}
			ws.Close() // the browser goes away...
			watcher, _ := e.sess.Attach(5, true)
			for i := 5; i < 8; i++ {
				e.term.emit(fmt.Appendf(nil, "o%d", i+1)) // ...while the shell keeps printing
			}
			waitSeq(t, watcher, 8) // the session has taken all three (emit returns once the terminal was read)

			ws, hello := e.connect(t, "learner", tt.lastSeq)
			if hello.Seq != 8 {
				t.Errorf("hello seq = %d; want 8", hello.Seq)
			}
			e.term.emit([]byte("o9")) // live output follows the replay
			var got []uint64
			for {
				f := readOutput(t, ws)
				if want := fmt.Sprintf("o%d", f.seq); f.data != want {
					t.Errorf("chunk %d = %q; want %q", f.seq, f.data, want)
				}
				if f.seq == 9 {
					break
				}
				got = append(got, f.seq)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("replay after lastSeq %d = %v; want %v, then 9", tt.lastSeq, got, tt.want)
			}
		})
	}
}

// TestNewShellEpoch: a new shell took the place of the learner's terminal
// (kindlab restarted, or the cluster was replaced) and starts with the old
// one's output. The browser that saw the old one names its epoch and gets the
// new terminal from its first chunk, the earlier output first: no gap notice,
// nothing skipped as already seen, nothing twice after that.
func TestNewShellEpoch(t *testing.T) {
	before := newEnv(t, false, Limits{})
	ws, hello := before.connect(t, "learner", 0)
	for i := range 5 {
		before.term.emit(fmt.Appendf(nil, "o%d ", i+1))
		readOutput(t, ws)
	}
	ws.Close()
	history, last := before.sess.Since(0)
	if string(history) != "o1 o2 o3 o4 o5 " || last != 5 {
		t.Fatalf("Since(0) = %q, %d; want all five chunks", history, last)
	}

	after := newEnv(t, false, Limits{}, WithHistory(history))
	connect := func(lastSeq uint64, epoch string) (*websocket.Conn, serverMsg) {
		ws := after.open(t)
		send(t, ws, map[string]any{"type": "hello", "token": "learner", "lastSeq": lastSeq, "epoch": epoch})
		f := readFrame(t, ws)
		if f.out || f.msg.Type != "hello" {
			t.Fatalf("first frame = %+v; want hello", f)
		}
		return ws, f.msg
	}
	ws, got := connect(5, hello.Epoch)
	if got.Epoch == hello.Epoch || got.Epoch != after.sess.Epoch() || got.Seq != 1 {
		t.Fatalf("hello from the new shell = %+v; want its own epoch (not %q) and seq 1", got, hello.Epoch)
	}
	if f := readFrame(t, ws); !f.out || f.seq != 1 || f.data != string(history) {
		t.Fatalf("first frame after hello = %+v; want chunk 1 with the earlier output", f)
	}
	after.term.emit([]byte("$ "))
	if f := readOutput(t, ws); f.seq != 2 || f.data != "$ " {
		t.Errorf("live output = %+v; want chunk 2 %q", f, "$ ")
	}
	ws.Close()

	// Within the new epoch, a reconnect gets only what it missed.
	after.term.emit([]byte("ls\r\n"))
	ws, _ = connect(2, got.Epoch)
	if f := readFrame(t, ws); !f.out || f.seq != 3 || f.data != "ls\r\n" {
		t.Errorf("first frame after a reconnect in the same epoch = %+v; want chunk 3", f)
	}
}

func TestReconnectGap(t *testing.T) {
	// Chunks of 3 bytes; an 8-byte buffer keeps the last two.
	tests := []struct {
		name    string
		lastSeq uint64
		wantGap bool
	}{
		{name: "fell behind the buffer", lastSeq: 3, wantGap: true},
		{name: "new browser after wrap", lastSeq: 0, wantGap: true},
		{name: "within the buffer", lastSeq: 8, wantGap: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, false, Limits{}, WithBufferSize(8))
			watcher, _ := e.sess.Attach(0, true)
			for i := range 10 {
				e.term.emit(fmt.Appendf(nil, "c%02d", i+1))
			}
			waitSeq(t, watcher, 10)
			ws, _ := e.connect(t, "learner", tt.lastSeq)
			f := readFrame(t, ws)
			if gap := !f.out && f.msg.Type == "gap"; gap != tt.wantGap {
				t.Fatalf("after hello: %+v; want gap %v", f, tt.wantGap)
			}
			if tt.wantGap {
				if f.msg.From != 9 {
					t.Errorf("gap from %d; want 9", f.msg.From)
				}
				f = readFrame(t, ws)
			}
			for _, want := range []uint64{9, 10} {
				if !f.out || f.seq != want {
					t.Fatalf("got %+v; want chunk %d", f, want)
				}
				if want == 9 {
					f = readFrame(t, ws)
				}
			}
		})
	}
}

func TestResize(t *testing.T) {
	tests := []struct {
		name      string
		token     string
		cols      int
		rows      int
		wantError string
	}{
		{name: "learner", token: "learner", cols: 120, rows: 40},
		{name: "smallest", token: "learner", cols: 1, rows: 1},
		{name: "largest", token: "learner", cols: 1000, rows: 1000},
		{name: "zero cols", token: "learner", cols: 0, rows: 40, wantError: "between 1 and 1000"},
		{name: "negative rows", token: "learner", cols: 80, rows: -1, wantError: "between 1 and 1000"},
		{name: "too wide", token: "learner", cols: 1001, rows: 40, wantError: "between 1 and 1000"},
		{name: "beyond uint16", token: "learner", cols: 65616, rows: 40, wantError: "between 1 and 1000"},
		{name: "read-only", token: "instructor", cols: 120, rows: 40, wantError: "read-only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, false, Limits{})
			ws, _ := e.connect(t, tt.token, 0)
			send(t, ws, map[string]any{"type": "resize", "cols": tt.cols, "rows": tt.rows})
			if tt.wantError != "" {
				if m := readMsg(t, ws, "error"); !strings.Contains(m.Message, tt.wantError) {
					t.Errorf("error %q; want it to mention %q", m.Message, tt.wantError)
				}
				stillUp(t, ws) // the resize was handled before the ping
				if len(e.term.sizes) != 0 {
					t.Errorf("terminal resized to %v; want no resize", <-e.term.sizes)
				}
				return
			}
			if got := <-e.term.sizes; got != [2]uint16{uint16(tt.cols), uint16(tt.rows)} {
				t.Errorf("terminal size = %v; want [%d %d]", got, tt.cols, tt.rows)
			}
		})
	}
}

func TestReadOnly(t *testing.T) {
	e := newEnv(t, false, Limits{})
	ws, hello := e.connect(t, "instructor", 0)
	if !hello.ReadOnly {
		t.Errorf("hello = %+v; want readOnly", hello)
	}
	send(t, ws, map[string]string{"type": "input", "data": "rm -rf /\r"})
	if m := readMsg(t, ws, "error"); !strings.Contains(m.Message, "read-only") {
		t.Errorf("error %q; want it to mention read-only", m.Message)
	}
	stillUp(t, ws)
	if len(e.term.inputs) != 0 {
		t.Errorf("terminal got input %q from a read-only client", <-e.term.inputs)
	}
	e.term.emit([]byte("learner typing"))
	if f := readOutput(t, ws); f.data != "learner typing" {
		t.Errorf("watcher got %q; want the learner's output", f.data)
	}
}

func TestBadMessages(t *testing.T) {
	tests := []struct {
		name      string
		typ       int
		data      string
		wantError string
	}{
		{name: "not JSON", typ: websocket.TextMessage, data: "{oops", wantError: "malformed"},
		{name: "JSON array", typ: websocket.TextMessage, data: "[1,2]", wantError: "malformed"},
		{name: "unknown type", typ: websocket.TextMessage, data: `{"type":"launch"}`, wantError: `unknown message type "launch"`},
		{name: "no type", typ: websocket.TextMessage, data: `{}`, wantError: "unknown message type"},
		{name: "binary frame", typ: websocket.BinaryMessage, data: "\x00ls", wantError: "binary"},
		{name: "second hello", typ: websocket.TextMessage, data: `{"type":"hello","token":"learner"}`, wantError: "already"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, false, Limits{})
			ws, _ := e.connect(t, "learner", 0)
			if err := ws.WriteMessage(tt.typ, []byte(tt.data)); err != nil {
				t.Fatal(err)
			}
			if m := readMsg(t, ws, "error"); !strings.Contains(m.Message, tt.wantError) {
				t.Errorf("error %q; want it to mention %q", m.Message, tt.wantError)
			}
			stillUp(t, ws)
		})
	}
}

func TestTooManyBadMessages(t *testing.T) {
	e := newEnv(t, false, Limits{MaxBadMessages: 3})
	ws, _ := e.connect(t, "learner", 0)
	garbage := func(n int) {
		for range n {
			if err := ws.WriteMessage(websocket.TextMessage, []byte("garbage")); err != nil {
				t.Fatal(err)
			}
		}
	}
	garbage(3)
	for range 3 {
		readMsg(t, ws, "error")
	}
	stillUp(t, ws) // a good message resets the count
	garbage(4)
	expectClose(t, ws, websocket.ClosePolicyViolation, "too many malformed messages")
}

func TestMessageSize(t *testing.T) {
	input := func(size int) []byte {
		b := []byte(`{"type":"input","data":""}`)
		return slices.Insert(b, len(b)-2, []byte(strings.Repeat("a", size-len(b)))...)
	}
	tests := []struct {
		name   string
		size   int
		tooBig bool
	}{
		{name: "at the limit", size: DefaultMaxMessageSize},
		{name: "one byte over", size: DefaultMaxMessageSize + 1, tooBig: true},
		{name: "far over", size: 4 << 20, tooBig: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, false, Limits{})
			ws, _ := e.connect(t, "learner", 0)
			if err := ws.WriteMessage(websocket.TextMessage, input(tt.size)); err != nil {
				t.Fatal(err)
			}
			if tt.tooBig {
				expectClose(t, ws, websocket.CloseMessageTooBig, "too big: the limit is 65536 bytes")
				return
			}
			stillUp(t, ws)
			if in := <-e.term.inputs; len(in) != tt.size-len(`{"type":"input","data":""}`) {
				t.Errorf("terminal got %d bytes of input", len(in))
			}
		})
	}
}

func TestHelloRequired(t *testing.T) {
	tests := []struct {
		name   string
		first  string // "" sends nothing
		code   int
		reason string
	}{
		{name: "silence", first: "", code: websocket.ClosePolicyViolation, reason: "no hello within 5s"},
		{name: "input first", first: `{"type":"input","data":"ls"}`, code: websocket.ClosePolicyViolation, reason: "first message must be hello"},
		{name: "garbage first", first: `hello?`, code: websocket.ClosePolicyViolation, reason: "first message must be hello"},
		{name: "wrong token", first: `{"type":"hello","token":"guess"}`, code: CloseUnauthorized, reason: "not authorized"},
		{name: "no token", first: `{"type":"hello"}`, code: CloseUnauthorized, reason: "not authorized"},
		{name: "terminal not available yet", first: `{"type":"hello","token":"learner-too-soon"}`, code: websocket.CloseTryAgainLater, reason: "not ready yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, false, Limits{})
			ws := e.open(t)
			if tt.first == "" {
				e.clock.WaitTimers(t, 2) // hello timeout and ping ticker
				e.clock.Advance(DefaultHelloTimeout)
			} else if err := ws.WriteMessage(websocket.TextMessage, []byte(tt.first)); err != nil {
				t.Fatal(err)
			}
			expectClose(t, ws, tt.code, tt.reason)
			if n := e.sess.Clients(); n != 0 {
				t.Errorf("Clients() = %d; want 0", n)
			}
		})
	}
}

func TestHandshake(t *testing.T) {
	tests := []struct {
		name     string
		allowed  []string
		origin   string // "self" is the test server's own origin
		protos   []string
		wantCode int
	}{
		{name: "same origin", origin: "self", protos: []string{Subprotocol}, wantCode: http.StatusSwitchingProtocols},
		{name: "no origin (not a browser)", origin: "", protos: []string{Subprotocol}, wantCode: http.StatusSwitchingProtocols},
		{name: "foreign origin", origin: "https://evil.example", protos: []string{Subprotocol}, wantCode: http.StatusForbidden},
		{name: "allowed origin", allowed: []string{"https://kindlab.example"}, origin: "https://kindlab.example", protos: []string{Subprotocol}, wantCode: http.StatusSwitchingProtocols},
		{name: "own origin not in the list", allowed: []string{"https://kindlab.example"}, origin: "self", protos: []string{Subprotocol}, wantCode: http.StatusForbidden},
		{name: "no subprotocol", origin: "self", wantCode: http.StatusBadRequest},
		{name: "other subprotocol", origin: "self", protos: []string{"kindlab.term.v2"}, wantCode: http.StatusBadRequest},
		{name: "ours among others", origin: "self", protos: []string{"kindlab.term.v2", Subprotocol}, wantCode: http.StatusSwitchingProtocols},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, false, Limits{})
			e.h.AllowedOrigins = tt.allowed
			origin := tt.origin
			if origin == "self" {
				origin = e.srv.URL
			}
			ws, resp, err := e.dial(t, origin, tt.protos...)
			if resp == nil {
				t.Fatalf("dial: %v", err)
			}
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("handshake status = %d; want %d", resp.StatusCode, tt.wantCode)
			}
			if err == nil && ws.Subprotocol() != Subprotocol {
				t.Errorf("subprotocol = %q; want %q", ws.Subprotocol(), Subprotocol)
			}
		})
	}
}

func TestExit(t *testing.T) {
	tests := []struct {
		name     string
		end      error
		wantCode int
		notice   bool // kindlab says the connection broke
	}{
		{name: "exit 0", end: io.EOF, wantCode: 0},
		{name: "exit 3", end: exitErr(3), wantCode: 3},
		{name: "stream broke", end: errors.New("pod deleted"), wantCode: -1, notice: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, false, Limits{})
			ws, _ := e.connect(t, "learner", 0)
			e.term.emit([]byte("logout\r\n"))
			e.term.exit(tt.end)
			if f := readOutput(t, ws); f.data != "logout\r\n" {
				t.Errorf("output %q; want the last output before exit", f.data)
			}
			if tt.notice {
				if f := readOutput(t, ws); !strings.Contains(f.data, "[kindlab] The connection to your terminal broke") {
					t.Errorf("output %q; want kindlab's notice", f.data)
				}
			}
			if m := readMsg(t, ws, "exit"); m.Code != tt.wantCode {
				t.Errorf("exit code = %d; want %d", m.Code, tt.wantCode)
			}
			expectClose(t, ws, websocket.CloseNormalClosure, "terminal exited")

			late, _ := e.connect(t, "learner", 0) // a browser that comes back later
			readOutput(t, late)
			if tt.notice {
				readOutput(t, late)
			}
			if m := readMsg(t, late, "exit"); m.Code != tt.wantCode {
				t.Errorf("late exit code = %d; want %d", m.Code, tt.wantCode)
			}
		})
	}
}

func TestPings(t *testing.T) {
	e := newEnv(t, false, Limits{})
	ws, _ := e.connect(t, "learner", 0)
	pinged := make(chan struct{}, 1)
	ws.SetPingHandler(func(string) error {
		select {
		case pinged <- struct{}{}:
		default:
		}
		return nil
	})
	go func() {
		for {
			if _, err := nextFrame(ws); err != nil {
				return
			}
		}
	}()
	e.clock.WaitTimers(t, 1) // the ping ticker; the hello timer is stopped
	e.clock.Advance(DefaultPingPeriod)
	select {
	case <-pinged:
	case <-time.After(failAfter):
		t.Fatal("no ping after the ping period")
	}
}

// A client that never reads is dropped with 4008 once its queue is full,
// while the terminal keeps running and another client gets every chunk.
func TestSlowClient(t *testing.T) {
	e := newEnv(t, false, Limits{WriteWait: 10 * time.Minute}, WithQueueLen(8))
	slow, _ := e.connect(t, "learner", 0)
	fast, _ := e.connect(t, "instructor", 0)

	chunk := func(seq uint64) []byte {
		b := make([]byte, 32<<10)
		for i := range b {
			b[i] = byte('a' + (seq+uint64(i))%26)
		}
		return b
	}
	var seq uint64
	emit := func() {
		seq++
		e.term.emit(chunk(seq)) // returns once the session's reader has it
		if f := readOutput(t, fast); f.seq != seq || f.data != string(chunk(seq)) {
			t.Fatalf("fast client got chunk %d (%d bytes); want %d", f.seq, len(f.data), seq)
		}
	}
	// Loopback socket buffers hold several MiB before the slow client's
	// writes block and its queue fills.
	for e.sess.Clients() == 2 {
		if seq == 16<<10 {
			t.Fatal("slow client still attached after 512 MiB")
		}
		emit()
	}
	for range 3 {
		emit() // the terminal and the fast client carry on
	}

	var last uint64
	for {
		f, err := nextFrame(slow)
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != CloseTooSlow || ce.Text != "too slow; reconnect to catch up" {
				t.Fatalf("slow client ended with %v; want close 4008", err)
			}
			break
		}
		if f.seq != last+1 {
			t.Fatalf("slow client got chunk %d after %d", f.seq, last)
		}
		last = f.seq
	}
	if last >= seq {
		t.Fatalf("slow client got all %d chunks; want it dropped before", seq)
	}

	// It reconnects with what it saw and catches up: the rest of the buffer,
	// after a gap notice if it fell further behind than the buffer holds.
	again, _ := e.connect(t, "learner", last)
	f := readFrame(t, again)
	if !f.out {
		if f.msg.Type != "gap" || f.msg.From <= last+1 {
			t.Fatalf("after reconnect: %+v; want output or a gap beyond %d", f.msg, last+1)
		}
		t.Logf("gap: chunks %d..%d fell out of the buffer", last+1, f.msg.From-1)
		last = f.msg.From - 1
		f = readFrame(t, again)
	}
	for {
		if !f.out || f.seq != last+1 {
			t.Fatalf("after reconnect got %+v; want chunk %d", f, last+1)
		}
		if last = f.seq; last == seq {
			break
		}
		f = readFrame(t, again)
	}
}
