package platform

import "testing"

func TestDiskOver(t *testing.T) {
	const budget = 1 << 30
	use := []DiskUse{
		{"kube-system", "etcd-x", 5 << 30},
		{"default", "small", 100 << 20},
		{"mine", "big", 700 << 20},
		{"kindlab", "workstation", 300 << 20},
	}
	victim, total, over := DiskOver(budget, use)
	if !over || total != 1100<<20 || victim.Name != "big" || victim.Namespace != "mine" {
		t.Errorf("DiskOver = %+v, %d, %v; want mine/big, 1100Mi, over", victim, total, over)
	}
	if _, total, over := DiskOver(budget, use[:3]); over || total != 800<<20 {
		t.Errorf("800Mi against 1Gi: total %d, over %v; want not over", total, over)
	}
	if victim, _, over := DiskOver(budget, []DiskUse{{"kindlab", "workstation", 2 << 30}}); !over || victim.Name != "" {
		t.Errorf("the workstation alone over: %+v, %v; want over with no pod to delete", victim, over)
	}
	if _, _, over := DiskOver(0, use); over {
		t.Error("no disk budget, yet over")
	}
}
