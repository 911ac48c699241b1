// AVX-512 (F, BW, VL, VNNI) dot products: two 32-value blocks per 512-bit register, int8
// products with vpdpbusd, for the 32-value block types; Q4_K and Q5_K with a sub-block pair per
// register, Q6_K with both halves of a super-block per register; 4-token kernels for Q4_0,
// Q4_K, Q5_K, IQ4_NL and MXFP4; 4-row x 4-token tiles for Q4_0 and Q8_0. The other
// K-quants use the AVX2 kernels (compiled for EVEX with VNNI as the avx2_vnni_evex flavour), and
// so does Q6_K's 4-token kernel (bit-identical to this flavour's one-token kernel).
// Built as the avx512 flavour (isa_kernels.h).

// GCC 12's AVX-512 headers build casts and reductions from _mm512_undefined_*(), which trips
// -W(maybe-)uninitialized falsely at every inlined use.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels/isa_kernels.h"
#include "kernels/x86_common.h"
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

// sum over pairs of blocks of scales_2(scale(b), scale(b + 1)) * pair_dot(b) (16 int32 lanes,
// 8 per block), two accumulators; an odd last block goes to the scalar reference `tail`.
template <typename PairDot, typename Scale>
float sum_block_pairs(int64_t nb, PairDot pair_dot, Scale scale, VecDotFn tail, int64_t block_bytes,
                      int64_t act_block_bytes, const void* x, const void* y) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 4 <= nb; b += 4) {
    acc0 = _mm512_fmadd_ps(scales_2(scale(b), scale(b + 1)), _mm512_cvtepi32_ps(pair_dot(b)), acc0);
    acc1 = _mm512_fmadd_ps(scales_2(scale(b + 2), scale(b + 3)), _mm512_cvtepi32_ps(pair_dot(b + 2)), acc1);
  }
  for (; b + 2 <= nb; b += 2) {
    acc0 = _mm512_fmadd_ps(scales_2(scale(b), scale(b + 1)), _mm512_cvtepi32_ps(pair_dot(b)), acc0);
  }
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  if (b < nb) {
    float t = 0;
    tail(32, &t, static_cast<const uint8_t*>(x) + b * block_bytes, static_cast<const uint8_t*>(y) + b * act_block_bytes);
    sum += t;
  }
  return sum;
}

// The fifth bits of two Q5 blocks as a byte mask, in the order of unpack_nibbles_2x32.
inline __mmask64 fifth_bits_2x32(const uint8_t* qh_a, const uint8_t* qh_b) {
  uint32_t a, b;
  std::memcpy(&a, qh_a, 4);
  std::memcpy(&b, qh_b, 4);
  return static_cast<__mmask64>(a) | (static_cast<__mmask64>(b) << 32);
}

// A 16-entry int8 table in every 128-bit lane, for byte lookups with shuffle_epi8.
inline __m512i table16(const int8_t* values) {
  return _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(values)));
}

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
    sum = std::fma(d2(x[b].d, y[b].d), static_cast<float>(isum), sum);
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
    // An explicit fma, as the 4-token kernel's: compilers differ in what they contract.
    sum = std::fma(d2(x[b].d, y[b].d), static_cast<float>(isum), sum);
  }
  *s = sum;
}

