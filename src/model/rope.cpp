#include "model/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace swapmoe {

namespace {

// The pair index whose wavelength spans n_ctx_orig / n_rotations turns (YaRN's correction dim).
float yarn_corr_dim(int64_t n_dims, int64_t n_ctx_orig, float n_rotations, float base) {
  return static_cast<float>(n_dims) *
         std::log(static_cast<float>(n_ctx_orig) / (n_rotations * 2 * std::numbers::pi_v<float>)) /
         (2 * std::log(base));
}

// 1 at the pairs below `low` (extrapolate: high frequencies keep their angles), 0 above `high`
// (interpolate), linear between.
float yarn_ramp(float low, float high, int64_t i0) {
  const float y = (static_cast<float>(i0 / 2) - low) / std::max(0.001f, high - low);
  return 1 - std::min(1.0f, std::max(0.0f, y));
}

float yarn_mscale(float scale, float mscale) { return scale <= 1.0f ? 1.0f : 0.1f * mscale * std::log(scale) + 1.0f; }

}  // namespace

RopeParams rope_params(const ModelConfig& c) {
  const RopeScaling& r = c.rope_scaling;
  RopeParams p;
  p.freq_base = c.rope_freq_base;
  p.freq_scale = r.type == RopeScalingType::NONE || r.factor == 0.0f ? 1.0f : 1.0f / r.factor;
  p.ext_factor = r.yarn_ext_factor >= 0 ? r.yarn_ext_factor : (r.type == RopeScalingType::YARN ? 1.0f : 0.0f);
  p.attn_factor = r.yarn_attn_factor;
  if (p.ext_factor != 0) {
    const float factor = 1.0f / p.freq_scale;
    if (r.yarn_log_mul != 0.0f) {
      const float mscale = r.yarn_log_mul_is_mscale ? r.yarn_log_mul : 1.0f;
      p.attn_factor = yarn_mscale(factor, mscale) / yarn_mscale(factor, r.yarn_log_mul);
    } else {
      p.attn_factor = yarn_mscale(factor, 1.0f);
    }
    // The rotation multiplies by 1 + 0.1 ln(factor) again (rope_cache); llama.cpp cancels it here.
    p.attn_factor *= 1.0f / (1.0f + 0.1f * std::log(factor));
  }
  p.attn_factor *= r.attn_factor;
  const int64_t n_ctx_orig = r.n_ctx_orig > 0 ? r.n_ctx_orig : c.n_ctx_train;
  const float start = std::floor(yarn_corr_dim(c.n_rot, n_ctx_orig, r.yarn_beta_fast, p.freq_base));
  const float end = std::ceil(yarn_corr_dim(c.n_rot, n_ctx_orig, r.yarn_beta_slow, p.freq_base));
  p.corr_dims[0] = std::max(0.0f, start);
  p.corr_dims[1] = std::min(static_cast<float>(c.n_rot - 1), end);
  return p;
}

void rope_cache(int64_t pos, int64_t n_rot, const RopeParams& p, float* cos_sin) {
  const float theta_scale = std::pow(p.freq_base, -2.0f / static_cast<float>(n_rot));
  float mscale = p.attn_factor;
  if (p.ext_factor != 0.0f) mscale *= 1.0f + 0.1f * std::log(1.0f / p.freq_scale);
  float theta = static_cast<float>(pos);
  for (int64_t i = 0; i < n_rot; i += 2) {
    const float interp = p.freq_scale * theta;
    float t = interp;
    if (p.ext_factor != 0.0f) {
      const float mix = yarn_ramp(p.corr_dims[0], p.corr_dims[1], i) * p.ext_factor;
      t = interp * (1 - mix) + theta * mix;
    }
    cos_sin[i] = std::cos(t) * mscale;
    cos_sin[i + 1] = std::sin(t) * mscale;
    theta *= theta_scale;
  }
}

}  // namespace swapmoe
