// The vmoe architecture: a V-MoE-style vision transformer (docs/vmoe-format.md). Patches of an
// image are tokens after a class token; blocks have RMSNorm, bidirectional multi-head attention
// with q/k/v and output biases and no RoPE, and SwiGLU MLPs, mixtures of experts in the blocks
// `moe_layer_pattern` names (softmax over all experts, top-k, optionally renormalised). The
// class token's final state, normalised, goes through a classifier with a bias.
#include <fmt/format.h>

#include "core/error.h"
#include "io/gguf.h"
#include "model/arch.h"

namespace swapmoe {

namespace {

const std::string kVmoeHint = "the file's metadata is incomplete or inconsistent; re-export the model";

// The blocks whose MLP is a mixture of experts: vmoe.moe_layer_pattern, one bool a block.
std::vector<bool> moe_layers(const GgufFile& f, const ModelConfig& c) {
  const std::string key = "vmoe.moe_layer_pattern";
  const GgufValue* v = f.find(key);
  if (!v || !std::holds_alternative<GgufArray>(v->value))
    fail("model config", fmt::format("{}: {} is missing or not an array", f.path(), key), kVmoeHint);
  const GgufArray& a = v->as_array();
  if (static_cast<int64_t>(a.values.size()) != c.n_layer)
    fail("model config", fmt::format("{}: {} has {} entries for {} blocks", f.path(), key, a.values.size(), c.n_layer),
         kVmoeHint);
  std::vector<bool> moe(c.n_layer);
  for (int64_t il = 0; il < c.n_layer; ++il) moe[il] = a.values[il].as_bool();
  return moe;
}

void describe_vmoe(ModelConfig& c) {
  c.n_rot = 0;  // positions are learned embeddings added to the input
  c.router.gating = GatingFn::SOFTMAX, c.router.scale = 1.0f, c.router.n_groups = c.router.n_groups_used = 0;
  std::vector<LayerDesc> layers(c.n_layer);
  for (int64_t il = 0; il < c.n_layer; ++il) {
    LayerDesc& l = layers[il];
    l.qkv_bias = true;
    l.attn_out_bias = true;
    const bool moe = il < static_cast<int64_t>(c.vision.moe_layers.size()) && c.vision.moe_layers[il];
    l.ffn = moe ? FfnKind::MOE : FfnKind::DENSE;
    l.n_ff = moe ? c.n_ff_exp : c.n_ff;
  }
  c.layers = std::move(layers);
}

ModelConfig read_vmoe(const GgufFile& f) {
  ModelConfig c = ModelConfig::read_common(f);
  VisionConfig& v = c.vision;
  auto sized = [&](const char* key, int64_t lo, int64_t hi) {
    const uint64_t x = f.get_u64(std::string("vmoe.") + key);
    if (x < static_cast<uint64_t>(lo) || x > static_cast<uint64_t>(hi))
      fail("model config", fmt::format("{}: vmoe.{} is {}, outside {}..{}", f.path(), key, x, lo, hi), kVmoeHint);
    return static_cast<int64_t>(x);
  };
  v.image_size = sized("image_size", 1, 1 << 14);
  v.patch_size = sized("patch_size", 1, v.image_size);
  v.n_channels = sized("num_channels", 1, 4);
  if (v.image_size % v.patch_size != 0)
    fail("model config",
         fmt::format("{}: vmoe.image_size {} is not a multiple of vmoe.patch_size {}", f.path(), v.image_size, v.patch_size),
         kVmoeHint);
  if (c.n_ctx_train != v.n_tokens())
    fail("model config",
         fmt::format("{}: vmoe.context_length is {} but {} patches and the class token make {}", f.path(),
                     c.n_ctx_train, v.n_patches(), v.n_tokens()),
         kVmoeHint);
  v.mean = static_cast<float>(f.get_f64("vmoe.image_mean", 0.0));
  v.std = static_cast<float>(f.get_f64("vmoe.image_std", 1.0));
  if (!(v.std > 0)) fail("model config", fmt::format("{}: vmoe.image_std must be positive", f.path()), kVmoeHint);
  v.moe_layers = moe_layers(f, c);
  const GgufValue* labels = f.find("vmoe.class_labels");
  if (!labels || !std::holds_alternative<GgufArray>(labels->value))
    fail("model config", fmt::format("{}: vmoe.class_labels is missing or not an array", f.path()), kVmoeHint);
  for (const GgufValue& s : labels->as_array().values) v.labels.push_back(s.as_string());
  c.router.normalize = f.get_bool("vmoe.expert_weights_norm", false);
  bool any_moe = false;
  for (bool m : v.moe_layers) any_moe |= m;
  if (any_moe && (c.n_expert == 0 || c.n_ff_exp <= 0))
    fail("model config",
         fmt::format("{}: vmoe.moe_layer_pattern names MoE blocks but expert_count or expert_feed_forward_length "
                     "is missing", f.path()),
         kVmoeHint);
  describe_vmoe(c);
  for (const LayerDesc& l : c.layers)
    if (!l.is_moe() && l.n_ff <= 0)
      fail("model config", fmt::format("{}: vmoe.feed_forward_length must be positive for dense blocks", f.path()), kVmoeHint);
  return c;
}

TensorSpec vmoe_tensor(const ModelConfig& c, int il, std::string_view name) {
  using S = TensorSpec;
  if (il >= 0) return decoder_layer_tensor(c, il, name);
  const VisionConfig& v = c.vision;
  const int64_t e = c.n_embd;
  if (name == "patch_embd.weight") return S::required({v.patch_values(), e});
  if (name == "patch_embd.bias" || name == "cls_embd.weight" || name == "output_norm.weight") return S::required({e});
  if (name == "pos_embd.weight") return S::required({e, v.n_tokens()});
  if (name == "output.weight") return S::required({e, c.n_vocab});
  if (name == "output.bias") return S::required({c.n_vocab});
  return {};
}

}  // namespace

const ArchEntry kArchVmoe{"vmoe", read_vmoe, describe_vmoe, vmoe_tensor};

}  // namespace swapmoe
