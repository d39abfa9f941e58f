package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// version is the release this binary was built as; make release sets it
// through the linker (release.VersionSymbol). Other builds say "dev".
var version = "dev"

// Version is the binary's release version, or "dev".
func Version() string { return version }

func newVersionCmd(io IO) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the release version of this binary",
		Long: `Print the release version this binary was built as (make release
VERSION=...), alone on one line, or "dev" for other builds. The module's
roll trigger runs stateful from the PATH only when this matches the release
it pins.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(io.Out, version)
			return err
		},
	}
}
