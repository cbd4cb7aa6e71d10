package cluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// tunnel forwards ports on 127.0.0.1 to ports inside a pod through the host
// cluster's API (pods/portforward). The local ports stay the same for the
// tunnel's life: when the stream breaks (the host API restarted, a network
// blip) it is opened again on them, so kubeconfig files and app links that
// name them keep working.
type tunnel struct {
	local  []int // local port of each remote port, in order
	cancel context.CancelFunc
	done   chan struct{}
}

// openTunnel forwards remote ports of the pod to ports on 127.0.0.1 that the
// system picks, and returns once they listen.
func (h *Hosted) openTunnel(pod string, remote ...int) (*tunnel, error) {
	u, err := url.Parse(h.opts.Config.Host)
	if err != nil {
		return nil, err
	}
	u.Path = path.Join("/", u.Path, "api/v1/namespaces", h.opts.Namespace, "pods", pod, "portforward")
	rt, upgrader, err := spdy.RoundTripperFor(h.opts.Config)
	if err != nil {
		return nil, err
	}
	spdyDialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
	wsDialer, err := portforward.NewSPDYOverWebsocketDialer(u, h.opts.Config)
	if err != nil {
		return nil, err
	}
	dialer := portforward.NewFallbackDialer(wsDialer, spdyDialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	ctx, cancel := context.WithCancel(context.Background())
	t := &tunnel{local: make([]int, len(remote)), cancel: cancel, done: make(chan struct{})}
	ports := make([]string, len(remote))
	for i, r := range remote {
		ports[i] = "0:" + strconv.Itoa(r)
	}
	first := make(chan error, 1) // the first open's outcome, sent once
	go func() {
		opened := false
		defer close(t.done)
		wait := 200 * time.Millisecond
		for ctx.Err() == nil {
			ready := make(chan struct{})
			fw, err := portforward.NewOnAddressesWithContext(ctx, dialer, []string{"127.0.0.1"}, ports, ready, io.Discard, io.Discard)
			if err != nil {
				first <- err
				return
			}
			errc := make(chan error, 1)
			go func() { errc <- fw.ForwardPorts() }()
			select {
			case <-ready:
				got, _ := fw.GetPorts()
				for i, p := range got {
					t.local[i] = int(p.Local)
					ports[i] = fmt.Sprintf("%d:%d", p.Local, remote[i])
				}
				if !opened {
					opened = true
					first <- nil
				}
				wait = 200 * time.Millisecond
				err = <-errc
			case err = <-errc:
			}
			if !opened {
				first <- fmt.Errorf("port-forward to pod %s/%s: %w", h.opts.Namespace, pod, err)
				return
			}
			h.log.Debug("tunnel broke; opening it again", "pod", pod, "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			wait = min(2*wait, 5*time.Second)
		}
	}()
	if err := <-first; err != nil {
		cancel()
		<-t.done
		return nil, err
	}
	return t, nil
}

// alive tells whether the tunnel is open or being opened again.
func (t *tunnel) alive() bool {
	select {
	case <-t.done:
		return false
	default:
		return true
	}
}

func (t *tunnel) close() {
	t.cancel()
	<-t.done
}
