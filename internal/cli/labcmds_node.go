//go:build stateful_node

package cli

import "github.com/spf13/cobra"

// labCommands: none in the release (node) build; see labcmds.go.
func labCommands(IO) []*cobra.Command { return nil }
