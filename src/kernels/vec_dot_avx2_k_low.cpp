// 256-bit dot products of the K-quant-style types added with issue 9, all x Q8_K: Q2_K and
// Q3_K (16 sub-blocks of 16) and IQ4_XS (8 sub-blocks of 32), for one token and for 4. Built in
// each of the vec_dot_avx2.cpp flavours (isa_kernels.h).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/avx2_helpers.h"
#include "kernels/isa_kernels.h"
#include "tensor/fp16.h"
#include "tensor/quant_blocks.h"

namespace swapmoe::SWAPMOE_ISA_NS {

namespace {

// int16 scales of sub-blocks j0 (lanes 0-7) and j0 + 1 (lanes 8-15), j0 even, from 16 int16
// scales: a 32 values register of quants covers exactly these two sub-blocks of 16.
inline __m256i pair_scales(__m256i sc16, int j0) {
  const __m256i half = (j0 < 8) ? _mm256_permute2x128_si256(sc16, sc16, 0x00) : _mm256_permute2x128_si256(sc16, sc16, 0x11);
  const int k = j0 % 8;
  const auto idx = [](int i) { return static_cast<short>((2 * i + 1) << 8 | (2 * i)); };
  return _mm256_shuffle_epi8(half, _mm256_set_m128i(_mm_set1_epi16(idx(k + 1)), _mm_set1_epi16(idx(k))));
}

// The 16 signed scales of a Q3_K block (unpack_scales_q3_K, vectorised: the scalar loop made
// the kernel compute-bound at 5 GB/s): low 4 bits of scale j in nibble j / 8 of byte j % 8,
// high 2 bits at bits 2 * (j / 4) of byte 8 + j % 4.
inline __m128i q3_K_scales(const uint8_t* packed) {
  uint64_t lo8;
  uint32_t hi4;
  std::memcpy(&lo8, packed, 8);
  std::memcpy(&hi4, packed + 8, 4);
  const __m128i mask4 = _mm_set1_epi8(0x0F);
  const __m128i v = _mm_cvtsi64_si128(static_cast<long long>(lo8));
  const __m128i lo = _mm_unpacklo_epi64(_mm_and_si128(v, mask4), _mm_and_si128(_mm_srli_epi16(v, 4), mask4));
  // 32-bit lane i holds hi4 >> 2i: byte k of it keeps bits 2i, 2i + 1 of byte 8 + k in its low bits.
  const __m128i h = _mm_set_epi32(static_cast<int>(hi4 >> 6), static_cast<int>(hi4 >> 4), static_cast<int>(hi4 >> 2),
                                  static_cast<int>(hi4));
  const __m128i hi = _mm_slli_epi16(_mm_and_si128(h, _mm_set1_epi8(3)), 4);
  return _mm_sub_epi8(_mm_or_si128(lo, hi), _mm_set1_epi8(32));
}

// Each kernel runs kT tokens against one row: kT = 1 is the one-token kernel, kT = 4 the GEMM
// micro-kernel, which unpacks the weights once for its 4 tokens. Each token's sums run exactly
// as with kT = 1, so a token's result does not depend on the kernel (bit-identical).
template <int kT>
using Acts = const BlockQ8_K* const (&)[kT];

// Q2_K: quants in [0, 3] used unsigned; the mins are subtracted once per super-block from the
// activation sums: dmin * dy * sum_j m_j * bsum_j.
template <int kT>
void q2_K(int64_t n, float* s, const BlockQ2_K* x, Acts<kT> y) {
  const __m256i three = _mm256_set1_epi8(3);
  __m256 acc[kT], acc_m[kT];
  for (int t = 0; t < kT; ++t) acc[t] = acc_m[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].scales));
    const __m256i both = _mm256_cvtepu8_epi16(packed);
    const __m256i sc16 = _mm256_and_si256(both, _mm256_set1_epi16(0x0F));
    const __m256i m16 = _mm256_srli_epi16(both, 4);
    __m256i sumi[kT];
    for (int t = 0; t < kT; ++t) {
      const __m256i mins = _mm256_madd_epi16(m16, load256(y[t][b].bsums));
      acc_m[t] = _mm256_fmadd_ps(_mm256_set1_ps(y[t][b].d * fp16_to_fp32(x[b].dmin)), _mm256_cvtepi32_ps(mins), acc_m[t]);
      sumi[t] = _mm256_setzero_si256();
    }
    for (int h = 0; h < 2; ++h) {
      const __m256i q2 = load256(x[b].qs + 32 * h);
      for (int k = 0; k < 4; ++k) {
        const __m256i q = _mm256_and_si256(_mm256_srli_epi16(q2, 2 * k), three);
        const __m256i scales = pair_scales(sc16, 8 * h + 2 * k);
        for (int t = 0; t < kT; ++t)
          sumi[t] = add_scaled_dot(sumi[t], q, load256(y[t][b].qs + 128 * h + 32 * k), scales);
      }
    }
    for (int t = 0; t < kT; ++t)
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(y[t][b].d * fp16_to_fp32(x[b].d)), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
  }
  for (int t = 0; t < kT; ++t) s[t] = hsum(acc[t]) - hsum(acc_m[t]);
}

