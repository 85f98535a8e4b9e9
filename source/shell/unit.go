package shell

import (
	"bytes"
	"strings"
)

// execKeys are the systemd service settings whose value is a command line.
var execKeys = map[string]bool{
	"ExecStart": true, "ExecStartPre": true, "ExecStartPost": true, "ExecStop": true,
	"ExecStopPost": true, "ExecReload": true, "ExecCondition": true,
}

// unit reads Exec*= settings. systemd joins a line ending in a backslash
// with the next; the shell parser reads the same text as a line
// continuation. The value's special prefixes (- @ : + ! !!) are blanked.
func (p *parser) unit() {
	for _, l := range logicalLines(p.data, 0, len(p.data)) {
		line := p.data[l[0]:l[1]]
		trimmed := bytes.TrimLeft(line, " \t")
		if len(trimmed) == 0 || trimmed[0] == '#' || trimmed[0] == ';' || trimmed[0] == '[' {
			continue
		}
		key, _, ok := bytes.Cut(trimmed, []byte("="))
		if !ok || !execKeys[strings.TrimSpace(string(key))] {
			continue
		}
		eq := l[0] + bytes.IndexByte(line, '=')
		v := eq + 1
		for v < l[1] && (p.data[v] == ' ' || p.data[v] == '\t') {
			v++
		}
		for v < l[1] && strings.IndexByte("-@:+!", p.data[v]) >= 0 {
			v++
		}
		src := blank(clone(p.data, l[0], l[1]), l[0], [2]int{l[0], v})
		p.snippet(span{l[0], src}, lenient)
	}
}
