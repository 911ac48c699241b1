// AVX2 + FMA + F16C dot products. Integer kernels multiply int8 pairs with maddubs (or VNNI
// dpbusd when the flavour has it), the same class of kernel llama.cpp uses.
//
// Compiled once per 256-bit flavour (isa_kernels.h), each in its own namespace SWAPMOE_ISA_NS:
//   SWAPMOE_VNNI256=0  avx2            maddubs + madd
//   SWAPMOE_VNNI256=1  avx2_vnni       VEX vpdpbusd/vpdpwssd (AVX-VNNI)
//   SWAPMOE_VNNI256=2  avx2_vnni_evex  EVEX vpdpbusd/vpdpwssd on ymm (AVX512-VNNI + VL)
// The flavour, not the compiler's target macros, decides, so a -march=native build still has
// a plain AVX2 flavour to test and to cap at.
#include <immintrin.h>

#include <cstring>

#include "kernels/avx2_helpers.h"
#include "kernels/isa_kernels.h"
#include "tensor/fp16.h"
#include "tensor/quant_blocks.h"

#if !defined(SWAPMOE_ISA_NS) || !defined(SWAPMOE_VNNI256)
#error "vec_dot_avx2.cpp is built per flavour: see src/kernels/CMakeLists.txt"
#endif

namespace swapmoe::SWAPMOE_ISA_NS {

namespace {

// ---------------------------------------------------------------------------------------------
// float types

void vec_dot_f32_f32(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const float*>(vx);
  const auto* y = static_cast<const float*>(vy);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int k = 0; k < 4; ++k) {
      acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * k), _mm256_loadu_ps(y + i + 8 * k), acc[k]);
    }
  }
  for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc[0]);
  float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) sum += x[i] * y[i];
  *s = sum;
}

void vec_dot_f16_f32(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const uint16_t*>(vx);
  const auto* y = static_cast<const float*>(vy);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  auto load_h = [&](int64_t i) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))); };
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int k = 0; k < 4; ++k) acc[k] = _mm256_fmadd_ps(load_h(i + 8 * k), _mm256_loadu_ps(y + i + 8 * k), acc[k]);
  }
  for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(load_h(i), _mm256_loadu_ps(y + i), acc[0]);
  float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) sum += fp16_to_fp32(x[i]) * y[i];
  *s = sum;
}

void vec_dot_bf16_f32(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const uint16_t*>(vx);
  const auto* y = static_cast<const float*>(vy);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  auto load_b = [&](int64_t i) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
  };
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int k = 0; k < 4; ++k) acc[k] = _mm256_fmadd_ps(load_b(i + 8 * k), _mm256_loadu_ps(y + i + 8 * k), acc[k]);
  }
  for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(load_b(i), _mm256_loadu_ps(y + i), acc[0]);
  float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) sum += bf16_to_fp32(x[i]) * y[i];
  *s = sum;
}

// ---------------------------------------------------------------------------------------------
// 32-value blocks

void vec_dot_q8_0_q8_0(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ8_0*>(vx);
  const auto* y = static_cast<const BlockQ8_0*>(vy);
  const int64_t nb = n / QK8_0;
  // Two accumulators hide the FMA latency; blocks are independent.
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const __m256i p0 = dot_s8s8(load256(x[b].qs), load256(y[b].qs));
    const __m256i p1 = dot_s8s8(load256(x[b + 1].qs), load256(y[b + 1].qs));
    const float d0 = fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d);
    const float d1 = fp16_to_fp32(x[b + 1].d) * fp16_to_fp32(y[b + 1].d);
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0), _mm256_cvtepi32_ps(p0), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d1), _mm256_cvtepi32_ps(p1), acc1);
  }
  for (; b < nb; ++b) {
    const __m256i p = dot_s8s8(load256(x[b].qs), load256(y[b].qs));
    const float d = fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d);
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(p), acc0);
  }
  *s = hsum(_mm256_add_ps(acc0, acc1));
}

