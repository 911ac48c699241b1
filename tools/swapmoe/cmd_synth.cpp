// swapmoe synth: write a GGUF model with random weights in a real model's shape.
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "cli_common.h"
#include "core/error.h"
#include "core/memory_stats.h"
#include "core/timer.h"
#include "kernels/vec_dot.h"
#include "model/synth_model.h"

namespace swapmoe::cli {

namespace {

struct SynthOptions {
  std::string preset = "tiny";
  std::string type = "f32";
  std::string expert_type;  // empty: the preset's (gpt-oss: mxfp4), else --type
  std::string output;
  int threads = 0;
  uint64_t seed = 1;
  int64_t n_layer = 0, n_expert = 0, n_expert_used = 0, n_vocab = 0, n_embd = 0, n_ff = 0, n_ff_exp = 0, n_ff_shexp = 0, head_dim = 0;
};

GgmlType parse_type(const std::string& name) {
  for (uint32_t id = 0; id < static_cast<uint32_t>(GgmlType::COUNT); ++id) {
    if (!type_is_known(id)) continue;
    const auto t = static_cast<GgmlType>(id);
    if (name == type_name(t) && type_traits(t).supported) return t;
  }
  fail("synth", fmt::format("unknown or unsupported type '{}'", name), "use one of " + supported_weight_types());
}

// The shape must be one `run` can load: whole attention heads of even width (RoPE rotates
// pairs), a vocabulary that holds the writer's byte-level tokens. Checked before writing.
void check_shape(const SynthSpec& s) {
  constexpr int64_t kMinVocab = 260;  // <unk>, <s>, </s>, 256 byte tokens and the space piece
  if (s.patch_size > 0) {  // a vision model: its "vocabulary" is its classes
    if (s.n_vocab < 2) fail("synth", fmt::format("--vocab {} classes", s.n_vocab), "a classifier needs at least 2");
    return;
  }
  if (s.n_vocab < kMinVocab)
    fail("synth", fmt::format("--vocab {} is too small", s.n_vocab),
         fmt::format("the byte-level vocabulary needs at least {} tokens", kMinVocab));
  if (s.head_dim == 0 && (s.n_embd % s.n_head != 0 || (s.n_embd / s.n_head) % 2 != 0))
    fail("synth", fmt::format("--embd {} does not split into {} heads of even width", s.n_embd, s.n_head),
         fmt::format("use a multiple of {}", 2 * s.n_head));
  if (s.head_dim % 2 != 0)
    fail("synth", fmt::format("--head-dim {} is odd", s.head_dim), "RoPE rotates pairs of values: use an even size");
}

void run(const SynthOptions& o) {
  SynthSpec spec = synth_preset(o.preset);
  spec.type = parse_type(o.type);
  if (!o.expert_type.empty()) spec.expert_type = parse_type(o.expert_type);
  spec.seed = o.seed;
  if (o.n_layer > 0) spec.n_layer = o.n_layer;
  if (o.n_expert > 0) spec.n_expert = o.n_expert, spec.n_expert_used = std::min(spec.n_expert_used, o.n_expert);
  if (o.n_expert_used > 0) {
    if (o.n_expert_used > spec.n_expert)
      fail("synth", fmt::format("--experts-used {} exceeds the {} experts per layer", o.n_expert_used, spec.n_expert),
           "use at most --experts");
    spec.n_expert_used = o.n_expert_used;
  }
  if (o.n_vocab > 0) spec.n_vocab = o.n_vocab;
  if (o.n_embd > 0) spec.n_embd = o.n_embd;
  if (o.n_ff > 0) spec.n_ff = o.n_ff;
  if (o.n_ff_exp > 0) spec.n_ff_exp = o.n_ff_exp;
  if (o.n_ff_shexp > 0) spec.n_ff_shexp = o.n_ff_shexp;
  if (o.head_dim > 0) spec.head_dim = o.head_dim;
  check_shape(spec);
  const int threads = o.threads > 0 ? o.threads : default_thread_count();
  const uint64_t bytes = synth_tensor_bytes(spec);
  std::cerr << fmt::format("synth: preset {} ({}, {} layers, {} experts, top-{}), {} -> {} ({} of tensors)\n",
                           o.preset, spec.arch, spec.n_layer, spec.n_expert, spec.n_expert_used, o.type, o.output, format_bytes(bytes));
  const std::vector<std::string> fallbacks = synth_type_fallbacks(spec);
  if (!fallbacks.empty())
    std::cerr << fmt::format("note: {} matrices have rows narrower than {}'s blocks and are written as llama-quantize "
                             "writes them ({}{})\n",
                             fallbacks.size(), o.type, fallbacks.front(), fallbacks.size() > 1 ? ", ..." : "");
  Timer t;
  write_synth_model(spec, o.output, threads);
  const double s = t.seconds();
  std::cerr << fmt::format("wrote {} in {:.1f} s ({:.0f} MiB/s)\n", o.output, s,
                           static_cast<double>(std::filesystem::file_size(o.output)) / (1 << 20) / s);
}

}  // namespace

void register_synth(CLI::App& app) {
  auto o = std::make_shared<SynthOptions>();
  CLI::App* cmd = app.add_subcommand("synth", "write a GGUF model with random weights in a real model's shape");
  std::string presets;
  for (auto& n : synth_preset_names()) presets += (presets.empty() ? "" : ", ") + n;
  cmd->add_option("--preset", o->preset, "shape: " + presets)->capture_default_str();
  cmd->add_option("--type", o->type, "tensor type: " + supported_weight_types())->capture_default_str();
  cmd->add_option("--expert-type", o->expert_type,
                  "routed experts' type (default: the preset's, mxfp4 for gpt-oss-20b/120b, else --type)");
  cmd->add_option("-o,--output", o->output, "output file")->required();
  cmd->add_option("-t,--threads", o->threads, "threads (default: all cores)")->check(CLI::Range(0, 1024));
  cmd->add_option("--seed", o->seed, "random seed")->capture_default_str();
  const auto positive = CLI::Range(int64_t{1}, int64_t{1} << 24);
  cmd->add_option("--layers", o->n_layer, "override the number of layers")->check(CLI::Range(1, 4096));
  cmd->add_option("--experts", o->n_expert, "override the number of experts per layer")->check(CLI::Range(1, 4096));
  cmd->add_option("--experts-used", o->n_expert_used,
                  "override the experts each token uses (top-k), e.g. to match a routing trace of another model")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--vocab", o->n_vocab, "override the vocabulary size (at least 260)")->check(positive);
  cmd->add_option("--embd", o->n_embd, "override the embedding width (K-quants need multiples of 256)")->check(positive);
  cmd->add_option("--ff", o->n_ff, "override feed_forward_length (the dense width; llama and olmoe experts too)")->check(positive);
  cmd->add_option("--ff-exp", o->n_ff_exp, "override the routed experts' width (qwen3moe, qwen2moe)")->check(positive);
  cmd->add_option("--ff-shexp", o->n_ff_shexp, "override the shared expert's width (qwen2moe)")->check(positive);
  cmd->add_option("--head-dim", o->head_dim, "override the attention head size (default: embd / heads)")->check(CLI::Range(2, 4096));
  cmd->callback([o] { run(*o); });
}

}  // namespace swapmoe::cli
