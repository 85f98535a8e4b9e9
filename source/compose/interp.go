package compose

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// Lookup returns a variable's value and whether it is set.
type Lookup func(name string) (string, bool)

// Interpolate expands a compose value the way the compose spec says:
// $VAR and ${VAR}; ${VAR:-default} and ${VAR-default} (default when unset
// or empty / when unset); ${VAR:?err} and ${VAR?err} (error when unset or
// empty / when unset); ${VAR:+alt} and ${VAR+alt}; $$ is a literal $.
// Defaults and alternatives may themselves hold ${...}. Unset variables
// without a default become "" and are returned in unset.
func Interpolate(s string, lookup Lookup) (out string, unset []string, err error) {
	in := &interp{lookup: lookup}
	out, err = in.expand(s, 0)
	return out, in.unset, err
}

type interp struct {
	lookup Lookup
	unset  []string
}

func isNameStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isName(c byte) bool      { return isNameStart(c) || c >= '0' && c <= '9' }

func (in *interp) expand(s string, depth int) (string, error) {
	if depth > 20 {
		return "", fmt.Errorf("interpolation nested too deeply in %q", s)
	}
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
			return "", fmt.Errorf("invalid interpolation format for %q: a lone $ (write $$ for a literal $)", s)
		}
		switch c := s[i+1]; {
		case c == '$':
			b.WriteByte('$')
			i++
		case c == '{':
			end := matchBrace(s, i+1)
			if end < 0 {
				return "", fmt.Errorf("invalid interpolation format for %q: unclosed ${", s)
			}
			v, err := in.braced(s[i+2:end], depth)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i = end
		case isNameStart(c):
			j := i + 1
			for j < len(s) && isName(s[j]) {
				j++
			}
			b.WriteString(in.get(s[i+1 : j]))
			i = j - 1
		default:
			return "", fmt.Errorf("invalid interpolation format for %q: $%c (write $$ for a literal $)", s, c)
		}
	}
	return b.String(), nil
}

// matchBrace returns the index of the } closing the { at open, counting
// nested ${ }.
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

func (in *interp) get(name string) string {
	v, ok := in.lookup(name)
	if !ok {
		in.unset = append(in.unset, name)
	}
	return v
}

func (in *interp) braced(body string, depth int) (string, error) {
	j := 0
	for j < len(body) && isName(body[j]) {
		j++
	}
	name, rest := body[:j], body[j:]
	if name == "" || !isNameStart(name[0]) {
		return "", fmt.Errorf("invalid interpolation format: ${%s}", body)
	}
	if rest == "" {
		return in.get(name), nil
	}
	v, set := in.lookup(name)
	colon := strings.HasPrefix(rest, ":")
	op := strings.TrimPrefix(rest, ":")
	if op == "" {
		return "", fmt.Errorf("invalid interpolation format: ${%s}", body)
	}
	arg := op[1:]
	missing := !set || (colon && v == "")
	switch op[0] {
	case '-':
		if missing {
			return in.expand(arg, depth+1)
		}
		return v, nil
	case '?':
		if missing {
			msg, err := in.expand(arg, depth+1)
			if err != nil {
				return "", err
			}
			return "", fmt.Errorf("required variable %s is missing a value: %s", name, msg)
		}
		return v, nil
	case '+':
		if !missing {
			return in.expand(arg, depth+1)
		}
		return "", nil
	}
	return "", fmt.Errorf("invalid interpolation format: ${%s}", body)
}

// ParseDotEnv reads a .env file: KEY=VALUE lines, # comments, an optional
// "export " prefix, 'single' (literal) and "double" (escapes \n \" \\)
// quoted values, and " #" comments after unquoted values. Values may use
// variables defined on earlier lines.
func ParseDotEnv(data []byte) map[string]string {
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			continue
		}
		v = strings.TrimSpace(v)
		switch {
		case len(v) >= 2 && v[0] == '\'' && strings.IndexByte(v[1:], '\'') >= 0:
			v = v[1 : 1+strings.IndexByte(v[1:], '\'')]
		case len(v) >= 2 && v[0] == '"':
			var b strings.Builder
			for i := 1; i < len(v) && v[i] != '"'; i++ {
				if v[i] == '\\' && i+1 < len(v) {
					i++
					switch v[i] {
					case 'n':
						b.WriteByte('\n')
					default:
						b.WriteByte(v[i])
					}
					continue
				}
				b.WriteByte(v[i])
			}
			v = b.String()
		default:
			if i := strings.Index(v, " #"); i >= 0 {
				v = strings.TrimSpace(v[:i])
			}
			if x, _, err := Interpolate(v, func(n string) (string, bool) { s, ok := env[n]; return s, ok }); err == nil {
				v = x
			}
		}
		env[k] = v
	}
	return env
}
