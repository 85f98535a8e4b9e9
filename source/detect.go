package source

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
)

// Format is a kind of input file.
type Format string

// The formats Parse reads. YAML and JSON are containers: their content
// decides (compose, Kubernetes; OCI config, inspect, Kubernetes).
const (
	Unknown    Format = ""
	Script     Format = "shell"
	Unit       Format = "systemd-unit"
	Makefile   Format = "makefile"
	Markdown   Format = "markdown"
	Dockerfile Format = "dockerfile"
	Quadlet    Format = "quadlet"
	Compose    Format = "compose"
	YAML       Format = "yaml" // compose or Kubernetes, by content
	JSON       Format = "json" // OCI config, docker inspect or Kubernetes, by content
)

var composeName = regexp.MustCompile(`^(docker-)?compose([.-][^/]*)?\.ya?ml$`)

// DetectName guesses a file's format from its name alone.
func DetectName(name string) Format {
	base := filepath.Base(name)
	lower := strings.ToLower(base)
	ext := strings.ToLower(filepath.Ext(base))
	switch {
	case lower == "dockerfile" || lower == "containerfile" ||
		strings.HasPrefix(lower, "dockerfile.") || strings.HasPrefix(lower, "containerfile.") ||
		ext == ".dockerfile" || ext == ".containerfile":
		return Dockerfile
	case composeName.MatchString(lower):
		return Compose
	case lower == "makefile" || lower == "gnumakefile" || ext == ".mk" || ext == ".mak":
		return Makefile
	}
	switch ext {
	case ".container":
		return Quadlet
	case ".service":
		return Unit
	case ".md", ".markdown", ".mdown", ".mkd":
		return Markdown
	case ".sh", ".bash", ".zsh", ".ksh", ".dash":
		return Script
	case ".yaml", ".yml":
		return YAML
	case ".json":
		return JSON
	}
	return Unknown
}

var (
	shebang   = regexp.MustCompile(`^#!\s*\S*/(env\s+)?(sh|bash|zsh|ksh|dash|ash|busybox\s+sh)\b`)
	iniHeader = regexp.MustCompile(`(?m)^\s*\[(Container|Unit|Service|Install)\]\s*$`)
	yamlKey   = regexp.MustCompile(`(?m)^(apiVersion|kind|services|version)\s*:`)
	dfFirst   = regexp.MustCompile(`(?i)^(from|arg)\s`)
)

// Sniff guesses a format from content alone, for standard input and files
// whose name says nothing. It returns Unknown when nothing fits.
func Sniff(data []byte) Format {
	t := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if shebang.Match(t) {
		return Script
	}
	if m := iniHeader.FindSubmatch(t); m != nil {
		if string(m[1]) == "Container" {
			return Quadlet
		}
		return Unit
	}
	if len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		return JSON
	}
	if first := firstInstruction(t); dfFirst.Match(first) || bytes.HasPrefix(t, []byte("# syntax=")) || bytes.HasPrefix(t, []byte("# escape=")) {
		if dfFirst.Match(first) {
			return Dockerfile
		}
	}
	if yamlKey.Match(t) || bytes.HasPrefix(t, []byte("---")) {
		return YAML
	}
	if bytes.Contains(t, []byte("\n```")) || bytes.HasPrefix(t, []byte("```")) {
		return Markdown
	}
	return Unknown
}

// firstInstruction returns the first line that is neither empty nor a
// comment.
func firstInstruction(t []byte) []byte {
	for len(t) > 0 {
		line := t
		if i := bytes.IndexByte(t, '\n'); i >= 0 {
			line, t = t[:i], t[i+1:]
		} else {
			t = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return line
		}
	}
	return nil
}

// Detect picks the format of a file from its name and, when the name says
// nothing, its content.
func Detect(name string, data []byte) Format {
	if f := DetectName(name); f != Unknown {
		return f
	}
	return Sniff(data)
}

// isBinary reports NUL bytes in the first 8000 bytes, git's test.
func isBinary(data []byte) bool {
	return bytes.IndexByte(data[:min(len(data), 8000)], 0) >= 0
}
