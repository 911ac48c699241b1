// Attention's scores over an f16 key cache, AVX-512 (the avx512 flavour): 4 consecutive key rows
// against 1 or 4 f32 queries. Each (query, key) pair has one accumulator, run along the head in
// 16-value steps, and one reduction (halves added down to 4 lanes, then two horizontal adds
// that also gather the 4 keys' sums into one register): the same operations whatever the number
// of queries, so a query's scores do not depend on the queries beside it.

// GCC 12's AVX-512 headers build conversions and extracts from _mm512_undefined_*(), which trips
// -W(maybe-)uninitialized falsely at every inlined use (as in vec_dot_avx512.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/isa_kernels.h"

namespace swapmoe::avx512 {

namespace {

template <int T>
void f16_keys(int64_t n, float* s, const void* vx, size_t x_stride, const float* const* y) {
  const auto* x = static_cast<const uint8_t*>(vx);
  __m512 acc[T][4];
  for (int t = 0; t < T; ++t)
    for (int r = 0; r < 4; ++r) acc[t][r] = _mm512_setzero_ps();
  auto key = [&](int r, int64_t i, __mmask16 m) {
    const auto* row = reinterpret_cast<const uint16_t*>(x + r * x_stride);
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, row + i));
  };
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (n - i)) - 1);  // zeros add nothing
    const __m512 k0 = key(0, i, m), k1 = key(1, i, m), k2 = key(2, i, m), k3 = key(3, i, m);
    for (int t = 0; t < T; ++t) {
      const __m512 q = _mm512_maskz_loadu_ps(m, y[t] + i);
      acc[t][0] = _mm512_fmadd_ps(k0, q, acc[t][0]);
      acc[t][1] = _mm512_fmadd_ps(k1, q, acc[t][1]);
      acc[t][2] = _mm512_fmadd_ps(k2, q, acc[t][2]);
      acc[t][3] = _mm512_fmadd_ps(k3, q, acc[t][3]);
    }
  }
  for (int t = 0; t < T; ++t) {
    __m128 quarter[4];
    for (int r = 0; r < 4; ++r) {
      const __m512d a = _mm512_castps_pd(acc[t][r]);
      const __m256 half = _mm256_add_ps(_mm256_castpd_ps(_mm512_extractf64x4_pd(a, 0)),
                                        _mm256_castpd_ps(_mm512_extractf64x4_pd(a, 1)));
      quarter[r] = _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1));
    }
    const __m128 sums = _mm_hadd_ps(_mm_hadd_ps(quarter[0], quarter[1]), _mm_hadd_ps(quarter[2], quarter[3]));
    _mm_storeu_ps(s + 4 * t, sums);
  }
}

void f16_keys_x4(int64_t n, float* s, const void* x, size_t x_stride, const void* y) {
  const auto* q = static_cast<const float*>(y);
  f16_keys<1>(n, s, x, x_stride, &q);
}

void f16_keys_x4t4(int64_t n, float* s, const void* x, size_t x_stride, const void* const* y) {
  f16_keys<4>(n, s, x, x_stride, reinterpret_cast<const float* const*>(y));
}

}  // namespace

extern constinit const AttentionKeyKernels kF16Keys{.x4 = f16_keys_x4, .x4t4 = f16_keys_x4t4};

}  // namespace swapmoe::avx512
