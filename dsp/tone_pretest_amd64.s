//go:build !purego

#include "textflag.h"

// SSE2 kernels of the tone pre-test (amd64's baseline, so no feature
// check). The pure-Go versions in tone_pretest.go are the reference;
// TestPretestKernelsMatchGo and FuzzPretestKernels compare the two.

// func blockSumsSSE2(x *[FrameSamples]int16, s, q *[4]int64)
// Σx and Σx² of each 40-sample block. PMADDWD of x with ones sums pairs
// into int32 lanes (|Σ| ≤ 40·32768, no overflow); PMADDWD of x with itself
// sums pairs of squares, ≤ 2^31, exact as uint32 (the only overflow,
// 2·(−32768)², lands on 0x80000000 = 2^31), then widened to uint64 lanes.
TEXT ·blockSumsSSE2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ s+8(FP), DI
	MOVQ q+16(FP), R8
	MOVL $0x00010001, AX
	MOVL AX, X7
	PSHUFL $0, X7, X7 // eight int16 ones
	PXOR X6, X6       // zero, to widen uint32 lanes
	MOVQ $4, CX

block:
	PXOR X4, X4 // Σx, four int32 lanes
	PXOR X5, X5 // Σx², two uint64 lanes

#define STEP(off) \
	MOVOU off(SI), X0; \
	MOVO X0, X1; \
	PMADDWL X7, X1; \
	PADDL X1, X4; \
	PMADDWL X0, X0; \
	MOVO X0, X2; \
	PUNPCKLLQ X6, X0; \
	PUNPCKHLQ X6, X2; \
	PADDQ X0, X5; \
	PADDQ X2, X5

	STEP(0)
	STEP(16)
	STEP(32)
	STEP(48)
	STEP(64)

	PSHUFL $0x4E, X4, X0
	PADDL  X0, X4
	PSHUFL $0xB1, X4, X0
	PADDL  X0, X4
	MOVL   X4, AX
	MOVLQSX AX, AX
	MOVQ   AX, (DI)

	PSHUFL $0x4E, X5, X0
	PADDQ  X0, X5
	MOVQ   X5, AX
	MOVQ   AX, (R8)

	ADDQ $80, SI
	ADDQ $8, DI
	ADDQ $8, R8
	DECQ CX
	JNZ  block
	RET

// func levelMasksSSE2(x *int16, n int, lo, hm1 int32) (below, above uint64)
// Bit i of below is x[i] < lo, of above x[i] > hm1, for n samples (a
// multiple of 16, at most 64); lo and hm1 must lie in int16's range.
// PCMPGTW compares eight samples, PACKSSWB narrows two such masks to
// bytes, PMOVMSKB gathers sixteen bits.
TEXT ·levelMasksSSE2(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), DI
	MOVL lo+16(FP), AX
	MOVL AX, X6
	PSHUFLW $0, X6, X6
	PSHUFL  $0, X6, X6
	MOVL hm1+20(FP), AX
	MOVL AX, X7
	PSHUFLW $0, X7, X7
	PSHUFL  $0, X7, X7
	XORQ R8, R8
	XORQ R9, R9
	XORQ CX, CX

chunk:
	CMPQ CX, DI
	JGE  done
	MOVOU (SI), X0
	MOVOU 16(SI), X1
	MOVO  X6, X2
	PCMPGTW X0, X2 // lo > x
	MOVO  X6, X3
	PCMPGTW X1, X3
	PACKSSWB X3, X2
	PMOVMSKB X2, AX
	SHLQ CX, AX
	ORQ  AX, R8
	PCMPGTW X7, X0 // x > hm1
	PCMPGTW X7, X1
	PACKSSWB X1, X0
	PMOVMSKB X0, AX
	SHLQ CX, AX
	ORQ  AX, R9
	ADDQ $32, SI
	ADDQ $16, CX
	JMP  chunk

done:
	MOVQ R8, below+24(FP)
	MOVQ R9, above+32(FP)
	RET