// ---- Q4_K, Q5_K: one sub-block pair (64 values) per 512-bit register
//
// A 32-byte chunk of nibbles holds sub-blocks 2j (low nibbles) and 2j+1 (high): broadcast to
// both halves and shifted by 0 and 4, it lines up with 64 consecutive activation bytes, and one
// shuffle gives both sub-blocks' scales. The integer sums folded to 8 lanes equal the 256-bit
// kernel's lane for lane (integer arithmetic is exact), and the float steps are the same, so the
// results are bit-identical to avx2_vnni_evex's, whose 4-token kernels these pair with: about
// 40% fewer instructions for decode.
template <bool kQ5>
void k4_one(int64_t n, float* s, const void* vx, const void* vy) {
  using Block = std::conditional_t<kQ5, BlockQ5_K, BlockQ4_K>;
  const auto* x = static_cast<const Block*>(vx);
  const auto* y = static_cast<const BlockQ8_K*>(vy);
  // Per-half constants: the low 256 bits take sub-block 2j, the high 256 bits 2j + 1.
  auto halves16 = [](short lo, short hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(lo)), _mm256_set1_epi16(hi), 1);
  };
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i nibble_shift = halves16(0, 4);
  __m512i scale_pick[4], fifth_shift[4];
  for (int j = 0; j < 4; ++j) {
    scale_pick[j] = halves16(static_cast<short>((4 * j + 1) << 8 | (4 * j)), static_cast<short>((4 * j + 3) << 8 | (4 * j + 2)));
    fifth_shift[j] = halves16(static_cast<short>(2 * j), static_cast<short>(2 * j + 1));
  }
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const __m256i sm = unpack_k4_scales(x[b].scales);
    const __m512i scales = _mm512_broadcast_i32x4(_mm256_castsi256_si128(sm));
    __m512i sumi = _mm512_setzero_si512();
    [[maybe_unused]] __m512i qh;
    if constexpr (kQ5) qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qh)));
    for (int j = 0; j < 4; ++j) {
      const __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs + 32 * j)));
      __m512i w = _mm512_and_si512(_mm512_srlv_epi16(q, nibble_shift), low4);
      if constexpr (kQ5) {
        const __m512i bit = _mm512_and_si512(_mm512_srlv_epi16(qh, fifth_shift[j]), _mm512_set1_epi8(1));
        w = _mm512_or_si512(w, _mm512_slli_epi16(bit, 4));
      }
      const __m512i yq = _mm512_loadu_si512(y[b].qs + 64 * j);
      sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(w, yq), _mm512_shuffle_epi8(scales, scale_pick[j]));
    }
    const __m256i sumi8 = _mm256_add_epi32(_mm512_castsi512_si256(sumi), _mm512_extracti64x4_epi64(sumi, 1));
    const __m256 mins = _mm256_cvtepi32_ps(_mm256_zextsi128_si256(mins_dot_bsums(sm, y[b].bsums)));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(y[b].d * fp16_to_fp32(x[b].d)), _mm256_cvtepi32_ps(sumi8), acc);
    acc = _mm256_fnmadd_ps(_mm256_set1_ps(y[b].d * fp16_to_fp32(x[b].dmin)), mins, acc);
  }
  *s = hsum(acc);
}

void vec_dot_q4_K_q8_K(int64_t n, float* s, const void* vx, const void* vy) { k4_one<false>(n, s, vx, vy); }
void vec_dot_q5_K_q8_K(int64_t n, float* s, const void* vx, const void* vy) { k4_one<true>(n, s, vx, vy); }

