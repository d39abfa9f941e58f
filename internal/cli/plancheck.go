package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/stateful-aws/stateful/internal/plancheck"
)

type planCheckOptions struct {
	Allow  plancheck.Allow
	Output string
}

func newPlanCheckCmd(io IO) *cobra.Command {
	o := &planCheckOptions{}
	cmd := &cobra.Command{
		Use:   "plan-check PLAN.json",
		Short: "Refuse Terraform plans that would lose data or take several nodes down",
		Long: `Read a plan as JSON (terraform show -json PLANFILE > PLAN.json; "-" reads
stdin) and fail, listing the addresses, when it would lose a node of the
module: a node's data volume deleted (alone, with a volume created at
another address, or replaced: moved to another AZ or KMS key), a volume
shrunk (AWS refuses, half-way through the apply), a node's ENI deleted or
replaced or its IP changed, or the Auto Scaling groups of more than one
node deleted or replaced at once (a group deleted at one address and
created at another counts). Each refusal names its --allow-... flag for
the deliberate case. A binary plan file or state JSON is refused with the
command that makes plan JSON.

Exit codes:
  0  the plan is safe for the cluster
  1  the input is not plan JSON, or could not be read
  2  bad flags
  3  refused: the message lists what and why`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := envDefaults(cmd); err != nil {
				return err
			}
			return runPlanCheck(cmd.Context(), io, o, args[0])
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.Allow.VolumeLoss, "allow-volume-loss", false, "let the plan delete or replace data volumes")
	f.BoolVar(&o.Allow.VolumeShrink, "allow-volume-shrink", false, "let the plan shrink data volumes (AWS refuses it during the apply)")
	f.BoolVar(&o.Allow.ENIReplacement, "allow-eni-replacement", false, "let the plan delete or replace node ENIs or change their IPs (nodes get new IPs)")
	f.BoolVar(&o.Allow.MultiNodeReplaces, "allow-multi-node-replacement", false, "let the plan delete or replace several nodes' groups at once")
	f.StringVarP(&o.Output, "output", "o", "text", "output format: text or json")
	return cmd
}

func runPlanCheck(_ context.Context, io IO, o *planCheckOptions, path string) error {
	if o.Output != "text" && o.Output != "json" {
		return usageError("--output must be text or json, got %q", o.Output)
	}
	r := io.In
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return usageError("plan file %s: %v", path, err)
		}
		defer f.Close()
		r = f
	}
	plan, err := plancheck.Parse(r)
	if err != nil {
		return err
	}
	findings := plancheck.Check(plan, o.Allow)
	if o.Output == "json" {
		if findings == nil {
			findings = []plancheck.Finding{}
		}
		b, _ := json.MarshalIndent(map[string]any{"refused": len(findings) > 0, "findings": findings}, "", "  ")
		fmt.Fprintf(io.Out, "%s\n", b)
	} else {
		for _, f := range findings {
			fmt.Fprintf(io.Out, "REFUSED (%s): %s\n", f.Rule, f.Message)
			for _, a := range f.Addresses {
				fmt.Fprintf(io.Out, "  %s\n", a)
			}
			fmt.Fprintf(io.Out, "  if this is deliberate, pass %s\n", f.Flag)
		}
		if len(findings) == 0 {
			fmt.Fprintf(io.Out, "plan is safe for the cluster: %d resource changes, no data volume or node IP lost, no volume shrunk, at most one node's group deleted or replaced\n", len(plan.ResourceChanges))
		}
	}
	if len(findings) > 0 {
		return &exitError{code: ExitRefused, err: fmt.Errorf("the plan was refused (%d finding(s))", len(findings))}
	}
	return nil
}
