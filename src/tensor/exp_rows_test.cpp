// exp rows for softmax: accuracy against the correctly rounded exp, the edges (-inf, underflow,
// NaN, large arguments), and the same bits and the same sum at every CPU level.
#include "tensor/exp_rows.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "tensor/cpu_level.h"
#include "tensor/fp16.h"
#include "tensor/test_data.h"

namespace swapmoe {
namespace {

TEST(ExpRows, WithinTwoUlpOfExpOverTheRangeSoftmaxUses) {
  // Values about 0.0137 apart from -87.3 to 88 (12.8 thousand).
  int64_t checked = 0;
  float worst = 0;
  for (float x = -87.3f; x < 88.0f; x = std::nextafter(x, 100.0f) + 0.0137f) {
    const double want = std::exp(static_cast<double>(x));
    const float got = exp_poly(x);
    const double ulp = std::nextafter(static_cast<float>(want), std::numeric_limits<float>::infinity()) - static_cast<float>(want);
    const float err = static_cast<float>(std::fabs(got - want) / ulp);
    worst = std::max(worst, err);
    ASSERT_LE(err, 2.0f) << "x=" << x << " got " << got << " want " << want;
    ++checked;
  }
  EXPECT_GT(checked, 10000);
  EXPECT_EQ(exp_poly(0.0f), 1.0f);
  RecordProperty("worst_ulp", std::to_string(worst));
}

TEST(ExpRows, EdgesAreExact) {
  EXPECT_EQ(exp_poly(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(exp_poly(-100.0f), 0.0f);  // below about ln(FLT_MIN): 0, not a denormal
  EXPECT_TRUE(std::isnan(exp_poly(std::nanf(""))));
  EXPECT_TRUE(std::isfinite(exp_poly(1000.0f)));  // clamped, never inf
  EXPECT_GT(exp_poly(-87.0f), 0.0f);
}

TEST(ExpRows, SameBitsAndSumAtEveryLevel) {
  const CpuLevel saved = active_cpu_level();
  for (int64_t n : {0, 1, 7, 8, 9, 31, 64, 1003}) {
    std::vector<float> x = test::weight_like(n, 21);
    for (float& v : x) v *= 40.0f;  // scores from about -40 to 40
    if (n > 20) {
      x[3] = -std::numeric_limits<float>::infinity();
      x[11] = -200.0f;
      x[12] = std::nanf("");
    }
    std::vector<std::vector<float>> out;
    std::vector<double> sums;
    std::vector<float> maxes;
    for (CpuLevel level : {detected_cpu_level(), CpuLevel::REF}) {
      set_max_cpu_level(level);
      out.push_back(x);
      maxes.push_back(max_row(x.data(), n, -std::numeric_limits<float>::infinity()));
      sums.push_back(exp_shifted_row(out.back().data(), n, 3.5f));
      scale_row(out.back().data(), n, 0.25f);
    }
    set_max_cpu_level(saved);
    EXPECT_EQ(fp32_bits(maxes[0]), fp32_bits(maxes[1])) << n;
    if (n > 20) {
      float want = -std::numeric_limits<float>::infinity();
      for (float v : x) want = v > want ? v : want;
      EXPECT_EQ(maxes[0], want);
    }
    EXPECT_TRUE(sums[0] == sums[1] || (std::isnan(sums[0]) && std::isnan(sums[1]))) << n;
    double naive = 0;
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(fp32_bits(out[0][i]), fp32_bits(out[1][i])) << "n=" << n << " i=" << i;
      const float e = exp_poly(x[i] - 3.5f);
      if (std::isnan(e)) {
        ASSERT_TRUE(std::isnan(out[0][i]));
        continue;
      }
      ASSERT_EQ(fp32_bits(out[0][i]), fp32_bits(e * 0.25f)) << i;  // the row is exp_poly, value by value
      naive += e;
    }
    if (n > 20) {
      EXPECT_TRUE(std::isnan(sums[0]));
    } else {
      EXPECT_NEAR(sums[0], naive, 1e-6 * naive) << n;
    }
  }
}

}  // namespace
}  // namespace swapmoe
