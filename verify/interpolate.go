package verify

import (
	"fmt"
	"strings"
)

// interpolate substitutes variables in a compose value as Docker Compose
// does: $$ is a literal $; $VAR and ${VAR} are the variable's value (empty
// when unset); ${VAR:-default} and ${VAR-default} give a default when VAR
// is unset or empty (:-) or unset (-); ${VAR:?message} and ${VAR?message}
// are an error then; ${VAR:+other} and ${VAR+other} give other when VAR is
// set and not empty (:+) or set (+). Defaults may contain further
// substitutions.
func interpolate(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			b.WriteByte('$')
			continue
		}
		switch next := s[i+1]; {
		case next == '$':
			b.WriteByte('$')
			i++
		case next == '{':
			end := matchBrace(s, i+1)
			if end < 0 {
				return "", fmt.Errorf("invalid interpolation %q: no closing }", s[i:])
			}
			v, err := expandBraced(s[i+2:end], lookup)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i = end
		case isNameStart(next):
			j := i + 1
			for j < len(s) && isNameChar(s[j]) {
				j++
			}
			v, _ := lookup(s[i+1 : j])
			b.WriteString(v)
			i = j - 1
		default:
			b.WriteByte('$')
		}
	}
	return b.String(), nil
}

// matchBrace returns the index of the } closing the { at open, counting
// nested ${…}.
func matchBrace(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

func expandBraced(expr string, lookup func(string) (string, bool)) (string, error) {
	j := 0
	for j < len(expr) && isNameChar(expr[j]) {
		j++
	}
	name, op := expr[:j], expr[j:]
	if name == "" || !isNameStart(name[0]) {
		return "", fmt.Errorf("invalid interpolation ${%s}: not a variable name", expr)
	}
	val, set := lookup(name)
	if op == "" {
		return val, nil
	}
	var word string
	var colon bool
	switch {
	case strings.HasPrefix(op, ":-"), strings.HasPrefix(op, ":?"), strings.HasPrefix(op, ":+"):
		colon, word, op = true, op[2:], op[1:2]
	case strings.HasPrefix(op, "-"), strings.HasPrefix(op, "?"), strings.HasPrefix(op, "+"):
		word, op = op[1:], op[:1]
	default:
		return "", fmt.Errorf("invalid interpolation ${%s}", expr)
	}
	present := set && (!colon || val != "")
	switch op {
	case "-":
		if present {
			return val, nil
		}
		return interpolate(word, lookup)
	case "+":
		if present {
			return interpolate(word, lookup)
		}
		return "", nil
	default: // "?"
		if present {
			return val, nil
		}
		msg, err := interpolate(word, lookup)
		if err != nil {
			return "", err
		}
		if msg == "" {
			msg = "not set"
		}
		return "", fmt.Errorf("required variable %s: %s", name, msg)
	}
}

func isNameStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isNameChar(c byte) bool { return isNameStart(c) || c >= '0' && c <= '9' }
