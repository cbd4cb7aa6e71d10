// Package podstatus reads a pod's status the one way every part of kindlab
// means it.
package podstatus

import corev1 "k8s.io/api/core/v1"

// Ready reports whether the pod's Ready condition is True.
func Ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
