package web

// TEMPORARY harness (not to be committed): a fake server for trying the pages
// and static/app.js in a real browser.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/static"
)

type fakeTerm struct {
	mu     sync.Mutex
	chunks [][]byte // chunk i has seq i+1
	subs   map[chan struct{}]bool
	line   strings.Builder
	size   string
	inputs []string
	hellos []int
	events chan string
}

func (f *fakeTerm) out(s string) {
	f.mu.Lock()
	f.chunks = append(f.chunks, []byte(s))
	for c := range f.subs {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	f.mu.Unlock()
}

func TestDevServer(t *testing.T) {
	if os.Getenv("KINDLAB_DEVSERVER") == "" {
		t.Skip()
	}
	ft := &fakeTerm{subs: map[chan struct{}]bool{}, events: make(chan string, 16)}
	ft.out("Welcome to the kindlab workstation\r\n$ ")
	lab, _ := labs.ParseLab(labs.Builtin(), "services-dns")
	mux := http.NewServeMux()
	st, _ := fs.Sub(static.FS(), ".")
	mux.Handle("/static/", http.StripPrefix("/static/", http.FileServerFS(st)))
	page := func(w http.ResponseWriter, r *http.Request) {
		n := 2
		fmt.Sscan(r.URL.Query().Get("step"), &n)
		if n < 1 || n > len(lab.Steps) {
			n = 1
		}
		sv, err := NewStepView(n, lab.Steps[n-1], nil)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		v := LabPageView{SessionID: "abc", CSRF: "c", LabID: lab.ID, LabTitle: lab.Title, Steps: StepLinks(*lab, []bool{true}), Step: sv,
			AppLinks: []AppLink{{Name: "homepage", URL: AppURL("abc", "homepage")}}, TerminalToken: "tok"}
		if r.URL.Query().Get("token") != "" {
			v.TerminalToken = r.URL.Query().Get("token")
		}
		LabPage(v).Render(r.Context(), w)
	}
	mux.HandleFunc("GET /s/abc", page)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		var cards []LabCard
		for _, id := range []string{"pod-networking", "services-dns", "numbers", "service-types"} {
			l, _ := labs.ParseLab(labs.Builtin(), id)
			cards = append(cards, CardFromLab(*l))
		}
		Catalog(CatalogView{CSRF: "x", Labs: cards, Chrome: Chrome{Flashes: []Flash{{Kind: FlashSuccess, Text: "Welcome back!"}}}}).Render(r.Context(), w)
	})
	mux.HandleFunc("GET /s/prog", func(w http.ResponseWriter, r *http.Request) {
		Progress(ProgressView{SessionID: "prog", LabID: "numbers", LabTitle: "Numbers", Stage: "waiting for capacity", Queue: 2}).Render(r.Context(), w)
	})
	mux.HandleFunc("GET /s/abc/complete", func(w http.ResponseWriter, r *http.Request) {
		Complete(CompleteView{SessionID: "abc", LabTitle: lab.Title, TimeTaken: 31 * time.Minute, StepsPassed: 7, Steps: StepLinks(*lab, []bool{true, true, true, true, true, false, true, true})}).Render(r.Context(), w)
	})
	mux.HandleFunc("GET /oops", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(404)
		ErrorPage(NewErrorView(404, nil, "req-1")).Render(r.Context(), w)
	})
	mux.HandleFunc("GET /s/prog/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		send := func(ev string, v any) {
			b, _ := json.Marshal(v)
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev, b)
			fl.Flush()
		}
		steps := []map[string]any{
			{"stage": "waiting for capacity", "done": false, "queue": 1, "error": ""},
			{"stage": "claiming cluster", "done": false, "queue": 0, "error": ""},
			{"stage": "loading images", "done": false, "queue": 0, "error": ""},
		}
		if r.URL.Query().Get("fail") != "" || strings.Contains(r.Referer(), "fail") {
			steps = append(steps, map[string]any{"stage": "loading images", "done": false, "queue": 0, "error": "Loading the lab images took too long."})
		}
		for _, s := range steps {
			send("progress", s)
			select {
			case <-r.Context().Done():
				return
			case <-time.After(700 * time.Millisecond):
			}
		}
		<-r.Context().Done()
	})
	mux.HandleFunc("GET /s/abc/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		send := func(ev string, v any) {
			b, _ := json.Marshal(v)
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev, b)
			fl.Flush()
		}
		send("checks", map[string]any{"step": 2, "allPassed": false, "results": []map[string]any{{"id": "port-forwarded", "status": "fail", "message": "No kubectl port-forward in your history yet"}}})
		send("message", map[string]any{"text": "Coffee break at 10:30"})
		for {
			select {
			case <-r.Context().Done():
				return
			case ev := <-ft.events:
				if ev == "pass" {
					send("checks", map[string]any{"step": 2, "allPassed": true, "results": []map[string]any{{"id": "port-forwarded", "status": "pass", "message": "You ran kubectl port-forward deploy/homepage 8090:80"}}})
				}
			}
		}
	})
	mux.HandleFunc("GET /debug", func(w http.ResponseWriter, r *http.Request) {
		ft.mu.Lock()
		defer ft.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"size": ft.size, "inputs": ft.inputs, "hellos": ft.hellos, "chunks": len(ft.chunks)})
	})
	up := websocket.Upgrader{Subprotocols: []string{"kindlab.term.v1"}}
	mux.HandleFunc("GET /s/abc/terminal", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		var hello struct {
			Type    string
			Token   string
			LastSeq int
		}
		if err := c.ReadJSON(&hello); err != nil {
			return
		}
		ft.mu.Lock()
		ft.hellos = append(ft.hellos, hello.LastSeq)
		ft.mu.Unlock()
		if hello.Token != "tok" {
			c.WriteJSON(map[string]any{"type": "error", "message": "Your terminal token is not valid. Reload the page."})
			c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "unauthorized"))
			time.Sleep(100 * time.Millisecond)
			return
		}
		var wmu sync.Mutex
		ft.mu.Lock()
		cur := len(ft.chunks)
		ft.mu.Unlock()
		wmu.Lock()
		c.WriteJSON(map[string]any{"type": "hello", "seq": cur, "readOnly": false})
		wmu.Unlock()
		next := hello.LastSeq + 1
		notify := make(chan struct{}, 1)
		ft.mu.Lock()
		ft.subs[notify] = true
		ft.mu.Unlock()
		defer func() { ft.mu.Lock(); delete(ft.subs, notify); ft.mu.Unlock() }()
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		go func() {
			// writer: replay everything after lastSeq, then follow; also send a duplicate on purpose.
			for {
				ft.mu.Lock()
				var batch [][]byte
				first := next
				for next <= len(ft.chunks) {
					batch = append(batch, ft.chunks[next-1])
					next++
				}
				ft.mu.Unlock()
				for i, b := range batch {
					seq := first + i
					for rep := 0; rep < 2; rep++ { // every chunk twice: the client must drop the repeat
						msg := make([]byte, 8+len(b))
						binary.BigEndian.PutUint64(msg, uint64(seq))
						copy(msg[8:], b)
						wmu.Lock()
						c.WriteMessage(websocket.BinaryMessage, msg)
						wmu.Unlock()
					}
				}
				select {
				case <-ctx.Done():
					return
				case <-notify:
				}
			}
		}()
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				return
			}
			var m struct {
				Type       string
				Data       string
				Cols, Rows int
			}
			json.Unmarshal(data, &m)
			switch m.Type {
			case "ping":
				wmu.Lock()
				c.WriteJSON(map[string]string{"type": "pong"})
				wmu.Unlock()
			case "resize":
				ft.mu.Lock()
				ft.size = fmt.Sprintf("%dx%d", m.Cols, m.Rows)
				ft.mu.Unlock()
			case "input":
				ft.mu.Lock()
				ft.inputs = append(ft.inputs, m.Data)
				ft.mu.Unlock()
				for _, r := range m.Data {
					switch r {
					case '\r':
						line := ft.line.String()
						ft.line.Reset()
						ft.out("\r\nran: " + line + "\r\n$ ")
						if strings.Contains(line, "port-forward") {
							ft.events <- "pass"
						}
						if line == "drop" {
							c.UnderlyingConn().Close() // abrupt: no close frame
							ft.out("output while away\r\n$ ")
							return
						}
						if line == "slow" {
							wmu.Lock()
							c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4008, "too slow"))
							wmu.Unlock()
							ft.out("after slow\r\n$ ")
							return
						}
					case 3:
						ft.line.Reset()
						ft.out("^C\r\n$ ")
					default:
						ft.line.WriteRune(r)
						ft.out(string(r))
					}
				}
			}
		}
	})
	addr := os.Getenv("KINDLAB_DEVSERVER")
	t.Logf("listening on %s", addr)
	if err := http.ListenAndServe(addr, mux); err != nil {
		t.Fatal(err)
	}
}
