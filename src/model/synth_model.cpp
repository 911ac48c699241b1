#include "model/synth_model.h"

#include <cmath>
#include <cstring>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "core/error.h"
#include "io/gguf.h"
#include "kernels/vec_dot.h"
#include "model/arch.h"
#include "model/model.h"

namespace swapmoe {

namespace {

// splitmix64: a fast, well-mixed generator; one independent stream per (tensor, chunk).
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Approximately normal (sum of 4 uniforms, variance-corrected): cheap and smooth enough.
  float normal() {
    uint64_t r = next();
    float sum = 0;
    for (int i = 0; i < 4; ++i) sum += static_cast<float>((r >> (16 * i)) & 0xFFFF) * (1.0f / 65536.0f);
    return (sum - 2.0f) * 1.7320508f;
  }
};

uint64_t hash_name(const std::string& s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}

// Fills `n_rows` rows of `n_cols` values of `type` with N(0, scale_of_row(row)^2) values,
// quantised with the type's reference quantiser, rows split over n_threads.
template <typename ScaleFn>
void fill_rows(uint8_t* dst, GgmlType type, int64_t n_rows, int64_t n_cols, uint64_t seed, int n_threads,
               ScaleFn scale_of_row) {
  const TypeTraits& t = type_traits(type);
  const size_t rb = row_size(type, n_cols);
  auto work = [&](int ith) {
    std::vector<float> row(n_cols);
    for (int64_t r = ith; r < n_rows; r += n_threads) {
      Rng rng{seed ^ (static_cast<uint64_t>(r) * 0xD1B54A32D192ED03ull)};
      const float s = scale_of_row(r);
      for (int64_t i = 0; i < n_cols; ++i) row[i] = rng.normal() * s;
      t.from_float(row.data(), dst + r * rb, n_cols);
    }
  };
  std::vector<std::thread> threads;
  for (int i = 1; i < n_threads; ++i) threads.emplace_back(work, i);
  work(0);
  for (auto& th : threads) th.join();
}

std::vector<std::string> synth_vocab(int64_t n_vocab, std::vector<float>* scores, std::vector<int32_t>* types) {
  std::vector<std::string> tokens;
  tokens.reserve(n_vocab);
  auto add = [&](std::string s, float score, int32_t type) {
    tokens.push_back(std::move(s));
    scores->push_back(score);
    types->push_back(type);
  };
  add("<unk>", 0, 2);
  add("<s>", 0, 3);
  add("</s>", 0, 3);
  for (int b = 0; b < 256; ++b) add(fmt::format("<0x{:02X}>", b), 0, 6);
  // Single characters and the space marker, so ordinary text tokenizes without byte fallback.
  const std::string space = "\xE2\x96\x81";
  add(space, -1, 1);
  for (char ch = 33; ch < 127 && static_cast<int64_t>(tokens.size()) < n_vocab; ++ch) add(std::string(1, ch), -2, 1);
  for (char ch = 'a'; ch <= 'z' && static_cast<int64_t>(tokens.size()) < n_vocab; ++ch)
    add(space + std::string(1, ch), -3, 1);
  while (static_cast<int64_t>(tokens.size()) < n_vocab)
    add(fmt::format("[{}]", tokens.size()), -1000.0f - static_cast<float>(tokens.size()), 1);
  return tokens;
}

}  // namespace

std::vector<std::string> synth_preset_names() {
  return {"tiny",           "tiny-dense",        "tiny-qwen3moe", "tiny-olmoe",       "tiny-qwen2moe",
          "tiny-gptoss",    "tiny-deepseek2",    "tiny-deepseek2-v3", "tiny-deepseek2-yarn", "mixtral-8x7b",
          "qwen3-30b-a3b",  "olmoe-1b-7b",       "qwen1.5-moe-a2.7b", "gpt-oss-20b", "gpt-oss-120b",
          "deepseek-v2-lite", "tiny-vmoe",       "vmoe-b16"};
}