// Q3_K: value = (low 2 bits | third bit << 2) - 4. The unsigned part (0-7) goes through the
// unsigned path, and the -4 once per super-block from the activation sums, as Q6_K's -32:
// 4 * sum_j scale_j * bsum_j.
template <int kT>
void q3_K(int64_t n, float* s, const BlockQ3_K* x, Acts<kT> y) {
  const __m256i three = _mm256_set1_epi8(3);
  const __m256i one = _mm256_set1_epi8(1);
  __m256 acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const __m256i sc16 = _mm256_cvtepi8_epi16(q3_K_scales(x[b].scales));
    const __m256i hm = load256(x[b].hmask);
    __m256i sumi[kT];
    for (int t = 0; t < kT; ++t) sumi[t] = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i q2 = load256(x[b].qs + 32 * h);
      for (int k = 0; k < 4; ++k) {
        const int g = 4 * h + k;  // values 32g .. 32g+31, third bits in bit g of hmask
        const __m256i third = _mm256_and_si256(_mm256_srli_epi16(hm, g), one);
        const __m256i q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q2, 2 * k), three), _mm256_slli_epi16(third, 2));
        const __m256i scales = pair_scales(sc16, 2 * g);
        for (int t = 0; t < kT; ++t) sumi[t] = add_scaled_dot(sumi[t], q, load256(y[t][b].qs + 32 * g), scales);
      }
    }
    for (int t = 0; t < kT; ++t) {
      const __m256i offset = _mm256_madd_epi16(sc16, load256(y[t][b].bsums));  // sum_j sc_j * bsum_j
      const __m256i isum = _mm256_sub_epi32(sumi[t], _mm256_slli_epi32(offset, 2));
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(y[t][b].d * fp16_to_fp32(x[b].d)), _mm256_cvtepi32_ps(isum), acc[t]);
    }
  }
  for (int t = 0; t < kT; ++t) s[t] = hsum(acc[t]);
}

// IQ4_XS: per sub-block of 32, the levels looked up by shuffle and dotted through the signed
// path, times the sub-block scale (ls - 32) in the int16 multiply.
template <int kT>
void iq4_xs(int64_t n, float* s, const BlockIQ4_XS* x, Acts<kT> y) {
  const __m256i levels = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kValuesIQ4NL)));
  __m256 acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK_K; ++b) {
    __m256i sumi[kT];
    for (int t = 0; t < kT; ++t) sumi[t] = _mm256_setzero_si256();
    for (int j = 0; j < QK_K / 32; ++j) {
      const __m256i q = _mm256_shuffle_epi8(levels, unpack_nibbles_32(x[b].qs + 16 * j));
      const __m256i abs_q = _mm256_sign_epi8(q, q);
      const __m256i scale = _mm256_set1_epi16(static_cast<short>(iq4_xs_scale(x[b], j)));
      for (int t = 0; t < kT; ++t)
        sumi[t] = add_scaled_dot(sumi[t], abs_q, _mm256_sign_epi8(load256(y[t][b].qs + 32 * j), q), scale);
    }
    for (int t = 0; t < kT; ++t)
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(y[t][b].d * fp16_to_fp32(x[b].d)), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
  }
  for (int t = 0; t < kT; ++t) s[t] = hsum(acc[t]);
}

// The table entries: one token, and four.
template <typename Block, int kT, void (*Kernel)(int64_t, float*, const Block*, Acts<kT>)>
void entry(int64_t n, float* s, const void* vx, const void* const* vy) {
  const BlockQ8_K* y[kT];
  for (int t = 0; t < kT; ++t) y[t] = static_cast<const BlockQ8_K*>(vy[t]);
  Kernel(n, s, static_cast<const Block*>(vx), y);
}

}  // namespace

void vec_dot_q2_K_q8_K(int64_t n, float* s, const void* x, const void* y) { entry<BlockQ2_K, 1, q2_K<1>>(n, s, x, &y); }
void vec_dot_q3_K_q8_K(int64_t n, float* s, const void* x, const void* y) { entry<BlockQ3_K, 1, q3_K<1>>(n, s, x, &y); }
void vec_dot_iq4_xs_q8_K(int64_t n, float* s, const void* x, const void* y) { entry<BlockIQ4_XS, 1, iq4_xs<1>>(n, s, x, &y); }
void vec_dot_t4_q2_K(int64_t n, float* s, const void* x, const void* const* y) { entry<BlockQ2_K, 4, q2_K<4>>(n, s, x, y); }
void vec_dot_t4_q3_K(int64_t n, float* s, const void* x, const void* const* y) { entry<BlockQ3_K, 4, q3_K<4>>(n, s, x, y); }
void vec_dot_t4_iq4_xs(int64_t n, float* s, const void* x, const void* const* y) { entry<BlockIQ4_XS, 4, iq4_xs<4>>(n, s, x, y); }

}  // namespace swapmoe::SWAPMOE_ISA_NS
