// Package workstation is kindlab's one way into a learner cluster and its
// workstation pod: the clients of a cluster (built once per cluster), commands in
// pods (the websocket exec protocol, with SPDY as the fallback), the learner's
// interactive terminal, the Typist that clicks a step's Run buttons into that
// same shell for validate and fast-forward,
// and delivering a lab's files into the learner's home folder. The server,
// `kindlab validate`, fast-forward and the check engine all go through a Conn, so
// validate exercises the path learners use.
package workstation

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kindlab/kindlab/internal/podstatus"
	"github.com/kindlab/kindlab/internal/proxylimit"
)

// The learner's workstation: a pod kindlab makes in every learner cluster
// (manifests/platform/workstation.yaml).
const (
	Namespace = "kindlab"
	Pod       = "workstation"
	Container = "shell"
	Home      = "/home/learner"
)

// Conn is a connection to one learner cluster, as its admin. Build it once per
// cluster with Connect or New; it is safe for concurrent use.
type Conn struct {
	Config    *rest.Config
	Client    kubernetes.Interface
	Dynamic   dynamic.Interface
	transport http.RoundTripper
}

// Connect reads a kubeconfig file and connects to its cluster.
func Connect(kubeconfig string) (*Conn, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	return New(cfg)
}

// New builds the clients of the cluster cfg points at. The clientset reads no
// answer through the API server's service or pod proxy past proxylimit.MaxBody: a
// learner's Service that answers without end costs kindlab no more memory
// than that. (The app transport streams answers to the browser as they come.)
func New(cfg *rest.Config) (*Conn, error) {
	limited := rest.CopyConfig(cfg)
	limited.Wrap(proxylimit.Wrap)
	// client-go's default of 5 requests a second (bursts of 10) is for
	// clients sharing a big cluster; kindlab is this one-node cluster's admin,
	// and what it does there follows the learner's pace: the namespace guard
	// keeps up with a script creating namespaces as fast as kubectl runs.
	if limited.QPS == 0 {
		limited.QPS, limited.Burst = 50, 100
	}
	cs, err := kubernetes.NewForConfig(limited)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return With(cfg, cs, dyn)
}

// With makes a Conn of clients built elsewhere (unit tests pass fakes); exec and
// the app transport still speak HTTP to cfg.Host.
func With(cfg *rest.Config, cs kubernetes.Interface, dyn dynamic.Interface) (*Conn, error) {
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, err
	}
	return &Conn{Config: cfg, Client: cs, Dynamic: dyn, transport: rt}, nil
}

// Transport is the cluster's authenticated HTTP transport (for the app proxy).
func (c *Conn) Transport() http.RoundTripper { return c.transport }

// WaitReady waits until the workstation pod is Ready.
func (c *Conn) WaitReady(ctx context.Context, timeout time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 300*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		p, err := c.Client.CoreV1().Pods(Namespace).Get(ctx, Pod, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = podSummary(p)
		return podstatus.Ready(p), nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the workstation pod: %w (last seen: %s)", err, last)
	}
	return nil
}

func podSummary(p *corev1.Pod) string {
	s := string(p.Status.Phase)
	for _, cs := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil {
			s += fmt.Sprintf(", %s waiting: %s %s", cs.Name, w.Reason, w.Message)
		}
	}
	return s
}

// reachAPI is what ReachesAPI runs in the shell container: kubectl, as the
// learner's ServiceAccount, to the API server through the kubernetes Service
// (the address the kubelet gives every container), as the learner's own
// kubectl does; the learner's kubeconfig, which they may have edited, is left
// out.
const reachAPI = `KUBECONFIG=/dev/null exec kubectl get --raw=/readyz --request-timeout=2s ` +
	`--server="https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT" ` +
	`--certificate-authority=/var/run/secrets/kubernetes.io/serviceaccount/ca.crt ` +
	`--token="$(cat /var/run/secrets/kubernetes.io/serviceaccount/token)"`

// ReachesAPI reports whether kubectl typed in the learner's terminal would reach
// the API server: from inside the workstation, through the cluster's Service
// network. Just after a node restarts, the API server answers from outside
// while the Service routes inside are not set up again yet ("no route to
// host").
func (c *Conn) ReachesAPI(ctx context.Context) error {
	_, stderr, code, err := c.Exec(ctx, Namespace, Pod, Container, []string{"sh", "-c", reachAPI})
	switch {
	case err != nil:
		return fmt.Errorf("workstation: %w", err)
	case code != 0:
		return fmt.Errorf("workstation: the API server is out of its reach (exit %d): %s", code, strings.TrimSpace(stderr))
	}
	return nil
}
