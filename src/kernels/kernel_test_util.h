// Helpers shared by the kernel tests: quantised random rows and a tolerance for dot products.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "tensor/ggml_type.h"
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

}  // namespace swapmoe::test
