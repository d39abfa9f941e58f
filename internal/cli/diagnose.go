package cli

import (
	"context"

	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/diagnosis"
	"github.com/stateful-aws/stateful/internal/inventory"
)

// maxDeepDiagnoses bounds the nodes status reads activities and hooks for
// (two calls each): a cluster with many nodes out gets the first few
// explained in full, the rest from what one look at the cluster shows.
const maxDeepDiagnoses = 5

// diagnoseNode reads what the diagnosis needs for one node and decides.
func diagnoseNode(ctx context.Context, inv *inventory.Inventory, n cluster.Node) (diagnosis.Diagnosis, error) {
	in, err := inv.DiagnosisInput(ctx, n)
	if err != nil {
		return diagnosis.Diagnosis{}, err
	}
	return diagnosis.Diagnose(in), nil
}

// diagnoseNodes diagnoses every node of snap: from the snapshot alone
// (its newest activity), then, for up to maxDeepDiagnoses nodes that are
// not fine, with their group's activities and hooks read.
func diagnoseNodes(ctx context.Context, inv *inventory.Inventory, snap cluster.Snapshot) (map[string]diagnosis.Diagnosis, error) {
	out := map[string]diagnosis.Diagnosis{}
	deep := 0
	for _, n := range snap.Nodes {
		in := diagnosis.Input{Node: n, Now: snap.At}
		if n.LastActivity != nil {
			in.Activities = []cluster.Activity{*n.LastActivity}
		}
		d := diagnosis.Diagnose(in)
		if !d.OK() && deep < maxDeepDiagnoses {
			deep++
			var err error
			if d, err = diagnoseNode(ctx, inv, n); err != nil {
				return nil, err
			}
		}
		out[n.ID] = d
	}
	return out, nil
}
