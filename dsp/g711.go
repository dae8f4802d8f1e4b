package dsp

// G.711 μ-law and A-law, bit-exact with ITU-T G.711 (the expansion rules of
// its tables 1a/2a, scaled to 16-bit by shifting left 2 for μ-law's 14-bit
// code space and 3 for A-law's 13-bit one — the same convention as the
// ITU-T G.191 reference code, sox and most telephony stacks).
//
// Decoding is one lookup per byte in a 256-entry table. Encoding is one lookup
// per sample in a table indexed by the 14-bit (μ-law) or 13-bit (A-law)
// linear value, so the media path does no branching on segments and no
// allocation. Tables are built once at package init from the reference rules
// and cost 256*2*2 + 16384 + 8192 bytes.

var (
	mulawDec [256]int16
	alawDec  [256]int16
	// mulawEnc is indexed by (sample >> 2) + 8192 — the signed 14-bit value.
	mulawEnc [1 << 14]byte
	// alawEnc is indexed by (sample >> 3) + 4096 — the signed 13-bit value.
	alawEnc [1 << 13]byte
)

func init() {
	for i := 0; i < 256; i++ {
		mulawDec[i] = mulawExpand(byte(i))
		alawDec[i] = alawExpand(byte(i))
	}
	for i := range mulawEnc {
		mulawEnc[i] = mulawCompress(int16((i - 8192) << 2))
	}
	for i := range alawEnc {
		alawEnc[i] = alawCompress(int16((i - 4096) << 3))
	}
}

// mulawExpand is the G.711 μ-law expansion: the code is transmitted
// inverted; magnitude = ((2·mantissa + 33) << exponent) − 33 in 14-bit units.
func mulawExpand(b byte) int16 {
	u := ^b
	exp := (u >> 4) & 0x07
	mant := int32(u & 0x0F)
	mag := ((2*mant + 33) << exp) - 33
	if u&0x80 != 0 {
		return int16(-mag << 2)
	}
	return int16(mag << 2)
}

// alawExpand is the G.711 A-law expansion: even bits are inverted (XOR 0x55);
// segment 0 is linear (2·m+1), others are (2·m+33) << (seg−1), 13-bit units.
// A set sign bit means positive in A-law.
func alawExpand(b byte) int16 {
	a := b ^ 0x55
	seg := (a >> 4) & 0x07
	mant := int32(a & 0x0F)
	var mag int32
	if seg == 0 {
		mag = 2*mant + 1
	} else {
		mag = (2*mant + 33) << (seg - 1)
	}
	if a&0x80 != 0 {
		return int16(mag << 3)
	}
	return int16(-mag << 3)
}

// mulawCompress is the G.711 μ-law compression of a 16-bit sample (only its
// top 14 bits matter), following the ITU-T G.191 reference encoder: negative
// samples are one's complemented (not negated — the classic Sun code negates
// and so differs from the ITU at a few decision points), biased by 33,
// clamped to 0x1FFF, then segment and 4 mantissa bits are found and inverted.
func mulawCompress(s int16) byte {
	var v int32
	mask := byte(0xFF)
	if s < 0 {
		v = int32(^s) >> 2
		mask = 0x7F
	} else {
		v = int32(s) >> 2
	}
	v += 33
	if v > 0x1FFF {
		v = 0x1FFF
	}
	seg := byte(0)
	for t := v >> 6; t != 0; t >>= 1 {
		seg++
	}
	code := seg<<4 | byte((v>>(seg+1))&0x0F)
	return code ^ mask
}

// alawCompress is the G.711 A-law compression of a 16-bit sample (top 13
// bits), following the reference encoder: negative values are one's
// complemented, the segment is found, 4 mantissa bits kept, XOR 0x55.
func alawCompress(s int16) byte {
	v := int32(s) >> 3
	mask := byte(0xD5)
	if v < 0 {
		mask = 0x55
		v = -v - 1
	}
	var code byte
	switch {
	case v >= 0x1000:
		code = 0x7F
	case v < 0x20:
		code = byte(v >> 1)
	default:
		seg := byte(1)
		for t := v >> 6; t != 0; t >>= 1 {
			seg++
		}
		code = seg<<4 | byte((v>>seg)&0x0F)
	}
	return code ^ mask
}

// MulawToLinear expands one μ-law byte to a 16-bit linear sample.
func MulawToLinear(b byte) int16 { return mulawDec[b] }

// AlawToLinear expands one A-law byte to a 16-bit linear sample.
func AlawToLinear(b byte) int16 { return alawDec[b] }

// LinearToMulaw compresses one 16-bit linear sample to μ-law.
func LinearToMulaw(s int16) byte { return mulawEnc[int(s>>2)+8192] }

// LinearToAlaw compresses one 16-bit linear sample to A-law.
func LinearToAlaw(s int16) byte { return alawEnc[int(s>>3)+4096] }

// DecodeMulaw expands μ-law bytes into dst and returns the number of samples
// written, min(len(dst), len(src)).
func DecodeMulaw(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = mulawDec[b]
	}
	return n
}

// DecodeAlaw expands A-law bytes into dst and returns the number of samples
// written, min(len(dst), len(src)).
func DecodeAlaw(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = alawDec[b]
	}
	return n
}

// EncodeMulaw compresses linear samples into dst as μ-law and returns the
// number of bytes written, min(len(dst), len(src)).
func EncodeMulaw(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, s := range src {
		dst[i] = mulawEnc[int(s>>2)+8192]
	}
	return n
}

// EncodeAlaw compresses linear samples into dst as A-law and returns the
// number of bytes written, min(len(dst), len(src)).
func EncodeAlaw(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, s := range src {
		dst[i] = alawEnc[int(s>>3)+4096]
	}
	return n
}