// k4_one against 4 tokens: a super-block's nibbles (and fifth bits), scales and the scale
// shuffles are unpacked once into registers and used for each token, whose steps are k4_one's
// exactly, so its result is bit-identical (VecDot.FourTokenKernelsEqualTheOneTokenKernel).
template <bool kQ5>
void k4_t4(int64_t n, float* s, const void* vx, const void* const* vy) {
  using Block = std::conditional_t<kQ5, BlockQ5_K, BlockQ4_K>;
  constexpr int kT = 4;
  const auto* x = static_cast<const Block*>(vx);
  const BlockQ8_K* y[kT];
  for (int t = 0; t < kT; ++t) y[t] = static_cast<const BlockQ8_K*>(vy[t]);
  auto halves16 = [](short lo, short hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(lo)), _mm256_set1_epi16(hi), 1);
  };
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i nibble_shift = halves16(0, 4);
  __m256 acc[kT];
  for (auto& a : acc) a = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const __m256i sm = unpack_k4_scales(x[b].scales);
    const __m512i scales = _mm512_broadcast_i32x4(_mm256_castsi256_si128(sm));
    [[maybe_unused]] __m512i qh;
    if constexpr (kQ5) qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qh)));
    __m512i w[4], sc[4];
    for (int j = 0; j < 4; ++j) {
      const __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs + 32 * j)));
      w[j] = _mm512_and_si512(_mm512_srlv_epi16(q, nibble_shift), low4);
      if constexpr (kQ5) {
        const __m512i bit = _mm512_and_si512(_mm512_srlv_epi16(qh, halves16(static_cast<short>(2 * j), static_cast<short>(2 * j + 1))),
                                             _mm512_set1_epi8(1));
        w[j] = _mm512_or_si512(w[j], _mm512_slli_epi16(bit, 4));
      }
      sc[j] = _mm512_shuffle_epi8(scales, halves16(static_cast<short>((4 * j + 1) << 8 | (4 * j)),
                                                   static_cast<short>((4 * j + 3) << 8 | (4 * j + 2))));
    }
    const float dx = fp16_to_fp32(x[b].d), dmin = fp16_to_fp32(x[b].dmin);
    for (int t = 0; t < kT; ++t) {
      __m512i sumi = _mm512_setzero_si512();
      for (int j = 0; j < 4; ++j)
        sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(w[j], _mm512_loadu_si512(y[t][b].qs + 64 * j)), sc[j]);
      const __m256i sumi8 = _mm256_add_epi32(_mm512_castsi512_si256(sumi), _mm512_extracti64x4_epi64(sumi, 1));
      const __m256 mins = _mm256_cvtepi32_ps(_mm256_zextsi128_si256(mins_dot_bsums(sm, y[t][b].bsums)));
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(y[t][b].d * dx), _mm256_cvtepi32_ps(sumi8), acc[t]);
      acc[t] = _mm256_fnmadd_ps(_mm256_set1_ps(y[t][b].d * dmin), mins, acc[t]);
    }
  }
  for (int t = 0; t < kT; ++t) s[t] = hsum(acc[t]);
}

// Q6_K: as the 256-bit kernel (vec_dot_avx2.cpp), with both halves of a super-block in one
// register: the low 256 bits take group k of half 0, the high 256 bits group k of half 1. The
// integer sums folded to 8 lanes equal the 256-bit kernel's lane for lane, and the float steps
// are the same, so the results are bit-identical to avx2_vnni_evex's (whose 4-token kernel this
// pairs with).
void vec_dot_q6_K_q8_K(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ6_K*>(vx);
  const auto* y = static_cast<const BlockQ8_K*>(vy);
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i three = _mm512_set1_epi8(3);
  // Group k's scales: scale 2k for values 0-15 (the low 128 bits of each half), 2k + 1 for
  // values 16-31 (the high 128 bits), picked with one in-lane byte shuffle.
  __m512i group_pick[4];
  for (int k = 0; k < 4; ++k) {
    const short lo = static_cast<short>((4 * k + 1) << 8 | (4 * k));
    const short hi = static_cast<short>((4 * k + 3) << 8 | (4 * k + 2));
    group_pick[k] = _mm512_broadcast_i64x4(_mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo)));
  }
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].scales)));
    const __m256i offset = _mm256_madd_epi16(sc16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].bsums)));
    // Half 0's 8 scales in both 128-bit lanes of the low half, half 1's in the high half.
    const __m512i sc = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_permute2x128_si256(sc16, sc16, 0x00)),
                                          _mm256_permute2x128_si256(sc16, sc16, 0x11), 1);
    const uint8_t* ql = x[b].ql;
    const __m512i l0 = load_2x32(ql, ql + 64), l1 = load_2x32(ql + 32, ql + 96);
    const __m512i hb = _mm512_loadu_si512(x[b].qh);  // qh of half 0, then of half 1
    const __m512i q[4] = {
        _mm512_or_si512(_mm512_and_si512(l0, low4), _mm512_slli_epi16(_mm512_and_si512(hb, three), 4)),
        _mm512_or_si512(_mm512_and_si512(l1, low4),
                        _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(hb, 2), three), 4)),
        _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l0, 4), low4),
                        _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(hb, 4), three), 4)),
        _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l1, 4), low4),
                        _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(hb, 6), three), 4)),
    };
    const int8_t* q8 = y[b].qs;
    __m512i sumi = _mm512_setzero_si512();
    for (int k = 0; k < 4; ++k) {
      const __m512i yq = load_2x32(q8 + 32 * k, q8 + 128 + 32 * k);
      sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(q[k], yq), _mm512_shuffle_epi8(sc, group_pick[k]));
    }
    __m256i sumi8 = _mm256_add_epi32(_mm512_castsi512_si256(sumi), _mm512_extracti64x4_epi64(sumi, 1));
    sumi8 = _mm256_sub_epi32(sumi8, _mm256_slli_epi32(offset, 5));
    const float d = y[b].d * fp16_to_fp32(x[b].d);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi8), acc);
  }
  *s = hsum(acc);
}

