package dockerfile

import (
	"strings"

	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/workload"
)

// image returns the final stage's labels (inherited from the stages it is
// built FROM, later ones winning) and USER.
func (p *parser) image() (map[string]label, []string, *text, string) {
	if len(p.stages) == 0 {
		return nil, nil, nil, ""
	}
	byName := map[string]int{}
	for i, st := range p.stages {
		if st.name != "" {
			byName[st.name] = i
		}
	}
	// The chain of stages from the final one back to an external image.
	var chain []*stage
	i := len(p.stages) - 1
	for steps := 0; steps <= len(p.stages); steps++ {
		chain = append(chain, p.stages[i])
		j, ok := byName[strings.ToLower(p.stages[i].from)]
		if !ok || j >= i {
			break
		}
		i = j
	}
	labels := map[string]label{}
	var order []string
	var user *text
	for k := len(chain) - 1; k >= 0; k-- {
		for _, l := range chain[k].labels {
			key := l.key.String()
			if _, seen := labels[key]; !seen {
				order = append(order, key)
			}
			labels[key] = l
		}
		if chain[k].user != nil {
			user = chain[k].user
		}
	}
	return labels, order, user, p.stages[len(p.stages)-1].name
}

func (p *parser) workloads(opts Options) ([]workload.Workload, []*workload.Error) {
	labels, order, user, stageName := p.image()
	var out []workload.Workload
	imageUser := ""
	if user != nil {
		imageUser = user.String()
	}
	var caps []workload.Word
	capsLabel, hasCaps := labels[CapsLabel]
	if hasCaps {
		caps = p.capWords(capsLabel.value)
	}
	for _, key := range order {
		l := labels[key]
		which := ""
		for _, r := range RunLabels {
			if strings.EqualFold(key, r) {
				which = r
			}
		}
		if which == "" {
			continue
		}
		w, ok := p.runLabel(l, which, opts)
		if !ok {
			continue
		}
		w.ImageUser = imageUser
		w.ImageCaps = caps
		if stageName != "" {
			w.Attrs["stage"] = stageName
		}
		out = append(out, w)
	}
	if hasCaps {
		w := workload.Workload{
			Pos: p.idx.Pos(capsLabel.instr), Kind: workload.DockerfileImageCaps, Name: "image",
			Runtime: workload.Podman, CapAdd: []workload.Word{}, CapDrop: []workload.Word{},
			ImageUser: imageUser, ImageCaps: caps,
			Attrs: map[string]string{"label": CapsLabel + "=" + capsLabel.value.String()},
		}
		if stageName != "" {
			w.Attrs["stage"] = stageName
		}
		out = append(out, w)
	}
	return out, p.errs
}

// capWords splits io.containers.capabilities (comma-separated) into words.
func (p *parser) capWords(v text) []workload.Word {
	var out []workload.Word
	start := 0
	for i := 0; i <= len(v.s); i++ {
		if i < len(v.s) && v.s[i] != ',' {
			continue
		}
		part := trimText(text{s: v.s[start:i], off: v.off[start:i]})
		if len(part.s) > 0 {
			out = append(out, workload.Word{Text: part.String(), Pos: p.idx.Pos(part.off[0])})
		}
		start = i + 1
	}
	return out
}

// runLabel parses a LABEL RUN value as a run command, positions mapped
// back into the Dockerfile through the quote-removed text's offsets.
func (p *parser) runLabel(l label, key string, opts Options) (workload.Workload, bool) {
	v := l.value
	at := l.instr
	if len(v.off) > 0 {
		at = v.off[0]
	}
	cmds, err := runargs.ParseLine(v.String(), runargs.Vars{Values: opts.Vars, Bare: opts.Vars != nil})
	if err != nil {
		if pe, ok := err.(*runargs.ParseError); ok && pe.Loc.Offset < len(v.off) {
			at = v.off[pe.Loc.Offset]
		}
		p.errorf(at, "LABEL %s: shell syntax: %v", l.key.String(), msgOf(err))
		return workload.Workload{}, false
	}
	if len(cmds) == 0 {
		p.errorf(at, "LABEL %s is not a docker/podman/nerdctl run command; capdrop cannot audit it", l.key.String())
		return workload.Workload{}, false
	}
	c := cmds[0]
	c.Remap(func(off int) runargs.Loc {
		if len(v.off) == 0 {
			off = l.instr
		} else {
			off = v.off[min(max(off, 0), len(v.off)-1)]
		}
		line, col := p.idx.LineCol(off)
		return runargs.Loc{Offset: off, Line: line, Col: col}
	})
	p.lastCmd = c
	w, errs := c.Workload(p.file, workload.DockerfileLabel)
	p.errs = append(p.errs, errs...)
	w.Name = "LABEL " + key
	w.Attrs["label"] = l.key.String() + "=" + v.String()
	w.Attrs["command"] = v.String()
	return w, true
}

func msgOf(err error) string {
	if pe, ok := err.(*runargs.ParseError); ok {
		return pe.Msg
	}
	return err.Error()
}
