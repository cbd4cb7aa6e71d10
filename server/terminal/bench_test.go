package terminal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
)

// BenchmarkEchoLatency measures a keystroke's round trip: input message in,
// through the session to an echo terminal, output frame out, over a real
// websocket on 127.0.0.1.
func BenchmarkEchoLatency(b *testing.B) {
	e := newEnv(b, true, Limits{})
	e.h.Logger, e.h.Clock = nil, nil
	ws, _ := e.connect(b, "learner", 0)
	key := []byte(`{"type":"input","data":"x"}`)
	for b.Loop() {
		if err := ws.WriteMessage(websocket.TextMessage, key); err != nil {
			b.Fatal(err)
		}
		if typ, _, err := ws.ReadMessage(); err != nil || typ != websocket.BinaryMessage {
			b.Fatalf("read: %d, %v", typ, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/keystroke")
}

// BenchmarkThroughput measures terminal output (32 KiB reads, as from a
// busy `kubectl logs -f`) reaching a browser client. The terminal is held
// 64 chunks ahead of the client so that the client is never dropped as slow.
func BenchmarkThroughput(b *testing.B) {
	e := newEnv(b, false, Limits{})
	e.h.Logger, e.h.Clock = nil, nil
	ws, _ := e.connect(b, "learner", 0)
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 2<<10)
	window := make(chan struct{}, 64)
	b.ResetTimer()
	go func() {
		for range b.N {
			window <- struct{}{}
			if !e.term.emit(chunk) {
				return
			}
		}
	}()
	var hdr [8]byte
	for i := range b.N {
		_, r, err := ws.NextReader()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil || binary.BigEndian.Uint64(hdr[:]) != uint64(i+1) {
			b.Fatalf("chunk %d: seq %d, %v", i+1, binary.BigEndian.Uint64(hdr[:]), err)
		}
		if n, err := io.Copy(io.Discard, r); err != nil || n != int64(len(chunk)) {
			b.Fatalf("chunk %d: %d bytes, %v", i+1, n, err)
		}
		<-window
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*len(chunk))/1e6/b.Elapsed().Seconds(), "MB/s")
}

// BenchmarkMemoryPerSession measures the heap and stacks held by an idle
// session that has printed a screenful (4 KiB) into its replay buffer, with
// one browser attached. "websocket" counts both ends of the 127.0.0.1
// connection (the client's buffers too, so it overstates the server's share);
// "core" is the session and its attached client without a connection.
func BenchmarkMemoryPerSession(b *testing.B) {
	screen := []byte(strings.Repeat("pod/numbers-api-7c9f8d6b5-x2x7q   1/1   Running   0   3m\r\n", 4096/62))
	b.Run("core", func(b *testing.B) {
		var terms []*fakeTerm
		var clients []*Client
		before := heapAndStacks()
		for b.Loop() {
			term := newFakeTerm(false)
			s, err := NewSession(term)
			if err != nil {
				b.Fatal(err)
			}
			c, _ := s.Attach(0, false)
			term.emit(screen)
			<-c.Output()
			terms, clients = append(terms, term), append(clients, c)
		}
		b.ReportMetric(float64(heapAndStacks()-before)/float64(len(terms)), "B/session")
		for _, t := range terms {
			t.Close()
		}
		runtime.KeepAlive(clients)
	})
	b.Run("websocket", func(b *testing.B) {
		var mu sync.Mutex
		sessions := map[string]*Session{}
		h := &Handler{Authorize: func(r *http.Request, hello Hello) (*Session, bool, error) {
			mu.Lock()
			defer mu.Unlock()
			return sessions[hello.Token], false, nil
		}}
		srv := httptest.NewServer(h)
		defer srv.Close()
		url := "ws" + strings.TrimPrefix(srv.URL, "http")
		d := websocket.Dialer{Subprotocols: []string{Subprotocol}}
		var terms []*fakeTerm
		var conns []*websocket.Conn
		before := heapAndStacks()
		for b.Loop() {
			term := newFakeTerm(false)
			s, err := NewSession(term)
			if err != nil {
				b.Fatal(err)
			}
			token := fmt.Sprint(len(terms))
			mu.Lock()
			sessions[token] = s
			mu.Unlock()
			ws, _, err := d.Dial(url, nil)
			if err != nil {
				b.Fatal(err)
			}
			send(b, ws, map[string]any{"type": "hello", "token": token})
			term.emit(screen)
			readMsg(b, ws, "hello")
			readOutput(b, ws)
			terms, conns = append(terms, term), append(conns, ws)
		}
		b.ReportMetric(float64(heapAndStacks()-before)/float64(len(terms)), "B/session")
		for i, ws := range conns {
			ws.Close()
			terms[i].Close()
		}
	})
}

func heapAndStacks() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse)
}
