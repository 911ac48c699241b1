// RoPE angles with YaRN scaling against a float64 implementation written from the YaRN paper /
// Hugging Face's formulation (frequencies mixed per pair by a linear ramp between the correction
// dims; cos and sin scaled by 0.1 ln(factor) + 1), in both rotation modes.
#include "model/rope.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "model/ops.h"

namespace swapmoe {
namespace {

ModelConfig yarn_config(int64_t n_rot, float base, float factor, int64_t n_ctx_orig) {
  ModelConfig c;
  c.arch = "test";
  c.n_rot = c.head_dim = n_rot;
  c.n_ctx_train = n_ctx_orig * static_cast<int64_t>(factor);
  c.rope_freq_base = base;
  c.rope_scaling.type = RopeScalingType::YARN;
  c.rope_scaling.factor = factor;
  c.rope_scaling.n_ctx_orig = n_ctx_orig;
  return c;
}

// (cos, sin) of pair i at pos, in float64.
std::vector<double> reference_cos_sin(const ModelConfig& c, int64_t pos) {
  const RopeScaling& r = c.rope_scaling;
  const double base = c.rope_freq_base, factor = r.factor, n = static_cast<double>(c.n_rot);
  auto corr_dim = [&](double rotations) {
    return n * std::log(static_cast<double>(r.n_ctx_orig) / (rotations * 2 * std::numbers::pi)) / (2 * std::log(base));
  };
  const double low = std::max(0.0, std::floor(corr_dim(r.yarn_beta_fast)));
  const double high = std::min(n - 1, std::ceil(corr_dim(r.yarn_beta_slow)));
  const double mscale = (0.1 * std::log(factor) + 1.0) * r.attn_factor;
  std::vector<double> out;
  for (int64_t i = 0; i < c.n_rot / 2; ++i) {
    const double extrap = std::pow(base, -2.0 * static_cast<double>(i) / n), interp = extrap / factor;
    const double ramp = std::clamp((static_cast<double>(i) - low) / std::max(0.001, high - low), 0.0, 1.0);
    const double extrap_share = 1.0 - ramp;  // 1: the high-frequency pairs keep their angles
    const double theta = static_cast<double>(pos) * (interp * (1 - extrap_share) + extrap * extrap_share);
    out.push_back(std::cos(theta) * mscale);
    out.push_back(std::sin(theta) * mscale);
  }
  return out;
}

TEST(Yarn, AnglesMatchTheFloat64Formula) {
  for (const ModelConfig& c : {yarn_config(64, 150000.0f, 32.0f, 4096), yarn_config(32, 10000.0f, 4.0f, 256),
                               yarn_config(128, 1e6f, 40.0f, 4096)}) {
    const RopeParams p = rope_params(c);
    for (int64_t pos : {0, 1, 7, 300, 2000}) {
      std::vector<float> cs(c.n_rot);
      rope_cache(pos, c.n_rot, p, cs.data());
      const std::vector<double> want = reference_cos_sin(c, pos);
      // float angles of up to 2000 radians carry ~1e-4 of rounding
      for (int64_t i = 0; i < c.n_rot; ++i) EXPECT_NEAR(cs[i], want[i], 2e-4) << "pos " << pos << " value " << i;
    }
  }
}

TEST(Yarn, RotatesBothModesWithTheScaledTable) {
  const ModelConfig c = yarn_config(16, 10000.0f, 8.0f, 64);
  std::vector<float> cs(c.n_rot);
  rope_cache(37, c.n_rot, rope_params(c), cs.data());
  const std::vector<double> ref = reference_cos_sin(c, 37);
  std::vector<float> normal(c.n_rot), neox(c.n_rot);
  for (int64_t i = 0; i < c.n_rot; ++i) normal[i] = neox[i] = 0.05f * float(i + 1) - 0.3f;
  const std::vector<float> x = normal;
  rope_apply(normal.data(), 1, c.n_rot, c.n_rot, cs.data());
  rope_apply_neox(neox.data(), 1, c.n_rot, c.n_rot, cs.data());
  const int64_t half = c.n_rot / 2;
  for (int64_t i = 0; i < half; ++i) {
    const double co = ref[2 * i], si = ref[2 * i + 1];
    EXPECT_NEAR(normal[2 * i], x[2 * i] * co - x[2 * i + 1] * si, 1e-5);
    EXPECT_NEAR(normal[2 * i + 1], x[2 * i] * si + x[2 * i + 1] * co, 1e-5);
    EXPECT_NEAR(neox[i], x[i] * co - x[i + half] * si, 1e-5);
    EXPECT_NEAR(neox[i + half], x[i] * si + x[i + half] * co, 1e-5);
  }
}

TEST(Yarn, ParametersFollowLlamaCppsDerivation) {
  ModelConfig c = yarn_config(64, 150000.0f, 32.0f, 4096);  // gpt-oss
  RopeParams p = rope_params(c);
  EXPECT_FLOAT_EQ(p.freq_scale, 1.0f / 32);
  EXPECT_FLOAT_EQ(p.ext_factor, 1.0f);
  EXPECT_NEAR(p.attn_factor, 1.0f, 1e-6);  // the mscale is multiplied in by the rotation itself
  // DeepSeek-V2's log multiplier: mscale_all_dims == mscale cancels to 1 before the rotation's
  // own factor is divided out.
  c.rope_scaling.yarn_log_mul = 0.707f;
  c.rope_scaling.yarn_log_mul_is_mscale = true;
  p = rope_params(c);
  EXPECT_NEAR(p.attn_factor, 1.0 / (1.0 + 0.1 * std::log(32.0)), 1e-6);
  // An explicit ext_factor of 0 turns YaRN's ramp off; linear scaling has none.
  c.rope_scaling.yarn_ext_factor = 0.0f;
  EXPECT_EQ(rope_params(c).ext_factor, 0.0f);
  c.rope_scaling = {};
  c.rope_scaling.factor = 4.0f;
  p = rope_params(c);
  EXPECT_EQ(p.ext_factor, 0.0f);
  EXPECT_FLOAT_EQ(p.freq_scale, 0.25f);
  c.rope_scaling.type = RopeScalingType::NONE;
  EXPECT_EQ(rope_params(c).freq_scale, 1.0f);
}

}  // namespace
}  // namespace swapmoe
