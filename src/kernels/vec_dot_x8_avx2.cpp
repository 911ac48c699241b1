// The interleaved Q4_0 kernels (tensor/interleave.h) in the 256-bit flavours: a group of 8 rows
// in the 8 int32 lanes. Each 32-byte load of weights holds 4 consecutive values of every row
// (low nibbles) and the 4 values 16 further on (high nibbles); the activation's matching 4
// bytes are broadcast to all lanes, so one u8 x s8 dot step serves 8 rows. The offset of the
// nibbles (-8 * sum of the activation block) starts the integer sum, as in the reference.
#include <immintrin.h>

#include <cstring>

#include "kernels/avx2_helpers.h"
#include "kernels/isa_kernels.h"
#include "tensor/interleave.h"
#include "tensor/quant_blocks.h"

namespace swapmoe::SWAPMOE_ISA_NS {

namespace {

// acc + sums of 4 adjacent u8 x s8 products (u: nibbles, so maddubs cannot saturate).
inline __m256i add_dot_u8s8(__m256i acc, __m256i u, __m256i s) {
#if SWAPMOE_VNNI256 == 2
  return _mm256_dpbusd_epi32(acc, u, s);
#elif SWAPMOE_VNNI256 == 1
  return _mm256_dpbusd_avx_epi32(acc, u, s);
#else
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

// 4 activation bytes starting at p, in every lane.
inline __m256i broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm256_set1_epi32(v);
}

// The 8 rows' nibbles of block b: u[c] low, u[4 + c] high nibbles of chunk c.
inline void unpack_group_block(const BlockQ4_0x8& x, __m256i* u) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  for (int c = 0; c < 4; ++c) {
    const __m256i w = load256(x.qs + c * 32);
    u[c] = _mm256_and_si256(w, low4);
    u[4 + c] = _mm256_and_si256(_mm256_srli_epi16(w, 4), low4);
  }
}

// Integer sums of one activation block against the unpacked group block, one per row (lane).
inline __m256i block_sums(const __m256i* u, const BlockQ8_0& y, int32_t offset) {
  __m256i lo = _mm256_set1_epi32(offset), hi = _mm256_setzero_si256();
  for (int c = 0; c < 4; ++c) {
    lo = add_dot_u8s8(lo, u[c], broadcast4(y.qs + c * 4));
    hi = add_dot_u8s8(hi, u[4 + c], broadcast4(y.qs + 16 + c * 4));
  }
  return _mm256_add_epi32(lo, hi);
}

}  // namespace

void gemv_q4_0x8(int64_t n, float* s, const void* vx, const X8Activation& y) {
  const auto* x = static_cast<const BlockQ4_0x8*>(vx);
  const auto* yq = static_cast<const BlockQ8_0*>(y.q);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK4_0; ++b) {
    __m256i u[8];
    unpack_group_block(x[b], u);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].d)));
    const __m256i sums = block_sums(u, yq[b], y.offset[b]);
    acc = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(y.d[b])), _mm256_cvtepi32_ps(sums), acc);
  }
  _mm256_storeu_ps(s, acc);
}

void gemm4_q4_0x8(int64_t n, float* s, const void* vx, const X8Activation* y) {
  const auto* x = static_cast<const BlockQ4_0x8*>(vx);
  const BlockQ8_0* yq[4];
  for (int t = 0; t < 4; ++t) yq[t] = static_cast<const BlockQ8_0*>(y[t].q);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < n / QK4_0; ++b) {
    __m256i u[8];
    unpack_group_block(x[b], u);  // once for 4 tokens
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].d)));
    for (int t = 0; t < 4; ++t) {
      const __m256i sums = block_sums(u, yq[t][b], y[t].offset[b]);
      acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(y[t].d[b])), _mm256_cvtepi32_ps(sums), acc[t]);
    }
  }
  for (int t = 0; t < 4; ++t) _mm256_storeu_ps(s + t * kInterleaveRows, acc[t]);
}

}  // namespace swapmoe::SWAPMOE_ISA_NS
