// Helpers shared by the kernel tests: quantised random rows and a tolerance for dot products.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "tensor/fp16.h"
#include "tensor/ggml_type.h"
#include "tensor/quant_blocks.h"
#include "tensor/test_data.h"

namespace swapmoe::test {

// n values of type t: from weight_like (weights) or smooth random values (activations).
inline std::vector<uint8_t> quantized_row(GgmlType t, int64_t n, uint64_t seed, bool weights) {
  std::vector<float> x;
  if (weights) {
    x = weight_like(n, seed);
  } else {
    XorShift rng(seed);
    x.resize(n);
    for (auto& v : x) v = rng.symmetric() + 0.5f * rng.symmetric();
  }
  std::vector<uint8_t> q(row_size(t, n) + 64);  // slack: kernels must not read past the row
  type_traits(t).from_float(x.data(), q.data(), n);
  return q;
}

inline std::vector<float> dequantized(GgmlType t, const std::vector<uint8_t>& q, int64_t n) {
  std::vector<float> y(n);
  type_traits(t).to_float(q.data(), y.data(), n);
  return y;
}

// Exact dot of two dequantised rows in double, and the sum of |terms| that scales rounding error.
struct DotTruth {
  double value = 0;
  double magnitude = 0;
};
inline DotTruth dot_truth(const std::vector<float>& a, const std::vector<float>& b) {
  DotTruth t;
  for (size_t i = 0; i < a.size(); ++i) {
    t.value += double(a[i]) * b[i];
    t.magnitude += std::fabs(double(a[i]) * b[i]);
  }
  return t;
}

// Q4_1/Q5_1 dot products take the activation sum of each block from its Q8_1 field
// s = fp16(d * sum(q)), as ggml does, so they differ from the dot of the dequantised rows by
// exactly sum_b m_b * (s_b - d_b * sum(q_b)). That difference for weight type w (0 unless its
// activations are Q8_1); add it to a dequantised "truth".
inline double q8_1_sum_rounding(GgmlType w, const void* qw, const void* qa, int64_t n) {
  if (type_traits(w).vec_dot_type != GgmlType::Q8_1) return 0;
  const auto* wb = static_cast<const uint8_t*>(qw);
  const auto* a = static_cast<const BlockQ8_1*>(qa);
  double diff = 0;
  for (int64_t b = 0; b < n / QK8_1; ++b, wb += type_traits(w).type_size) {
    uint16_t m;  // Q4_1 and Q5_1 both start with d, m
    std::memcpy(&m, wb + 2, 2);
    int sum = 0;
    for (int j = 0; j < QK8_1; ++j) sum += a[b].qs[j];
    diff += double(fp16_to_fp32(m)) * (double(fp16_to_fp32(a[b].s)) - double(fp16_to_fp32(a[b].d)) * sum);
  }
  return diff;
}

}  // namespace swapmoe::test
