package cluster

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/capdrop/capdrop/workload"
)

// differ lists the capability-relevant settings in which a Pod's container
// differs from its template's.
func differ(pod, tmpl *workload.Workload) []string {
	var out []string
	cmp := func(field, p, t string) {
		if p != t {
			out = append(out, fmt.Sprintf("%s: pod %s, template %s", field, p, t))
		}
	}
	cmp("image", pod.Image, tmpl.Image)
	cmp("privileged", strconv.FormatBool(pod.Privileged), strconv.FormatBool(tmpl.Privileged))
	cmp("capabilities.add", words(pod.CapAdd), words(tmpl.CapAdd))
	cmp("capabilities.drop", words(pod.CapDrop), words(tmpl.CapDrop))
	cmp("runAsUser", ptr(pod.RunAsUser), ptr(tmpl.RunAsUser))
	cmp("runAsNonRoot", ptr(pod.RunAsNonRoot), ptr(tmpl.RunAsNonRoot))
	cmp("allowPrivilegeEscalation", ptr(pod.AllowPrivilegeEscalation), ptr(tmpl.AllowPrivilegeEscalation))
	for _, k := range []string{"hostPID", "hostIPC", "hostNetwork", "hostUsers"} {
		cmp(k, pod.Attrs[k], tmpl.Attrs[k])
	}
	cmp("security options", words(pod.Host.SecurityOpt), words(tmpl.Host.SecurityOpt))
	return out
}

func words(ws []workload.Word) string {
	return "[" + strings.Join(workload.Texts(ws), " ") + "]"
}

func ptr[T int64 | bool](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

var positionType = reflect.TypeOf(workload.Position{})

// relocate points every position in w at the object: a live object has no
// file and no lines, only its reference.
func relocate(w *workload.Workload, loc string) {
	walk(reflect.ValueOf(w).Elem(), workload.Position{File: loc})
}

func walk(v reflect.Value, to workload.Position) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == positionType {
			v.Set(reflect.ValueOf(to))
			return
		}
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				walk(f, to)
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			walk(v.Elem(), to)
		}
	case reflect.Slice:
		for i := range v.Len() {
			walk(v.Index(i), to)
		}
	}
}
