// The SIMD activation quantisers must produce exactly the reference bytes.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kernels/quantize_act.h"
#include "tensor/quantize.h"
#include "tensor/test_data.h"

namespace swapmoe {
namespace {

void expect_same_bytes(GgmlType t, const std::vector<float>& x) {
  const auto n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> ref(row_size(t, n)), got(row_size(t, n), 0xAB);
  type_traits(t).from_float(x.data(), ref.data(), n);
  quantize_act_row(t, x.data(), got.data(), n);
  ASSERT_EQ(std::memcmp(ref.data(), got.data(), ref.size()), 0) << type_name(t);
}

TEST(QuantizeAct, MatchesReferenceOnRandomData) {
  for (uint64_t seed = 1; seed < 6; ++seed) {
    expect_same_bytes(GgmlType::Q8_0, test::weight_like(4096, seed));
    expect_same_bytes(GgmlType::Q8_K, test::weight_like(4096, seed));
  }
}

TEST(QuantizeAct, RoundingTiesMatchReference) {
  // amax = 127 gives d = 1 and id = 1, so x.5 values hit roundf's ties exactly.
  std::vector<float> x(256);
  for (int i = 0; i < 256; ++i) x[i] = (i % 32 == 0) ? 127.0f : static_cast<float>(i % 64 - 32) + 0.5f;
  expect_same_bytes(GgmlType::Q8_0, x);
  expect_same_bytes(GgmlType::Q8_K, x);
  // Equal magnitudes of both signs: Q8_K keeps the sign of the first one.
  std::vector<float> y(256, 0.25f);
  y[10] = -3.0f;
  y[20] = 3.0f;
  expect_same_bytes(GgmlType::Q8_K, y);
  std::vector<float> z(256, 0.0f);
  expect_same_bytes(GgmlType::Q8_0, z);
  expect_same_bytes(GgmlType::Q8_K, z);
}

}  // namespace
}  // namespace swapmoe
