package lab

import (
	"testing"
	"time"
)

func TestAvailabilityByTime(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	// A slow success every 500ms, then a burst of fast failures every
	// 100ms (an election), then successes: by count 8 of 14, by time
	// 80% up with one gap of 600ms.
	var tries []attempt
	for k := range 4 {
		tries = append(tries, attempt{at: at(500 * k), ok: true})
	}
	for k := range 6 {
		tries = append(tries, attempt{at: at(2000 + 100*k), ok: false})
	}
	for k := range 4 {
		tries = append(tries, attempt{at: at(2600 + 100*k), ok: true})
	}
	up, total, gap := byTime(tries, at(0), at(3000))
	if total != ms(3000) || up != ms(2400) || gap != ms(600) {
		t.Errorf("byTime = up %s of %s, gap %s; want 2.4s of 3s, gap 600ms", up, total, gap)
	}
	// A window starting inside the gap takes the state of the run before it.
	up, total, gap = byTime(tries, at(2250), at(2800))
	if total != ms(550) || up != ms(200) || gap != ms(350) {
		t.Errorf("inside the gap: up %s of %s, gap %s; want 200ms of 550ms, gap 350ms", up, total, gap)
	}
	// Two gaps: the longest counts, not their sum.
	two := []attempt{{at: at(0), ok: false}, {at: at(100), ok: true}, {at: at(200), ok: false}, {at: at(250), ok: false}, {at: at(400), ok: true}}
	if up, _, gap := byTime(two, at(0), at(500)); gap != ms(200) || up != ms(200) {
		t.Errorf("two gaps: up %s, longest %s; want 200ms and 200ms", up, gap)
	}
	if up, total, gap := byTime(nil, at(0), at(0)); up != 0 || total != 0 || gap != 0 {
		t.Errorf("empty window: %s %s %s", up, total, gap)
	}
	if p := byTimePct(ms(2400), ms(3000)); p != 80 {
		t.Errorf("byTimePct = %v, want 80", p)
	}
}
