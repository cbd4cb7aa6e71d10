package platform

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/kindlab/kindlab/workstation"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"
)

// PlatformNamespaces belong to the platform: the learner can neither change them nor
// exec, attach, port-forward or proxy into them (manifests/platform/guard.yaml).
var PlatformNamespaces = []string{"kube-system", "kube-public", "kube-node-lease", workstation.Namespace}

// NamespaceLimits is what every learner namespace gets: a LimitRange, then a
// ResourceQuota (manifests/platform/namespace/limits.yaml).
type NamespaceLimits struct {
	Limits *corev1.LimitRange
	Quota  *corev1.ResourceQuota
}

// LoadNamespaceLimits reads namespace/limits.yaml from the platform folder.
func LoadNamespaceLimits(platformFS fs.FS) (NamespaceLimits, error) {
	var nl NamespaceLimits
	sub, err := fs.Sub(platformFS, "namespace")
	if err != nil {
		return nl, err
	}
	objs, err := platformObjects(sub)
	if err != nil {
		return nl, err
	}
	for _, o := range objs {
		data, err := o.MarshalJSON()
		if err != nil {
			return nl, err
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(data, nil, nil)
		if err != nil {
			return nl, fmt.Errorf("platform/namespace: %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		switch v := obj.(type) {
		case *corev1.LimitRange:
			nl.Limits = v
		case *corev1.ResourceQuota:
			nl.Quota = v
		default:
			return nl, fmt.Errorf("platform/namespace: %s %s: only a LimitRange and a ResourceQuota belong here", o.GetKind(), o.GetName())
		}
	}
	if nl.Limits == nil || nl.Quota == nil {
		return nl, errors.New("platform/namespace: want a LimitRange and a ResourceQuota")
	}
	return nl, nil
}

// Apply puts the LimitRange and the ResourceQuota into namespace ns, leaving those
// already there alone. Platform namespaces are skipped.
func (nl NamespaceLimits) Apply(ctx context.Context, cs kubernetes.Interface, ns string) error {
	if slices.Contains(PlatformNamespaces, ns) {
		return nil
	}
	// The LimitRange first: with the quota in place, a pod without requests and
	// limits is refused, and the LimitRange is what gives it some.
	lr := nl.Limits.DeepCopy()
	lr.Namespace, lr.ResourceVersion = ns, ""
	if _, err := cs.CoreV1().LimitRanges(ns).Create(ctx, lr, metav1.CreateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("limit range in %s: %w", ns, err)
	}
	q := nl.Quota.DeepCopy()
	q.Namespace, q.ResourceVersion = ns, ""
	if _, err := cs.CoreV1().ResourceQuotas(ns).Create(ctx, q, metav1.CreateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("resource quota in %s: %w", ns, err)
	}
	return nil
}

// Guard puts the limits into every namespace of the cluster, including each one the
// learner creates, as soon as it appears, until ctx ends. It returns once the
// namespaces that exist now are done; the watch goes on in the background.
func (nl NamespaceLimits) Guard(ctx context.Context, cs kubernetes.Interface, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0)
	inf := factory.Core().V1().Namespaces().Informer()
	queue := make(chan string, 64)
	recount := make(chan struct{}, 1)
	changed := func() {
		select {
		case recount <- struct{}{}:
		default: // a recount is due already
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			changed()
			if ns, ok := obj.(*corev1.Namespace); ok && ns.Status.Phase != corev1.NamespaceTerminating {
				select {
				case queue <- ns.Name:
				case <-ctx.Done():
				}
			}
		},
		DeleteFunc: func(any) { changed() },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	// Polled every 5 ms, not cache.WaitForCacheSync's 100: this is on the
	// critical path of a learner's start, and the list takes a few ms.
	if err := wait.PollUntilContextCancel(ctx, 5*time.Millisecond, true, func(context.Context) (bool, error) { return inf.HasSynced(), nil }); err != nil {
		return fmt.Errorf("watch namespaces: %w", context.Cause(ctx))
	}
	// Those that exist now, synchronously.
	for _, obj := range inf.GetStore().List() {
		if err := nl.Apply(ctx, cs, obj.(*corev1.Namespace).Name); err != nil {
			return err
		}
	}
	if err := countNamespaces(ctx, cs, inf.GetStore(), log); err != nil {
		return err
	}
	go func() {
		defer factory.Shutdown()
		for {
			select {
			case <-ctx.Done():
				return
			case ns := <-queue:
				nl.applyRetrying(ctx, cs, ns, log)
			}
		}
	}()
	// The count on its own: the admission guard reads it, and a learner's
	// script creates namespaces as fast as kubectl starts.
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-recount:
				if err := countNamespaces(ctx, cs, inf.GetStore(), log); err != nil && ctx.Err() == nil {
					log.Warn("count the learner's namespaces", "error", err)
				}
			}
		}
	}()
	return nil
}

