// AVX-512 (F, BW, VL, VNNI) dot products: two 32-value blocks per 512-bit register, int8
// products with vpdpbusd. Only the types where 512 bits pay off; the rest use the AVX2 kernels.
// Built as the avx512 flavour (isa_kernels.h).

// GCC 12's AVX-512 headers build casts and reductions from _mm512_undefined_*(), which trips
// -W(maybe-)uninitialized falsely at every inlined use.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include "kernels/isa_kernels.h"
#include "tensor/fp16.h"
#include "tensor/quant_blocks.h"

namespace swapmoe::avx512 {

namespace {

// Bytes [a0..a31] of one block and [b0..b31] of the next in one register.
inline __m512i load_2x32(const void* a, const void* b) {
  const __m256i lo = _mm256_loadu_si256(static_cast<const __m256i*>(a));
  const __m256i hi = _mm256_loadu_si256(static_cast<const __m256i*>(b));
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// Lanes 0-7 = d0, lanes 8-15 = d1: the per-block scales of a 2-block register.
inline __m512 scales_2(float d0, float d1) {
  return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_set1_ps(d0)),
                                             _mm256_castps_pd(_mm256_set1_ps(d1)), 1));
}

// Signed int8 dot in int32 lanes of 4 products: |x| * (y negated where x < 0). y != -128.
inline __m512i dot_s8s8(__m512i x, __m512i y) {
  const __m512i zero = _mm512_setzero_si512();
  const __m512i sy = _mm512_mask_sub_epi8(y, _mm512_movepi8_mask(x), zero, y);
  return _mm512_dpbusd_epi32(zero, _mm512_abs_epi8(x), sy);
}

// Two Q4_0 blocks' nibbles as bytes, in the same order as their Q8_0 partners' qs:
// [lo0 | hi0 | lo1 | hi1], 16 bytes each.
inline __m512i unpack_nibbles_2x32(const uint8_t* a, const uint8_t* b) {
  const __m256i both = _mm256_set_m128i(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b)),
                                        _mm_loadu_si128(reinterpret_cast<const __m128i*>(a)));
  __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(both), _mm256_srli_epi16(both, 4), 1);
  z = _mm512_and_si512(z, _mm512_set1_epi8(0x0F));  // [lo0 | lo1 | hi0 | hi1]
  return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
}

inline float d2(uint16_t a, uint16_t b) { return fp16_to_fp32(a) * fp16_to_fp32(b); }

void vec_dot_f32_f32(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const float*>(vx);
  const auto* y = static_cast<const float*>(vy);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), acc1);
  }
  if (i < n) {  // masked tail
    const __mmask16 m0 = static_cast<__mmask16>(n - i >= 16 ? 0xFFFF : (1u << (n - i)) - 1);
    acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m0, x + i), _mm512_maskz_loadu_ps(m0, y + i), acc0);
    if (n - i > 16) {
      const __mmask16 m1 = static_cast<__mmask16>((1u << (n - i - 16)) - 1);
      acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, x + i + 16), _mm512_maskz_loadu_ps(m1, y + i + 16), acc1);
    }
  }
  *s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

void vec_dot_f16_f32(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const uint16_t*>(vx);
  const auto* y = static_cast<const float*>(vy);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  auto load_h = [&](int64_t i) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i))); };
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(load_h(i), _mm512_loadu_ps(y + i), acc0);
    acc1 = _mm512_fmadd_ps(load_h(i + 16), _mm512_loadu_ps(y + i + 16), acc1);
  }
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  for (; i < n; ++i) sum += fp16_to_fp32(x[i]) * y[i];
  *s = sum;
}

void vec_dot_q8_0_q8_0(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ8_0*>(vx);
  const auto* y = static_cast<const BlockQ8_0*>(vy);
  const int64_t nb = n / QK8_0;
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 4 <= nb; b += 4) {
    const __m512i p0 = dot_s8s8(load_2x32(x[b].qs, x[b + 1].qs), load_2x32(y[b].qs, y[b + 1].qs));
    const __m512i p1 = dot_s8s8(load_2x32(x[b + 2].qs, x[b + 3].qs), load_2x32(y[b + 2].qs, y[b + 3].qs));
    acc0 = _mm512_fmadd_ps(scales_2(d2(x[b].d, y[b].d), d2(x[b + 1].d, y[b + 1].d)), _mm512_cvtepi32_ps(p0), acc0);
    acc1 = _mm512_fmadd_ps(scales_2(d2(x[b + 2].d, y[b + 2].d), d2(x[b + 3].d, y[b + 3].d)), _mm512_cvtepi32_ps(p1), acc1);
  }
  for (; b + 2 <= nb; b += 2) {
    const __m512i p = dot_s8s8(load_2x32(x[b].qs, x[b + 1].qs), load_2x32(y[b].qs, y[b + 1].qs));
    acc0 = _mm512_fmadd_ps(scales_2(d2(x[b].d, y[b].d), d2(x[b + 1].d, y[b + 1].d)), _mm512_cvtepi32_ps(p), acc0);
  }
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  if (b < nb) {  // odd block count
    int32_t isum = 0;
    for (int j = 0; j < QK8_0; ++j) isum += x[b].qs[j] * y[b].qs[j];
    sum += d2(x[b].d, y[b].d) * static_cast<float>(isum);
  }
  *s = sum;
}

void vec_dot_q4_0_q8_0(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ4_0*>(vx);
  const auto* y = static_cast<const BlockQ8_0*>(vy);
  const int64_t nb = n / QK4_0;
  const __m512i zero = _mm512_setzero_si512();
  const __m512i eight = _mm512_set1_epi8(8);
  // sum (q - 8) * y = sum q*y - 8 * sum y, both with unsigned-by-signed vpdpbusd.
  auto pair_dot = [&](int64_t b) {
    const __m512i ys = load_2x32(y[b].qs, y[b + 1].qs);
    const __m512i qy = _mm512_dpbusd_epi32(zero, unpack_nibbles_2x32(x[b].qs, x[b + 1].qs), ys);
    return _mm512_cvtepi32_ps(_mm512_sub_epi32(qy, _mm512_dpbusd_epi32(zero, eight, ys)));
  };
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 4 <= nb; b += 4) {
    const __m512 p0 = pair_dot(b), p1 = pair_dot(b + 2);
    acc0 = _mm512_fmadd_ps(scales_2(d2(x[b].d, y[b].d), d2(x[b + 1].d, y[b + 1].d)), p0, acc0);
    acc1 = _mm512_fmadd_ps(scales_2(d2(x[b + 2].d, y[b + 2].d), d2(x[b + 3].d, y[b + 3].d)), p1, acc1);
  }
  for (; b + 2 <= nb; b += 2) {
    acc0 = _mm512_fmadd_ps(scales_2(d2(x[b].d, y[b].d), d2(x[b + 1].d, y[b + 1].d)), pair_dot(b), acc0);
  }
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  if (b < nb) {  // odd block count
    int32_t isum = 0;
    for (int j = 0; j < QK4_0 / 2; ++j) {
      isum += ((x[b].qs[j] & 0xF) - 8) * y[b].qs[j] + ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + 16];
    }
    sum += d2(x[b].d, y[b].d) * static_cast<float>(isum);
  }
  *s = sum;
}

}  // namespace

extern constinit const VecDotSet kVecDots{
    .f32 = vec_dot_f32_f32,
    .f16 = vec_dot_f16_f32,
    .q8_0 = vec_dot_q8_0_q8_0,
    .q4_0 = vec_dot_q4_0_q8_0,
};

}  // namespace swapmoe::avx512
