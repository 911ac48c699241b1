// The router rules and NEOX RoPE against direct formulas.
#include "model/router.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/ops.h"
#include "model/rope.h"

namespace swapmoe {
namespace {

const float kLogits[6] = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f, 0.0f};

double softmax_of(int e, const std::vector<int>& over) {
  double sum = 0;
  for (int i : over) sum += std::exp(double(kLogits[i]));
  return std::exp(double(kLogits[e])) / sum;
}

TEST(Router, SoftmaxRenormalisedPicksTheTopKTiesToTheLowerIndex) {
  int32_t ids[3];
  float w[3];
  ASSERT_EQ(route(RouterRule{}, kLogits, 6, 3, nullptr, ids, w), 3);
  EXPECT_EQ(ids[0], 1);
  EXPECT_EQ(ids[1], 3);
  EXPECT_EQ(ids[2], 4);
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(w[j], softmax_of(ids[j], {1, 3, 4}), 1e-6);
}

TEST(Router, MaskingRoutesAmongTheUsableExpertsWithTheSameRule) {
  const uint8_t usable[6] = {1, 0, 1, 0, 1, 1};
  int32_t ids[2];
  float w[2];
  ASSERT_EQ(route(RouterRule{}, kLogits, 6, 2, usable, ids, w), 2);
  EXPECT_EQ(ids[0], 4);
  EXPECT_EQ(ids[1], 0);
  EXPECT_NEAR(w[0] + w[1], 1.0, 1e-6);
  const uint8_t one[6] = {0, 0, 1, 0, 0, 0};
  EXPECT_EQ(route(RouterRule{}, kLogits, 6, 2, one, ids, w), 1) << "fewer usable than k";
  EXPECT_EQ(ids[0], 2);
  EXPECT_FLOAT_EQ(w[0], 1.0f);
}

TEST(Router, SoftmaxWithoutRenormalisationKeepsTheProbabilities) {
  RouterRule rule;
  rule.normalize = false;
  int32_t ids[2];
  float w[2];
  route(rule, kLogits, 6, 2, nullptr, ids, w);
  for (int j = 0; j < 2; ++j) EXPECT_NEAR(w[j], softmax_of(ids[j], {0, 1, 2, 3, 4, 5}), 1e-6);
  const uint8_t usable[6] = {1, 0, 1, 0, 1, 1};  // masked: probabilities over the usable ones
  route(rule, kLogits, 6, 2, usable, ids, w);
  for (int j = 0; j < 2; ++j) EXPECT_NEAR(w[j], softmax_of(ids[j], {0, 2, 4, 5}), 1e-6);
}

TEST(Router, SigmoidGatingNormalisedAndScaled) {
  RouterRule rule;
  rule.gating = GatingFn::SIGMOID;
  rule.scale = 2.5f;
  int32_t ids[2];
  float w[2];
  route(rule, kLogits, 6, 2, nullptr, ids, w);
  const double s1 = 1 / (1 + std::exp(-2.0)), s3 = s1;
  EXPECT_NEAR(w[0], 2.5 * s1 / (s1 + s3), 1e-6);
  rule.normalize = false;
  route(rule, kLogits, 6, 2, nullptr, ids, w);
  EXPECT_NEAR(w[0], 2.5 * s1, 1e-6);
}

// DeepSeek-V3: sigmoid probabilities, a selection bias, groups of two scored by the sum of their
// two best selection values; weights are the unbiased probabilities, renormalised and scaled.
TEST(Router, GroupLimitedSigmoidWithSelectionBias) {
  const float logits[8] = {3.0f, -3.0f, 1.0f, 1.0f, 2.5f, -2.0f, 0.0f, 0.5f};
  const float bias[8] = {0, 0, 0, 0, 0, 0, 0.9f, 0};
  auto sig = [&](int e) { return 1.0 / (1.0 + std::exp(-double(logits[e]))); };
  RouterRule rule{GatingFn::SIGMOID, /*normalize=*/true, /*scale=*/2.0f, /*n_groups=*/4, /*n_groups_used=*/2};
  // Group sums: {0,1} 0.95+0.05=1.00; {2,3} 0.73+0.73=1.46; {4,5} 0.92+0.12=1.04; {6,7} 1.40+0.62=2.02.
  // Groups {6,7} and {2,3} win although experts 0 and 4 have the best probabilities.
  int32_t ids[2];
  float w[2];
  ASSERT_EQ(route(rule, logits, 8, 2, nullptr, ids, w, bias), 2);
  EXPECT_EQ(ids[0], 6);  // 0.5 + 0.9 selection
  EXPECT_EQ(ids[1], 2);  // ties with 3: the lower index
  const double sum = sig(6) + sig(2);
  EXPECT_NEAR(w[0], 2.0 * sig(6) / sum, 1e-6);
  EXPECT_NEAR(w[1], 2.0 * sig(2) / sum, 1e-6);
  // Masked: groups are scored over their usable experts only.
  const uint8_t usable[8] = {1, 1, 0, 0, 1, 1, 0, 1};
  ASSERT_EQ(route(rule, logits, 8, 2, usable, ids, w, bias), 2);
  EXPECT_EQ(ids[0], 0);  // groups {0,1} (1.00) and {4,5} (1.04) beat {7} (0.62)
  EXPECT_EQ(ids[1], 4);
  // Without groups, the bias alone changes the choice but not the weights.
  rule.n_groups = rule.n_groups_used = 0;
  ASSERT_EQ(route(rule, logits, 8, 2, nullptr, ids, w, bias), 2);
  EXPECT_EQ(ids[0], 6);  // 1.4 selection, 0.62 probability
  EXPECT_EQ(ids[1], 0);
  EXPECT_NEAR(w[0], 2.0 * sig(6) / (sig(6) + sig(0)), 1e-6);
}

TEST(Rope, NeoxRotatesTheHalvesByTheSameAngles) {
  const int64_t hd = 8, n_rot = 6;
  std::vector<float> cs(n_rot), x(hd), want(hd);
  rope_cache(5, n_rot, RopeParams{}, cs.data());
  for (int64_t i = 0; i < hd; ++i) x[i] = want[i] = 0.1f * float(i + 1);
  for (int64_t i = 0; i < n_rot / 2; ++i) {
    const double theta = 5.0 * std::pow(10000.0, -2.0 * double(i) / double(n_rot));
    const double a = x[i], b = x[i + n_rot / 2];
    want[i] = float(a * std::cos(theta) - b * std::sin(theta));
    want[i + n_rot / 2] = float(a * std::sin(theta) + b * std::cos(theta));
  }
  rope_apply_neox(x.data(), 1, hd, n_rot, cs.data());
  for (int64_t i = 0; i < hd; ++i) EXPECT_NEAR(x[i], want[i], 1e-5) << i;
}

}  // namespace
}  // namespace swapmoe
