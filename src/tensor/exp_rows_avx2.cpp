// exp rows for AVX2 + FMA CPUs (exp_rows.h); compiled with -mavx2 -mfma, called only when
// active_cpu_level() is AVX2 or above (exp_rows.cpp). Each lane takes exp_detail::exp_one's
// operations, so the results are the scalar loop's bits.
#include <immintrin.h>

#include "tensor/exp_rows_detail.h"

namespace swapmoe::avx2 {

namespace {

inline __m256 exp8(__m256 x) {
  using namespace exp_detail;
  const __m256 below = _mm256_cmp_ps(x, _mm256_set1_ps(kLo), _CMP_LT_OQ);  // false for NaN
  x = _mm256_min_ps(x, _mm256_set1_ps(kHi));  // NaN lanes: the caller puts the NaN back
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-kLn2Hi), x);
  r = _mm256_fmadd_ps(n, _mm256_set1_ps(-kLn2Lo), r);
  __m256 p = _mm256_set1_ps(kC[0]);
  for (int i = 1; i < 6; ++i) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kC[i]));
  const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
  // 2^n; lanes below kLo (n < -126, garbage exponent bits) are zeroed after.
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(below, _mm256_mul_ps(y, _mm256_castsi256_ps(bits)));
}

}  // namespace

double exp_shifted_row(float* x, int64_t n, float shift) {
  const __m256 s = _mm256_set1_ps(shift);
  double sum = 0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 xi = _mm256_sub_ps(_mm256_loadu_ps(x + i), s);
    // NaN lanes keep their NaN (exp_one's first test).
    const __m256 e = _mm256_blendv_ps(exp8(xi), xi, _mm256_cmp_ps(xi, xi, _CMP_UNORD_Q));
    _mm256_storeu_ps(x + i, e);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(e), _mm256_extractf128_ps(e, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    sum += static_cast<double>(_mm_cvtss_f32(h));
  }
  for (; i < n; ++i) {
    x[i] = exp_detail::exp_one(x[i] - shift);
    sum += static_cast<double>(x[i]);
  }
  return sum;
}

float max_row(const float* x, int64_t n, float init) {
  // maxps(a, b) = a > b ? a : b, as the scalar loop's comparison with a = x[i], b = the max so far.
  __m256 m = _mm256_set1_ps(init);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) m = _mm256_max_ps(_mm256_loadu_ps(x + i), m);
  float lanes[8];
  _mm256_storeu_ps(lanes, m);
  float r = init;
  for (float v : lanes) r = v > r ? v : r;
  for (; i < n; ++i) r = x[i] > r ? x[i] : r;
  return r;
}

void scale_row(float* x, int64_t n, float s) {
  const __m256 v = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), v));
  for (; i < n; ++i) x[i] *= s;
}

}  // namespace swapmoe::avx2
