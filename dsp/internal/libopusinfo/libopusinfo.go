//go:build libopus

package libopusinfo

/*
#cgo pkg-config: opus
#include <opus.h>
*/
import "C"

// neuralBuildBytes separates the two kinds of libopus build by the size of a
// mono decoder: about 18 KB for upstream's default configuration, ten times
// that (141 KB for Debian's 1.5.2, 192 KB for its 1.6.1) when the deep-PLC
// or OSCE code is compiled in.
const neuralBuildBytes = 64 << 10

// DecoderStateBytes is opus_decoder_get_size(1) of the linked libopus.
func DecoderStateBytes() int { return int(C.opus_decoder_get_size(1)) }

// NeuralBuild reports whether the linked libopus was configured with
// --enable-deep-plc or --enable-osce (Debian's packages are). Such a build
// conceals differently from the default one even with the neural models off
// at run time: silk_PLC_glue_frames skips its gain ramp at 16 kHz.
func NeuralBuild() bool { return DecoderStateBytes() > neuralBuildBytes }
