// 4-row dot products for matrix-vector products, 256-bit VNNI (vpdpbusd u8 x s8).
//
// Both kernels turn the weights into unsigned bytes so vpdpbusd can take them directly, and
// fold the correction into the accumulator's starting value, computed once per activation
// block for all 4 rows:  sum (q - o) * y = dpbusd(-o * sum(y), q, y).
//   Q4_0: q = nibble in [0, 15], o = 8.      Q8_0: q = x ^ 0x80 = x + 128, o = 128.
//
// Built in the two VNNI flavours (isa_kernels.h): SWAPMOE_VNNI256=1 VEX (AVX-VNNI),
// 2 EVEX (AVX512-VNNI + VL); vec_dot_avx2.cpp of the same flavour lists them in its table.
#include <immintrin.h>

#include "kernels/avx2_helpers.h"
#include "kernels/isa_kernels.h"
#include "tensor/quant_blocks.h"

#if !defined(SWAPMOE_ISA_NS) || !defined(SWAPMOE_VNNI256) || SWAPMOE_VNNI256 == 0
#error "vec_dot_x4_vnni.cpp is built in the VNNI flavours only: see src/kernels/CMakeLists.txt"
#endif

namespace swapmoe::SWAPMOE_ISA_NS {

namespace {

inline __m256i dpbusd(__m256i acc, __m256i u, __m256i s) {
#if SWAPMOE_VNNI256 == 2
  return _mm256_dpbusd_epi32(acc, u, s);
#else
  return _mm256_dpbusd_avx_epi32(acc, u, s);
#endif
}

// An fp16 scale broadcast to 8 float lanes (vpbroadcastw + vcvtph2ps, no scalar round trip).
inline __m256 broadcast_fp16(const uint16_t* h) {
  return _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(*h)));
}

// -offset * (sums of 4 adjacent y), the accumulator start that removes the weight offset.
inline __m256i offset_start(__m256i yq, __m256i offset_bytes) {
  const __m256i zero = _mm256_setzero_si256();
  return _mm256_sub_epi32(zero, dpbusd(zero, offset_bytes, yq));
}

}  // namespace

void vec_dot_x4_q8_0_q8_0(int64_t n, float* s, const void* vx, size_t bx, const void* vy) {
  const auto* x0 = static_cast<const uint8_t*>(vx);
  const auto* y = static_cast<const BlockQ8_0*>(vy);
  const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < n / QK8_0; ++b) {
    const __m256i yq = load256(y[b].qs);
    const __m256i start = offset_start(yq, bias);
    const __m256 yd = broadcast_fp16(&y[b].d);
    for (int r = 0; r < 4; ++r) {
      const auto* xb = reinterpret_cast<const BlockQ8_0*>(x0 + r * bx) + b;
      const __m256i p = dpbusd(start, _mm256_xor_si256(load256(xb->qs), bias), yq);
      acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(broadcast_fp16(&xb->d), yd), _mm256_cvtepi32_ps(p), acc[r]);
    }
  }
  for (int r = 0; r < 4; ++r) s[r] = hsum(acc[r]);
}

void vec_dot_x4_q4_0_q8_0(int64_t n, float* s, const void* vx, size_t bx, const void* vy) {
  const auto* x0 = static_cast<const uint8_t*>(vx);
  const auto* y = static_cast<const BlockQ8_0*>(vy);
  const __m256i eight = _mm256_set1_epi8(8);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < n / QK4_0; ++b) {
    const __m256i yq = load256(y[b].qs);
    const __m256i start = offset_start(yq, eight);
    const __m256 yd = broadcast_fp16(&y[b].d);
    for (int r = 0; r < 4; ++r) {
      const auto* xb = reinterpret_cast<const BlockQ4_0*>(x0 + r * bx) + b;
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(xb->qs));
      const __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), low4);
      const __m256i p = dpbusd(start, q, yq);
      acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(broadcast_fp16(&xb->d), yd), _mm256_cvtepi32_ps(p), acc[r]);
    }
  }
  for (int r = 0; r < 4; ++r) s[r] = hsum(acc[r]);
}

// ---- 4 rows x 4 tokens: the prefill register tile
//
// The 4-row kernels above, each weight block also used for 4 tokens while it sits in registers:
// per block, the weights are loaded and made unsigned once for 4 tokens and each token's
// correction computed once for 4 rows, leaving one dpbusd, a convert and a scaled add per
// (row, token). s[t * 4 + r] = dot(row r, token t).
namespace {

template <typename WeightBytes>
void x4t4(int64_t nb, float* s, const uint8_t* x0, size_t bx, size_t block_bytes, const void* const* vy,
          __m256i offset_bytes, WeightBytes weight_bytes) {
  const BlockQ8_0* y[4];
  for (int t = 0; t < 4; ++t) y[t] = static_cast<const BlockQ8_0*>(vy[t]);
  __m256 acc[4][4];
  for (auto& row : acc)
    for (auto& a : row) a = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m256i w[4];
    __m256 xd[4];
    for (int r = 0; r < 4; ++r) {
      const uint8_t* xb = x0 + r * bx + b * block_bytes;
      w[r] = weight_bytes(xb);
      xd[r] = broadcast_fp16(reinterpret_cast<const uint16_t*>(xb));  // d is each block's first field
    }
    for (int t = 0; t < 4; ++t) {
      const __m256i yq = load256(y[t][b].qs);
      const __m256i start = offset_start(yq, offset_bytes);
      const __m256 yd = broadcast_fp16(&y[t][b].d);
      for (int r = 0; r < 4; ++r) {
        const __m256i p = dpbusd(start, w[r], yq);
        acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(xd[r], yd), _mm256_cvtepi32_ps(p), acc[r][t]);
      }
    }
  }
  for (int t = 0; t < 4; ++t)
    for (int r = 0; r < 4; ++r) s[t * 4 + r] = hsum(acc[r][t]);
}

}  // namespace

void vec_dot_x4t4_q8_0_q8_0(int64_t n, float* s, const void* vx, size_t bx, const void* const* vy) {
  const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
  x4t4(n / QK8_0, s, static_cast<const uint8_t*>(vx), bx, sizeof(BlockQ8_0), vy, bias, [&](const uint8_t* xb) {
    return _mm256_xor_si256(load256(reinterpret_cast<const BlockQ8_0*>(xb)->qs), bias);
  });
}

void vec_dot_x4t4_q4_0_q8_0(int64_t n, float* s, const void* vx, size_t bx, const void* const* vy) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  x4t4(n / QK4_0, s, static_cast<const uint8_t*>(vx), bx, sizeof(BlockQ4_0), vy, _mm256_set1_epi8(8),
       [&](const uint8_t* xb) {
         const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const BlockQ4_0*>(xb)->qs));
         return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), low4);
       });
}

}  // namespace swapmoe::SWAPMOE_ISA_NS
