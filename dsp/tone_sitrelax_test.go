package dsp

import "testing"

// TestToneSITRelaxedRuns: a run that leans on hops admitted only as a
// possible first SIT segment is never a beep — not when it would qualify,
// not when its SIT sequence fails — while a run of a beep's own hops with a
// few relaxed ones among them still is.
func TestToneSITRelaxedRuns(t *testing.T) {
	for _, tc := range []struct {
		hops, relaxed int
		leans         bool
	}{
		{10, 0, false}, {10, 2, false}, {10, 5, false}, {10, 6, true}, {6, 3, true}, {4, 1, true},
	} {
		r := toneRun{hops: tc.hops, relaxedHops: tc.relaxed}
		if got := r.needsRelaxation(); got != tc.leans {
			t.Errorf("%d hops, %d relaxed: needsRelaxation %v, want %v", tc.hops, tc.relaxed, got, tc.leans)
		}
	}

	var res ToneResult
	d := NewToneDetector()
	d.run = toneRun{open: true, hops: 8, relaxedHops: 6, f: 950}
	d.report(ToneBeep, &res)
	if res.Detected != ToneNone || !d.run.silent {
		t.Errorf("leaning run reported as %v (silent %v), want nothing", res.Detected, d.run.silent)
	}

	for _, relaxed := range []bool{false, true} {
		res = ToneResult{}
		d.sit = toneSIT{stage: 1, onset: 100, end1: 2300, f1: 950, relaxed: relaxed}
		d.sitFail(&res)
		if got := res.Detected == ToneBeep; got == relaxed {
			t.Errorf("failed SIT with relaxed first segment %v: beep %v", relaxed, got)
		}
	}
}