SynthSpec synth_preset(const std::string& name) {
  SynthSpec s;
  s.name = name;
  if (name == "tiny") return s;
  if (name == "tiny-dense") {
    s.n_expert = 0;
    s.n_expert_used = 0;
    return s;
  }
  // The small shapes keep what distinguishes each architecture: qwen3moe heads wider than
  // n_embd / n_head and experts narrower than the dense width; olmoe multi-head attention (its
  // k norm spans n_embd in llama.cpp); qwen2moe a shared expert of a third width.
  if (name == "tiny-qwen3moe") {
    s.arch = "qwen3moe", s.head_dim = 32, s.n_ff = 192, s.n_ff_exp = 64, s.rope_freq_base = 1e6f, s.rms_eps = 1e-6f;
    return s;
  }
  if (name == "tiny-olmoe") {
    s.arch = "olmoe", s.n_head_kv = 4, s.n_ff = 64;
    return s;
  }
  if (name == "tiny-qwen2moe") {
    s.arch = "qwen2moe", s.n_ff = 192, s.n_ff_exp = 64, s.n_ff_shexp = 96, s.rope_freq_base = 1e6f, s.rms_eps = 1e-6f;
    return s;
  }
  // gpt-oss: heads wider than n_embd / n_head, top-4 of 8, a window of 4 on the even layer (short
  // enough that every test's sequence slides) and YaRN whose ramp spans some of the 16 pairs.
  if (name == "tiny-gptoss") {
    s.arch = "gpt-oss", s.head_dim = 32, s.n_ff = 64, s.n_ff_exp = 64, s.n_expert_used = 4;
    s.n_ctx_train = 1024, s.rope_freq_base = 150000.0f, s.sliding_window = 4;
    s.rope_yarn_factor = 4.0f, s.rope_yarn_orig_ctx = 256;
    return s;
  }
  if (name == "gpt-oss-20b" || name == "gpt-oss-120b") {  // 24 layers of 32 experts / 36 of 128; top-4, MXFP4 experts
    const bool big = name == "gpt-oss-120b";
    s.arch = "gpt-oss";
    s.n_vocab = 201088, s.n_embd = 2880, s.n_layer = big ? 36 : 24, s.n_head = 64, s.n_head_kv = 8, s.head_dim = 64;
    s.n_ff = 2880, s.n_ff_exp = 2880, s.n_expert = big ? 128 : 32, s.n_expert_used = 4, s.n_ctx_train = 131072;
    s.rope_freq_base = 150000.0f, s.sliding_window = 128, s.rope_yarn_factor = 32.0f, s.rope_yarn_orig_ctx = 4096;
    s.expert_type = GgmlType::MXFP4;
    return s;
  }
  // deepseek2: multi-head latent attention (a latent of 64 plus a RoPE part of 32: q8_0 cache
  // rows), one leading dense layer, then experts with a shared one. "tiny-deepseek2" is V2-Lite
  // (no q LoRA, softmax router, weights not renormalised); "-v3" has V3's options (q LoRA,
  // sigmoid router with a selection bias, group-limited routing, renormalised and scaled weights);
  // "-yarn" is V2-Lite with the published files' YaRN keys over a short original context, so that
  // the ramp spans half of the 16 rotated pairs and mscale^2 (1.21) scales the attention.
  if (name == "tiny-deepseek2" || name == "tiny-deepseek2-v3" || name == "tiny-deepseek2-yarn") {
    s.arch = "deepseek2", s.n_head_kv = 1, s.n_ff = 128, s.n_ff_exp = 32, s.n_expert_shared = 1;
    s.kv_lora_rank = 64, s.n_rot = 32, s.head_dim_k_mla = 64, s.head_dim_v_mla = 32, s.n_layer_dense_lead = 1;
    s.rms_eps = 1e-6f;
    if (name == "tiny-deepseek2-v3") {
      s.q_lora_rank = 32, s.gating = GatingFn::SIGMOID, s.expert_weights_norm = true, s.expert_weights_scale = 2.5f;
      s.n_expert_groups = 4, s.n_expert_groups_used = 2;
    }
    if (name == "tiny-deepseek2-yarn") {
      s.n_ctx_train = 1024, s.rope_yarn_factor = 4.0f, s.rope_yarn_orig_ctx = 256, s.rope_yarn_log_mul = 0.0707f;
      s.rope_yarn_beta_fast = 32.0f, s.rope_yarn_beta_slow = 1.0f;
    }
    return s;
  }
  if (name == "deepseek-v2-lite") {  // DeepSeek-V2-Lite: 27 layers (1 dense), 64 experts of 1408, top-6, 2 shared
    s.arch = "deepseek2";
    s.n_vocab = 102400, s.n_embd = 2048, s.n_layer = 27, s.n_head = 16, s.n_head_kv = 1, s.n_ff = 10944;
    s.n_ff_exp = 1408, s.n_expert = 64, s.n_expert_used = 6, s.n_expert_shared = 2, s.n_layer_dense_lead = 1;
    s.kv_lora_rank = 512, s.n_rot = 64, s.head_dim_k_mla = 192, s.head_dim_v_mla = 128;
    s.n_ctx_train = 163840, s.rms_eps = 1e-6f;
    s.rope_yarn_factor = 40.0f, s.rope_yarn_orig_ctx = 4096, s.rope_yarn_log_mul = 0.0707f;
    s.rope_yarn_beta_fast = 32.0f, s.rope_yarn_beta_slow = 1.0f;
    return s;
  }
  // Vision MoEs (vmoe): Fashion-MNIST-sized, and V-MoE-B/16's shape (Riquelme et al. 2021: 12
  // blocks of 768, every other one 32 experts of 3072, top-2) on ImageNet's 224x224 RGB images.
  if (name == "tiny-vmoe") {
    s.arch = "vmoe", s.n_vocab = 10, s.n_head_kv = 4, s.n_ff = 128, s.n_ff_exp = 64, s.n_layer = 4;
    s.image_size = 28, s.patch_size = 4, s.n_channels = 1, s.n_ctx_train = 50;
    return s;
  }
  if (name == "vmoe-b16") {
    s.arch = "vmoe", s.n_vocab = 1000, s.n_embd = 768, s.n_layer = 12, s.n_head = 12, s.n_head_kv = 12;
    s.n_ff = 3072, s.n_ff_exp = 3072, s.n_expert = 32, s.n_expert_used = 2;
    s.image_size = 224, s.patch_size = 16, s.n_channels = 3, s.n_ctx_train = 197, s.rms_eps = 1e-6f;
    return s;
  }
  if (name == "mixtral-8x7b") {  // Mixtral-8x7B: 32 layers, 8 experts, top-2
    s.n_vocab = 32000, s.n_embd = 4096, s.n_layer = 32, s.n_head = 32, s.n_head_kv = 8, s.n_ff = 14336;
    s.n_expert = 8, s.n_expert_used = 2, s.n_ctx_train = 32768, s.rope_freq_base = 1e6f;
    return s;
  }
  if (name == "qwen3-30b-a3b") {  // Qwen3-30B-A3B: 48 layers, 128 experts of 768, top-8
    s.arch = "qwen3moe";
    s.n_vocab = 151936, s.n_embd = 2048, s.n_layer = 48, s.n_head = 32, s.n_head_kv = 4, s.head_dim = 128;
    s.n_ff = 6144, s.n_ff_exp = 768, s.n_expert = 128, s.n_expert_used = 8, s.n_ctx_train = 40960;
    s.rope_freq_base = 1e6f, s.rms_eps = 1e-6f;
    return s;
  }
  if (name == "olmoe-1b-7b") {  // OLMoE-1B-7B: 16 layers, 64 experts of 1024, top-8
    s.arch = "olmoe";
    s.n_vocab = 50304, s.n_embd = 2048, s.n_layer = 16, s.n_head = 16, s.n_head_kv = 16, s.n_ff = 1024;
    s.n_expert = 64, s.n_expert_used = 8, s.n_ctx_train = 4096;
    return s;
  }
  if (name == "qwen1.5-moe-a2.7b") {  // Qwen1.5-MoE-A2.7B: 24 layers, 60 experts of 1408, top-4, shared 5632
    s.arch = "qwen2moe";
    s.n_vocab = 151936, s.n_embd = 2048, s.n_layer = 24, s.n_head = 16, s.n_head_kv = 16, s.n_ff = 5632;
    s.n_ff_exp = 1408, s.n_ff_shexp = 5632, s.n_expert = 60, s.n_expert_used = 4, s.n_ctx_train = 8192;
    s.rope_freq_base = 1e6f, s.rms_eps = 1e-6f;
    return s;
  }
  std::string names;
  for (auto& n : synth_preset_names()) names += (names.empty() ? "" : ", ") + n;
  fail("synth", fmt::format("unknown preset '{}'", name), "choose one of: " + names);
}

