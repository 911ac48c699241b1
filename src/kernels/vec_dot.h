// Dot products of one weight row (type W) with one activation row (W's vec_dot_type).
//
// Every kernel has the traits-table signature VecDotFn: (n, &result, weight_row, act_row), with n
// a multiple of the block size. The scalar *_ref kernels are the truth in tests; the SIMD
// kernels are compiled only for the ISA the build targets (-march) and must agree with them.
#pragma once

#include <cstdint>

#include "tensor/ggml_type.h"

namespace swapmoe {

// ---- scalar references (vec_dot_ref.cpp): exact integer sums per block, double accumulation
void vec_dot_f32_f32_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_f16_f32_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_bf16_f32_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q8_0_q8_0_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q4_0_q8_0_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q4_K_q8_K_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q5_K_q8_K_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q6_K_q8_K_ref(int64_t n, float* s, const void* x, const void* y);

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define SWAPMOE_HAVE_AVX2_KERNELS 1
// ---- AVX2 + FMA + F16C (vec_dot_avx2.cpp); uses 256-bit VNNI when AVX512VNNI/AVXVNNI is there
void vec_dot_f32_f32_avx2(int64_t n, float* s, const void* x, const void* y);
void vec_dot_f16_f32_avx2(int64_t n, float* s, const void* x, const void* y);
void vec_dot_bf16_f32_avx2(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q8_0_q8_0_avx2(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q4_0_q8_0_avx2(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q4_K_q8_K_avx2(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q5_K_q8_K_avx2(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q6_K_q8_K_avx2(int64_t n, float* s, const void* x, const void* y);
#endif

#if defined(SWAPMOE_HAVE_AVX2_KERNELS) && \
    ((defined(__AVX512VNNI__) && defined(__AVX512VL__)) || defined(__AVXVNNI__))
#define SWAPMOE_HAVE_VNNI_X4_KERNELS 1
// ---- 4-row kernels with 256-bit VNNI (vec_dot_x4_vnni.cpp): see VecDotX4Fn
void vec_dot_x4_q8_0_q8_0_vnni(int64_t n, float* s, const void* x, size_t x_stride, const void* y);
void vec_dot_x4_q4_0_q8_0_vnni(int64_t n, float* s, const void* x, size_t x_stride, const void* y);
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VNNI__)
#define SWAPMOE_HAVE_AVX512_KERNELS 1
// ---- AVX-512 F/BW/VL/VNNI (vec_dot_avx512.cpp): 512-bit kernels where they beat AVX2
void vec_dot_f32_f32_avx512(int64_t n, float* s, const void* x, const void* y);
void vec_dot_f16_f32_avx512(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q8_0_q8_0_avx512(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q4_0_q8_0_avx512(int64_t n, float* s, const void* x, const void* y);
#endif

#if defined(__ARM_NEON) && defined(__aarch64__)
#define SWAPMOE_HAVE_NEON_KERNELS 1
// ---- ARMv8 NEON (vec_dot_neon.cpp); sdot when __ARM_FEATURE_DOTPROD
void vec_dot_f32_f32_neon(int64_t n, float* s, const void* x, const void* y);
void vec_dot_f16_f32_neon(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q8_0_q8_0_neon(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q4_0_q8_0_neon(int64_t n, float* s, const void* x, const void* y);
#endif

// Dot products of 4 consecutive weight rows (x, x + x_stride, ...) with one activation row,
// s[0..3]. Matrix-vector products use them where they exist: the activation block is loaded
// and its shared terms (scale, sum) computed once for 4 rows instead of once per row.
using VecDotX4Fn = void (*)(int64_t n, float* s, const void* x, size_t x_stride, const void* y);

// The kernels chosen for this build, one per supported weight type (vec_dot_registry.cpp).
// They are also stored in the traits table (type_traits(t).vec_dot / vec_dot_ref) at start-up.
struct VecDotKernels {
  VecDotFn fast = nullptr;  // fastest compiled-in kernel
  VecDotFn ref = nullptr;   // scalar reference
  VecDotX4Fn x4 = nullptr;  // 4-row kernel, or nullptr
  const char* isa = "";     // "avx512", "avx2", "neon" or "ref": which one `fast` is
};
// Kernels for weight type w; fast == nullptr when w has no dot product.
const VecDotKernels& vec_dot_kernels(GgmlType w);

// Every kernel compiled into this build for weight type w, fastest first (for tests/benches).
struct NamedVecDot {
  const char* isa;
  VecDotFn fn;
};
int vec_dot_variants(GgmlType w, NamedVecDot* out, int max_out);

}  // namespace swapmoe