void vec_dot_q4_0_q8_0(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ4_0*>(vx);
  const auto* y = static_cast<const BlockQ8_0*>(vy);
  const int64_t nb = n / QK4_0;
  const __m256i eight = _mm256_set1_epi8(8);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  auto block_dot = [&](int64_t b) {
    const __m256i q = _mm256_sub_epi8(unpack_nibbles_32(x[b].qs), eight);  // [-8, 7]
    return _mm256_cvtepi32_ps(dot_s8s8(q, load256(y[b].qs)));
  };
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const __m256 p0 = block_dot(b), p1 = block_dot(b + 1);
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d)), p0, acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(fp16_to_fp32(x[b + 1].d) * fp16_to_fp32(y[b + 1].d)), p1, acc1);
  }
  for (; b < nb; ++b) {
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d)), block_dot(b), acc0);
  }
  *s = hsum(_mm256_add_ps(acc0, acc1));
}

// ---------------------------------------------------------------------------------------------
// K-quants (256-value super-blocks)

void vec_dot_q4_K_q8_K(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ4_K*>(vx);
  const auto* y = static_cast<const BlockQ8_K*>(vy);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const __m256i sm = unpack_k4_scales(x[b].scales);
    const __m256i scales = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sm));

    __m256i sumi = _mm256_setzero_si256();
    const uint8_t* q4 = x[b].qs;
    const int8_t* q8 = y[b].qs;
    auto pair = [&](int j, __m256i sc_lo, __m256i sc_hi) {
      const __m256i q = load256(q4 + 32 * j);
      const __m256i lo = _mm256_and_si256(q, low4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
      sumi = add_scaled_dot(sumi, lo, load256(q8 + 64 * j), sc_lo);
      sumi = add_scaled_dot(sumi, hi, load256(q8 + 64 * j + 32), sc_hi);
    };
    pair(0, scale_k<0>(scales), scale_k<1>(scales));
    pair(1, scale_k<2>(scales), scale_k<3>(scales));
    pair(2, scale_k<4>(scales), scale_k<5>(scales));
    pair(3, scale_k<6>(scales), scale_k<7>(scales));
    // The same operations in the same order as the 4-token kernel (vec_dot_avx2_t4.cpp), so
    // a token's result does not depend on how many tokens were computed with it.
    const __m256 mins = _mm256_cvtepi32_ps(_mm256_zextsi128_si256(mins_dot_bsums(sm, y[b].bsums)));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(y[b].d * fp16_to_fp32(x[b].d)), _mm256_cvtepi32_ps(sumi), acc);
    acc = _mm256_fnmadd_ps(_mm256_set1_ps(y[b].d * fp16_to_fp32(x[b].dmin)), mins, acc);
  }
  *s = hsum(acc);
}

void vec_dot_q5_K_q8_K(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ5_K*>(vx);
  const auto* y = static_cast<const BlockQ8_K*>(vy);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const __m256i sm = unpack_k4_scales(x[b].scales);
    const __m256i scales = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sm));

    const __m256i qh = load256(x[b].qh);
    __m256i sumi = _mm256_setzero_si256();
    const uint8_t* q4 = x[b].qs;
    const int8_t* q8 = y[b].qs;
    // Bits 2j / 2j+1 of each qh byte are the fifth bits of sub-blocks 2j / 2j+1: move to bit 4.
    auto pair = [&](int j, __m256i sc_lo, __m256i sc_hi) {
      const __m256i q = load256(q4 + 32 * j);
      const __m256i h = _mm256_srli_epi16(qh, 2 * j);
      const __m256i h_lo = _mm256_slli_epi16(_mm256_and_si256(h, one), 4);
      const __m256i h_hi = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 1), one), 4);
      const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, low4), h_lo);
      const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4), h_hi);
      sumi = add_scaled_dot(sumi, lo, load256(q8 + 64 * j), sc_lo);
      sumi = add_scaled_dot(sumi, hi, load256(q8 + 64 * j + 32), sc_hi);
    };
    pair(0, scale_k<0>(scales), scale_k<1>(scales));
    pair(1, scale_k<2>(scales), scale_k<3>(scales));
    pair(2, scale_k<4>(scales), scale_k<5>(scales));
    pair(3, scale_k<6>(scales), scale_k<7>(scales));
    // The same operations in the same order as the 4-token kernel (vec_dot_avx2_t4.cpp), so
    // a token's result does not depend on how many tokens were computed with it.
    const __m256 mins = _mm256_cvtepi32_ps(_mm256_zextsi128_si256(mins_dot_bsums(sm, y[b].bsums)));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(y[b].d * fp16_to_fp32(x[b].d)), _mm256_cvtepi32_ps(sumi), acc);
    acc = _mm256_fnmadd_ps(_mm256_set1_ps(y[b].d * fp16_to_fp32(x[b].dmin)), mins, acc);
  }
  *s = hsum(acc);
}

