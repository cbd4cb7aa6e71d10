//go:build e2e

package server_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/workstation"
)

// A test whose learners leave their clusters in a known state hands them to
// the next test (scope.handOver) in place of a delete and a create: what a
// learner may change is put back as a new cluster has it, and the cluster
// waits, paused, for the shared pool's next create (sharedCreator), which
// takes it in place of making one.
//
// What a learner may change: the namespaces (they make their own), the
// objects in default (where kubectl points them), their workstation (its
// home folder, shell and processes). The rest of the cluster the admission
// guard keeps from them (SECURITY.md), as TestE2EHostileLearner and
// cluster's TestE2ELearnerCannotEscape prove. A test that breaks that rule on
// purpose, or wears the node out, deletes its clusters.

// baseline is what a new cluster holds where a learner may write.
type baseline struct {
	namespaces map[string]bool
	defaults   map[string]bool // "resource.group/name" in default
}

// learnerWritable lists the namespaced resources a learner may create and
// the cleanup deletes: every listable, deletable one but events (which come
// and go by themselves).
func learnerWritable(conn *workstation.Conn) ([]schema.GroupVersionResource, error) {
	lists, err := conn.Client.Discovery().ServerPreferredNamespacedResources()
	if err != nil {
		return nil, err
	}
	var out []schema.GroupVersionResource
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			return nil, err
		}
		for _, r := range l.APIResources {
			verbs := strings.Join(r.Verbs, ",")
			if r.Name == "events" || strings.Contains(r.Name, "/") || !strings.Contains(verbs, "list") || !strings.Contains(verbs, "delete") {
				continue
			}
			out = append(out, gv.WithResource(r.Name))
		}
	}
	return out, nil
}

func resourceKey(r schema.GroupVersionResource, name string) string {
	return r.GroupResource().String() + "/" + name
}

// takeBaseline records a new cluster's namespaces and objects in default.
func takeBaseline(ctx context.Context, conn *workstation.Conn) (baseline, error) {
	b := baseline{namespaces: map[string]bool{}, defaults: map[string]bool{}}
	nss, err := conn.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return b, err
	}
	for _, ns := range nss.Items {
		b.namespaces[ns.Name] = true
	}
	resources, err := learnerWritable(conn)
	if err != nil {
		return b, err
	}
	for _, r := range resources {
		list, err := conn.Dynamic.Resource(r).Namespace("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return b, fmt.Errorf("list %s: %w", r.Resource, err)
		}
		for _, o := range list.Items {
			b.defaults[resourceKey(r, o.GetName())] = true
		}
	}
	return b, nil
}

// restore puts back what a learner may have changed: it deletes the
// namespaces and the objects in default the baseline lacks and the
// workstation pod, deleting again what controllers make anew or leave
// terminating until nothing is left, and prepares the cluster again (the
// platform objects applied anew, a new workstation).
func (b baseline) restore(ctx context.Context, conn *workstation.Conn, prepare func(context.Context) error) error {
	now := int64(0)
	force := metav1.DeleteOptions{GracePeriodSeconds: &now}
	resources, err := learnerWritable(conn)
	if err != nil {
		return err
	}
	// sweep deletes what is left and reports whether anything was.
	sweep := func(ctx context.Context) (bool, error) {
		found := false
		nss, err := conn.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, ns := range nss.Items {
			if b.namespaces[ns.Name] {
				continue
			}
			found = true
			if ns.DeletionTimestamp == nil {
				if err := conn.Client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
					return false, fmt.Errorf("delete namespace %s: %w", ns.Name, err)
				}
			}
		}
		for _, r := range resources {
			objects := conn.Dynamic.Resource(r).Namespace("default")
			list, err := objects.List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, fmt.Errorf("list %s: %w", r.Resource, err)
			}
			for _, o := range list.Items {
				if b.defaults[resourceKey(r, o.GetName())] {
					continue
				}
				found = true
				if err := objects.Delete(ctx, o.GetName(), force); err != nil && !apierrors.IsNotFound(err) {
					return false, fmt.Errorf("delete %s: %w", resourceKey(r, o.GetName()), err)
				}
			}
		}
		err = conn.Client.CoreV1().Pods(workstation.Namespace).Delete(ctx, workstation.Pod, force)
		switch {
		case err == nil:
			found = true
		case !apierrors.IsNotFound(err):
			return false, fmt.Errorf("delete the workstation: %w", err)
		}
		return found, nil
	}
	start := time.Now()
	err = wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		found, err := sweep(ctx)
		return !found, err
	})
	if err != nil {
		return fmt.Errorf("clear what the learner made: %w", err)
	}
	cleared := time.Now()
	err = prepare(ctx)
	testLog().Info("shared pool: cluster restored", "cleared", cleared.Sub(start).Round(time.Millisecond), "prepared", time.Since(cleared).Round(time.Millisecond))
	return err
}

