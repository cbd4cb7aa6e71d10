package check

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kindlab/kindlab/internal/proxylimit"
)

// endlessServer answers every service proxy request with a body that never
// ends (status code), and counts the bytes it wrote.
func endlessServer(t *testing.T, code int) (*httptest.Server, *atomic.Int64) {
	wrote := new(atomic.Int64)
	chunk := []byte(strings.Repeat("x", 32<<10))
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(code)
		for r.Context().Err() == nil {
			n, err := w.Write(chunk)
			if err != nil || wrote.Add(int64(n)) > 64<<20 { // the test fails before this: kindlab read far too much
				return
			}
		}
	}))
	t.Cleanup(s.Close)
	return s, wrote
}

func TestProxyGetCutsAnEndlessAnswer(t *testing.T) {
	for _, code := range []int{http.StatusOK, http.StatusInternalServerError} {
		s, wrote := endlessServer(t, code)
		cfg := &rest.Config{Host: s.URL}
		cfg.Wrap(proxylimit.Wrap)
		cs := kubernetes.NewForConfigOrDie(cfg)
		e := New(Config{Client: cs})
		_, got, cut, _, err := e.proxyGet(context.Background(), "default", "homepage", corev1.ServicePort{Port: 80}, "/")
		if code == http.StatusOK && (err != nil || !cut || len(got) != MaxBody) {
			t.Errorf("200 without end: %d bytes, cut %v, %v; want %d bytes, cut", len(got), cut, err, MaxBody)
		}
		if code != http.StatusOK && len(got) > MaxBody+1 {
			t.Errorf("%d without end: kept %d bytes; want at most %d", code, len(got), MaxBody+1)
		}
		// The server writes ahead into socket buffers; what matters is that
		// kindlab stopped reading near MaxBody, not at the server's own cap.
		if n := wrote.Load(); n > 16<<20 {
			t.Errorf("%d without end: the server wrote %d MiB before kindlab stopped reading", code, n>>20)
		}
	}
}
