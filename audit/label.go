package audit

import (
	"strconv"
	"strings"

	"github.com/capdrop/capdrop/workload"
)

// A LABEL RUN (INSTALL, UNINSTALL) fix is the whole LABEL line rewritten:
// the options to remove taken out, the ones to add put right after run or
// create. The label's command is read here by shell-word rules (quotes and
// backslashes), enough to find its option words; it is never executed.

// labelWord is one shell word of a label's command and where it is.
type labelWord struct {
	value      string
	start, end int // byte offsets in the command text
}

// labelWords splits a command into words with their offsets.
func labelWords(s string) []labelWord {
	var out []labelWord
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
			i++
		}
		if i >= len(s) {
			break
		}
		start := i
		var b strings.Builder
		for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' {
			switch c := s[i]; c {
			case '\'':
				j := strings.IndexByte(s[i+1:], '\'')
				if j < 0 {
					j = len(s) - i - 1
				}
				b.WriteString(s[i+1 : i+1+j])
				i += j + 2
			case '"':
				i++
				for i < len(s) && s[i] != '"' {
					if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
						i++
					}
					b.WriteByte(s[i])
					i++
				}
				i++
			case '\\':
				if i+1 < len(s) {
					b.WriteByte(s[i+1])
				}
				i += 2
			default:
				b.WriteByte(c)
				i++
			}
		}
		out = append(out, labelWord{value: b.String(), start: start, end: min(i, len(s))})
	}
	return out
}

// labelOption says which option words a label fix takes out: long is the
// option's long name without dashes ("cap-add", "volume"), short its
// one-letter form ("v"; 0 for none), and match says whether a value is the
// one meant.
type labelOption struct {
	long  []string
	short byte
	match func(value string) bool
}

// optionValue reports whether words[i] is the option o and returns its
// value and the index of the last word it spans.
func (o labelOption) optionValue(words []labelWord, i int) (string, int, bool) {
	w := words[i].value
	next := func() (string, int, bool) {
		if i+1 < len(words) {
			return words[i+1].value, i + 1, true
		}
		return "", i, false
	}
	for _, l := range o.long {
		switch {
		case w == "--"+l:
			if l == "privileged" {
				return "", i, true
			}
			return next()
		case strings.HasPrefix(w, "--"+l+"="):
			return strings.TrimPrefix(w, "--"+l+"="), i, true
		}
	}
	if o.short != 0 && len(w) >= 2 && w[0] == '-' && w[1] == o.short {
		if len(w) == 2 {
			return next()
		}
		return strings.TrimPrefix(w[2:], "="), i, true
	}
	return "", i, false
}

// labelRewrite returns the LABEL line of w with every option matching
// one of remove taken out and insert put after the subcommand; ok is false
// when w carries no command, it has no run/create word, or nothing would
// change (the option comes from a variable, like $OPT1).
func labelRewrite(w workload.Workload, remove []labelOption, insert []string) (string, bool) {
	cmd := w.Attrs["command"]
	words := labelWords(cmd)
	sub := -1
	for i, wd := range words {
		if i > 0 && (wd.value == "run" || wd.value == "create") {
			sub = i
			break
		}
	}
	if sub < 0 {
		return "", false
	}
	var keep []string
	changed := len(insert) > 0
	for i := 0; i < len(words); i++ {
		if i > sub {
			removed := false
			for _, o := range remove {
				if v, last, ok := o.optionValue(words, i); ok && (o.match == nil || o.match(v)) {
					i, removed = last, true
					break
				}
			}
			if removed {
				changed = true
				continue
			}
		}
		keep = append(keep, cmd[words[i].start:words[i].end])
		if i == sub {
			keep = append(keep, insert...)
		}
	}
	if !changed {
		return "", false
	}
	return "LABEL " + labelKey(w) + "=" + strconv.Quote(strings.Join(keep, " ")), true
}

// labelKey is the name of the label a workload came from (RUN, INSTALL,
// UNINSTALL, as the image spells it).
func labelKey(w workload.Workload) string {
	if k, _, ok := strings.Cut(w.Attrs["label"], "="); ok && k != "" {
		return k
	}
	return "RUN"
}

// capOption matches --cap-add/--cap-drop values naming one of names (case
// and CAP_ prefix ignored).
func capOption(long string, names ...string) labelOption {
	return labelOption{long: []string{long}, match: func(v string) bool {
		for _, n := range names {
			if strings.EqualFold(strings.TrimPrefix(strings.ToUpper(v), "CAP_"), strings.TrimPrefix(strings.ToUpper(n), "CAP_")) {
				return true
			}
		}
		return false
	}}
}

var privilegedOption = labelOption{long: []string{"privileged"}}
