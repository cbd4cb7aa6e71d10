package terminal_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/kindlab/kindlab/server/terminal"
	"github.com/kindlab/kindlab/workstation"
)

// A learner's shell in the workstation pod of their cluster, served at
// /terminal. The session outlives browser reconnects; it hangs off the
// server's lifetime context.
func ExampleHandler() {
	var (
		ctx  context.Context   // the session's lifetime context
		conn *workstation.Conn // the learner's cluster
		log  *slog.Logger
	)
	term, err := conn.Terminal(ctx, "numbers")
	if err != nil {
		log.Error("start terminal", slog.Any("error", err))
		return
	}
	sess, err := terminal.NewSession(term, terminal.WithLogger(log.With("learner", "ada")))
	if err != nil {
		term.Close()
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/terminal", &terminal.Handler{
		Authorize: func(r *http.Request, hello terminal.Hello) (*terminal.Session, bool, error) {
			// The real server resolves the learner from the session cookie
			// and checks hello.Token against that learner's terminal.
			if _, err := r.Cookie("kindlab_session"); err != nil {
				return nil, false, errors.New("no session cookie")
			}
			return sess, false, nil
		},
		AllowedOrigins: []string{"https://kindlab.example"},
		Logger:         log,
	})
}
