// exp rows (exp_rows.h): the AVX2 versions (exp_rows_avx2.cpp) when active_cpu_level() allows
// them, the NEON ones below on aarch64, else these scalar loops, which take the same operations in
// the same order.
#include "tensor/exp_rows.h"

#include "tensor/cpu_level.h"
#include "tensor/exp_rows_detail.h"

#if defined(SWAPMOE_FLOAT_ROWS_AVX2)
namespace swapmoe::avx2 {
double exp_shifted_row(float* x, int64_t n, float shift);
float max_row(const float* x, int64_t n, float init);
void scale_row(float* x, int64_t n, float s);
}  // namespace swapmoe::avx2
#endif

#if defined(__aarch64__)
#include <arm_neon.h>

// NEON (every aarch64 CPU): the same operations lane by lane, 8 values as two halves of 4.
namespace swapmoe::neon {
namespace {

inline float32x4_t exp4(float32x4_t x) {
  using namespace exp_detail;
  const uint32x4_t below = vcltq_f32(x, vdupq_n_f32(kLo));  // false for NaN (put back by the caller)
  x = vminq_f32(x, vdupq_n_f32(kHi));
  const float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(kLog2e)));
  float32x4_t r = vfmaq_f32(x, n, vdupq_n_f32(-kLn2Hi));  // x + n * -kLn2Hi, one rounding
  r = vfmaq_f32(r, n, vdupq_n_f32(-kLn2Lo));
  float32x4_t p = vdupq_n_f32(kC[0]);
  for (int i = 1; i < 6; ++i) p = vfmaq_f32(vdupq_n_f32(kC[i]), p, r);
  const float32x4_t y = vaddq_f32(vfmaq_f32(r, p, vmulq_f32(r, r)), vdupq_n_f32(1.0f));
  const int32x4_t bits = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
  const float32x4_t e = vmulq_f32(y, vreinterpretq_f32_s32(bits));
  return vbslq_f32(below, vdupq_n_f32(0.0f), e);
}

inline float32x4_t exp4_keep_nan(float32x4_t x) { return vbslq_f32(vceqq_f32(x, x), exp4(x), x); }

}  // namespace

int64_t exp_shifted_groups(float* x, int64_t n, float shift, double* sum) {
  const float32x4_t s = vdupq_n_f32(shift);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float32x4_t lo = exp4_keep_nan(vsubq_f32(vld1q_f32(x + i), s));
    const float32x4_t hi = exp4_keep_nan(vsubq_f32(vld1q_f32(x + i + 4), s));
    vst1q_f32(x + i, lo);
    vst1q_f32(x + i + 4, hi);
    // The AVX2 order: halves, then pairs, then the last two.
    const float32x4_t a = vaddq_f32(lo, hi);
    const float32x2_t b = vadd_f32(vget_low_f32(a), vget_high_f32(a));
    *sum += static_cast<double>(vget_lane_f32(b, 0) + vget_lane_f32(b, 1));
  }
  return i;
}

int64_t max_groups(const float* x, int64_t n, float* m) {
  // As the scalar `x > m ? x : m` (vmaxq would return a NaN in x).
  float32x4_t acc = vdupq_n_f32(*m);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t v = vld1q_f32(x + i);
    acc = vbslq_f32(vcgtq_f32(v, acc), v, acc);
  }
  float lanes[4];
  vst1q_f32(lanes, acc);
  for (float v : lanes) *m = v > *m ? v : *m;
  return i;
}

}  // namespace swapmoe::neon
#endif

namespace swapmoe {

float exp_poly(float x) { return exp_detail::exp_one(x); }

double exp_shifted_row(float* x, int64_t n, float shift) {
#if defined(SWAPMOE_FLOAT_ROWS_AVX2)
  if (avx2_active()) return avx2::exp_shifted_row(x, n, shift);
#endif
  double sum = 0;
  int64_t i = 0;
#if defined(__aarch64__)
  if (active_cpu_level() != CpuLevel::REF) i = neon::exp_shifted_groups(x, n, shift, &sum);
#endif
  for (; i + 8 <= n; i += 8) {
    float e[8];
    for (int k = 0; k < 8; ++k) e[k] = x[i + k] = exp_detail::exp_one(x[i + k] - shift);
    // The AVX2 horizontal sum's order: halves, then pairs, then the last two.
    const float a0 = e[0] + e[4], a1 = e[1] + e[5], a2 = e[2] + e[6], a3 = e[3] + e[7];
    const float b0 = a0 + a2, b1 = a1 + a3;
    sum += static_cast<double>(b0 + b1);
  }
  for (; i < n; ++i) {
    x[i] = exp_detail::exp_one(x[i] - shift);
    sum += static_cast<double>(x[i]);
  }
  return sum;
}

float max_row(const float* x, int64_t n, float init) {
#if defined(SWAPMOE_FLOAT_ROWS_AVX2)
  if (avx2_active()) return avx2::max_row(x, n, init);
#endif
  float m = init;
  int64_t i = 0;
#if defined(__aarch64__)
  if (active_cpu_level() != CpuLevel::REF) i = neon::max_groups(x, n, &m);
#endif
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

void scale_row(float* x, int64_t n, float s) {
#if defined(SWAPMOE_FLOAT_ROWS_AVX2)
  if (avx2_active()) return avx2::scale_row(x, n, s);
#endif
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

}  // namespace swapmoe
