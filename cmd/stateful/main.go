// Command stateful runs stateful clusters on AWS as immutable infrastructure:
// operator commands (roll, status, recover, plan-check), the node agent, the
// AWS simulator and the local lab. See the repository README.
package main

import (
	"os"

	"github.com/stateful-aws/stateful/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
