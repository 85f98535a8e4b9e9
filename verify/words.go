package verify

import (
	"errors"
	"fmt"
	"strings"
)

// SplitWords splits a command line into words the way a POSIX shell does
// for a simple command, without running one: blanks separate words; single
// quotes keep everything; double quotes keep everything but a backslash
// before " \ $ or `; a backslash outside quotes keeps the next character.
// Nothing is expanded. It is how --check-exec and compose's string-form
// command and entrypoint become argument lists.
func SplitWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case ch == '\\':
			inWord = true
			if i+1 >= len(s) {
				return nil, errors.New("command ends with a lone backslash")
			}
			i++
			if s[i] != '\n' { // backslash-newline joins lines
				w.WriteByte(s[i])
			}
		case ch == '\'':
			inWord = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated single quote at byte %d", i+1)
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case ch == '"':
			inWord = true
			closed := false
			for i++; i < len(s); i++ {
				c := s[i]
				if c == '"' {
					closed = true
					break
				}
				if c == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`\n", s[i+1]) >= 0 {
					i++
					if s[i] != '\n' {
						w.WriteByte(s[i])
					}
					continue
				}
				w.WriteByte(c)
			}
			if !closed {
				return nil, errors.New("unterminated double quote")
			}
		default:
			inWord = true
			w.WriteByte(ch)
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}