// startHandOver hands a released cluster over in the background, counted
// while under way (a claim waits for it: takeSpare).
func (f *fixtures) startHandOver(name string) {
	f.mu.Lock()
	f.handingN++
	f.mu.Unlock()
	f.handing.Go(func() { f.handOver(name) })
}

// handOver restores a cluster a test's learner held, pauses it and keeps it
// for the shared pool's next create (takeSpare); a cluster not running
// (paused, lost) or that cannot be restored is deleted, as without a
// hand-over. The pool counts it gone from the time of its release.
func (f *fixtures) handOver(name string) {
	ctx, cancel := context.WithTimeout(f.handCtx, 5*time.Minute)
	defer cancel()
	defer func() {
		f.mu.Lock()
		f.handingN--
		close(f.handed)
		f.handed = make(chan struct{})
		f.mu.Unlock()
	}()
	err := func() error {
		f.mu.Lock()
		b, ok := f.baselines[name]
		f.mu.Unlock()
		if !ok {
			return fmt.Errorf("no baseline for %s", name)
		}
		if n, err := f.m.Node(ctx, name); err != nil || n.State != cluster.NodeRunning {
			return fmt.Errorf("its node is %q (%v)", n.State, err)
		}
		c, err := f.m.Get(ctx, name)
		if err != nil {
			return err
		}
		conn, err := workstation.Connect(c.Kubeconfig)
		if err != nil {
			return err
		}
		start := time.Now()
		if err := b.restore(ctx, conn, func(ctx context.Context) error { return f.prepare(ctx, c) }); err != nil {
			return err
		}
		if err := f.m.Pause(ctx, name); err != nil {
			return err
		}
		testLog().Info("shared pool: cluster handed over", "cluster", name, "took", time.Since(start).Round(time.Millisecond))
		f.mu.Lock()
		f.spares = append(f.spares, c)
		f.mu.Unlock()
		return nil
	}()
	if err != nil {
		testLog().Info("shared pool: cluster not handed over; deleting it", "cluster", name, "why", err)
		if err := f.m.Delete(context.Background(), name); err != nil {
			testLog().Error("shared pool: delete a cluster not handed over", "cluster", name, "error", err)
		}
	}
}

// takeSpare takes a cluster an earlier test handed over, resumed, if there is
// one or a hand-over under way ends with one (which takes less of the host
// than a create); nil if not. A spare that does not resume is deleted.
func (f *fixtures) takeSpare(ctx context.Context) *cluster.Cluster {
	for {
		f.mu.Lock()
		if len(f.spares) == 0 {
			n, handed := f.handingN, f.handed
			f.mu.Unlock()
			if n == 0 {
				return nil
			}
			select {
			case <-handed:
				continue
			case <-ctx.Done():
				return nil
			}
		}
		c := f.spares[0]
		f.spares = f.spares[1:]
		f.mu.Unlock()
		if err := f.m.Resume(ctx, c.Name); err != nil {
			testLog().Info("shared pool: a spare cluster did not resume; deleting it", "cluster", c.Name, "error", err)
			f.m.Delete(context.WithoutCancel(ctx), c.Name)
			continue
		}
		return c
	}
}
