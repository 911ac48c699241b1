// The interleaved Q4_0 and Q8_0 prefill kernels at the AVX-512 level. Q4_0: 8 rows x 4 tokens with both nibble
// halves of a 32-byte chunk in one 512-bit register (lanes 0-7 the low nibbles of the 8 rows,
// 8-15 the high ones), so a (row, token) pair takes one vpdpbusd per 64 values, as the 4x4
// tiles of vec_dot_avx512.cpp do, where the 256-bit kernel needs two. The activation's two
// matching 4-byte groups reach their halves with one permute. The two halves' integer sums
// are added before the float steps, so the results equal the reference's bit for bit.
#include <immintrin.h>

// GCC 12's AVX-512 headers build broadcasts and extracts from _mm512_undefined_*(), which
// trips -W(maybe-)uninitialized falsely (as in vec_dot_avx512.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "kernels/isa_kernels.h"
#include "tensor/interleave.h"
#include "tensor/quant_blocks.h"

namespace swapmoe::SWAPMOE_ISA_NS {

void gemm4_q4_0x8(int64_t n, float* s, const void* vx, const X8Activation* y) {
  const auto* x = static_cast<const BlockQ4_0x8*>(vx);
  const BlockQ8_0* yq[4];
  for (int t = 0; t < 4; ++t) yq[t] = static_cast<const BlockQ8_0*>(y[t].q);
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  // Chunk c: activation dword c to the low half, dword 4 + c to the high half.
  __m512i pick[4];
  for (int c = 0; c < 4; ++c) pick[c] = _mm512_mask_set1_epi32(_mm512_set1_epi32(c), 0xFF00, 4 + c);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < n / QK4_0; ++b) {
    __m512i u[4];
    for (int c = 0; c < 4; ++c) {
      // The chunk in both halves, the high half shifted down to its high nibbles.
      const __m512i w = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs + c * 32)));
      u[c] = _mm512_and_si512(_mm512_mask_srli_epi16(w, 0xFFFF0000u, w, 4), low4);
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].d)));
    for (int t = 0; t < 4; ++t) {
      const __m512i ys = _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(yq[t][b].qs)));
      __m512i sums = _mm512_maskz_set1_epi32(0x00FF, y[t].offset[b]);
      for (int c = 0; c < 4; ++c) sums = _mm512_dpbusd_epi32(sums, u[c], _mm512_permutexvar_epi32(pick[c], ys));
      const __m256i rows = _mm256_add_epi32(_mm512_castsi512_si256(sums), _mm512_extracti64x4_epi64(sums, 1));
      acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(y[t].d[b])), _mm256_cvtepi32_ps(rows), acc[t]);
    }
  }
  for (int t = 0; t < 4; ++t) _mm256_storeu_ps(s + t * kInterleaveRows, acc[t]);
}

// Q8_0: two 32-byte chunks (c, c + 1) of the 8 rows in one 512-bit register, the weights
// made unsigned (q + 128) and the sum started at the offset -128 * the activation block's sum.
void gemm4_q8_0x8(int64_t n, float* s, const void* vx, const X8Activation* y) {
  const auto* x = static_cast<const BlockQ8_0x8*>(vx);
  const BlockQ8_0* yq[4];
  for (int t = 0; t < 4; ++t) yq[t] = static_cast<const BlockQ8_0*>(y[t].q);
  const __m512i sign = _mm512_set1_epi8(static_cast<char>(0x80));
  // Chunks 2j, 2j + 1: activation dword 2j to the low half, 2j + 1 to the high half.
  __m512i pick[4];
  for (int j = 0; j < 4; ++j) pick[j] = _mm512_mask_set1_epi32(_mm512_set1_epi32(2 * j), 0xFF00, 2 * j + 1);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < n / QK8_0; ++b) {
    __m512i u[4];
    for (int j = 0; j < 4; ++j) u[j] = _mm512_xor_si512(_mm512_loadu_si512(x[b].qs + j * 64), sign);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].d)));
    for (int t = 0; t < 4; ++t) {
      const __m512i ys = _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(yq[t][b].qs)));
      __m512i sums = _mm512_maskz_set1_epi32(0x00FF, y[t].offset[b]);
      for (int j = 0; j < 4; ++j) sums = _mm512_dpbusd_epi32(sums, u[j], _mm512_permutexvar_epi32(pick[j], ys));
      const __m256i rows = _mm256_add_epi32(_mm512_castsi512_si256(sums), _mm512_extracti64x4_epi64(sums, 1));
      acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(y[t].d[b])), _mm256_cvtepi32_ps(rows), acc[t]);
    }
  }
  for (int t = 0; t < 4; ++t) _mm256_storeu_ps(s + t * kInterleaveRows, acc[t]);
}

}  // namespace swapmoe::SWAPMOE_ISA_NS
