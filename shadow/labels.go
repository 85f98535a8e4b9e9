package shadow

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/capdrop/capdrop/cluster"
)

// selector is one label selector of the namespace and what holds it.
type selector struct {
	what string // Service/web, ReplicaSet/web-7d9c
	sel  labels.Selector
}

// selectors are the namespace's label selectors that pick Pods: Services
// (they send traffic), controllers (they adopt Pods that match and have no
// controller), PodDisruptionBudgets (they count them).
type selectors struct {
	list []selector
	keys map[string]bool
}

// selecting lists the resources whose selectors a shadow must escape.
func selecting() []cluster.Resource {
	var out []cluster.Resource
	out = append(out, cluster.Services, cluster.Disruptions)
	for _, r := range cluster.Workloads() {
		if r.Kind != "Pod" && r.Kind != "CronJob" {
			out = append(out, r)
		}
	}
	return out
}

// readSelectors lists the selectors of ns. An error means they could not
// all be read (the caller then leaves every label out).
func readSelectors(ctx context.Context, api API, ns string) (*selectors, error) {
	s := &selectors{keys: map[string]bool{}}
	for _, r := range selecting() {
		err := api.List(ctx, r, ns, "", func(item json.RawMessage) error {
			var o struct {
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
				Spec struct {
					Selector json.RawMessage `json:"selector"`
				} `json:"spec"`
			}
			if err := json.Unmarshal(item, &o); err != nil {
				return fmt.Errorf("%s: %w", r, err)
			}
			if len(o.Spec.Selector) == 0 || string(o.Spec.Selector) == "null" {
				return nil
			}
			what := r.Kind + "/" + o.Metadata.Name
			var sel labels.Selector
			if r.Kind == "Service" || r.Kind == "ReplicationController" {
				// A plain map of labels; an empty one selects nothing.
				var m map[string]string
				if err := json.Unmarshal(o.Spec.Selector, &m); err != nil {
					return fmt.Errorf("%s: selector: %w", what, err)
				}
				if len(m) == 0 {
					return nil
				}
				for k := range m {
					s.keys[k] = true
				}
				sel = labels.SelectorFromSet(m)
			} else {
				var ls metav1.LabelSelector
				if err := json.Unmarshal(o.Spec.Selector, &ls); err != nil {
					return fmt.Errorf("%s: selector: %w", what, err)
				}
				for k := range ls.MatchLabels {
					s.keys[k] = true
				}
				for _, e := range ls.MatchExpressions {
					s.keys[e.Key] = true
				}
				var err error
				if sel, err = metav1.LabelSelectorAsSelector(&ls); err != nil {
					return fmt.Errorf("%s: selector: %w", what, err)
				}
			}
			s.list = append(s.list, selector{what: what, sel: sel})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// matching returns what still selects a Pod with these labels.
func (s *selectors) matching(l map[string]string) []string {
	var out []string
	for _, x := range s.list {
		if !x.sel.Empty() && x.sel.Matches(labels.Set(l)) {
			out = append(out, x.what)
		}
	}
	slices.Sort(out)
	return out
}
