package agent

import (
	"testing"

	"github.com/stateful-aws/stateful/internal/blockdev"
)

func TestDecideVolume(t *testing.T) {
	t.Parallel()
	want := Stamp{Cluster: "etcd", NodeID: "01"}
	other := Stamp{Cluster: "etcd", NodeID: "02"}.Label()
	blank := blockdev.Inspection{Device: "/dev/nvme1n1", Probe: blockdev.Probe{NoSignature: true}, HeadZero: true, TailZero: true}
	with := func(f func(*blockdev.Inspection)) blockdev.Inspection { i := blank; f(&i); return i }
	fs := func(typ, label string) blockdev.Inspection {
		return with(func(i *blockdev.Inspection) {
			i.Probe = blockdev.Probe{Type: typ, Label: label, UUID: "u"}
			i.HeadZero = false
		})
	}
	for name, c := range map[string]struct {
		insp blockdev.Inspection
		want VolumeAction
	}{
		"proven blank":                      {blank, VolumeFormat},
		"no signature, data at the start":   {with(func(i *blockdev.Inspection) { i.HeadZero = false }), VolumeRefuse},
		"no signature, data at the end":     {with(func(i *blockdev.Inspection) { i.TailZero = false }), VolumeRefuse},
		"no signature, mounted":             {with(func(i *blockdev.Inspection) { i.InUse = "mounted at /data" }), VolumeRefuse},
		"no signature, backs /":             {with(func(i *blockdev.Inspection) { i.InUse = "it backs /" }), VolumeRefuse},
		"partition table":                   {with(func(i *blockdev.Inspection) { i.Probe = blockdev.Probe{PTType: "gpt"} }), VolumeRefuse},
		"LUKS":                              {fs("crypto_LUKS", ""), VolumeRefuse},
		"this node's xfs":                   {fs("xfs", want.Label()), VolumeMount},
		"this node's ext4, mounted already": {with(func(i *blockdev.Inspection) { *i = fs("ext4", want.Label()); i.InUse = "mounted at /data" }), VolumeMount},
		"another node's label":              {fs("xfs", other), VolumeRefuse},
		"a foreign filesystem (migration)":  {fs("ext4", "kafka-data"), VolumeMount},
	} {
		if got, why := DecideVolume(c.insp, want); got != c.want || why == "" {
			t.Errorf("%s: %s (%s), want %s", name, got, why, c.want)
		}
	}
}
