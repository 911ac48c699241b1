#include "model/ops.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "tensor/exp_rows.h"

namespace swapmoe {

namespace {
// Sum of squares in double, four independent sums: one chain of dependent double additions ran
// at one element per add latency (a norm of 256 values took about 0.3 us, 5% of a small model's
// decode step). Double keeps the order's effect far below a float's last bit.
double sum_of_squares(const float* x, int64_t n) {
  double s[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int j = 0; j < 4; ++j) s[j] += static_cast<double>(x[i + j]) * x[i + j];
  for (; i < n; ++i) s[0] += static_cast<double>(x[i]) * x[i];
  return (s[0] + s[1]) + (s[2] + s[3]);
}
}  // namespace

float rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  const float mean = static_cast<float>(sum_of_squares(x, n) / n);
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
  return static_cast<float>(std::sqrt(sum_of_squares(out, n)));
}

void rope_apply(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float* cos_sin) {
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (int64_t i = 0; i < n_rot; i += 2) {
      const float c = cos_sin[i], s = cos_sin[i + 1];
      const float x0 = v[i], x1 = v[i + 1];
      v[i] = x0 * c - x1 * s;
      v[i + 1] = x0 * s + x1 * c;
    }
  }
}

void rope_apply_neox(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float* cos_sin) {
  const int64_t half = n_rot / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (int64_t i = 0; i < n_rot; i += 2) {
      const float c = cos_sin[i], s = cos_sin[i + 1];
      const float x0 = v[i / 2], x1 = v[i / 2 + half];
      v[i / 2] = x0 * c - x1 * s;
      v[i / 2 + half] = x0 * s + x1 * c;
    }
  }
}

void softmax(float* x, int64_t n) { softmax_with_sink(x, n, -std::numeric_limits<float>::infinity()); }

void softmax_with_sink(float* x, int64_t n, float sink) {
  // Vectorised exp (tensor/exp_rows.h): the same bits at every CPU level; a scalar expf a score
  // was a tenth of long-context prefill.
  const float max = max_row(x, n, sink);
  double sum = exp_shifted_row(x, n, max);
  if (sink != -std::numeric_limits<float>::infinity()) sum += exp_poly(sink - max);
  scale_row(x, n, static_cast<float>(1.0 / sum));
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = silu(gate[i]) * up[i];
}

void swiglu_oai(const float* gate, const float* up, float* out, int64_t n, float alpha, float limit) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = std::min(gate[i], limit);
    const float u = std::clamp(up[i], -limit, limit);
    out[i] = g / (1.0f + std::exp(alpha * (-g))) * (u + 1.0f);
  }
}

}  // namespace swapmoe
