// Package cli is the command tree of the stateful binary: flags, output and
// exit codes. Each command has an options struct and a run function that
// tests call directly.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// exitError carries a command's own exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// IO is where a command reads and writes.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
}

// Main runs the command line and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Execute(ctx, args, IO{In: stdin, Out: stdout, Err: stderr})
}

// Execute runs args with the given context and IO.
func Execute(ctx context.Context, args []string, io IO) int {
	return execute(ctx, args, io, defaultDeps())
}

func execute(ctx context.Context, args []string, io IO, d deps) int {
	root := newRoot(io, d)
	root.SetArgs(args)
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.Err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(io.Err, "stateful:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return ExitError
}

func newRoot(io IO, d deps) *cobra.Command {
	root := &cobra.Command{
		Use:           "stateful",
		Short:         "Stateful clusters on AWS as immutable infrastructure",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newRollCmd(io, d), newStatusCmd(io, d), newRecoverCmd(io, d), newRemoveNodeCmd(io, d), newPlanCheckCmd(io), newNodeCmd(io), newVersionCmd(io))
	root.AddCommand(labCommands(io)...) // none in the release (node) build: labcmds.go
	// Bad flags, arguments or subcommands are usage errors (exit 2) on
	// every command.
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError("%v", err) })
		if args := c.Args; args != nil {
			c.Args = func(cmd *cobra.Command, a []string) error {
				if err := args(cmd, a); err != nil {
					return usageError("%v", err)
				}
				return nil
			}
		} else if c.HasSubCommands() && c.RunE == nil {
			c.Args = cobra.ArbitraryArgs
			c.RunE = func(cmd *cobra.Command, a []string) error {
				if len(a) > 0 {
					return usageError("unknown command %q for %q: see %s --help", a[0], cmd.CommandPath(), cmd.CommandPath())
				}
				return cmd.Help()
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return root
}

// envDefaults fills every flag not set on the command line from its
// STATEFUL_<FLAG> environment variable (dashes as underscores).
func envDefaults(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil {
			return
		}
		name := "STATEFUL_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := lookupEnv(cmd.Context(), name); ok {
			if e := cmd.Flags().Set(f.Name, v); e != nil {
				err = usageError("environment variable %s: %v", name, e)
			}
		}
	})
	return err
}
