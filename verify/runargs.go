package verify

import (
	"errors"
	"fmt"
	"strings"
)

// runBoolLong are the docker run flags that take no value (docker CLI 20.10
// to 28). Every other flag takes one, as --flag=value or --flag value.
var runBoolLong = map[string]bool{
	"detach": true, "interactive": true, "tty": true, "rm": true, "privileged": true,
	"init": true, "read-only": true, "publish-all": true, "no-healthcheck": true,
	"oom-kill-disable": true, "sig-proxy": true, "disable-content-trust": true,
	"help": true, "quiet": true, "use-api-socket": true,
}

// runBoolShort are the one-letter docker run flags that take no value.
var runBoolShort = "ditPq"

// runShortLong maps the one-letter flags to their long names.
var runShortLong = map[byte]string{
	'a': "attach", 'c': "cpu-shares", 'd': "detach", 'e': "env", 'h': "hostname",
	'i': "interactive", 'l': "label", 'm': "memory", 'p': "publish", 'P': "publish-all",
	'q': "quiet", 't': "tty", 'u': "user", 'v': "volume", 'w': "workdir",
}

// runDropped are docker run flags that `docker create` does not know or
// that would get in the way of the trials, with why they are left out.
var runDropped = map[string]string{
	"detach":      "trials always run detached",
	"detach-keys": "trials are never attached",
	"sig-proxy":   "trials are never attached",
	"name":        "each trial gets its own name (capdrop-verify-…), so it never collides with the running container",
	"cidfile":     "capdrop does not write container ID files",
	"help":        "",
}

// RunArgs is a docker run argument list cut into its parts.
type RunArgs struct {
	Flags   []string // the options, without those in runDropped
	Image   string
	Cmd     []string // the command and its arguments after the image
	Dropped []string // the options left out, as written
}

// ParseRunArgs cuts docker run arguments ("-e A=1 -p 80:80 nginx nginx -g
// …") into options, image and command, leaving out the options that do not
// apply to a verification trial (-d, --name, --detach-keys, --sig-proxy,
// --cidfile). It knows which options take a value, the way the docker CLI
// parses them: "--opt=value", "--opt value", "-e A=1", "-eA=1", bundled
// letters "-dit". Options stop at the first word that is not one, or after
// "--".
func ParseRunArgs(args []string) (RunArgs, error) {
	var ra RunArgs
	i := 0
	for i < len(args) {
		a := args[i]
		switch {
		case a == "--":
			i++
			goto image
		case strings.HasPrefix(a, "--"):
			name, _, hasValue := strings.Cut(a[2:], "=")
			if name == "" {
				return ra, fmt.Errorf("docker run argument %d: %q is not an option", i+1, a)
			}
			words := []string{a}
			if !hasValue && !runBoolLong[name] {
				if i+1 >= len(args) {
					return ra, fmt.Errorf("docker run option --%s needs a value", name)
				}
				words = append(words, args[i+1])
				i++
			}
			i++
			if _, drop := runDropped[name]; drop {
				ra.Dropped = append(ra.Dropped, strings.Join(words, " "))
				continue
			}
			ra.Flags = append(ra.Flags, words...)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			kept, dropped, consumed, err := scanShort(args, i)
			if err != nil {
				return ra, err
			}
			if kept != "" {
				ra.Flags = append(ra.Flags, "-"+kept)
				if consumed == 2 && !strings.ContainsRune(runBoolShort, rune(kept[len(kept)-1])) {
					ra.Flags = append(ra.Flags, args[i+1])
				}
			}
			if dropped != "" {
				ra.Dropped = append(ra.Dropped, "-"+dropped)
			}
			i += consumed
		default:
			goto image
		}
	}
image:
	if i >= len(args) {
		return ra, errors.New("docker run arguments name no image")
	}
	ra.Image = args[i]
	ra.Cmd = append([]string(nil), args[i+1:]...)
	return ra, nil
}

// scanShort reads a bundle of one-letter options at args[i] ("-dit",
// "-p80:80", "-e A=1"). It returns the letters (and attached value) to keep,
// the letters dropped, and how many words it used (1, or 2 when the last
// letter takes the next word as its value).
func scanShort(args []string, i int) (kept, dropped string, consumed int, err error) {
	a := args[i][1:]
	if strings.HasPrefix(a, "=") {
		return "", "", 0, fmt.Errorf("docker run argument %d: %q is not an option", i+1, args[i])
	}
	var k, d strings.Builder
	for j := 0; j < len(a); j++ {
		ch := a[j]
		long, known := runShortLong[ch]
		if !known {
			return "", "", 0, fmt.Errorf("docker run argument %d: unknown option -%c in %q", i+1, ch, args[i])
		}
		_, drop := runDropped[long]
		if strings.IndexByte(runBoolShort, ch) >= 0 {
			rest := a[j+1:]
			if strings.HasPrefix(rest, "=") { // -d=false
				if drop {
					d.WriteString(a[j:])
				} else {
					k.WriteString(a[j:])
				}
				return k.String(), d.String(), 1, nil
			}
			if drop {
				d.WriteByte(ch)
			} else {
				k.WriteByte(ch)
			}
			continue
		}
		// A letter that takes a value: the rest of the word, or the next word.
		k.WriteString(a[j:])
		if j+1 < len(a) {
			return k.String(), d.String(), 1, nil
		}
		if i+1 >= len(args) {
			return "", "", 0, fmt.Errorf("docker run option -%c needs a value", ch)
		}
		return k.String(), d.String(), 2, nil
	}
	return k.String(), d.String(), 1, nil
}
