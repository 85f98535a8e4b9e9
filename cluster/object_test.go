package cluster

import "testing"

func TestLookup(t *testing.T) {
	for in, want := range map[string]string{"deploy": "Deployment", "Deployment": "Deployment", "deployments.apps": "Deployment",
		"sts": "StatefulSet", "cronjob": "CronJob", "po": "Pod", "pods": "Pod", "job": "Job"} {
		r, ok := Lookup(in)
		if !ok || r.Kind != want {
			t.Errorf("Lookup(%q) = %v %v, want %s", in, r, ok, want)
		}
	}
	if _, ok := Lookup("service"); ok {
		t.Error("a Service is not a workload")
	}
}
