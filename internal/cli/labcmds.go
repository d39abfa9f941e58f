//go:build !stateful_node

package cli

import "github.com/spf13/cobra"

// labCommands are the simulator's and the lab's commands. The release
// binaries, which nodes run as root, are built with the stateful_node tag
// (internal/release.BuildTags) and leave them, and the HCL, template and
// simulator code they pull in, out.
func labCommands(io IO) []*cobra.Command { return []*cobra.Command{newSimCmd(io), newLabCmd(io)} }
