// Attention's scores over an f16 key cache, 256-bit (compiled in every AVX2 flavour): 4
// consecutive key rows against 1 or 4 f32 queries. Each (query, key) pair has one accumulator,
// run along the head in 8-value steps, and one reduction (halves added, then two horizontal adds
// that also gather the 4 keys' sums): the same operations whatever the number of queries, so a
// query's scores do not depend on the queries beside it. 4 queries go 2 at a time with 16
// registers, all 4 at once with the EVEX flavour's 32.
// The avx512 level uses these too: a 512-bit version was slower on this machine's Zen 4
// (attention_keys/x4t4: 55.7 ns against 44.8, kernels_bench).
#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernels/isa_kernels.h"
#include "tensor/fp16.h"

namespace swapmoe::SWAPMOE_ISA_NS {

namespace {

template <int T>
void f16_keys(int64_t n, float* s, const uint8_t* x, size_t x_stride, const float* const* y) {
  __m256 acc[T][4];
  for (int t = 0; t < T; ++t)
    for (int r = 0; r < 4; ++r) acc[t][r] = _mm256_setzero_ps();
  auto key = [&](int r, int64_t i) {
    const auto* row = reinterpret_cast<const uint16_t*>(x + r * x_stride);
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i)));
  };
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 k0 = key(0, i), k1 = key(1, i), k2 = key(2, i), k3 = key(3, i);
    for (int t = 0; t < T; ++t) {
      const __m256 q = _mm256_loadu_ps(y[t] + i);
      acc[t][0] = _mm256_fmadd_ps(k0, q, acc[t][0]);
      acc[t][1] = _mm256_fmadd_ps(k1, q, acc[t][1]);
      acc[t][2] = _mm256_fmadd_ps(k2, q, acc[t][2]);
      acc[t][3] = _mm256_fmadd_ps(k3, q, acc[t][3]);
    }
  }
  for (int t = 0; t < T; ++t) {
    __m128 quarter[4];
    for (int r = 0; r < 4; ++r)
      quarter[r] = _mm_add_ps(_mm256_castps256_ps128(acc[t][r]), _mm256_extractf128_ps(acc[t][r], 1));
    float sums[4];
    _mm_storeu_ps(sums, _mm_hadd_ps(_mm_hadd_ps(quarter[0], quarter[1]), _mm_hadd_ps(quarter[2], quarter[3])));
    for (int r = 0; r < 4; ++r) {  // head sizes that are not a multiple of 8
      const auto* row = reinterpret_cast<const uint16_t*>(x + r * x_stride);
      for (int64_t j = i; j < n; ++j) sums[r] = std::fma(fp16_to_fp32(row[j]), y[t][j], sums[r]);
      s[4 * t + r] = sums[r];
    }
  }
}

void f16_keys_x4(int64_t n, float* s, const void* x, size_t x_stride, const void* y) {
  const auto* q = static_cast<const float*>(y);
  f16_keys<1>(n, s, static_cast<const uint8_t*>(x), x_stride, &q);
}

void f16_keys_x4t4(int64_t n, float* s, const void* x, size_t x_stride, const void* const* y) {
  const auto* const* q = reinterpret_cast<const float* const*>(y);
#if defined(__AVX512VL__)
  // 32 vector registers (the EVEX flavour): all 4 queries in one pass, each key block widened
  // once for 4 queries, not twice for 2 and 2.
  f16_keys<4>(n, s, static_cast<const uint8_t*>(x), x_stride, q);
#else
  f16_keys<2>(n, s, static_cast<const uint8_t*>(x), x_stride, q);
  f16_keys<2>(n, s + 8, static_cast<const uint8_t*>(x), x_stride, q + 2);
#endif
}

}  // namespace

extern constinit const AttentionKeyKernels kF16Keys{.x4 = f16_keys_x4, .x4t4 = f16_keys_x4t4};

}  // namespace swapmoe::SWAPMOE_ISA_NS