// ---- 4 tokens against one row (the GEMM micro-kernel), for Q4_0, IQ4_NL and MXFP4 weights
//
// Each token's sums run exactly as in the one-token kernel (same pairs, the same two
// accumulators, the same scale products, the odd block last, the same way), so its result is
// bit-identical; the weights are unpacked once for the 4 tokens (Q4_0: prefill +7% over the VNNI
// 4-row kernel). Q8_0 has nothing to unpack: there the 4-row kernel stays faster (94 against 84
// GFLOP/s, kernels_bench matmul/q8_0), and matmul uses it. Prep(b) -> the pair's weight state;
// Dot(state, y, b) -> its 16 int32 products as floats; Scale(t, b) -> token t's scales_2 for
// blocks b, b + 1; Tail(t, b, sum) -> token t's sum with the odd last block b added.
template <typename Prep, typename Dot, typename Scale, typename Tail>
void pairs_t4(int64_t nb, float* s, const BlockQ8_0* const* y, Prep prep, Dot dot, Scale scale, Tail tail) {
  constexpr int kT = 4;
  __m512 acc0[kT], acc1[kT];
  for (int t = 0; t < kT; ++t) acc0[t] = acc1[t] = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 4 <= nb; b += 4) {
    const auto w0 = prep(b), w1 = prep(b + 2);
    for (int t = 0; t < kT; ++t) {
      acc0[t] = _mm512_fmadd_ps(scale(t, b), dot(w0, y[t], b), acc0[t]);
      acc1[t] = _mm512_fmadd_ps(scale(t, b + 2), dot(w1, y[t], b + 2), acc1[t]);
    }
  }
  for (; b + 2 <= nb; b += 2) {
    const auto w0 = prep(b);
    for (int t = 0; t < kT; ++t) acc0[t] = _mm512_fmadd_ps(scale(t, b), dot(w0, y[t], b), acc0[t]);
  }
  for (int t = 0; t < kT; ++t) {
    s[t] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[t], acc1[t]));
    if (b < nb) s[t] = tail(t, b, s[t]);
  }
}

void vec_dot_t4_q4_0_q8_0(int64_t n, float* s, const void* vx, const void* const* vy) {
  const auto* x = static_cast<const BlockQ4_0*>(vx);
  const BlockQ8_0* y[4];
  for (int t = 0; t < 4; ++t) y[t] = static_cast<const BlockQ8_0*>(vy[t]);
  auto prep = [x](int64_t b) { return unpack_nibbles_2x32(x[b].qs, x[b + 1].qs); };
  auto dot = [](__m512i q, const BlockQ8_0* yt, int64_t b) {
    const __m512i zero = _mm512_setzero_si512();
    const __m512i ys = load_2x32(yt[b].qs, yt[b + 1].qs);
    const __m512i qy = _mm512_dpbusd_epi32(zero, q, ys);
    return _mm512_cvtepi32_ps(_mm512_sub_epi32(qy, _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(8), ys)));
  };
  auto scale = [&](int t, int64_t b) { return scales_2(d2(x[b].d, y[t][b].d), d2(x[b + 1].d, y[t][b + 1].d)); };
  auto tail = [&](int t, int64_t b, float sum) {
    int32_t isum = 0;
    for (int j = 0; j < QK4_0 / 2; ++j) {
      isum += ((x[b].qs[j] & 0xF) - 8) * y[t][b].qs[j] + ((x[b].qs[j] >> 4) - 8) * y[t][b].qs[j + 16];
    }
    return std::fma(d2(x[b].d, y[t][b].d), static_cast<float>(isum), sum);
  };
  pairs_t4(n / QK4_0, s, y, prep, dot, scale, tail);
}