const ArchEntry& synth_arch(const SynthSpec& s) {
  const ArchEntry* arch = find_arch(s.arch);
  if (!arch) {
    std::string names;
    for (auto& a : supported_architectures()) names += (names.empty() ? "" : ", ") + a;
    fail("synth", fmt::format("architecture '{}' is not supported", s.arch), "supported architectures: " + names);
  }
  return *arch;
}

ModelConfig synth_config(const SynthSpec& s) {
  const ArchEntry& arch = synth_arch(s);
  ModelConfig c;
  c.arch = s.arch;
  c.n_vocab = s.n_vocab, c.n_embd = s.n_embd, c.n_layer = s.n_layer, c.n_head = s.n_head, c.n_head_kv = s.n_head_kv;
  c.head_dim = s.head_dim ? s.head_dim : s.n_embd / s.n_head;
  c.n_rot = s.n_rot ? s.n_rot : c.head_dim;
  c.q_lora_rank = s.q_lora_rank, c.kv_lora_rank = s.kv_lora_rank;
  c.head_dim_k_mla = s.head_dim_k_mla, c.head_dim_v_mla = s.head_dim_v_mla;
  if (c.is_mla()) c.head_dim = c.kv_lora_rank + c.n_rot;  // the latent cache row, as converters write it
  c.n_layer_dense_lead = s.n_layer_dense_lead;
  // Entries whose router rule is fixed (llama, qwen*, olmoe) overwrite these in describe().
  c.router = RouterRule{s.gating, s.expert_weights_norm, s.expert_weights_scale, s.n_expert_groups, s.n_expert_groups_used};
  c.n_ff = s.n_ff, c.n_ff_exp = s.n_ff_exp;
  c.n_ff_shexp = s.n_expert_shared > 0 ? s.n_ff_exp * s.n_expert_shared : s.n_ff_shexp;
  c.n_expert = s.n_expert, c.n_expert_used = s.n_expert_used;
  c.n_ctx_train = s.n_ctx_train, c.rope_freq_base = s.rope_freq_base, c.rms_eps = s.rms_eps;
  c.n_swa = s.sliding_window;
  if (s.patch_size > 0) {
    VisionConfig& v = c.vision;
    v.image_size = s.image_size, v.patch_size = s.patch_size, v.n_channels = s.n_channels;
    v.mean = 0.5f, v.std = 0.25f;
    for (int64_t il = 0; il < s.n_layer; ++il) v.moe_layers.push_back(s.n_expert > 0 && il % 2 == 1);
    for (int64_t i = 0; i < s.n_vocab; ++i) v.labels.push_back(fmt::format("class {}", i));
  }
  if (s.rope_yarn_factor > 0) {
    c.rope_scaling.type = RopeScalingType::YARN;
    c.rope_scaling.factor = s.rope_yarn_factor;
    c.rope_scaling.n_ctx_orig = s.rope_yarn_orig_ctx;
  }
  arch.describe(c);
  if (s.tied_output && arch.tensor(c, -1, "output.weight").need == TensorSpec::REQUIRED)
    fail("synth", fmt::format("{} models always have their own output head", s.arch), "do not ask for a tied output");
  return c;
}

