// Package proxylimit bounds what kindlab reads of answers that come through
// a learner cluster's API server from the learner's own Services and pods.
package proxylimit

import (
	"io"
	"net/http"
	"strings"
)

// MaxBody is as much of an answer through the API server's service or pod
// proxy as kindlab reads: a Service that answers without end is cut there.
const MaxBody = 1 << 20

// Wrap wraps a cluster client's transport so that no answer through the API
// server's service or pod proxy is read past MaxBody+1 bytes: a Service that
// answers without end costs kindlab that much memory at most, whether it
// answers 200 (a reader that stops at MaxBody) or an error (which client-go
// reads whole). Other answers, watches among them, pass as they are.
func Wrap(rt http.RoundTripper) http.RoundTripper {
	return limit{rt}
}

type limit struct{ next http.RoundTripper }

func (l limit) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if err == nil && isProxyPath(req.URL.Path) {
		resp.Body = limitedBody{io.LimitReader(resp.Body, MaxBody+1), resp.Body}
	}
	return resp, err
}

// isProxyPath tells /api/v1/namespaces/NS/services/NAME/proxy/... (and pods').
func isProxyPath(p string) bool {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	for i := 0; i+2 < len(parts); i++ {
		if (parts[i] == "services" || parts[i] == "pods") && parts[i+2] == "proxy" {
			return true
		}
	}
	return false
}

type limitedBody struct {
	io.Reader
	io.Closer
}