// ---- 4 rows x 4 tokens for Q4_0 and Q8_0 (the prefill register tile), two blocks a register
//
// As the 256-bit VNNI tiles (vec_dot_x4_vnni.cpp: weights made unsigned once for 4 tokens, each
// token's offset correction folded into the accumulator's start once for 4 rows), with a pair
// of blocks per 512-bit register, so each (row, token) takes one vpdpbusd, one convert, one
// scale product and one fused add for 64 values instead of 32: 1.46x the 256-bit tile on Zen 4
// (kernels_bench matmul/q4_0, 140 -> 205 GFLOP/s), whose 512-bit instructions cost the front end
// one slot each. An odd last block goes through the reference arithmetic (weight_value).
// (A 512-bit 4-row decode kernel built the same way was 1.3x the 256-bit one but decoded no
// faster, and moved greedy parity with llama.cpp on two tiny files: decode keeps the 256-bit one.)

// [h(a) x 8 | h(b) x 8] as floats: two fp16 scales of a block pair.
inline __m512 fp16_pair(const uint16_t* a, const uint16_t* b) {
  const __m256i h = _mm256_set_m128i(_mm_set1_epi16(static_cast<short>(*b)), _mm_set1_epi16(static_cast<short>(*a)));
  return _mm512_cvtph_ps(h);
}

// Block: BlockQ4_0 or BlockQ8_0 (d first). weight_bytes(block, next) -> the pair's weights as
// unsigned bytes, each the true value plus `offset`; weight_value(block, j) -> the j-th value.
// s[t * 4 + r] = dot(row r, token t).
template <typename Block, typename WeightBytes, typename WeightValue>
void x4t4_pairs(int64_t n, float* s, const void* vx, size_t bx, const void* const* vy, uint8_t offset,
              WeightBytes weight_bytes, WeightValue weight_value) {
  constexpr int kT = 4;
  const auto* x0 = static_cast<const uint8_t*>(vx);
  const Block* x[4];
  const BlockQ8_0* y[kT];
  for (int i = 0; i < 4; ++i) x[i] = reinterpret_cast<const Block*>(x0 + i * bx);
  for (int t = 0; t < kT; ++t) y[t] = static_cast<const BlockQ8_0*>(vy[t]);
  const int64_t nb = n / QK8_0;
  const __m512i zero = _mm512_setzero_si512(), offset_bytes = _mm512_set1_epi8(static_cast<char>(offset));
  __m512 acc[4][kT];
  for (auto& row : acc)
    for (auto& a : row) a = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    __m512i w[4];
    __m512 xd[4];
    for (int r = 0; r < 4; ++r) {
      w[r] = weight_bytes(x[r][b], x[r][b + 1]);
      xd[r] = fp16_pair(&x[r][b].d, &x[r][b + 1].d);
    }
    for (int t = 0; t < kT; ++t) {
      const __m512i ys = load_2x32(y[t][b].qs, y[t][b + 1].qs);
      const __m512i start = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, offset_bytes, ys));
      const __m512 yd = fp16_pair(&y[t][b].d, &y[t][b + 1].d);
      for (int r = 0; r < 4; ++r) {
        const __m512i p = _mm512_dpbusd_epi32(start, w[r], ys);
        acc[r][t] = _mm512_fmadd_ps(_mm512_mul_ps(xd[r], yd), _mm512_cvtepi32_ps(p), acc[r][t]);
      }
    }
  }
  for (int t = 0; t < kT; ++t) {
    for (int r = 0; r < 4; ++r) {
      float sum = _mm512_reduce_add_ps(acc[r][t]);
      if (b < nb) {  // odd block count
        int32_t isum = 0;
        for (int j = 0; j < QK8_0; ++j) isum += weight_value(x[r][b], j) * y[t][b].qs[j];
        sum = std::fma(d2(x[r][b].d, y[t][b].d), static_cast<float>(isum), sum);
      }
      s[t * 4 + r] = sum;
    }
  }
}

