package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
)

// maxOutput bounds what a check keeps of a command's stdout and stderr.
const maxOutput = 1 << 20

// podExec runs commands in pods through the API server, like kubectl exec.
type podExec struct {
	config *rest.Config
	client kubernetes.Interface
}

var _ Execer = (*podExec)(nil)

// NewPodExec returns an Execer over the API server's pods/exec subresource. It
// speaks websockets and falls back to SPDY for API servers that lack them.
func NewPodExec(config *rest.Config, client kubernetes.Interface) Execer {
	return &podExec{config: config, client: client}
}

// Exec implements Execer.
func (p *podExec) Exec(ctx context.Context, namespace, pod, container string, cmd []string) (string, string, int, error) {
	req := p.client.CoreV1().RESTClient().Post().
		Resource("pods").Namespace(namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container,
			Command:   cmd,
			Stdout:    true,
			Stderr:    true,
		}, scheme.ParameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(p.config, "POST", req.URL())
	if err != nil {
		return "", "", -1, fmt.Errorf("exec in pod %s/%s: %w", namespace, pod, err)
	}
	ws, err := remotecommand.NewWebSocketExecutor(p.config, "GET", req.URL().String())
	if err != nil {
		return "", "", -1, fmt.Errorf("exec in pod %s/%s: %w", namespace, pod, err)
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return "", "", -1, fmt.Errorf("exec in pod %s/%s: %w", namespace, pod, err)
	}
	stdout, stderr := &capped{max: maxOutput}, &capped{max: maxOutput}
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: stdout, Stderr: stderr})
	var exit utilexec.ExitError
	switch {
	case errors.As(err, &exit):
		return stdout.String(), stderr.String(), exit.ExitStatus(), nil
	case err != nil:
		return stdout.String(), stderr.String(), -1, fmt.Errorf("exec in pod %s/%s: %w", namespace, pod, err)
	}
	return stdout.String(), stderr.String(), 0, nil
}

// capped keeps the first max bytes written to it and drops the rest.
type capped struct {
	bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.Len(); room > 0 {
		c.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
