// Dot products of one weight row (type W) with one activation row (W's vec_dot_type), and the
// run-time choice of their instruction set.
//
// Every kernel has the signature VecDotFn: (n, &result, weight_row, act_row), with n a multiple
// of the block size. The scalar *_ref kernels are the truth in tests. The SIMD kernels are
// compiled once per instruction set with their own flags (isa_kernels.h) and chosen when they
// are looked up, from active_cpu_level() (tensor/cpu_level.h, re-exported here): a portable
// binary runs the best kernels the CPU has, SWAPMOE_CPU=avx2 or set_max_cpu_level() caps them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "tensor/cpu_level.h"
#include "tensor/ggml_type.h"

namespace swapmoe {

// Dot product of n values: x in the weight type, y in its type_traits().vec_dot_type.
using VecDotFn = void (*)(int64_t n, float* result, const void* x, const void* y);

// ---- scalar references (vec_dot_ref.cpp): exact integer sums per block, double accumulation
void vec_dot_f32_f32_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_f16_f32_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_bf16_f32_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q8_0_q8_0_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q4_0_q8_0_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q4_K_q8_K_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q5_K_q8_K_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q6_K_q8_K_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q4_1_q8_1_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q5_0_q8_0_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q5_1_q8_1_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_iq4_nl_q8_0_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_mxfp4_q8_0_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q2_K_q8_K_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q3_K_q8_K_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_iq4_xs_q8_K_ref(int64_t n, float* s, const void* x, const void* y);

// Dot products of 4 consecutive weight rows (x, x + x_stride, ...) with one activation row,
// s[0..3]. Matrix-vector products use them where they exist: the activation block is loaded
// and its shared terms (scale, sum) computed once for 4 rows instead of once per row.
using VecDotX4Fn = void (*)(int64_t n, float* s, const void* x, size_t x_stride, const void* y);

// Dot products of one weight row with 4 activation rows (4 tokens), s[0..3]: the GEMM
// micro-kernel. The weight blocks are unpacked once and used for all 4 tokens; each token's
// result is bit-identical to `fast` on that token (tests hold every flavour to it).
using VecDotT4Fn = void (*)(int64_t n, float* s, const void* x, const void* const* y);

// 4 consecutive weight rows (x, x + x_stride, ...) against 4 activation rows: s[t * 4 + r]. The
// prefill register tile where a weight block needs no unpacking to share (Q8_0, Q4_0).
using VecDotX4T4Fn = void (*)(int64_t n, float* s, const void* x, size_t x_stride, const void* const* y);

// The kernels for one weight type at the active CPU level.
struct VecDotKernels {
  VecDotFn fast = nullptr;  // fastest kernel the active level allows
  VecDotFn ref = nullptr;   // scalar reference
  VecDotX4Fn x4 = nullptr;  // 4-row kernel, or nullptr
  VecDotT4Fn t4 = nullptr;  // 4-token kernel of the same flavour as `fast`, or nullptr
  VecDotX4T4Fn x4t4 = nullptr;  // 4-row x 4-token kernel, or nullptr
  const char* isa = "";     // which flavour `fast` is: "avx512", "avx2_vnni", "avx2", "neon", "ref", ...
};
// ---- interleaved weights (tensor/interleave.h): groups of 8 rows, one 32-bit lane per row
//
// An activation row prepared for them: its blocks (Q8_0, Q8_K) and, per block, the scale as a
// float and the offset term of the weights' encoding (Q4_0: -8 * the sum of the block's values;
// Q8_0: -128 * that sum, for kernels that read the weights as q + 128; Q4_K: 0, its kernels take the mins' sums from Q8_K's block sums), worked out once for all
// the groups it meets (prepare_x8_activation).
struct X8Activation {
  const void* q = nullptr;
  const float* d = nullptr;
  const int32_t* offset = nullptr;
};
// One group of 8 interleaved rows against one activation row: s[0..7]. Per row, bit-identical
// in every flavour: integer block sums, then acc = fma(d_w * d_y, sum, acc) block by block.
using GemvX8Fn = void (*)(int64_t n, float* s, const void* x, const X8Activation& y);
// The same group against 4 activation rows: s[t * 8 + r], each equal to the gemv's.
using GemmX8T4Fn = void (*)(int64_t n, float* s, const void* x, const X8Activation* y);
struct InterleavedKernels {
  GemvX8Fn gemv = nullptr;
  GemmX8T4Fn gemm4 = nullptr;
  const char* isa = "";  // the gemv's flavour
};
void gemv_q4_0x8_ref(int64_t n, float* s, const void* x, const X8Activation& y);
void gemm4_q4_0x8_ref(int64_t n, float* s, const void* x, const X8Activation* y);
void gemv_q8_0x8_ref(int64_t n, float* s, const void* x, const X8Activation& y);
void gemm4_q8_0x8_ref(int64_t n, float* s, const void* x, const X8Activation* y);
void gemv_q4_Kx8_ref(int64_t n, float* s, const void* x, const X8Activation& y);
void gemm4_q4_Kx8_ref(int64_t n, float* s, const void* x, const X8Activation* y);
void gemv_q6_Kx8_ref(int64_t n, float* s, const void* x, const X8Activation& y);
void gemm4_q6_Kx8_ref(int64_t n, float* s, const void* x, const X8Activation* y);
// For interleaved type w at the active level: the fastest flavour's, or the reference's.
const InterleavedKernels& interleaved_kernels(GgmlType w);
// A matrix of file type `stored` and this shape is worth interleaving at the active level: it
// can be (tensor/interleave.h: can_interleave) and a SIMD flavour has kernels for its
// interleaved form. The one test every loader asks before it interleaves.
bool interleaving_pays(GgmlType stored, int64_t n_cols, int64_t n_rows);
// Every flavour's this CPU runs, fastest first, the reference last (tests, benches).
int interleaved_kernel_variants(GgmlType w, InterleavedKernels* out, int max_out);
// d[b] and offset[b] of an activation row of n values (w's vec_dot_type), for interleaved type w.
void prepare_x8_activation(GgmlType w, const void* q, int64_t n, float* d, int32_t* offset);

// Kernels for weight type w at active_cpu_level(); fast == nullptr when w has no dot product.
// Complete at the first call: one table per level, built on first use from the flavours'
// constant tables (no registration, nothing that depends on start-up or link order). The
// returned reference stays valid, and its kernels runnable, after the level changes.
const VecDotKernels& vec_dot_kernels(GgmlType w);

// A dot product exists for weight type w (the loader's and matmul's test).
bool can_compute(GgmlType w);

// The weight types with a dot product, for messages: "f32, f16, bf16, q8_0, q4_0, q4_K, ...".
std::string supported_weight_types();

// "x86-64 avx512 (avx2 fma f16c avx-vnni avx512f/bw/vl/vnni), kernels: avx512", and where the
// kernels are capped below the CPU: "..., kernels: avx2 (capped)". For --version.
std::string cpu_description();

// Attention's scores over an f16 key cache: 4 consecutive key rows (x, x + x_stride, ...) of n
// values against one f32 query (x4: s[r]) or four (x4t4: s[t * 4 + r]). A pair's score is the
// same from both, so a head's scores do not depend on how many heads are scored beside it (they
// may differ from vec_dot_kernels(F16).fast in the last bits: another order of the sum).
// nullptr where the active level has none (then score one key at a time).
struct AttentionKeyKernels {
  VecDotX4Fn x4 = nullptr;
  VecDotX4T4Fn x4t4 = nullptr;
  const char* isa = "";
};
const AttentionKeyKernels& f16_key_kernels();
// Those of every flavour this CPU runs, fastest first (for tests); returns how many.
int f16_key_kernel_variants(AttentionKeyKernels* out, int max_out);

// Every kernel compiled into this build for weight type w that this CPU can run, whatever the
// active level, fastest first, the reference last (for tests and benches).
struct NamedVecDot {
  const char* isa;
  VecDotFn fn;
  VecDotX4Fn x4;    // the same flavour's 4-row kernel, or nullptr
  VecDotT4Fn t4;    // the same flavour's 4-token kernel, or nullptr
  VecDotX4T4Fn x4t4;  // the same flavour's 4-row x 4-token kernel, or nullptr
  CpuLevel level;  // the lowest level that selects this flavour
};
int vec_dot_variants(GgmlType w, NamedVecDot* out, int max_out);

}  // namespace swapmoe
