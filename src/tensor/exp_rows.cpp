// exp rows (exp_rows.h): the AVX2 versions (exp_rows_avx2.cpp) when active_cpu_level() allows
// them, else these scalar loops, which take the same operations in the same order.
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

namespace swapmoe {

float exp_poly(float x) { return exp_detail::exp_one(x); }

double exp_shifted_row(float* x, int64_t n, float shift) {
#if defined(SWAPMOE_FLOAT_ROWS_AVX2)
  if (avx2_active()) return avx2::exp_shifted_row(x, n, shift);
#endif
  double sum = 0;
  int64_t i = 0;
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
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

void scale_row(float* x, int64_t n, float s) {
#if defined(SWAPMOE_FLOAT_ROWS_AVX2)
  if (avx2_active()) return avx2::scale_row(x, n, s);
#endif
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

}  // namespace swapmoe
