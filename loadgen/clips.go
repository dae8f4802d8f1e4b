package loadgen

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"

	"github.com/amd-engine/amd/audiofile"
	"github.com/amd-engine/amd/dsp"
	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/fixtures"
	amdsip "github.com/amd-engine/amd/sip"
)

// opusBitrate is what the callee's Opus streams use (the test phone's rate).
const opusBitrate = 24000

// clip is one labelled recording, encoded once for the run's codec: every
// call that plays it shares the payloads (they are only read).
type clip struct {
	meta fixtures.Clip
	name string // SIP user part: the file's base name
	path string

	once     sync.Once
	payloads [][]byte // one 20 ms frame each
	err      error
}

// want is the decision event the clip's label calls for.
func (c *clip) want() engine.EventType {
	switch c.meta.Label {
	case fixtures.LabelHuman:
		return engine.EventHumanDetected
	case fixtures.LabelMachine:
		return engine.EventMachineDetected
	default:
		return engine.EventNoSpeechDetected
	}
}

// encode loads and encodes the clip the first time it is needed, so a run
// over a large corpus pays only for the clips it plays, before their calls.
func (c *clip) encode(codec amdsip.Codec) ([][]byte, error) {
	c.once.Do(func() {
		a, err := audiofile.Load(c.path)
		if err != nil {
			c.err = fmt.Errorf("loadgen: clip %s: %w", c.meta.File, err)
			return
		}
		c.payloads, c.err = encodeFrames(a.Samples, codec)
	})
	return c.payloads, c.err
}

// encodeFrames cuts pcm into 20 ms frames (the last padded with silence)
// and encodes each as one RTP payload.
func encodeFrames(pcm []int16, codec amdsip.Codec) ([][]byte, error) {
	n := (len(pcm) + dsp.FrameSamples - 1) / dsp.FrameSamples
	out := make([][]byte, 0, n)
	var enc *dsp.OpusEncoder
	if codec == amdsip.CodecOpus {
		var err error
		if enc, err = dsp.NewOpusEncoder(opusBitrate); err != nil {
			return nil, fmt.Errorf("loadgen: opus encoder: %w", err)
		}
	}
	var frame [dsp.FrameSamples]int16
	var buf [dsp.OpusMaxPacketBytes]byte
	for i := range n {
		k := copy(frame[:], pcm[i*dsp.FrameSamples:])
		clear(frame[k:])
		switch codec {
		case amdsip.CodecPCMU:
			p := make([]byte, dsp.FrameSamples)
			dsp.EncodeMulaw(p, frame[:])
			out = append(out, p)
		case amdsip.CodecPCMA:
			p := make([]byte, dsp.FrameSamples)
			dsp.EncodeAlaw(p, frame[:])
			out = append(out, p)
		case amdsip.CodecOpus:
			m, err := enc.Encode(frame[:], buf[:])
			if err != nil {
				return nil, fmt.Errorf("loadgen: opus encode: %w", err)
			}
			out = append(out, append([]byte(nil), buf[:m]...))
		default:
			return nil, fmt.Errorf("%w: codec %q", ErrConfig, codec)
		}
	}
	return out, nil
}

// silencePayload is what a call sends after its clip, until hangup.
func silencePayload(codec amdsip.Codec) ([]byte, error) {
	p, err := encodeFrames(make([]int16, dsp.FrameSamples), codec)
	if err != nil {
		return nil, err
	}
	return p[0], nil
}

// loadClips reads dir/manifest.jsonl.
func loadClips(dir string) ([]*clip, error) {
	ms, err := fixtures.LoadManifest(filepath.Join(dir, fixtures.ManifestName))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNoClips, dir, err)
	}
	out := make([]*clip, 0, len(ms))
	for _, m := range ms {
		base := filepath.Base(m.File)
		out = append(out, &clip{meta: m, name: strings.TrimSuffix(base, filepath.Ext(base)),
			path: filepath.Join(dir, filepath.FromSlash(m.File))})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s: empty manifest", ErrNoClips, dir)
	}
	// Manifests are grouped by label; a run of fewer calls than clips must
	// still hear every label, so calls take the clips in a fixed shuffled
	// order (the same order every run, so runs compare).
	rand.New(rand.NewPCG(0x10ad, 0x6e4)).Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out, nil
}