void x4t4_q4_0(int64_t n, float* s, const void* vx, size_t bx, const void* const* vy) {
  x4t4_pairs<BlockQ4_0>(
      n, s, vx, bx, vy, 8, [](const BlockQ4_0& a, const BlockQ4_0& b) { return unpack_nibbles_2x32(a.qs, b.qs); },
      [](const BlockQ4_0& a, int j) { return (j < 16 ? a.qs[j] & 0xF : a.qs[j - 16] >> 4) - 8; });
}

void x4t4_q8_0(int64_t n, float* s, const void* vx, size_t bx, const void* const* vy) {
  x4t4_pairs<BlockQ8_0>(
      n, s, vx, bx, vy, 0x80,
      [](const BlockQ8_0& a, const BlockQ8_0& b) {
        return _mm512_xor_si512(load_2x32(a.qs, b.qs), _mm512_set1_epi8(static_cast<char>(0x80)));
      },
      [](const BlockQ8_0& a, int j) { return static_cast<int>(a.qs[j]); });
}

// IQ4_NL/MXFP4 x Q8_0 (any block starting its 16 bytes of nibbles at qs): levels looked up
// per byte, signed dot; block_scale(b) is the weight block's scale.
template <typename Block, typename BlockScale>
float table_dot(int64_t n, const Block* x, const void* vy, const int8_t* levels16, BlockScale block_scale, VecDotFn tail) {
  const auto* y = static_cast<const BlockQ8_0*>(vy);
  const __m512i levels = table16(levels16);
  const auto pair_dot = [&](int64_t b) {
    const __m512i q = _mm512_shuffle_epi8(levels, unpack_nibbles_2x32(x[b].qs, x[b + 1].qs));
    return dot_s8s8(q, load_2x32(y[b].qs, y[b + 1].qs));
  };
  const auto scale = [&](int64_t b) { return block_scale(b) * fp16_to_fp32(y[b].d); };
  return sum_block_pairs(n / QK8_0, pair_dot, scale, tail, sizeof(Block), sizeof(BlockQ8_0), x, y);
}

// table_dot for 4 tokens against one row: the levels are looked up, and their absolute values and
// signs taken, once for the 4 tokens (dot_s8s8 split in two); the odd block goes through the
// same scalar tail as table_dot's.
template <typename Block, typename BlockScale>
void table_dot_t4(int64_t n, float* s, const Block* x, const void* const* vy, const int8_t* levels16,
                  BlockScale block_scale, VecDotFn tail) {
  const BlockQ8_0* y[4];
  for (int t = 0; t < 4; ++t) y[t] = static_cast<const BlockQ8_0*>(vy[t]);
  const __m512i levels = table16(levels16);
  const __m512i zero = _mm512_setzero_si512();
  struct Pair {
    __m512i abs_q;
    __mmask64 negative;
  };
  const auto prep = [&](int64_t b) {
    const __m512i q = _mm512_shuffle_epi8(levels, unpack_nibbles_2x32(x[b].qs, x[b + 1].qs));
    return Pair{_mm512_abs_epi8(q), _mm512_movepi8_mask(q)};
  };
  const auto dot = [&](const Pair& w, const BlockQ8_0* yt, int64_t b) {
    const __m512i ys = load_2x32(yt[b].qs, yt[b + 1].qs);
    return _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, w.abs_q, _mm512_mask_sub_epi8(ys, w.negative, zero, ys)));
  };
  const auto scale = [&](int t, int64_t b) {
    return scales_2(block_scale(b) * fp16_to_fp32(y[t][b].d), block_scale(b + 1) * fp16_to_fp32(y[t][b + 1].d));
  };
  const auto last_block = [&](int t, int64_t b, float sum) {
    float last = 0;
    tail(32, &last, x + b, y[t] + b);
    return sum + last;
  };
  pairs_t4(n / QK8_0, s, y, prep, dot, scale, last_block);
}

}  // namespace

