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

// Q6_K (quant_blocks.h: BlockQ6_Kx8): two column groups (c, c + 1) of a half super-block in one
// 512-bit register, so the unpacking of the 6-bit values and the dot steps take half the
// instructions of the 256-bit kernel (vec_dot_x8_q6_K_avx2.cpp, whose order of integer sums and
// float steps this keeps: the same bits). The activation's two matching 4-byte groups are 8
// consecutive bytes, spread to the halves by one permute.
namespace {

void prefetch_q6_K_group(const BlockQ6_Kx8* g) {
  for (size_t i = 0; i < sizeof(BlockQ6_Kx8); i += 64) _mm_prefetch(reinterpret_cast<const char*>(g) + i, _MM_HINT_T0);
}

}  // namespace

void gemv_q6_Kx8(int64_t n, float* s, const void* vx, const X8Activation& y) {
  const auto* x = static_cast<const BlockQ6_Kx8*>(vx);
  const auto* yq = static_cast<const BlockQ8_K*>(y.q);
  const __m512i low4 = _mm512_set1_epi8(0x0F), bits45 = _mm512_set1_epi8(0x30);
  const __m512i pick = _mm512_mask_set1_epi32(_mm512_setzero_si512(), 0xFF00, 1);  // dword 0 low, 1 high
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK_K; ++b) {
    prefetch_q6_K_group(&x[b + 2]);
    const BlockQ6_Kx8& g = x[b];
    const BlockQ8_K& yb = yq[b];
    __m256i total = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h)
      for (int q = 0; q < 2; ++q) {
        // Sub-blocks 8h + q + 2k, k = 0..3; their -32 offsets in the low halves.
        __m512i sub[4];
        for (int k = 0; k < 4; ++k) sub[k] = _mm512_maskz_set1_epi32(0x00FF, -32 * yb.bsums[8 * h + q + 2 * k]);
        for (int p = 0; p < 2; ++p) {
          const int col = 4 * q + 2 * p;  // column groups col, col + 1 of the half
          const __m512i a = _mm512_loadu_si512(g.ql + (16 * h + col) * 32);
          const __m512i bq = _mm512_loadu_si512(g.ql + (16 * h + 8 + col) * 32);
          const __m512i hi = _mm512_loadu_si512(g.qh + (8 * h + col) * 32);
          __m512i v[4];
          v[0] = _mm512_or_si512(_mm512_and_si512(a, low4), _mm512_and_si512(_mm512_slli_epi16(hi, 4), bits45));
          v[1] = _mm512_or_si512(_mm512_and_si512(bq, low4), _mm512_and_si512(_mm512_slli_epi16(hi, 2), bits45));
          v[2] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(a, 4), low4), _mm512_and_si512(hi, bits45));
          v[3] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(bq, 4), low4),
                                 _mm512_and_si512(_mm512_srli_epi16(hi, 2), bits45));
          const int8_t* ys = yb.qs + 128 * h + 16 * q + 8 * p;
          for (int k = 0; k < 4; ++k) {
            const __m512i y8 = _mm512_castsi128_si512(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(ys + 32 * k)));
            sub[k] = _mm512_dpbusd_epi32(sub[k], v[k], _mm512_permutexvar_epi32(pick, y8));
          }
        }
        for (int k = 0; k < 4; ++k) {
          const __m256i rows = _mm256_add_epi32(_mm512_castsi512_si256(sub[k]), _mm512_extracti64x4_epi64(sub[k], 1));
          const __m256i sc =
              _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(g.scales + (8 * h + q + 2 * k) * 8)));
          total = _mm256_add_epi32(total, _mm256_mullo_epi32(sc, rows));
        }
      }
    const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g.d))), _mm256_set1_ps(yb.d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(total), acc);
  }
  _mm256_storeu_ps(s, acc);
}

}  // namespace swapmoe::SWAPMOE_ISA_NS
