package launch

import (
	"slices"
	"strings"
)

// DefaultPath is the command search path when the caller has none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// passed are the caller's variables a clean environment keeps: how to find
// commands, the terminal type, and the locale and time zone. Everything else
// (tokens, proxies, LD_*, the caller's HOME…) stays behind: a command started
// with fewer privileges is one you trust less.
var passed = []string{"PATH", "TERM", "LANG", "LANGUAGE", "TZ"}

func passedVar(name string) bool {
	return slices.Contains(passed, name) || strings.HasPrefix(name, "LC_")
}

// childEnv returns the command's environment. With keep it is the caller's,
// unchanged. Otherwise it is the minimal one sudo's env_reset gives: PATH,
// TERM, LANG, LANGUAGE, LC_*, TZ from the caller, and HOME, USER, LOGNAME,
// SHELL describing the identity the command runs as.
func childEnv(caller []string, keep bool, id Identity) []string {
	if keep {
		return slices.Clone(caller)
	}
	vars := map[string]string{}
	for _, kv := range caller {
		k, v, ok := strings.Cut(kv, "=")
		if ok && passedVar(k) {
			vars[k] = v // the last one wins, as in getenv
		}
	}
	if vars["PATH"] == "" {
		vars["PATH"] = DefaultPath
	}
	vars["HOME"] = id.Home
	if id.Name != "" {
		vars["USER"] = id.Name
		vars["LOGNAME"] = id.Name
	}
	if id.Shell != "" {
		vars["SHELL"] = id.Shell
	}
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// envNames returns the variable names of an environment, in its order.
func envNames(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		out = append(out, k)
	}
	return out
}

// lookEnv returns the last value of name in env.
func lookEnv(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}
