// The architecture registry: what each entry reads back from a synth file of its own, the real
// models' shapes (parameter counts), and the error for an architecture the build lacks.
#include "model/arch.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>

#include "core/error.h"
#include "io/gguf.h"
#include "model/blocks.h"
#include "model/memory_plan.h"
#include "model/model.h"
#include "model/model_test_util.h"
#include "model/rope.h"
#include "model/synth_model.h"

namespace swapmoe {
namespace {

using test::model_load_error;
using test::rewrite_gguf;
using test::model_temp_path;

std::string temp_path(const std::string& name) { return model_temp_path("arch_" + name); }

std::unique_ptr<Model> load_preset(const std::string& preset, const std::string& path) {
  write_synth_model(synth_preset(preset), path, 1);
  return Model::load(path);
}

TEST(Arch, Qwen3MoeReadsPerHeadQkNormNeoxRenormalisedExpertsOfTheirOwnWidth) {
  const std::string path = temp_path("qwen3moe");
  auto m = load_preset("tiny-qwen3moe", path);
  const ModelConfig& c = m->config();
  EXPECT_EQ(c.arch, "qwen3moe");
  EXPECT_EQ(c.rope_mode, RopeMode::NEOX);
  EXPECT_TRUE(c.router.normalize);
  EXPECT_EQ(c.head_dim, 32);  // wider than n_embd / n_head
  EXPECT_EQ(c.rms_eps, 1e-6f);
  for (const LayerDesc& l : c.layers) {
    EXPECT_EQ(l.qk_norm, QkNorm::PER_HEAD);
    EXPECT_EQ(l.ffn, FfnKind::MOE);
    EXPECT_EQ(l.n_ff, 64);  // expert_feed_forward_length, not feed_forward_length (192)
  }
  EXPECT_EQ(m->layers[0].q_norm.ne[0], 32);
  EXPECT_EQ(m->layers[0].gate_exps.ne[1], 64);
  EXPECT_EQ(m->layers[0].bq.data, nullptr);  // biases are optional and absent
  std::filesystem::remove(path);
}

TEST(Arch, OlmoeReadsWholeProjectionQkNormAndRawTopKProbabilities) {
  const std::string path = temp_path("olmoe");
  auto m = load_preset("tiny-olmoe", path);
  const ModelConfig& c = m->config();
  EXPECT_EQ(c.rope_mode, RopeMode::NEOX);
  EXPECT_FALSE(c.router.normalize);
  for (const LayerDesc& l : c.layers) EXPECT_EQ(l.qk_norm, QkNorm::WHOLE);
  EXPECT_EQ(m->layers[0].q_norm.ne[0], c.n_embd);
  EXPECT_EQ(m->layers[0].k_norm.ne[0], c.kv_dim());
  EXPECT_NE(m->output.data, m->tok_embd.data);
  std::filesystem::remove(path);
}

TEST(Arch, Qwen2MoeReadsBiasesAndAGatedSharedExpertOfItsOwnWidth) {
  const std::string path = temp_path("qwen2moe");
  auto m = load_preset("tiny-qwen2moe", path);
  const ModelConfig& c = m->config();
  EXPECT_EQ(c.rope_mode, RopeMode::NEOX);
  EXPECT_FALSE(c.router.normalize);
  for (const LayerDesc& l : c.layers) {
    EXPECT_EQ(l.ffn, FfnKind::MOE_SHARED);
    EXPECT_EQ(l.n_ff, 64);
    EXPECT_EQ(l.n_ff_shared, 96);
    EXPECT_TRUE(l.shared_gate);
    EXPECT_EQ(l.qk_norm, QkNorm::NONE);
  }
  const LayerWeights& l = m->layers[0];
  EXPECT_NE(l.bq.data, nullptr);
  EXPECT_NE(l.bv.data, nullptr);
  EXPECT_EQ(l.shexp_gate.ne[1], 96);
  EXPECT_EQ(l.shexp_gate_inp.type, GgmlType::F32);
  // The shared expert is dense (always resident) memory; only routed experts are swappable.
  const uint64_t routed = static_cast<uint64_t>(c.n_layer) * c.n_expert * l.expert_bytes();
  EXPECT_EQ(m->expert_bytes(), routed);
  EXPECT_GT(m->dense_bytes(), static_cast<uint64_t>(c.n_layer) * 3 * 64 * 96 * 4);
  std::filesystem::remove(path);
}

TEST(Arch, Deepseek2ReadsLatentAttentionLeadingDenseLayersAndDeepseekRouting) {
  for (const char* preset : {"tiny-deepseek2", "tiny-deepseek2-v3"}) {
    const std::string path = temp_path(preset);
    SynthSpec spec = synth_preset(preset);
    spec.n_layer = 3;
    write_synth_model(spec, path, 1);
    auto m = Model::load(path);
    const ModelConfig& c = m->config();
    const bool v3 = std::string(preset) == "tiny-deepseek2-v3";
    EXPECT_EQ(c.rope_mode, RopeMode::NORMAL);
    EXPECT_EQ(c.kv_lora_rank, 64);
    EXPECT_EQ(c.q_lora_rank, v3 ? 32 : 0);
    EXPECT_EQ(c.head_dim, 64 + 32);  // the cache row: latent and rotated part
    EXPECT_EQ(c.qk_nope(), 32);
    EXPECT_EQ(c.router.gating, v3 ? GatingFn::SIGMOID : GatingFn::SOFTMAX);
    EXPECT_EQ(c.router.normalize, v3);
    EXPECT_EQ(c.router.scale, v3 ? 2.5f : 1.0f);
    EXPECT_EQ(c.router.n_groups, v3 ? 4 : 0);
    EXPECT_EQ(c.router.n_groups_used, v3 ? 2 : 0);
    ASSERT_EQ(c.layers.size(), 3u);
    EXPECT_EQ(c.layers[0].ffn, FfnKind::DENSE);  // leading_dense_block_count 1
    EXPECT_EQ(c.layers[0].n_ff, 128);
    EXPECT_EQ(c.n_moe_layers(), 2);
    for (int il = 0; il < 3; ++il) {
      const LayerWeights& l = m->layers[il];
      EXPECT_EQ(c.layers[il].attention, AttentionKind::MLA);
      EXPECT_EQ(l.wq.data != nullptr, !v3);
      EXPECT_EQ(l.wq_a.data != nullptr, v3);
      EXPECT_EQ(l.wk_b.ne[2], c.n_head);
      EXPECT_EQ(l.exp_probs_b.data != nullptr, v3 && il > 0);
      if (il > 0) {
        EXPECT_EQ(l.shexp_gate.ne[1], 32);  // one shared expert of the experts' width
      }
    }
    // Only routed experts are swappable; the dense layer and the shared experts are dense memory.
    EXPECT_EQ(m->expert_bytes(), 2ull * c.n_expert * m->layers[1].expert_bytes());
    // The cache holds the latent and the rotated part per layer and position, and no values.
    RunShape run;
    run.n_ctx = 100;
    EXPECT_EQ(kv_cache_bytes(c, run), 3ull * 100 * row_size(GgmlType::F16, 64 + 32));
    std::filesystem::remove(path);
  }
}

// YaRN as llama.cpp runs DeepSeek-V2: the log multiplier without the converter's 0.1 and taken as
// mscale too, so the rotation keeps magnitude 1 and MLA's softmax scale takes
// (1 + 0.1 log_mul ln factor)^2 (deepseek2.cpp's kq_scale).
TEST(Arch, Deepseek2ReadsYarnWithLlamaCppsMscale) {
  const std::string path = temp_path("deepseek2_yarn");
  write_synth_model(synth_preset("tiny-deepseek2-yarn"), path, 1);
  auto m = Model::load(path);
  const ModelConfig& c = m->config();
  EXPECT_EQ(c.rope_scaling.type, RopeScalingType::YARN);
  EXPECT_EQ(c.rope_scaling.factor, 4.0f);
  EXPECT_EQ(c.rope_scaling.n_ctx_orig, 256);
  EXPECT_NEAR(c.rope_scaling.yarn_log_mul, 0.707f, 1e-6f);
  EXPECT_TRUE(c.rope_scaling.yarn_log_mul_is_mscale);
  const RopeParams p = rope_params(c);
  EXPECT_EQ(p.ext_factor, 1.0f);
  EXPECT_NEAR(p.attn_factor * (1 + 0.1f * std::log(4.0f)), 1.0f, 1e-6f);
  const float mscale = 1 + 0.0707f * std::log(4.0f);
  EXPECT_NEAR(mla_kq_scale(c), mscale * mscale / std::sqrt(64.0f), 1e-6f);
  // The real shape: factor 40 over 4096 positions, head_dim_k_mla 192.
  const ModelConfig lite = synth_config(synth_preset("deepseek-v2-lite"));
  EXPECT_EQ(lite.rope_scaling.factor, 40.0f);
  EXPECT_EQ(lite.rope_scaling.n_ctx_orig, 4096);
  std::filesystem::remove(path);
}

TEST(Arch, GptOssReadsSinksSlidingWindowsBiasesClampedSwigluAndYarn) {
  const std::string path = temp_path("gptoss");
  SynthSpec spec = synth_preset("tiny-gptoss");
  spec.expert_type = GgmlType::MXFP4;  // as the published files hold them
  write_synth_model(spec, path, 1);
  auto m = Model::load(path);
  const ModelConfig& c = m->config();
  EXPECT_EQ(c.arch, "gpt-oss");
  EXPECT_EQ(c.rope_mode, RopeMode::NEOX);
  EXPECT_TRUE(c.router.normalize);  // softmax of the selected logits
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.rope_scaling.type, RopeScalingType::YARN);
  EXPECT_EQ(c.rope_scaling.factor, 4.0f);
  EXPECT_EQ(c.rope_scaling.n_ctx_orig, 256);
  EXPECT_EQ(c.n_swa, 4);
  for (int il = 0; il < c.n_layer; ++il) {
    const LayerDesc& l = c.layers[il];
    EXPECT_EQ(l.sliding_window, il % 2 == 0 ? 4 : 0) << il;  // the even layers slide
    EXPECT_TRUE(l.attn_sinks && l.attn_out_bias && l.post_attn_norm && l.router_bias && l.expert_bias);
    EXPECT_EQ(l.act, FfnAct::SWIGLU_OAI);
    EXPECT_EQ(l.n_ff, 64);
  }
  const LayerWeights& l = m->layers[0];
  EXPECT_EQ(l.sinks.ne[0], c.n_head);
  EXPECT_NE(l.bo.data, nullptr);
  EXPECT_NE(l.bq.data, nullptr);
  EXPECT_EQ(l.ffn_norm.data, nullptr);
  EXPECT_EQ(l.ffn_input_norm().data, l.post_attn_norm.data);
  EXPECT_EQ(l.gate_exps.type, GgmlType::MXFP4);
  EXPECT_EQ(l.wq.type, GgmlType::F32);
  EXPECT_EQ(l.down_exps_b.ne[0], c.n_embd);
  EXPECT_EQ(l.down_exps_b.ne[1], c.n_expert);
  // Expert biases are dense memory (always resident): the swappable bytes are the weights alone.
  EXPECT_EQ(m->expert_bytes(), static_cast<uint64_t>(c.n_layer) * c.n_expert * l.expert_bytes());
  std::filesystem::remove(path);
}

TEST(Arch, GptOssReadsTheSlidingWindowPatternAndRefusesAMissingWindow) {
  const std::string path = temp_path("gptoss_keys");
  write_synth_model(synth_preset("tiny-gptoss"), path, 1);
  const GgufFile f = GgufFile::open(path);
  const std::string p = temp_path("gptoss_rewritten");
  const GgufValue pattern = GgufValue::array(GgufType::BOOL, {GgufValue::boolean(false), GgufValue::boolean(true)});
  rewrite_gguf(f, "gpt-oss.attention.sliding_window_pattern", &pattern, p);
  auto m = Model::load(p);
  EXPECT_EQ(m->config().layers[0].sliding_window, 0);
  EXPECT_EQ(m->config().layers[1].sliding_window, 4);
  m.reset();
  rewrite_gguf(f, "gpt-oss.attention.sliding_window", nullptr, p);
  EXPECT_NE(model_load_error(p).find("attention.sliding_window"), std::string::npos) << model_load_error(p);
  std::filesystem::remove(p);
  std::filesystem::remove(path);
}

// Sizes stored as u64 near 2^63 or 2^64 (negative once read as int64) once overflowed the
// arithmetic that derives widths from them (UBSan, found with model_fuzz probes): each is now
// refused, naming the key, before any sum or product.
TEST(Arch, CorruptSizesAreRefusedBeforeAnyArithmetic) {
  const struct {
    const char* preset;
    const char* key;
    uint64_t value;
    const char* error;
  } cases[] = {
      {"tiny-deepseek2", "deepseek2.attention.kv_lora_rank", 0x7fffffffffffffff, "MLA widths"},
      {"tiny-deepseek2", "deepseek2.attention.key_length_mla", 0x8000000000000000, "MLA widths"},
      {"tiny-deepseek2", "deepseek2.attention.key_length_mla", 0x4000000000000000, "MLA widths"},
      {"tiny-deepseek2", "deepseek2.expert_feed_forward_length", 1ull << 40, "outside 0..16777216"},
      {"tiny-deepseek2", "deepseek2.expert_shared_count", 0x7fffffffffffffff, "expert_shared_count must be between"},
      {"tiny-deepseek2", "deepseek2.leading_dense_block_count", ~0ull, "leading_dense_block_count -1 is not between"},
      {"tiny", "llama.feed_forward_length", 0x7fffffffffffffff, "outside 0..16777216"},
      {"tiny-qwen2moe", "qwen2moe.expert_shared_feed_forward_length", 0x7fffffffffffffff, "outside 0..16777216"},
  };
  const std::string p = temp_path("corrupt_size");
  for (const auto& k : cases) {
    const std::string base = temp_path(k.preset);
    write_synth_model(synth_preset(k.preset), base, 1);
    const GgufValue v = GgufValue::u64(k.value);
    rewrite_gguf(GgufFile::open(base), k.key, &v, p);
    EXPECT_NE(model_load_error(p).find(k.error), std::string::npos) << k.key << ": " << model_load_error(p);
    std::filesystem::remove(base);
  }
  std::filesystem::remove(p);
}

// Parameter counts of the real models, from the presets' shapes (f32: 4 bytes a parameter).
TEST(Arch, RealShapePresetsHaveTheModelsParameterCounts) {
  const struct {
    const char* preset;
    const char* arch;
    double billions;
  } cases[] = {{"qwen3-30b-a3b", "qwen3moe", 30.53}, {"olmoe-1b-7b", "olmoe", 6.92}, {"qwen1.5-moe-a2.7b", "qwen2moe", 14.32},
               {"gpt-oss-20b", "gpt-oss", 20.91}, {"gpt-oss-120b", "gpt-oss", 116.83},
               {"deepseek-v2-lite", "deepseek2", 15.71}};
  for (const auto& k : cases) {
    SynthSpec s = synth_preset(k.preset);
    s.expert_type.reset();  // every tensor f32: 4 bytes a parameter
    EXPECT_EQ(s.arch, k.arch);
    const double params = static_cast<double>(synth_tensor_bytes(s)) / 4 / 1e9;
    EXPECT_NEAR(params, k.billions, 0.01 * k.billions) << k.preset;
  }
}

TEST(Arch, UnsupportedArchitectureIsNamedWithTheSupportedOnes) {
  const std::string path = temp_path("unknown");
  GgufWriter w;
  w.set("general.architecture", GgufValue::string("mamba9"));
  w.write(path);
  try {
    Model::load(path);
    FAIL() << "loaded an unsupported architecture";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'mamba9'"), std::string::npos) << msg;
    for (const char* name : {"llama", "qwen3moe", "olmoe", "qwen2moe", "gpt-oss", "deepseek2"}) EXPECT_NE(msg.find(name), std::string::npos) << msg;
  }
  std::filesystem::remove(path);
}

TEST(Arch, SynthRefusesATiedHeadWhereTheArchitectureHasNone) {
  SynthSpec s = synth_preset("tiny-olmoe");
  s.tied_output = true;
  EXPECT_THROW(synth_config(s), Error);
}

}  // namespace
}  // namespace swapmoe