// The types added with issue 9 (declared in isa_kernels.h for every flavour).

// Q4_1/Q5_1 x Q8_1: unsigned quants; the minimum adds m * s per block (the odd last block's
// with the rest of that block, in the scalar tail).
void vec_dot_q4_1_q8_1(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ4_1*>(vx);
  const auto* y = static_cast<const BlockQ8_1*>(vy);
  const int64_t nb = n / QK4_1;
  float mins = 0;
  for (int64_t b = 0; b < (nb & ~int64_t{1}); ++b) mins += fp16_to_fp32(x[b].m) * fp16_to_fp32(y[b].s);
  const auto pair_dot = [&](int64_t b) {
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), unpack_nibbles_2x32(x[b].qs, x[b + 1].qs),
                               load_2x32(y[b].qs, y[b + 1].qs));
  };
  const auto scale = [&](int64_t b) { return d2(x[b].d, y[b].d); };
  *s = mins + sum_block_pairs(nb, pair_dot, scale, vec_dot_q4_1_q8_1_ref, sizeof(BlockQ4_1), sizeof(BlockQ8_1), x, y);
}

void vec_dot_q5_1_q8_1(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ5_1*>(vx);
  const auto* y = static_cast<const BlockQ8_1*>(vy);
  const int64_t nb = n / QK5_1;
  const __m512i sixteen = _mm512_set1_epi8(16);
  float mins = 0;
  for (int64_t b = 0; b < (nb & ~int64_t{1}); ++b) mins += fp16_to_fp32(x[b].m) * fp16_to_fp32(y[b].s);
  const auto pair_dot = [&](int64_t b) {
    const __m512i lo = unpack_nibbles_2x32(x[b].qs, x[b + 1].qs);
    const __m512i q = _mm512_mask_add_epi8(lo, fifth_bits_2x32(x[b].qh, x[b + 1].qh), lo, sixteen);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, load_2x32(y[b].qs, y[b + 1].qs));
  };
  const auto scale = [&](int64_t b) { return d2(x[b].d, y[b].d); };
  *s = mins + sum_block_pairs(nb, pair_dot, scale, vec_dot_q5_1_q8_1_ref, sizeof(BlockQ5_1), sizeof(BlockQ8_1), x, y);
}

// Q5_0: sum (q - 16) * y = sum q*y - 16 * sum y, both unsigned-by-signed as in Q4_0.
void vec_dot_q5_0_q8_0(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ5_0*>(vx);
  const auto* y = static_cast<const BlockQ8_0*>(vy);
  const __m512i zero = _mm512_setzero_si512();
  const __m512i sixteen = _mm512_set1_epi8(16);
  const auto pair_dot = [&](int64_t b) {
    const __m512i lo = unpack_nibbles_2x32(x[b].qs, x[b + 1].qs);
    const __m512i q = _mm512_mask_add_epi8(lo, fifth_bits_2x32(x[b].qh, x[b + 1].qh), lo, sixteen);
    const __m512i ys = load_2x32(y[b].qs, y[b + 1].qs);
    return _mm512_sub_epi32(_mm512_dpbusd_epi32(zero, q, ys), _mm512_dpbusd_epi32(zero, sixteen, ys));
  };
  const auto scale = [&](int64_t b) { return d2(x[b].d, y[b].d); };
  *s = sum_block_pairs(n / QK5_0, pair_dot, scale, vec_dot_q5_0_q8_0_ref, sizeof(BlockQ5_0), sizeof(BlockQ8_0), x, y);
}