namespace {

// Every tensor of the synth model, in file order (embedding, layers, output norm and head): the
// architecture entry's specs, walked with the visitor the loader binds with, so a synth file always
// has exactly what loading requires, plus the optional weights the layers are described with
// (q/k/v biases). f(name, spec, role) for each tensor the file holds.
template <class F>
void for_each_synth_tensor(const SynthSpec& s, F&& f) {
  const ArchEntry& arch = synth_arch(s);
  const ModelConfig c = synth_config(s);
  auto emit = [&](const std::string& name, const TensorSpec& spec, TensorRole role, bool described) {
    if (spec.need == TensorSpec::REQUIRED || (spec.need == TensorSpec::OPTIONAL && described)) f(name, spec, role);
  };
  struct {
    TensorView tok_embd, output_norm, output, patch_embd, patch_embd_b, cls_embd, pos_embd, output_b;
  } globals;
  Model::visit_globals(globals, [&](TensorView&, const char* name, TensorRole role) {
    if (role == TensorRole::EMBEDDING) emit(name, arch.tensor(c, -1, name), role, false);
  });
  LayerWeights layer;
  for (int il = 0; il < c.n_layer; ++il)
    layer.for_each([&](TensorView&, const char* suffix, TensorRole role) {
      const bool described = role == TensorRole::BIAS &&
                             (std::string_view(suffix) == "exp_probs_b.bias" ? c.layers[il].selection_bias : c.layers[il].qkv_bias);
      emit(fmt::format("blk.{}.{}", il, suffix), arch.tensor(c, il, suffix), role, described);
    });
  Model::visit_globals(globals, [&](TensorView&, const char* name, TensorRole role) {
    if (role != TensorRole::EMBEDDING) emit(name, arch.tensor(c, -1, name), role, !s.tied_output);
  });
}

// Norms, biases and routers stay f32, as converters keep them; experts are in their own type
// when the spec has one; the rest is in the spec's type.
GgmlType requested_type(const SynthSpec& s, TensorRole role) {
  if (role == TensorRole::NORM || role == TensorRole::BIAS || role == TensorRole::ROUTER) return GgmlType::F32;
  return role == TensorRole::EXPERTS && s.expert_type ? *s.expert_type : s.type;
}

// The type a matrix whose rows are `n_cols` values wide is written in. A super-block type (256
// values) cannot hold narrower rows, and real files have such matrices (DeepSeek-V2's attn_k_b rows
// are 128 wide): llama-quantize writes them in a 32-block type of about the same size instead, and
// F16 when even that does not fit. synth does the same, so its files look like the ones users have.
GgmlType type_for_row_width(GgmlType t, int64_t n_cols) {
  if (n_cols % type_traits(t).block_size == 0) return t;
  GgmlType fallback;
  switch (t) {
    case GgmlType::IQ4_XS: fallback = GgmlType::IQ4_NL; break;
    case GgmlType::Q2_K:
    case GgmlType::Q3_K: fallback = GgmlType::Q4_0; break;
    case GgmlType::Q4_K: fallback = GgmlType::Q5_0; break;
    case GgmlType::Q5_K: fallback = GgmlType::Q5_1; break;
    case GgmlType::Q6_K: fallback = GgmlType::Q8_0; break;
    default: return t;  // a 32-block type: the width check refuses it with a clear message
  }
  return n_cols % type_traits(fallback).block_size == 0 ? fallback : GgmlType::F16;
}

GgmlType synth_type(const SynthSpec& s, const std::string& name, TensorRole role, const TensorSpec& spec) {
  if (name == "patch_embd.weight") return GgmlType::F32;  // vmoe keeps its patch embedding f32
  return type_for_row_width(requested_type(s, role), spec.shape[0]);
}

// The vmoe keys of docs/vmoe-format.md.
void write_vision_keys(GgufWriter& w, const VisionConfig& v) {
  w.set("vmoe.image_size", GgufValue::u32(static_cast<uint32_t>(v.image_size)));
  w.set("vmoe.patch_size", GgufValue::u32(static_cast<uint32_t>(v.patch_size)));
  w.set("vmoe.num_channels", GgufValue::u32(static_cast<uint32_t>(v.n_channels)));
  w.set("vmoe.image_mean", GgufValue::f32(v.mean));
  w.set("vmoe.image_std", GgufValue::f32(v.std));
  std::vector<GgufValue> pattern;
  for (bool m : v.moe_layers) pattern.push_back(GgufValue::boolean(m));
  w.set("vmoe.moe_layer_pattern", GgufValue::array(GgufType::BOOL, std::move(pattern)));
  w.set("vmoe.class_labels", GgufValue::string_array(v.labels));
}

}  // namespace

