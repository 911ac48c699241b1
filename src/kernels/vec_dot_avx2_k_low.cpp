// 256-bit dot products of the K-quant-style types added with issue 9, all x Q8_K: Q2_K and
// Q3_K (16 sub-blocks of 16) and IQ4_XS (8 sub-blocks of 32). Built in each of the
// vec_dot_avx2.cpp flavours (isa_kernels.h).
#include <immintrin.h>

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

}  // namespace

// Q2_K: quants in [0, 3] used unsigned; the mins are subtracted once per super-block from the
// activation sums: dmin * dy * sum_j m_j * bsum_j.
void vec_dot_q2_K_q8_K(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ2_K*>(vx);
  const auto* y = static_cast<const BlockQ8_K*>(vy);
  const __m256i three = _mm256_set1_epi8(3);
  __m256 acc = _mm256_setzero_ps(), acc_m = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].scales));
    const __m256i both = _mm256_cvtepu8_epi16(packed);
    const __m256i sc16 = _mm256_and_si256(both, _mm256_set1_epi16(0x0F));
    const __m256i m16 = _mm256_srli_epi16(both, 4);
    const __m256i mins = _mm256_madd_epi16(m16, load256(y[b].bsums));
    acc_m = _mm256_fmadd_ps(_mm256_set1_ps(y[b].d * fp16_to_fp32(x[b].dmin)), _mm256_cvtepi32_ps(mins), acc_m);

    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i q2 = load256(x[b].qs + 32 * h);
      for (int k = 0; k < 4; ++k) {
        const __m256i q = _mm256_and_si256(_mm256_srli_epi16(q2, 2 * k), three);
        sumi = add_scaled_dot(sumi, q, load256(y[b].qs + 128 * h + 32 * k), pair_scales(sc16, 8 * h + 2 * k));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(y[b].d * fp16_to_fp32(x[b].d)), _mm256_cvtepi32_ps(sumi), acc);
  }
  *s = hsum(acc) - hsum(acc_m);
}

// Q3_K: quants (low 2 bits) - 4 where the hmask bit is clear, in [-4, 3], through the signed
// path; signed 6-bit sub-block scales.
void vec_dot_q3_K_q8_K(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ3_K*>(vx);
  const auto* y = static_cast<const BlockQ8_K*>(vy);
  const __m256i three = _mm256_set1_epi8(3);
  const __m256i four = _mm256_set1_epi8(4);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK_K; ++b) {
    int8_t sc[16];
    unpack_scales_q3_K(x[b].scales, sc);
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc)));
    const __m256i hm = load256(x[b].hmask);
    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i q2 = load256(x[b].qs + 32 * h);
      for (int k = 0; k < 4; ++k) {
        const int g = 4 * h + k;  // values 32g .. 32g+31, high bits in bit g of hmask
        const __m256i bit = _mm256_set1_epi8(static_cast<char>(1 << g));
        const __m256i clear = _mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), _mm256_setzero_si256());
        const __m256i q = _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(q2, 2 * k), three),
                                          _mm256_and_si256(clear, four));
        const __m256i q8 = load256(y[b].qs + 32 * g);
        sumi = add_scaled_dot(sumi, _mm256_sign_epi8(q, q), _mm256_sign_epi8(q8, q), pair_scales(sc16, 2 * g));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(y[b].d * fp16_to_fp32(x[b].d)), _mm256_cvtepi32_ps(sumi), acc);
  }
  *s = hsum(acc);
}

// IQ4_XS: per sub-block of 32, the levels looked up by shuffle and dotted through the signed
// path, times the sub-block scale (ls - 32) in the int16 multiply.
void vec_dot_iq4_xs_q8_K(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockIQ4_XS*>(vx);
  const auto* y = static_cast<const BlockQ8_K*>(vy);
  const __m256i levels = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kValuesIQ4NL)));
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK_K; ++b) {
    __m256i sumi = _mm256_setzero_si256();
    for (int j = 0; j < QK_K / 32; ++j) {
      const __m256i q = _mm256_shuffle_epi8(levels, unpack_nibbles_32(x[b].qs + 16 * j));
      const __m256i q8 = load256(y[b].qs + 32 * j);
      const __m256i scale = _mm256_set1_epi16(static_cast<short>(iq4_xs_scale(x[b], j)));
      sumi = add_scaled_dot(sumi, _mm256_sign_epi8(q, q), _mm256_sign_epi8(q8, q), scale);
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(y[b].d * fp16_to_fp32(x[b].d)), _mm256_cvtepi32_ps(sumi), acc);
  }
  *s = hsum(acc);
}

}  // namespace swapmoe::SWAPMOE_ISA_NS
