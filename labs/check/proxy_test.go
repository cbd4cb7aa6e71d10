package check

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
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
		cfg.Wrap(LimitProxyBodies)
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

func TestLimitProxyBodiesLeavesOtherAnswersWhole(t *testing.T) {
	big := strings.Repeat("y", 2*MaxBody)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"big"},"data":{"k":"`+big+`"}}`)
	}))
	defer s.Close()
	cfg := &rest.Config{Host: s.URL}
	cfg.Wrap(LimitProxyBodies)
	cm, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().ConfigMaps("default").Get(context.Background(), "big", metav1.GetOptions{})
	if err != nil || len(cm.Data["k"]) != len(big) {
		t.Fatalf("a 2 MiB ConfigMap through the limited transport: %v; want it whole", err)
	}
	for path, want := range map[string]bool{
		"/api/v1/namespaces/default/services/homepage/proxy/":        true,
		"/api/v1/namespaces/default/services/http:homepage:80/proxy": true,
		"/api/v1/namespaces/default/pods/web-1/proxy/healthz":        true,
		"/api/v1/namespaces/default/services/proxy":                  false, // a Service named proxy, listed
		"/api/v1/namespaces/default/configmaps/proxy":                false,
	} {
		if got := isProxyPath(path); got != want {
			t.Errorf("isProxyPath(%q) = %v; want %v", path, got, want)
		}
	}
}