// IQ4_NL/MXFP4: table lookup of the signed levels, then the signed dot.
void vec_dot_iq4_nl_q8_0(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockIQ4_NL*>(vx);
  *s = table_dot(n, x, vy, kValuesIQ4NL, [&](int64_t b) { return fp16_to_fp32(x[b].d); }, vec_dot_iq4_nl_q8_0_ref);
}

void vec_dot_mxfp4_q8_0(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockMXFP4*>(vx);
  *s = table_dot(n, x, vy, kValuesMXFP4, [&](int64_t b) { return e8m0_to_fp32_half(x[b].e); }, vec_dot_mxfp4_q8_0_ref);
}

void vec_dot_t4_iq4_nl_q8_0(int64_t n, float* s, const void* vx, const void* const* vy) {
  const auto* x = static_cast<const BlockIQ4_NL*>(vx);
  table_dot_t4(n, s, x, vy, kValuesIQ4NL, [&](int64_t b) { return fp16_to_fp32(x[b].d); }, vec_dot_iq4_nl_q8_0_ref);
}

void vec_dot_t4_mxfp4_q8_0(int64_t n, float* s, const void* vx, const void* const* vy) {
  const auto* x = static_cast<const BlockMXFP4*>(vx);
  table_dot_t4(n, s, x, vy, kValuesMXFP4, [&](int64_t b) { return e8m0_to_fp32_half(x[b].e); }, vec_dot_mxfp4_q8_0_ref);
}

extern constinit const VecDotSet kVecDots{
    .f32 = vec_dot_f32_f32,
    .f16 = vec_dot_f16_f32,
    .q8_0 = vec_dot_q8_0_q8_0,
    .q4_0 = vec_dot_q4_0_q8_0,
    .q4_K = vec_dot_q4_K_q8_K,
    .q5_K = vec_dot_q5_K_q8_K,
    .q6_K = vec_dot_q6_K_q8_K,
    .q4_1 = vec_dot_q4_1_q8_1,
    .q5_0 = vec_dot_q5_0_q8_0,
    .q5_1 = vec_dot_q5_1_q8_1,
    .iq4_nl = vec_dot_iq4_nl_q8_0,
    .mxfp4 = vec_dot_mxfp4_q8_0,
    .t4_q4_K = k4_t4<false>,
    .t4_q5_K = k4_t4<true>,
    .t4_q6_K = avx2_vnni_evex::vec_dot_t4_q6_K,
    .t4_q4_0 = vec_dot_t4_q4_0_q8_0,
    .t4_iq4_nl = vec_dot_t4_iq4_nl_q8_0,
    .t4_mxfp4 = vec_dot_t4_mxfp4_q8_0,
    .x4t4_q8_0 = x4t4_q8_0,
    .x4t4_q4_0 = x4t4_q4_0,
    .x8_q4_0 = avx2_vnni_evex::gemv_q4_0x8,  // memory-bound: wider registers gain nothing
    .x8t4_q4_0 = gemm4_q4_0x8,  // vec_dot_x8_avx512.cpp
    .x8_q8_0 = avx2_vnni_evex::gemv_q8_0x8,
    .x8t4_q8_0 = gemm4_q8_0x8,
    .x8_q4_K = avx2_vnni_evex::gemv_q4_Kx8,
    .x8t4_q4_K = avx2_vnni_evex::gemm4_q4_Kx8,
    .x8_q6_K = gemv_q6_Kx8,  // vec_dot_x8_avx512.cpp
    .x8t4_q6_K = avx2_vnni_evex::gemm4_q6_Kx8,
};

}  // namespace swapmoe::avx512
