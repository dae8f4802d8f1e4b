//go:build !purego

#include "textflag.h"

// PREFIX turns the four int32 lanes of R into running sums continuing from
// the total broadcast in X7, and broadcasts the new total into X7.
#define PREFIX(R) \
	MOVO   R, X1; \
	PSLLO  $4, X1; \
	PADDL  X1, R; \
	MOVO   R, X1; \
	PSLLO  $8, X1; \
	PADDL  X1, R; \
	PADDL  X7, R; \
	PSHUFL $0xFF, R, X7

// func hpEnergySSE2(b *[vadBufLen]int32, frame *[FrameSamples]int16, p *[vadBufLen + 4]int32) int64
//
// The VAD's band limit for a whole frame (hpEnergy in vad.go, to the bit):
// b[0:2] are zeros, b[2:32] the previous frame's last 30 samples; the frame
// is sign-extended into b[32:192]. The window sums come from prefix sums
// p[k] = b[0] + … + b[k−1] (< 2^23 in magnitude): output i is
// y = 31·b[i+17] − (p[i+33] − p[i+2]). Σy² is accumulated in float64
// lanes, which hold these integers exactly (y² < 2^42, Σ < 2^50 < 2^53).
TEXT ·hpEnergySSE2(SB), NOSPLIT, $0-32
	MOVQ b+0(FP), DI
	MOVQ frame+8(FP), SI
	MOVQ p+16(FP), R8
	MOVL $0, (R8)
	PXOR X7, X7

	// Prefix sums over the kept samples, b[0:32].
	XORQ CX, CX
kept:
	MOVOU (DI)(CX*1), X0
	PREFIX(X0)
	MOVOU X0, 4(R8)(CX*1)
	ADDQ  $16, CX
	CMPQ  CX, $128
	JLT   kept

	// The frame into b[32:192], eight samples at a time, prefix sums on.
	XORQ DX, DX
conv:
	MOVOU     (SI)(DX*1), X0
	MOVO      X0, X2
	PUNPCKLWL X0, X0
	PSRAL     $16, X0
	PUNPCKHWL X2, X2
	PSRAL     $16, X2
	MOVOU     X0, (DI)(CX*1)
	MOVOU     X2, 16(DI)(CX*1)
	PREFIX(X0)
	MOVOU     X0, 4(R8)(CX*1)
	PREFIX(X2)
	MOVOU     X2, 20(R8)(CX*1)
	ADDQ      $32, CX
	ADDQ      $16, DX
	CMPQ      DX, $320
	JLT       conv

	// Σy², four outputs at a time, two accumulators.
	PXOR X5, X5
	PXOR X6, X6
	XORQ CX, CX
out:
	MOVOU    68(DI)(CX*1), X0 // b[i+17]
	MOVO     X0, X1
	PSLLL    $5, X0
	PSUBL    X1, X0           // 31·b[i+17]
	MOVOU    132(R8)(CX*1), X2 // p[i+33]
	MOVOU    8(R8)(CX*1), X3   // p[i+2]
	PSUBL    X3, X2
	PSUBL    X2, X0           // y
	CVTPL2PD X0, X1
	PSHUFL   $0xEE, X0, X0
	CVTPL2PD X0, X0
	MULPD    X1, X1
	MULPD    X0, X0
	ADDPD    X1, X5
	ADDPD    X0, X6
	ADDQ     $16, CX
	CMPQ     CX, $640
	JLT      out

	ADDPD     X6, X5
	MOVAPD    X5, X0
	UNPCKHPD  X0, X0
	ADDSD     X0, X5
	CVTTSD2SQ X5, AX
	MOVQ      AX, ret+24(FP)
	RET
