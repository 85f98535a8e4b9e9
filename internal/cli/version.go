package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/report"
)

// Version is set at build time with -ldflags "-X github.com/capdrop/capdrop/internal/cli.Version=v1.2.3";
// otherwise it comes from the module's build information.
var Version = ""

// VersionInfo is the JSON form of `capdrop version`.
type VersionInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

func versionInfo() VersionInfo {
	v := VersionInfo{Version: Version, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" && bi.Main.Version != "" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	return v
}

func newVersionCmd(s *term.Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print capdrop's version",
		Args:  argsUsage(cobra.NoArgs),
	}
	out := outputFlag(cmd, "text", "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		v := versionInfo()
		if out.String() == "json" {
			return report.JSON(s.Out, v)
		}
		commit := ""
		if v.Commit != "" {
			commit = " commit " + v.Commit[:min(12, len(v.Commit))]
			if v.Modified {
				commit += "+dirty"
			}
		}
		_, err := fmt.Fprintf(s.Out, "capdrop %s%s (%s, %s)\n", v.Version, commit, v.Go, v.Platform)
		return err
	}
	return cmd
}
