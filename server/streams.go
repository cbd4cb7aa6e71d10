package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/websocket"
)

// CloseTooMany is the close code of a websocket refused because its session or
// its client holds as many live connections as allowed; the reason says
// which. Browsers try again slowly.
const CloseTooMany = 4029

// openStreams counts the long-lived connections (event streams, terminals,
// the dashboard's live feed) open per session or workshop, and per client
// address, so that one browser or one script cannot hold thousands open.
type openStreams struct {
	perSession, perClient int

	mu        sync.Mutex
	bySession map[string]int
	byClient  map[string]int
}

func newOpenStreams(perSession, perClient int) *openStreams {
	return &openStreams{perSession: perSession, perClient: perClient, bySession: map[string]int{}, byClient: map[string]int{}}
}

// enter counts one more connection of session from client, and returns the
// function that ends it; or, past a cap, what the refused learner is told.
func (o *openStreams) enter(session, client string) (leave func(), refused string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.bySession[session] >= o.perSession:
		return nil, fmt.Sprintf("This page is open in too many tabs (%d live connections, the limit): close some and it connects again.", o.perSession)
	case o.byClient[client] >= o.perClient:
		return nil, fmt.Sprintf("Too many live connections from your address (%d, the limit): close some kindlab tabs and it connects again.", o.perClient)
	}
	o.bySession[session]++
	o.byClient[client]++
	var once sync.Once
	return func() {
		once.Do(func() {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.drop(o.bySession, session)
			o.drop(o.byClient, client)
		})
	}, ""
}

func (o *openStreams) drop(m map[string]int, key string) {
	if m[key]--; m[key] <= 0 {
		delete(m, key)
	}
}

// capStreams holds a long-lived connection to the caps: the route's {sid}
// (or {wid}, the dashboard's) and the client's address. A refused websocket
// is accepted and closed with CloseTooMany and the reason, which the page
// shows; a refused event stream gets one "refused" event with the message
// and a slow retry.
func (s *Server) capStreams(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := "s/" + chi.URLParam(r, "sid")
		if wid := chi.URLParam(r, "wid"); wid != "" {
			key = "w/" + wid
		}
		leave, refused := s.streams.enter(key, clientOf(r).addr)
		if refused == "" {
			defer leave()
			next.ServeHTTP(w, r)
			return
		}
		s.metrics.streamsRefused.Add(1)
		s.Logger.Warn("live connection refused", "key", key, "client", clientOf(r).addr, "why", refused)
		if websocket.IsWebSocketUpgrade(r) {
			up := websocket.Upgrader{Subprotocols: websocket.Subprotocols(r)} // same-origin only
			conn, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer conn.Close()
			conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(CloseTooMany, refused))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		data, _ := json.Marshal(map[string]string{"message": refused})
		fmt.Fprintf(w, "retry: 15000\nevent: refused\ndata: %s\n\n", data)
	})
}