uint64_t synth_tensor_bytes(const SynthSpec& s) {
  uint64_t total = 0;
  for_each_synth_tensor(s, [&](const std::string& name, const TensorSpec& spec, TensorRole role) {
    int64_t rows = 1;
    for (size_t d = 1; d < spec.shape.size(); ++d) rows *= spec.shape[d];
    total += row_size(synth_type(s, name, role, spec), spec.shape[0]) * static_cast<uint64_t>(rows);
  });
  return total;
}

std::vector<std::string> synth_type_fallbacks(const SynthSpec& s) {
  std::vector<std::string> out;
  for_each_synth_tensor(s, [&](const std::string& name, const TensorSpec& spec, TensorRole role) {
    const GgmlType written = synth_type(s, name, role, spec);
    if (written != requested_type(s, role)) out.push_back(name + ": " + type_traits(written).name);
  });
  return out;
}

void write_synth_model(const SynthSpec& s, const std::string& path, int n_threads) {
  if (n_threads < 1) n_threads = 1;
  for (GgmlType t : {s.type, s.expert_type.value_or(s.type)}) {
    const TypeTraits& traits = type_traits(t);
    if (!traits.supported || !traits.from_float)
      fail("synth", fmt::format("type {} cannot be written", type_name(t)), "use one of " + supported_weight_types());
  }
  // Every row of a matrix must be whole blocks of its type.
  for_each_synth_tensor(s, [&](const std::string& name, const TensorSpec& spec, TensorRole role) {
    const TypeTraits& traits = type_traits(synth_type(s, name, role, spec));
    if (spec.shape[0] % traits.block_size != 0)
      fail("synth", fmt::format("{} rows of {} values are not a multiple of {}'s block size {}", name, spec.shape[0],
                                traits.name, traits.block_size),
           "pick another type or dimensions");
  });

  const ModelConfig c = synth_config(s);
  const std::string p = s.arch + ".";
  auto u32 = [](int64_t v) { return GgufValue::u32(static_cast<uint32_t>(v)); };
  GgufWriter w;
  w.set("general.architecture", GgufValue::string(s.arch));
  w.set("general.name", GgufValue::string("swapmoe-synth-" + s.name));
  w.set("general.alignment", GgufValue::u32(32));
  w.set(p + "context_length", u32(s.n_ctx_train));
  w.set(p + "embedding_length", u32(s.n_embd));
  w.set(p + "block_count", u32(s.n_layer));
  w.set(p + "feed_forward_length", u32(s.n_ff));
  if (s.n_ff_exp > 0) w.set(p + "expert_feed_forward_length", u32(s.n_ff_exp));
  if (s.n_ff_shexp > 0 && !c.is_mla()) w.set(p + "expert_shared_feed_forward_length", u32(s.n_ff_shexp));
  w.set(p + "attention.head_count", u32(s.n_head));
  w.set(p + "attention.head_count_kv", u32(s.n_head_kv));
  if (c.is_mla()) {  // as llama.cpp's converter writes deepseek2
    w.set(p + "attention.key_length", u32(c.head_dim));
    w.set(p + "attention.value_length", u32(c.kv_lora_rank));
    w.set(p + "attention.key_length_mla", u32(c.head_dim_k_mla));
    w.set(p + "attention.value_length_mla", u32(c.head_dim_v_mla));
    w.set(p + "attention.kv_lora_rank", u32(c.kv_lora_rank));
    w.set(p + "attention.q_lora_rank", u32(c.q_lora_rank));
    w.set(p + "leading_dense_block_count", u32(s.n_layer_dense_lead));
    w.set(p + "expert_shared_count", u32(s.n_expert_shared));
    w.set(p + "expert_weights_scale", GgufValue::f32(s.expert_weights_scale));
    w.set(p + "expert_weights_norm", GgufValue::boolean(s.expert_weights_norm));
    w.set(p + "expert_gating_func", u32(s.gating == GatingFn::SIGMOID ? 2 : 1));
    if (s.n_expert_groups > 1) {
      w.set(p + "expert_group_count", u32(s.n_expert_groups));
      w.set(p + "expert_group_used_count", u32(s.n_expert_groups_used));
    }
  } else if (s.head_dim) {
    w.set(p + "attention.key_length", u32(c.head_dim));
    w.set(p + "attention.value_length", u32(c.head_dim));
  }
  if (!c.is_vision()) {
    w.set(p + "rope.dimension_count", u32(c.n_rot));
    w.set(p + "rope.freq_base", GgufValue::f32(s.rope_freq_base));
  }
  w.set(p + "attention.layer_norm_rms_epsilon", GgufValue::f32(s.rms_eps));
  w.set(p + "vocab_size", u32(s.n_vocab));
  if (s.sliding_window > 0) w.set(p + "attention.sliding_window", u32(s.sliding_window));
  if (s.rope_yarn_factor > 0) {
    w.set(p + "rope.scaling.type", GgufValue::string("yarn"));
    w.set(p + "rope.scaling.factor", GgufValue::f32(s.rope_yarn_factor));
    w.set(p + "rope.scaling.original_context_length", u32(s.rope_yarn_orig_ctx));
    const std::pair<const char*, float> yarn_keys[] = {{"yarn_log_multiplier", s.rope_yarn_log_mul},
                                                       {"yarn_beta_fast", s.rope_yarn_beta_fast},
                                                       {"yarn_beta_slow", s.rope_yarn_beta_slow}};
    for (const auto& [key, value] : yarn_keys)
      if (value != 0) w.set(p + "rope.scaling." + key, GgufValue::f32(value));
  }
  if (s.n_expert > 0) {
    w.set(p + "expert_count", u32(s.n_expert));
    w.set(p + "expert_used_count", u32(s.n_expert_used));
  }
  if (c.is_vision()) write_vision_keys(w, c.vision);
  std::vector<float> scores;
  std::vector<int32_t> types;
  std::vector<std::string> tokens = c.is_vision() ? std::vector<std::string>{} : synth_vocab(s.n_vocab, &scores, &types);
  if (!c.is_vision()) {
  w.set("tokenizer.ggml.model", GgufValue::string("llama"));
  w.set("tokenizer.ggml.tokens", GgufValue::string_array(tokens));
  w.set("tokenizer.ggml.scores", GgufValue::f32_array(scores));
  w.set("tokenizer.ggml.token_type", GgufValue::i32_array(types));
  w.set("tokenizer.ggml.bos_token_id", GgufValue::u32(1));
  w.set("tokenizer.ggml.eos_token_id", GgufValue::u32(2));
  w.set("tokenizer.ggml.unknown_token_id", GgufValue::u32(0));
  w.set("tokenizer.ggml.add_bos_token", GgufValue::boolean(true));
  w.set("tokenizer.ggml.add_eos_token", GgufValue::boolean(false));
  }

  // A matrix of any rank (deepseek2's attn_k_b / attn_v_b are {n_in, n_out, n_head}): rows of ne[0].
  auto matrix = [&](const std::string& name, const std::vector<int64_t>& ne, float gain) {
    const uint64_t seed = hash_name(name, s.seed);
    const int64_t n_in = ne[0];
    int64_t n_rows = 1;
    for (size_t d = 1; d < ne.size(); ++d) n_rows *= ne[d];
    const float scale = gain / std::sqrt(static_cast<float>(n_in));
    const GgmlType type = synth_type(s, name, TensorRole::MATRIX, TensorSpec::required(ne));
    w.add_tensor(name, type, ne, [=](uint8_t* dst, size_t) {
      fill_rows(dst, type, n_rows, n_in, seed, n_threads, [=](int64_t) { return scale; });
    });
  };
  auto norm = [&](const std::string& name, int64_t n) {
    const uint64_t seed = hash_name(name, s.seed);
    w.add_tensor(name, GgmlType::F32, {n}, [=](uint8_t* dst, size_t) {
      Rng rng{seed};
      float* v = reinterpret_cast<float*>(dst);
      for (int64_t i = 0; i < n; ++i) v[i] = 1.0f + 0.1f * rng.normal();
    });
  };
  // Routers stay f32, as converters keep them; a one-output router (qwen2moe's shared-expert
  // gate) is a vector, as converters write it.
  auto router = [&](const std::string& name, int64_t n_embd, int64_t n_expert) {
    const uint64_t seed = hash_name(name, s.seed);
    std::vector<int64_t> ne = n_expert == 1 ? std::vector<int64_t>{n_embd} : std::vector<int64_t>{n_embd, n_expert};
    w.add_tensor(name, GgmlType::F32, std::move(ne), [=](uint8_t* dst, size_t) {
      fill_rows(dst, GgmlType::F32, n_expert, n_embd, seed, 1,
                [=](int64_t) { return 2.0f / std::sqrt(static_cast<float>(n_embd)); });
    });
  };
  // Biases (and attention sinks) of any shape: a vector, or a row per expert.
  auto bias = [&](const std::string& name, std::vector<int64_t> ne) {
    const uint64_t seed = hash_name(name, s.seed);
    int64_t n = 1;
    for (int64_t d : ne) n *= d;
    w.add_tensor(name, GgmlType::F32, std::move(ne), [=](uint8_t* dst, size_t) {
      Rng rng{seed};
      float* v = reinterpret_cast<float*>(dst);
      for (int64_t i = 0; i < n; ++i) v[i] = 0.1f * rng.normal();
    });
  };
  // Experts get different magnitudes (0.5x to 1.5x), as trained experts do, so that pruning by
  // magnitude and importance scores have something to see.
  auto experts = [&](const std::string& name, int64_t n_in, int64_t n_out) {  // {n_in, n_out, n_expert}
    const uint64_t seed = hash_name(name, s.seed);
    const GgmlType expert_type = type_for_row_width(s.expert_type.value_or(s.type), n_in);
    const float scale = 1.0f / std::sqrt(static_cast<float>(n_in));
    const int64_t n_expert = s.n_expert;
    w.add_tensor(name, expert_type, {n_in, n_out, n_expert}, [=](uint8_t* dst, size_t) {
      fill_rows(dst, expert_type, n_out * n_expert, n_in, seed, n_threads, [=](int64_t row) {
        const int64_t e = row / n_out;
        return scale * (0.5f + static_cast<float>((e * 7919) % n_expert) / static_cast<float>(n_expert));
      });
    });
  };

  for_each_synth_tensor(s, [&](const std::string& name, const TensorSpec& spec, TensorRole role) {
    const std::vector<int64_t>& ne = spec.shape;
    switch (role) {
      case TensorRole::EMBEDDING:  // read row by row; a gain of 1 keeps activations O(1)
        return matrix(name, ne, std::sqrt(static_cast<float>(s.n_embd)) * 0.5f);
      case TensorRole::OUTPUT: return matrix(name, ne, 4.0f);  // peaked: greedy is well defined
      case TensorRole::NORM: return norm(name, ne[0]);
      case TensorRole::MATRIX: return matrix(name, ne, 1.0f);
      case TensorRole::ROUTER: return router(name, ne[0], ne[1]);
      case TensorRole::EXPERTS: return experts(name, ne[0], ne[1]);
      case TensorRole::BIAS: return bias(name, ne);
    }
  });
  w.write(path);
}

}  // namespace swapmoe
