package server

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/kindlab/kindlab/server/session"
	"github.com/kindlab/kindlab/server/session/sessiontest"
)

// open reports how many connections session and client hold.
func (o *openStreams) open(session, client string) (int, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.bySession[session], o.byClient[client]
}

func TestOpenStreamsCounts(t *testing.T) {
	o := newOpenStreams(2, 3)
	a1, r1 := o.enter("s/a", "10.0.0.1")
	a2, r2 := o.enter("s/a", "10.0.0.1")
	if r1 != "" || r2 != "" {
		t.Fatalf("the first two of session a refused: %q, %q", r1, r2)
	}
	if _, r := o.enter("s/a", "10.0.0.2"); !strings.Contains(r, "too many tabs") {
		t.Errorf("session a's third = %q; want refused for the session", r)
	}
	b1, r := o.enter("s/b", "10.0.0.1")
	if r != "" {
		t.Fatalf("session b's first refused: %q", r)
	}
	if _, r := o.enter("s/c", "10.0.0.1"); !strings.Contains(r, "from your address") {
		t.Errorf("the address's fourth = %q; want refused for the address", r)
	}
	a1()
	a1() // leaving twice counts once
	if s, c := o.open("s/a", "10.0.0.1"); s != 1 || c != 2 {
		t.Errorf("after one left: session a %d, address %d; want 1, 2", s, c)
	}
	a2()
	b1()
	if len(o.bySession) != 0 || len(o.byClient) != 0 {
		t.Errorf("every stream left, yet counts remain: %v %v", o.bySession, o.byClient)
	}
	// A close frame's reason holds at most 123 bytes.
	big := newOpenStreams(1e6, 1e6)
	big.bySession["s/x"], big.byClient["y"] = 1e6, 1e6
	for _, key := range []string{"s/x", "s/z"} {
		if _, r := big.enter(key, "y"); len(r) > 123 || r == "" {
			t.Errorf("refusal %q is %d bytes; want 1 to 123", r, len(r))
		}
	}
}

// TestLiveConnectionCaps: a browser that opens more event streams and
// terminals than its session may hold is told why on the refused ones (an
// event, a close code with the reason); a closed one frees its place; and one
// address's connections across sessions are capped too.
func TestLiveConnectionCaps(t *testing.T) {
	cat, st := builtinLabsAndMemoryStore(t)
	srv := serve(t, Config{Catalog: cat, Store: st, Limits: Limits{StreamsPerSession: 3, StreamsPerClient: 5}},
		session.Config{Pool: waitingPool{}, Clusters: sessiontest.New(t, nil)})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

	// events opens a session's event stream and returns its first event's name.
	events := func(c *http.Client, sessionURL string) (string, string, context.CancelFunc) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", sessionURL+"/events", nil)
		c.Timeout = 0
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		var name, data string
		for sc.Scan() && data == "" {
			if v, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				name = v
			}
			if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				data = v
			}
		}
		return name, data, func() { cancel(); resp.Body.Close() }
	}
	a := browser(t)
	aURL := startLab(t, ts, a)
	var closers []context.CancelFunc
	for i := range 3 {
		name, _, stop := events(a, aURL)
		if name != "progress" {
			t.Fatalf("event stream %d of 3: first event %q; want progress", i+1, name)
		}
		closers = append(closers, stop)
	}
	name, data, stop := events(a, aURL)
	stop()
	if name != "refused" || !strings.Contains(data, "too many tabs") {
		t.Errorf("a fourth event stream: %s %s; want refused, saying the page is open in too many tabs", name, data)
	}
	d := websocket.Dialer{Subprotocols: []string{"kindlab.term.v1"}, Jar: a.Jar}
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(aURL, "http")+"/terminal", http.Header{"Origin": {ts.URL}})
	if err != nil {
		t.Fatalf("the refused terminal's upgrade: %v", err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = conn.ReadMessage()
	conn.Close()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != CloseTooMany || !strings.Contains(ce.Text, "too many tabs") {
		t.Errorf("a terminal past the cap: %v; want close %d saying why", err, CloseTooMany)
	}

	closers[0]()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if n, _ := srv.streams.open("s/"+strings.Split(strings.TrimPrefix(aURL, ts.URL+"/s/"), "/")[0], "127.0.0.1"); n < 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed event stream still counts 5 s later")
		}
		time.Sleep(20 * time.Millisecond)
	}
	name, _, stop = events(a, aURL)
	if name != "progress" {
		t.Errorf("an event stream after one closed: first event %q; want progress", name)
	}
	closers[0] = stop

	// A second learner from the same address: 3 + 2 = 5, the address's cap.
	b := browser(t)
	bURL := startLab(t, ts, b)
	for i := range 2 {
		name, _, stop := events(b, bURL)
		if name != "progress" {
			t.Fatalf("b's event stream %d: first event %q; want progress", i+1, name)
		}
		closers = append(closers, stop)
	}
	name, data, stop = events(b, bURL)
	stop()
	if name != "refused" || !strings.Contains(data, "from your address") {
		t.Errorf("the address's sixth connection: %s %s; want refused for the address", name, data)
	}
	for _, c := range closers {
		c()
	}
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "kindlab_streams_refused_total 3") {
		t.Errorf("metrics lack kindlab_streams_refused_total 3:\n%s", body)
	}
}
