// AVX2 activation quantisers, bit-identical to quantize_row_q8_0_ref / quantize_row_q8_K_ref:
// the same scale arithmetic in scalar, and the same rounding done 8 lanes at a time. Built in
// the avx2 flavour (isa_kernels.h), chosen by quantize_act.cpp.
#include <immintrin.h>

#include <cstring>

#include "kernels/isa_kernels.h"
#include "tensor/fp16.h"
#include "tensor/quant_blocks.h"

namespace swapmoe::avx2 {

namespace {

inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

// 32 int32 lanes (4 registers, in order) -> 32 int8, saturating.
inline __m256i pack_32(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_packs_epi32(a, b);  // lanes interleave per 128-bit half...
  const __m256i cd = _mm256_packs_epi32(c, d);
  const __m256i all = _mm256_packs_epi16(ab, cd);
  // ...so restore the element order with one cross-lane permute.
  return _mm256_permutevar8x32_epi32(all, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

inline int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

}  // namespace

void quantize_row_q8_0_act(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(vy);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 almost_half = _mm256_set1_ps(0x1.fffffep-2f);  // largest float below 0.5
  for (int64_t b = 0; b < n / QK8_0; ++b, x += QK8_0) {
    __m256 v[4];
    for (int k = 0; k < 4; ++k) v[k] = _mm256_loadu_ps(x + 8 * k);
    const __m256 m = _mm256_max_ps(_mm256_max_ps(abs_ps(v[0]), abs_ps(v[1])), _mm256_max_ps(abs_ps(v[2]), abs_ps(v[3])));
    const float amax = hmax(m);
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[4];
    for (int k = 0; k < 4; ++k) {
      // roundf (half away from zero): add the largest float below 0.5 with t's sign, truncate.
      const __m256 t = _mm256_mul_ps(v[k], vid);
      const __m256 bias = _mm256_or_ps(_mm256_and_ps(t, sign), almost_half);
      q[k] = _mm256_cvttps_epi32(_mm256_add_ps(t, bias));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs), pack_32(q[0], q[1], q[2], q[3]));
  }
}

void quantize_row_q8_K_act(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<BlockQ8_K*>(vy);
  for (int64_t b = 0; b < n / QK_K; ++b, x += QK_K) {
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < QK_K; j += 8) m = _mm256_max_ps(m, abs_ps(_mm256_loadu_ps(x + j)));
    const float amax = hmax(m);
    if (amax == 0.0f) {
      std::memset(&y[b], 0, sizeof(BlockQ8_K));
      continue;
    }
    // The reference keeps the signed value of the *first* element with the largest magnitude.
    int first = 0;
    // (Not std::fabs: at -O0 it is an out-of-line inline function, which must not be emitted
    // from a file built with AVX2; see check_no_weak_symbols.cmake.)
    while (x[first] != amax && x[first] != -amax) ++first;
    const float iscale = -127.f / x[first];
    const __m256 vis = _mm256_set1_ps(iscale);
    const __m256i q_max = _mm256_set1_epi32(127);
    for (int j = 0; j < QK_K; j += 32) {
      __m256i q[4];
      for (int k = 0; k < 4; ++k) {
        // cvtps rounds to nearest even under the default MXCSR, as nearest_int does.
        q[k] = _mm256_min_epi32(q_max, _mm256_cvtps_epi32(_mm256_mul_ps(vis, _mm256_loadu_ps(x + j + 8 * k))));
      }
      y[b].bsums[j / 16] = static_cast<int16_t>(hsum_i32(_mm256_add_epi32(q[0], q[1])));
      y[b].bsums[j / 16 + 1] = static_cast<int16_t>(hsum_i32(_mm256_add_epi32(q[2], q[3])));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs + j), pack_32(q[0], q[1], q[2], q[3]));
    }
    y[b].d = 1 / iscale;
  }
}

}  // namespace swapmoe::avx2
