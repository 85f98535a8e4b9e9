package shadow

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// podStatus is what a judgement reads of a shadow Pod.
type podStatus struct {
	Spec struct {
		NodeName      string `json:"nodeName"`
		RestartPolicy string `json:"restartPolicy"`
	} `json:"spec"`
	Status struct {
		Phase      string `json:"phase"`
		Reason     string `json:"reason"`
		Message    string `json:"message"`
		Conditions []struct {
			Type    string `json:"type"`
			Status  string `json:"status"`
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"conditions"`
		InitContainerStatuses []containerStatus `json:"initContainerStatuses"`
		ContainerStatuses     []containerStatus `json:"containerStatuses"`
	} `json:"status"`
}

type containerStatus struct {
	Name         string         `json:"name"`
	Ready        bool           `json:"ready"`
	RestartCount int            `json:"restartCount"`
	State        containerState `json:"state"`
	LastState    containerState `json:"lastState"`
}

type containerState struct {
	Waiting *struct {
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"waiting"`
	Terminated *struct {
		ExitCode int    `json:"exitCode"`
		Reason   string `json:"reason"`
		Message  string `json:"message"`
	} `json:"terminated"`
}

func parseStatus(data []byte) (*podStatus, error) {
	var p podStatus
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("read the shadow Pod's status: %w", err)
	}
	return &p, nil
}

func (p *podStatus) condition(t string) (status, reason, message string) {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status, c.Reason, c.Message
		}
	}
	return "", "", ""
}

// verdict is what one look at a shadow Pod says.
type verdict int

const (
	pending verdict = iota // no verdict yet
	ready                  // Ready (a long-running Pod): passes once it has stayed so
	passed                 // ran to completion (a Pod that does not restart)
	failed                 // the set is not enough: a container exited, restarted or could not start
	broken                 // no verdict can be reached: the image cannot be pulled, a config map is missing
)

// Waiting reasons that say the Pod cannot run whatever the set: no
// verdict on the set. Any other waiting reason of a container that has
// already failed is a failure.
var environment = []string{"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError"}

// look judges a shadow Pod's status: a container that terminated with an
// error or restarted fails it, as does a container the runtime could not
// start (a capability its entrypoint needs at exec); a Pod that restarts
// its containers passes when Ready, one that does not when it succeeds.
func look(p *podStatus) (verdict, string) {
	if p.Status.Phase == "Failed" {
		why := strings.TrimSpace(p.Status.Reason + " " + p.Status.Message)
		if d := describeContainers(p); d != "" {
			why = d
		}
		return failed, "the Pod failed: " + why
	}
	if st, reason, msg := p.condition("PodScheduled"); st == "False" && reason == "Unschedulable" {
		return pending, "not scheduled: " + msg
	}
	all := append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...)
	for _, c := range all {
		if w := c.State.Waiting; w != nil && slices.Contains(environment, w.Reason) {
			return broken, fmt.Sprintf("container %s cannot start: %s: %s", c.Name, w.Reason, w.Message)
		}
	}
	for _, c := range all {
		if c.RestartCount > 0 || c.LastState.Terminated != nil {
			t := c.LastState.Terminated
			if t == nil {
				return failed, fmt.Sprintf("container %s restarted %d time(s)", c.Name, c.RestartCount)
			}
			return failed, fmt.Sprintf("container %s restarted: it %s", c.Name, exited(t.ExitCode, t.Reason, t.Message))
		}
		if t := c.State.Terminated; t != nil && t.ExitCode != 0 {
			return failed, fmt.Sprintf("container %s %s", c.Name, exited(t.ExitCode, t.Reason, t.Message))
		}
		if w := c.State.Waiting; w != nil && (w.Reason == "CrashLoopBackOff" || w.Reason == "RunContainerError" || w.Reason == "StartError" || w.Reason == "CreateContainerError") {
			return failed, fmt.Sprintf("container %s cannot run: %s: %s", c.Name, w.Reason, w.Message)
		}
	}
	if p.Status.Phase == "Succeeded" {
		return passed, "every container exited with code 0"
	}
	if p.Spec.RestartPolicy == "Always" || p.Spec.RestartPolicy == "" {
		if st, _, _ := p.condition("Ready"); st == "True" {
			return ready, "Ready"
		}
	}
	return pending, ""
}

func exited(code int, reason, message string) string {
	s := fmt.Sprintf("exited with code %d", code)
	if reason != "" && reason != "Error" && reason != "Completed" {
		s += " (" + reason + ")"
	}
	if m := strings.TrimSpace(message); m != "" {
		s += ": " + clip(m, 300)
	}
	return s
}

// describeContainers says which containers ended badly, for a Pod that
// failed.
func describeContainers(p *podStatus) string {
	var out []string
	for _, c := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
		if t := c.State.Terminated; t != nil && t.ExitCode != 0 {
			out = append(out, fmt.Sprintf("container %s %s", c.Name, exited(t.ExitCode, t.Reason, t.Message)))
		}
	}
	return strings.Join(out, "; ")
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// judge follows one shadow Pod's looks over time: a Ready Pod must stay
// Ready, without a restart, for settle.
type judge struct {
	settle     time.Duration
	readySince time.Time
}

// next takes one look; done is true once there is a verdict (pass, fail
// or broken).
func (j *judge) next(p *podStatus, now time.Time) (v verdict, reason string, done bool) {
	v, reason = look(p)
	switch v {
	case ready:
		if j.readySince.IsZero() {
			j.readySince = now
		}
		if now.Sub(j.readySince) >= j.settle {
			return passed, fmt.Sprintf("Ready, and stayed Ready without a restart for %s", j.settle), true
		}
		return pending, reason, false
	case pending:
		if !j.readySince.IsZero() {
			return failed, "it was Ready, then no longer", true
		}
		return pending, reason, false
	}
	return v, reason, true
}
