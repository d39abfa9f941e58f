package agent

import (
	"testing"
	"time"

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

// The volume wait doubles to the poll interval and stays there: over the
// whole 900 s deadline it never sleeps less than minVolumeWait (the
// doubling used to overflow after about 40 s into a loop with no sleep)
// and the looks stay bounded by one per poll plus the ramp.
func TestVolumeWaitIsCappedAndBounded(t *testing.T) {
	for _, poll := range []time.Duration{0, 50 * time.Millisecond, time.Second, 15 * time.Second} {
		wait, slept, looks := minVolumeWait, time.Duration(0), 0
		for slept < 900*time.Second {
			if wait < minVolumeWait || wait > max(poll, minVolumeWait) {
				t.Fatalf("poll %s: a wait of %s after %s, want within [%s, %s]", poll, wait, slept, minVolumeWait, max(poll, minVolumeWait))
			}
			slept += wait
			looks++
			wait = nextVolumeWait(wait, poll)
		}
		if limit := int(900*time.Second/max(poll, minVolumeWait)) + 10; looks > limit {
			t.Fatalf("poll %s: %d looks in 900 s, want at most %d", poll, looks, limit)
		}
	}
}
