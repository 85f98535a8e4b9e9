package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/knowledge"
	"github.com/capdrop/capdrop/procfs"
	"github.com/capdrop/capdrop/report"
)

func textRenderer(s *term.Streams) report.Text {
	return report.Text{Color: s.Color, Width: s.Width}
}

func newCapsCmd(s *term.Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "caps",
		Short: "List every capability with its risk and which runtimes grant it by default",
		Example: `  capdrop caps
  capdrop caps --runtime docker
  capdrop caps -o json | jq '.[] | select(.root_equivalent) | .name'`,
		Args: argsUsage(cobra.NoArgs),
	}
	out := outputFlag(cmd, "table", "json")
	rt := choiceFlag(cmd, "runtime", "", "mark this runtime's default set: "+strings.Join(knowledge.RuntimeIDs, ", "), knowledge.RuntimeIDs...)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if out.String() == "json" {
			return report.CapsJSON(s.Out, knowledge.All())
		}
		return textRenderer(s).CapsTable(s.Out, knowledge.All(), rt.String())
	}
	return cmd
}

// completeCaps completes capability names.
func completeCaps(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	var out []string
	up := strings.ToUpper(prefix)
	for _, c := range capset.Known.Caps() {
		for _, n := range []string{c.Name(), c.Short()} {
			if strings.HasPrefix(n, up) {
				out = append(out, n)
				break
			}
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

func newExplainCmd(s *term.Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "explain CAP...",
		Short: "Explain capabilities: what they allow, their risk, abuse, real needs, and how to drop them",
		Example: `  capdrop explain sys_admin
  capdrop explain CAP_NET_RAW net_bind_service
  capdrop explain -o json dac_read_search`,
		Args:              argsUsage(cobra.MinimumNArgs(1)),
		ValidArgsFunction: completeCaps,
	}
	out := outputFlag(cmd, "text", "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var entries []knowledge.Entry
		var errs []error
		for _, a := range args {
			set, err := capset.ParseSet(a)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, c := range set.Caps() {
				e, ok := knowledge.Lookup(c)
				if !ok {
					errs = append(errs, fmt.Errorf("capdrop knows nothing about %s", c.Name()))
					continue
				}
				entries = append(entries, e)
			}
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		if out.String() == "json" {
			return report.CapsJSON(s.Out, entries)
		}
		return textRenderer(s).Explain(s.Out, entries)
	}
	return cmd
}

func newDecodeCmd(s *term.Streams) *cobra.Command {
	var pid int
	var procRoot string
	cmd := &cobra.Command{
		Use:   "decode HEX... | --pid PID",
		Short: "Turn capability masks (as in /proc/PID/status) into names",
		Long: `Turn capability masks, as /proc/PID/status shows them, into capability names.
Masks are hexadecimal, with or without 0x. Bits capdrop has no name for are
printed as cap_N, never dropped.

With --pid, decode the five sets of a live process.

With -o json, one mask prints one object {"mask": ..., "capabilities": [...]};
several masks print one such object per line.`,
		Example: `  capdrop decode 00000000a80425fb
  capdrop decode --pid 1
  capdrop decode -o json $(awk '/CapEff/ {print $2}' /proc/self/status)`,
	}
	out := outputFlag(cmd, "text", "json")
	cmd.Flags().IntVarP(&pid, "pid", "p", 0, "decode the five capability sets of this process")
	cmd.Flags().StringVar(&procRoot, "proc", procfs.DefaultRoot, "where the proc filesystem is mounted")
	_ = cmd.Flags().MarkHidden("proc")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if cmd.Flags().Changed("pid") {
			if len(args) > 0 {
				return usageErrorf("give masks or --pid, not both")
			}
			return decodePID(s, procRoot, pid, out.String())
		}
		if len(args) == 0 {
			return usageErrorf("give at least one mask, or --pid")
		}
		var sets []capset.Set
		var errs []error
		for _, a := range args {
			m, err := capset.ParseMask(a)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			sets = append(sets, m)
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		t := textRenderer(s)
		for i, m := range sets {
			var err error
			switch {
			case out.String() == "json" && len(sets) == 1:
				err = report.JSON(s.Out, report.NewMask(m))
			case out.String() == "json":
				err = report.JSONLine(s.Out, report.NewMask(m))
			default:
				if i > 0 {
					fmt.Fprintln(s.Out)
				}
				err = t.Decoded(s.Out, m)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	return cmd
}

func decodePID(s *term.Streams, root string, pid int, out string) error {
	st, err := procfs.ReadStatus(root, pid)
	if err != nil {
		return fmt.Errorf("process %d: %w", pid, err)
	}
	f := st.Sets
	if out == "json" {
		return report.JSON(s.Out, report.ProcessSets{PID: pid, Command: st.Name, Sets: f.Names(), Hex: f.Hex()})
	}
	fmt.Fprintf(s.Out, "%s %d (%s)\n", s.Palette().Bold("process"), pid, st.Name)
	return textRenderer(s).FiveSets(s.Out, f)
}

func newEncodeCmd(s *term.Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "encode CAP...",
		Short: "Turn capability names into a mask",
		Long: `Turn capability names into the hex mask /proc/PID/status and capsh use.
Names are accepted in any case, with or without CAP_, comma- or
space-separated; ALL means every capability capdrop knows.`,
		Example: `  capdrop encode chown,dac_override,net_bind_service
  capdrop encode ALL`,
		Args:              argsUsage(cobra.MinimumNArgs(1)),
		ValidArgsFunction: completeCaps,
	}
	out := outputFlag(cmd, "text", "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		set, err := capset.ParseSet(strings.Join(args, ","))
		if err != nil {
			return err
		}
		if out.String() == "json" {
			return report.JSON(s.Out, report.NewMask(set))
		}
		_, err = fmt.Fprintln(s.Out, set.Hex())
		return err
	}
	return cmd
}
