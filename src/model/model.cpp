#include "model/model.h"

#include <sys/mman.h>

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"
#include "io/direct_reader.h"
#include "model/arch.h"

namespace swapmoe {

namespace {

std::string shape_str(const std::vector<int64_t>& ne) {
  std::string s = "{";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "}";
}

}  // namespace

TensorView TensorBinder::optional(const std::string& name, std::vector<int64_t> shape) const {
  const GgufTensorInfo* t = file_.find_tensor(name);
  if (!t) return {};
  std::vector<int64_t> actual = t->ne;
  while (actual.size() < shape.size()) actual.push_back(1);
  while (actual.size() > shape.size() && actual.back() == 1) actual.pop_back();
  if (actual != shape)
    fail("model loader", fmt::format("{}: tensor '{}' has shape {}, expected {}", file_.path(), name,
                                     shape_str(t->ne), shape_str(shape)),
         "the file does not match its own metadata; re-export it");
  const TypeTraits& traits = type_traits(t->type);
  if (!traits.supported || !traits.vec_dot)
    fail("model loader", fmt::format("{}: tensor '{}' has type {}, which swapmoe cannot compute with", file_.path(),
                                     name, type_name(t->type)),
         "supported: f32, f16, bf16, q8_0, q4_0, q4_K, q5_K, q6_K; requantise the model");
  return file_.tensor_view(*t);
}

TensorView TensorBinder::require(const std::string& name, std::vector<int64_t> shape) const {
  TensorView v = optional(name, std::move(shape));
  if (!v.data)
    fail("model loader", fmt::format("{}: tensor '{}' is missing", file_.path(), name),
         "the file is incomplete or not of the architecture it claims");
  return v;
}

TensorView TensorBinder::require_f32(const std::string& name, int64_t n) const {
  TensorView v = require(name, {n});
  if (v.type != GgmlType::F32)
    fail("model loader", fmt::format("{}: tensor '{}' is {}, expected f32", file_.path(), name, type_name(v.type)),
         "norm weights must be stored as f32");
  return v;
}

std::vector<std::string> supported_architectures() { return {"llama"}; }

std::unique_ptr<Model> Model::load(const std::string& path, DenseWeights dense) {
  GgufFile file = GgufFile::open(path);
  ModelConfig config = ModelConfig::from_gguf(file);
  // n_vocab from the embedding matrix: vocab metadata may be absent in weight-only files.
  const GgufTensorInfo* embd = file.find_tensor("token_embd.weight");
  if (!embd || embd->ne.size() < 2)
    fail("model loader", fmt::format("{}: tensor 'token_embd.weight' is missing or not 2-D", path),
         "the file is incomplete");
  config.n_vocab = embd->ne[1];

  auto model = std::make_unique<Model>(std::move(file), std::move(config));
  TensorBinder bind(model->file());
  if (model->config().arch == "llama") {
    bind_llama(*model, bind);
  } else {
    std::string names;
    for (auto& a : supported_architectures()) names += (names.empty() ? "" : ", ") + a;
    fail("model loader", fmt::format("{}: architecture '{}' is not supported", path, model->config().arch),
         "supported architectures: " + names);
  }
  if (dense == DenseWeights::OWNED) model->copy_dense_weights();
  else model->prefault_map();
  return model;
}

void Model::prefault_map() const {
  // Map every page now, as llama.cpp does with MAP_POPULATE: otherwise the first decode steps
  // take a page fault for each 4 KiB of weights they touch, and experts are touched at random.
  const uint8_t* base = file_.mapped_data();
  const uint64_t size = file_.file_size();
  ::madvise(const_cast<uint8_t*>(base), size, MADV_WILLNEED);
  uint8_t sink = 0;
  for (uint64_t off = 0; off < size; off += 4096) sink ^= *static_cast<const volatile uint8_t*>(base + off);
  (void)sink;
}

int64_t Model::n_moe_layers() const {
  int64_t n = 0;
  for (const auto& l : layers) n += l.is_moe;
  return n;
}

void Model::copy_dense_weights() {
  // Every tensor that is not a stacked expert tensor, packed at 64-byte aligned offsets.
  std::vector<const GgufTensorInfo*> expert_infos;
  for (const auto& l : layers)
    if (l.is_moe) expert_infos.insert(expert_infos.end(), l.exps_info, l.exps_info + 3);
  auto is_expert = [&](const GgufTensorInfo& t) {
    return std::find(expert_infos.begin(), expert_infos.end(), &t) != expert_infos.end();
  };
  uint64_t total = 0;
  for (const auto& t : file_.tensors())
    if (!is_expert(t)) total += (t.n_bytes + 63) / 64 * 64;
  owned_.resize(total, DirectFileReader::kAlignment);
  DirectFileReader reader(file_.path());
  const uint8_t* map_base = nullptr;  // the map is created by tensor_view() but never read
  struct Moved {
    uint64_t file_offset, n_bytes;
    uint8_t* dst;
  };
  std::vector<Moved> moved;
  uint64_t at = 0;
  for (const auto& t : file_.tensors()) {
    if (is_expert(t)) continue;
    reader.read(t.file_offset, t.n_bytes, owned_.data() + at);
    moved.push_back({t.file_offset, t.n_bytes, owned_.data() + at});
    at += (t.n_bytes + 63) / 64 * 64;
  }
  map_base = file_.mapped_data();
  auto rebase = [&](TensorView& v) {
    if (!v.data) return;
    const uint64_t off = static_cast<uint64_t>(static_cast<const uint8_t*>(v.data) - map_base);
    for (const Moved& m : moved)
      if (off >= m.file_offset && off < m.file_offset + m.n_bytes) {
        v.data = m.dst + (off - m.file_offset);
        return;
      }
    v.data = nullptr;
  };
  rebase(tok_embd);
  rebase(output_norm);
  rebase(output);
  for (auto& l : layers) {
    for (TensorView* v : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_norm, &l.router, &l.ffn_gate, &l.ffn_up,
                          &l.ffn_down})
      rebase(*v);
    l.gate_exps.data = l.up_exps.data = l.down_exps.data = nullptr;
  }
}

uint64_t Model::total_bytes() const {
  uint64_t n = 0;
  for (const auto& t : file_.tensors()) n += t.n_bytes;
  return n;
}

uint64_t Model::expert_bytes() const {
  uint64_t n = 0;
  for (const auto& l : layers)
    if (l.is_moe) n += l.exps_info[0]->n_bytes + l.exps_info[1]->n_bytes + l.exps_info[2]->n_bytes;
  return n;
}

ExpertFileRanges LayerWeights::expert_ranges(int64_t e) const {
  ExpertFileRanges r{};
  const TensorView* views[3] = {&gate_exps, &up_exps, &down_exps};
  for (int p = 0; p < 3; ++p) {
    r.n_bytes[p] = views[p]->nb[2];
    r.offset[p] = exps_info[p]->file_offset + static_cast<uint64_t>(e) * views[p]->nb[2];
  }
  return r;
}

uint64_t LayerWeights::expert_bytes() const { return gate_exps.nb[2] + up_exps.nb[2] + down_exps.nb[2]; }

}  // namespace swapmoe