// revision orders objects made within the same second (creation times have
// seconds only): the API server's resource versions grow, though clients are
// told not to rely on it; one that is not a number sorts first.
func revision(ns *corev1.Namespace) int64 {
	n, _ := strconv.ParseInt(ns.ResourceVersion, 10, 64)
	return n
}

// BudgetConfigMap (in the kindlab namespace) holds the learner's namespace
// budget: maxNamespaces, and namespaces, the count kindlab keeps (the admission
// guard refuses a learner's namespace past it: manifests/platform/guard.yaml).
const BudgetConfigMap = "kindlab-budget"

// DefaultMaxNamespaces is the namespaces a learner may hold beside default,
// when kindlab-budget does not say.
const DefaultMaxNamespaces = 10

// countNamespaces writes the learner's namespace count (every namespace but
// the platform's and default) into kindlab-budget, for the admission guard.
// Should a burst of creates have passed the guard before the count caught up,
// the newest namespaces past the limit are deleted.
func countNamespaces(ctx context.Context, cs kubernetes.Interface, store cache.Store, log *slog.Logger) error {
	var own []*corev1.Namespace
	for _, obj := range store.List() {
		if ns := obj.(*corev1.Namespace); ns.Name != "default" && !slices.Contains(PlatformNamespaces, ns.Name) {
			own = append(own, ns)
		}
	}
	cms := cs.CoreV1().ConfigMaps(workstation.Namespace)
	cm, err := cms.Get(ctx, BudgetConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) { // a cluster prepared before kindlab kept a budget
		cm, err = cms.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: BudgetConfigMap, Namespace: workstation.Namespace},
			Data:       map[string]string{"maxNamespaces": strconv.Itoa(DefaultMaxNamespaces), "namespaces": "0"},
		}, metav1.CreateOptions{FieldManager: fieldManager})
	}
	if err != nil {
		return fmt.Errorf("the learner's budget (%s/%s): %w", workstation.Namespace, BudgetConfigMap, err)
	}
	limit, err := strconv.Atoi(cm.Data["maxNamespaces"])
	if err != nil || limit < 0 {
		limit = DefaultMaxNamespaces
	}
	if len(own) > limit {
		slices.SortFunc(own, func(a, b *corev1.Namespace) int { // oldest first
			return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), cmp.Compare(revision(a), revision(b)), cmp.Compare(a.Name, b.Name))
		})
		for _, ns := range own[limit:] {
			if ns.DeletionTimestamp != nil {
				continue
			}
			log.Warn("namespace past the learner's budget deleted", "namespace", ns.Name, "limit", limit)
			if err := cs.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete namespace %s past the budget: %w", ns.Name, err)
			}
		}
	}
	count := strconv.Itoa(len(own))
	if cm.Data["namespaces"] == count {
		return nil
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data["namespaces"] = count
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("the learner's namespace count: %w", err)
	}
	return nil
}

// applyRetrying applies the limits to a new namespace, retrying for a while (the API
// server may be busy); a namespace that is gone or going needs nothing.
func (nl NamespaceLimits) applyRetrying(ctx context.Context, cs kubernetes.Interface, ns string, log *slog.Logger) {
	delay := 100 * time.Millisecond
	for attempt := 0; attempt < 8; attempt++ {
		err := nl.Apply(ctx, cs, ns)
		if err == nil || apierrors.IsNotFound(err) || apierrors.IsForbidden(err) && isTerminating(err) || ctx.Err() != nil {
			return
		}
		log.Warn("namespace limits", "namespace", ns, "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay *= 2
	}
}

func isTerminating(err error) bool {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return status.Status().Details != nil && status.Status().Reason == metav1.StatusReasonForbidden &&
			slices.ContainsFunc(status.Status().Details.Causes, func(c metav1.StatusCause) bool {
				return c.Type == corev1.NamespaceTerminatingCause
			})
	}
	return false
}
