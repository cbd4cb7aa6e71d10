package cluster

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Budget is what one learner cluster may take of the host. It is enforced on
// the node container (by the Docker engine that runs it: the host's, or the
// learner cluster pod's), where nothing the learner does inside the cluster
// reaches it: a learner who exhausts it loses their own pods (the kernel's
// OOM killer inside their node, which spares the node's own components:
// the kubelet gives static pods a score of -997) or waits for the CPU, and
// nobody else does.
type Budget struct {
	Memory int64   // bytes: the node container's memory limit, swap included; 0: none
	CPUs   float64 // cores: the node container's CPU quota; 0: none
	// Disk bounds what the learner's pods hold on the node's disk in all
	// (bytes; 0: only their namespaces' quotas): their writable layers, logs
	// and emptyDir volumes, as the node's kubelet counts them. The Docker
	// engine has no size limit per container on ext4, so kindlab enforces
	// it from outside the cluster (DiskOver), and on a host cluster the
	// pod's volume has a size limit too (hosted.go).
	Disk int64
}

// DefaultBudget suits the built-in labs: a node uses about 500 MiB idle and
// 1 GiB at the busiest step, and the namespace quota lets one namespace hold
// 3 GiB (manifests/platform/namespace/limits.yaml); a core is more than a
// lab's step takes, and leaves half of a two-core host to everyone else; the
// labs' pods write a few MiB, and 2 GiB is two namespaces at their quota
// (the eleven a learner may have would hold 11 GiB).
var DefaultBudget = Budget{Memory: 3 << 30, CPUs: 1, Disk: 2 << 30}

// EvictionMargin is how far under the node's memory limit the kubelet starts
// evicting the learner's pods: room for what pods allocate while the kubelet
// evicts one (it is told at once: kernelMemcgNotification).
const EvictionMargin = 768 << 20

// evictFirst adds to a kind config the kubelet eviction threshold that keeps
// the node under its memory limit: the kubelet counts memory.available as the
// machine's memory (hostTotal, which the node sees) less the node's working
// set, so it evicts the learner's pods once their node uses the budget less
// EvictionMargin. Without it, a node at its limit first thrashes (the kernel
// reclaims the node's own program files and reads them back from the host's
// disk, slowing everyone's), and only then kills. With no memory budget, or
// the host's memory unknown, config is unchanged.
func (b Budget) evictFirst(config string, hostTotal int64) string {
	if b.Memory == 0 || hostTotal <= b.Memory {
		return config
	}
	available := (hostTotal - b.Memory + EvictionMargin) >> 20
	return strings.Replace(config, "  kind: KubeletConfiguration\n",
		fmt.Sprintf("  kind: KubeletConfiguration\n  kernelMemcgNotification: true\n  evictionHard:\n    memory.available: %dMi\n", available), 1)
}

// hostMemTotal is this machine's memory (/proc/meminfo's MemTotal), or 0.
func hostMemTotal() int64 {
	meminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	return meminfoKB(string(meminfo), "MemTotal") << 10
}

// ParseBudget reads --learner-memory (a Kubernetes quantity, "3Gi"; "0": no
// limit), --learner-cpu (cores, "1.5"; "0": no limit) and --learner-disk (a
// quantity; "0": no bound but the namespaces' quotas).
func ParseBudget(memory, cpus, disk string) (Budget, error) {
	var b Budget
	q, err := resource.ParseQuantity(memory)
	if err != nil || q.Sign() < 0 {
		return b, fmt.Errorf("--learner-memory %q: want a size such as 3Gi or 2048Mi", memory)
	}
	b.Memory = q.Value()
	if b.Memory != 0 && b.Memory < 1<<30 {
		return b, fmt.Errorf("--learner-memory %s: a learner cluster needs at least 1Gi (its node uses about 500Mi idle)", memory)
	}
	if b.CPUs, err = strconv.ParseFloat(cpus, 64); err != nil || b.CPUs < 0 {
		return b, fmt.Errorf("--learner-cpu %q: want cores, such as 1.5", cpus)
	}
	if b.CPUs != 0 && b.CPUs < 0.5 {
		return b, fmt.Errorf("--learner-cpu %s: a learner cluster needs at least half a core", cpus)
	}
	q, err = resource.ParseQuantity(disk)
	if err != nil || q.Sign() < 0 {
		return b, fmt.Errorf("--learner-disk %q: want a size such as 2Gi or 512Mi", disk)
	}
	if b.Disk = q.Value(); b.Disk != 0 && b.Disk < 64<<20 {
		return b, fmt.Errorf("--learner-disk %s: the labs' pods need at least 64Mi", disk)
	}
	return b, nil
}

// updateArgs are the docker update flags that apply the budget.
func (b Budget) updateArgs() []string {
	var args []string
	if b.Memory > 0 {
		m := strconv.FormatInt(b.Memory, 10)
		args = append(args, "--memory", m, "--memory-swap", m) // no swap beyond the limit
	}
	if b.CPUs > 0 {
		args = append(args, "--cpus", strconv.FormatFloat(b.CPUs, 'f', -1, 64))
	}
	return args
}

func (b Budget) String() string {
	mem, cpu, disk := "no memory limit", "no CPU limit", "no disk bound"
	if b.Memory > 0 {
		mem = resource.NewQuantity(b.Memory, resource.BinarySI).String() + " of memory"
	}
	if b.CPUs > 0 {
		cpu = strconv.FormatFloat(b.CPUs, 'f', -1, 64) + " cores"
	}
	if b.Disk > 0 {
		disk = Size(b.Disk) + " of disk for the pods"
	}
	return mem + ", " + cpu + ", " + disk
}

// Size writes a number of bytes as a quantity a learner reads (512Mi, 2Gi,
// 1.5Gi).
func Size(n int64) string {
	for _, u := range []struct {
		unit  string
		bytes int64
	}{{"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if n >= u.bytes {
			return strings.TrimSuffix(strconv.FormatFloat(float64(n)/float64(u.bytes), 'f', 1, 64), ".0") + u.unit
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
