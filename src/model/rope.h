// RoPE angles: the numbers one rotation uses (frequency base and scale, YaRN's ramp and
// magnitude), derived from a model's RopeScaling as llama.cpp's context derives them, and the
// per-position cos/sin table that rope_apply / rope_apply_neox (ops.h) rotate with.
#pragma once

#include <cstdint>

#include "model/model_config.h"

namespace swapmoe {

struct RopeParams {
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;   // 1 / rope.scaling.factor (1 for type none)
  float ext_factor = 0.0f;   // YaRN: how much of the extrapolated angle the ramp mixes in (0: plain RoPE)
  float attn_factor = 1.0f;  // multiplies cos and sin (YaRN's magnitude correction folds in here)
  float corr_dims[2] = {0.0f, 0.0f};  // YaRN: the pair indices where the ramp starts and ends
};

// llama.cpp's llama_context derivation: ext_factor 1 for YaRN unless the file says otherwise;
// attn_factor from YaRN's mscale (log_mul aware), divided by the 1 + 0.1 ln(factor) that the
// rotation multiplies in again, times rope.scaling.attn_factor; the correction dims from
// beta_fast/beta_slow and the original context (ggml_rope_yarn_corr_dims).
RopeParams rope_params(const ModelConfig& c);

// cos/sin of every rotated pair at position pos: cos_sin[i], cos_sin[i + 1] for pair i / 2.
// theta_i = pos * base^(-i/n_rot) is advanced by repeated multiplication as ggml does, so the
// angles agree with llama.cpp's to the last bit; YaRN mixes the interpolated (freq_scale * theta)
// and extrapolated (theta) angles by a ramp over the pairs and scales both by its mscale.
void rope_cache(int64_t pos, int64_t n_rot, const RopeParams& p, float* cos_sin /* n_rot */);

}  // namespace swapmoe
