package platform

import (
	"context"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"k8s.io/client-go/kubernetes"

	"github.com/kindlab/kindlab/internal/podstatus"
	"github.com/kindlab/kindlab/labs"
)

// AppTarget is the API server's proxy path to a lab's app in namespace ns of
// the learner's cluster: its Service's port when there is a Service, or,
// before there is one, the matching container port of a ready pod of the
// Deployment of that name (as a port-forward would reach it).
func AppTarget(ctx context.Context, cs kubernetes.Interface, ns string, app labs.App) (string, error) {
	name := app.Service
	if _, err := cs.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
		port := ""
		if app.Port != "" {
			port = ":" + app.Port
		}
		return fmt.Sprintf("/api/v1/namespaces/%s/services/%s%s/proxy", ns, name, port), nil
	}
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("no Service or Deployment named %s", name)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return "", err
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return "", err
	}
	for _, p := range pods.Items {
		if isReady(&p) {
			return fmt.Sprintf("/api/v1/namespaces/%s/pods/%s:%d/proxy", ns, p.Name, containerPort(&p, app.Port)), nil
		}
	}
	return "", fmt.Errorf("no ready pod of Deployment %s", name)
}

func isReady(p *corev1.Pod) bool { return p.DeletionTimestamp == nil && podstatus.Ready(p) }

// containerPort is the pod's port named or numbered port, else its first one
// (80 when it declares none).
func containerPort(p *corev1.Pod, port string) int {
	first := 0
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if port != "" && (cp.Name == port || strconv.Itoa(int(cp.ContainerPort)) == port) {
				return int(cp.ContainerPort)
			}
			if first == 0 {
				first = int(cp.ContainerPort)
			}
		}
	}
	if n, err := strconv.Atoi(port); err == nil && first == 0 {
		return n
	}
	if first == 0 {
		return 80
	}
	return first
}
