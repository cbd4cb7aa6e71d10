package proxylimit

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func TestWrapLeavesOtherAnswersWhole(t *testing.T) {
	big := strings.Repeat("y", 2*MaxBody)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"big"},"data":{"k":"`+big+`"}}`)
	}))
	defer s.Close()
	cfg := &rest.Config{Host: s.URL}
	cfg.Wrap(Wrap)
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