// Q6_K: q in [0, 63] is used unsigned in maddubs; the -32 offset is applied once per
// super-block as 32 * sum_k(scale_k * bsum_k).
void vec_dot_q6_K_q8_K(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ6_K*>(vx);
  const auto* y = static_cast<const BlockQ8_K*>(vy);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].scales)));
    const __m256i offset = _mm256_madd_epi16(sc16, load256(y[b].bsums));  // sum_k sc_k * bsum_k

    __m256i sumi = _mm256_setzero_si256();
    const uint8_t* ql = x[b].ql;
    const uint8_t* qh = x[b].qh;
    const int8_t* q8 = y[b].qs;
    for (int h = 0; h < 2; ++h, ql += 64, qh += 32, q8 += 128) {
      __m256i q[4], sc;
      unpack_q6_half(ql, qh, sc16, h, q, &sc);
      for (int k = 0; k < 4; ++k) {
        sumi = add_scaled_dot(sumi, q[k], load256(q8 + 32 * k), q6_group_scale(sc, k));
      }
    }
    sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(offset, 5));
    const float d = y[b].d * fp16_to_fp32(x[b].d);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  *s = hsum(acc);
}

}  // namespace

extern constinit const VecDotSet kVecDots{
    .f32 = vec_dot_f32_f32,
    .f16 = vec_dot_f16_f32,
    .bf16 = vec_dot_bf16_f32,
    .q8_0 = vec_dot_q8_0_q8_0,
    .q4_0 = vec_dot_q4_0_q8_0,
    .q4_K = vec_dot_q4_K_q8_K,
    .q5_K = vec_dot_q5_K_q8_K,
    .q6_K = vec_dot_q6_K_q8_K,
    .q4_1 = vec_dot_q4_1_q8_1,  // vec_dot_avx2_q32.cpp, same flavour
    .q5_0 = vec_dot_q5_0_q8_0,
    .q5_1 = vec_dot_q5_1_q8_1,
    .iq4_nl = vec_dot_iq4_nl_q8_0,
    .mxfp4 = vec_dot_mxfp4_q8_0,
    .q2_K = vec_dot_q2_K_q8_K,  // vec_dot_avx2_k_low.cpp, same flavour
    .q3_K = vec_dot_q3_K_q8_K,
    .iq4_xs = vec_dot_iq4_xs_q8_K,
#if SWAPMOE_VNNI256
    .x4_q8_0 = vec_dot_x4_q8_0_q8_0,  // vec_dot_x4_vnni.cpp, same flavour
    .x4_q4_0 = vec_dot_x4_q4_0_q8_0,
#endif
    .t4_q4_K = vec_dot_t4_q4_K,  // vec_dot_avx2_t4.cpp, same flavour
    .t4_q5_K = vec_dot_t4_q5_K,
    .t4_q6_K = vec_dot_t4_q6_K,
    .t4_iq4_nl = vec_dot_t4_iq4_nl_q8_0,  // vec_dot_avx2_q32.cpp, same flavour
    .t4_mxfp4 = vec_dot_t4_mxfp4_q8_0,
    .t4_q2_K = vec_dot_t4_q2_K,  // vec_dot_avx2_k_low.cpp, same flavour
    .t4_q3_K = vec_dot_t4_q3_K,
    .t4_iq4_xs = vec_dot_t4_iq4_xs,
#if SWAPMOE_VNNI256
    .x4t4_q8_0 = vec_dot_x4t4_q8_0_q8_0,  // vec_dot_x4_vnni.cpp, same flavour
    .x4t4_q4_0 = vec_dot_x4t4_q4_0_q8_0,
#endif
    .x8_q4_0 = gemv_q4_0x8,  // vec_dot_x8_avx2.cpp, same flavour
    .x8t4_q4_0 = gemm4_q4_0x8,
    .x8_q8_0 = gemv_q8_0x8,
    .x8t4_q8_0 = gemm4_q8_0x8,
    .x8_q4_K = gemv_q4_Kx8,
    .x8t4_q4_K = gemm4_q4_Kx8,
    .x8_q6_K = gemv_q6_Kx8,  // vec_dot_x8_q6_K_avx2.cpp
    .x8t4_q6_K = gemm4_q6_Kx8,
};

}  // namespace swapmoe::SWAPMOE_ISA_NS
