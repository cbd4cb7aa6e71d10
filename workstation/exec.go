package workstation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
)

// maxOutput bounds what Exec keeps of a command's stdout and stderr.
const maxOutput = 1 << 20

// executor is the pods/exec stream of one command: the websocket protocol,
// falling back to SPDY for API servers that lack it. The URL is built from the
// rest config alone, so a Conn whose Client is a fake still execs over HTTP.
func (c *Conn) executor(namespace, pod string, opts *corev1.PodExecOptions) (remotecommand.Executor, error) {
	return c.executorPreferring(false, namespace, pod, opts)
}

// executorPreferring is executor, trying SPDY first when spdyFirst is set.
// A shell must outlive its node being paused (an idle learner's cluster is
// frozen until they come back): the websocket stream sends a ping every 5 s
// and gives up after 61 s without an answer, while an SPDY stream has no
// heartbeat and carries on after the thaw, with what was typed meanwhile.
func (c *Conn) executorPreferring(spdyFirst bool, namespace, pod string, opts *corev1.PodExecOptions) (remotecommand.Executor, error) {
	u, err := url.Parse(c.Config.Host)
	if err != nil {
		return nil, fmt.Errorf("exec in pod %s/%s: %w", namespace, pod, err)
	}
	u.Path = path.Join("/", u.Path, "api/v1/namespaces", namespace, "pods", pod, "exec")
	query, err := scheme.ParameterCodec.EncodeParameters(opts, corev1.SchemeGroupVersion)
	if err != nil {
		return nil, fmt.Errorf("exec in pod %s/%s: %w", namespace, pod, err)
	}
	u.RawQuery = query.Encode()
	spdy, err := remotecommand.NewSPDYExecutor(c.Config, http.MethodPost, u)
	if err != nil {
		return nil, fmt.Errorf("exec in pod %s/%s: %w", namespace, pod, err)
	}
	// The websocket executor must use GET (RFC 6455 section 4.1).
	ws, err := remotecommand.NewWebSocketExecutor(c.Config, http.MethodGet, u.String())
	if err != nil {
		return nil, fmt.Errorf("exec in pod %s/%s: %w", namespace, pod, err)
	}
	upgradeFailed := func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	}
	if spdyFirst {
		// SPDY's failed upgrade is not an httpstream.UpgradeFailureError; its
		// message is all there is to tell it from a stream that ran.
		return remotecommand.NewFallbackExecutor(spdy, ws, func(err error) bool {
			return upgradeFailed(err) || strings.Contains(err.Error(), "unable to upgrade connection")
		})
	}
	return remotecommand.NewFallbackExecutor(ws, spdy, upgradeFailed)
}

// Exec runs cmd in a container, like kubectl exec, and returns what it printed
// (up to 1 MiB of each stream) and its exit code. err is set only when the command
// could not run; a command that ran and failed returns its exit code and nil.
func (c *Conn) Exec(ctx context.Context, namespace, pod, container string, cmd []string) (string, string, int, error) {
	ex, err := c.executor(namespace, pod, &corev1.PodExecOptions{Container: container, Command: cmd, Stdout: true, Stderr: true})
	if err != nil {
		return "", "", -1, err
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
