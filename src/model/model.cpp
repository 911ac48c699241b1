#include "model/model.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include <fmt/format.h>

#include "core/error.h"
#include "io/direct_reader.h"
#include "kernels/vec_dot.h"
#include "model/arch.h"
#include "tensor/interleave.h"

namespace swapmoe {

namespace {

std::string shape_str(const std::vector<int64_t>& ne) {
  std::string s = "{";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "}";
}

}  // namespace

namespace {

// Binds one weight by name against the architecture's spec: absent from the spec -> left empty;
// present -> shape and type checked. Throws naming the tensor and what is wrong.
TensorView bind_tensor(const GgufFile& file, const std::string& name, const TensorSpec& spec, TensorRole role) {
  if (spec.need == TensorSpec::ABSENT) return {};
  const GgufTensorInfo* t = file.find_tensor(name);
  if (!t) {
    if (spec.need == TensorSpec::OPTIONAL) return {};
    fail("model loader", fmt::format("{}: tensor '{}' is missing", file.path(), name),
         "the file is incomplete or not of the architecture it claims");
  }
  std::vector<int64_t> actual = t->ne;
  while (actual.size() < spec.shape.size()) actual.push_back(1);
  while (actual.size() > spec.shape.size() && actual.back() == 1) actual.pop_back();
  if (actual != spec.shape)
    fail("model loader", fmt::format("{}: tensor '{}' has shape {}, expected {}", file.path(), name,
                                     shape_str(t->ne), shape_str(spec.shape)),
         "the file does not match its own metadata; re-export it");
  if ((role == TensorRole::NORM || role == TensorRole::BIAS) && t->type != GgmlType::F32)
    fail("model loader", fmt::format("{}: tensor '{}' is {}, expected f32", file.path(), name, type_name(t->type)),
         "norm weights and biases must be stored as f32");
  if (role != TensorRole::EMBEDDING && !can_compute(t->type))
    fail("model loader", fmt::format("{}: tensor '{}' has type {}, which swapmoe cannot compute with", file.path(),
                                     name, type_name(t->type)),
         "supported: " + supported_weight_types() + "; requantise the model");
  if (role == TensorRole::EMBEDDING && !type_traits(t->type).to_float)
    fail("model loader", fmt::format("{}: tensor '{}' has type {}, which swapmoe cannot read", file.path(), name,
                                     type_name(t->type)),
         "supported: " + supported_weight_types() + "; requantise the model");
  return file.tensor_view(*t);
}

void bind_model(Model& m, const ArchEntry& arch) {
  const ModelConfig& c = m.config();
  const GgufFile& file = m.file();
  Model::visit_globals(m, [&](TensorView& v, const char* name, TensorRole role) {
    v = bind_tensor(file, name, arch.tensor(c, -1, name), role);
  });
  if (!m.output.data) m.output = m.tok_embd;  // tied embeddings
  m.layers.resize(c.n_layer);
  for (int il = 0; il < c.n_layer; ++il) {
    LayerWeights& l = m.layers[il];
    l.is_moe = c.layers[il].is_moe();
    int part = 0;
    l.for_each([&](TensorView& v, const char* suffix, TensorRole role) {
      const std::string name = fmt::format("blk.{}.{}", il, suffix);
      v = bind_tensor(file, name, arch.tensor(c, il, suffix), role);
      if (role == TensorRole::EXPERTS) l.exps_info[part++] = v.data ? file.find_tensor(name) : nullptr;
    });
    if (l.is_moe && !(l.exps_info[0] && l.exps_info[1] && l.exps_info[2]))
      fail("model loader", fmt::format("{}: MoE layer {} lacks its stacked expert tensors", file.path(), il),
           "the architecture entry must require ffn_{gate,up,down}_exps for MoE layers");
  }
}

}  // namespace

namespace {

// Rows of a file tensor (matrices and stacked experts, never the embedding table, which is
// read row by row) that Model::interleave_weights would rearrange.
bool will_interleave(const GgufTensorInfo& t) {
  return t.ne.size() >= 2 && t.name != "token_embd.weight" && interleaving_pays(t.type, t.ne[0], t.ne[1]);
}

}  // namespace

std::unique_ptr<Model> Model::load(const std::string& path, DenseWeights dense, bool interleave) {
  GgufFile file = GgufFile::open(path);
  interleave = interleave && dense != DenseWeights::LAZY &&
               std::any_of(file.tensors().begin(), file.tensors().end(), will_interleave);
  if (dense == DenseWeights::READ) file.read_instead_of_map();
  const std::string arch_name = file.get_string("general.architecture");
  const ArchEntry* arch = find_arch(arch_name);
  if (!arch) {
    std::string names;
    for (auto& a : supported_architectures()) names += (names.empty() ? "" : ", ") + a;
    fail("model loader", fmt::format("{}: architecture '{}' is not supported", path, arch_name),
         "supported architectures: " + names);
  }
  if (file.tensors().empty()) {
    const std::string tokenizer = file.get_string("tokenizer.ggml.model", "");
    fail("model loader",
         tokenizer.empty() ? fmt::format("{} holds no tensors", path)
                           : fmt::format("{} holds no weights: it is a vocabulary-only file (tokenizer '{}')", path,
                                         tokenizer),
         "pass a model file; vocabulary-only files are for tokenizer tests");
  }
  ModelConfig config = arch->read_config(file);
  if (static_cast<int64_t>(config.layers.size()) != config.n_layer)
    fail("model loader", fmt::format("{}: the '{}' entry described {} of {} layers", path, arch_name,
                                     config.layers.size(), config.n_layer), "a bug in the architecture entry");
  // n_vocab from the embedding matrix: vocab metadata may be absent in weight-only files. A
  // vision model's "vocabulary" is its classes: the rows of the classifier.
  const char* vocab_tensor = config.is_vision() ? "output.weight" : "token_embd.weight";
  const GgufTensorInfo* embd = file.find_tensor(vocab_tensor);
  if (!embd || embd->ne.size() < 2)
    fail("model loader", fmt::format("{}: tensor '{}' is missing or not 2-D", path, vocab_tensor),
         "the file is incomplete; re-download or re-export it");
  config.n_vocab = embd->ne[1];
  if (config.is_vision() && static_cast<int64_t>(config.vision.labels.size()) != config.n_vocab)
    fail("model loader",
         fmt::format("{}: vmoe.class_labels names {} classes but output.weight has {} rows", path,
                     config.vision.labels.size(), config.n_vocab),
         "the file's metadata does not belong to its weights; re-export the model");
  // The key is optional; when present it must agree, or the file's parts were put together wrong.
  const std::string vocab_key = arch_name + ".vocab_size";
  if (const uint64_t declared = file.get_u64(vocab_key, static_cast<uint64_t>(config.n_vocab));
      declared != static_cast<uint64_t>(config.n_vocab))
    fail("model loader",
         fmt::format("{}: {} is {} but token_embd.weight has {} rows", path, vocab_key, declared, config.n_vocab),
         "the file's metadata does not belong to its weights; re-export the model");

  auto model = std::make_unique<Model>(std::move(file), std::move(config));
  bind_model(*model, *arch);
  if (dense == DenseWeights::OWNED) model->copy_dense_weights();
  // The map is read-only and shared with the page cache: rearranged weights go to a copy of
  // their own; a copy read into memory (READ) or owned (OWNED) is rearranged in place.
  if (interleave && dense == DenseWeights::MAPPED) model->interleave_weights(InterleaveInto::OWN_COPY);
  if (interleave && dense == DenseWeights::READ)
    model->file_.edit_copy([&](uint8_t*) { model->interleave_weights(InterleaveInto::PLACE); });
  if (interleave && dense == DenseWeights::OWNED) model->interleave_weights(InterleaveInto::PLACE);
  if (dense == DenseWeights::MAPPED || dense == DenseWeights::READ) model->prefault_map();
  return model;
}

void Model::interleave_weights(InterleaveInto into) {
  std::vector<TensorView*> todo;
  const void* tied = output.data == tok_embd.data ? output.data : nullptr;
  auto collect = [&](TensorView& v, const char*, TensorRole role) {
    const bool matrix = role == TensorRole::MATRIX || role == TensorRole::ROUTER || role == TensorRole::EXPERTS ||
                        (role == TensorRole::OUTPUT && v.data != tied);
    if (matrix && v.data && interleaving_pays(v.type, v.ne[0], v.ne[1])) todo.push_back(&v);
  };
  visit_globals(*this, collect);
  for (LayerWeights& l : layers) l.for_each(collect);
  // Where each goes: in place (the caller holds the bytes in writable memory of its own), or
  // packed into one buffer at 64-byte aligned offsets.
  std::vector<uint8_t*> dst(todo.size());
  uint64_t total = 0;
  for (const TensorView* v : todo) total += (v->n_bytes() + 63) / 64 * 64;
  if (into == InterleaveInto::OWN_COPY) {
    interleaved_copy_.resize(total, 4096);
    ::madvise(interleaved_copy_.data(), total, MADV_HUGEPAGE);  // fewer page faults filling it
  }
  for (size_t i = 0, at = 0; i < todo.size(); ++i) {
    dst[i] = into == InterleaveInto::PLACE ? static_cast<uint8_t*>(const_cast<void*>(todo[i]->data))
                                           : interleaved_copy_.data() + at;
    at += (todo[i]->n_bytes() + 63) / 64 * 64;
  }
  // A few threads take tensors in turn: rearranging is a pass over memory, and a 30B-class
  // model's experts are gigabytes.
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < todo.size();) {
      const TensorView& v = *todo[i];
      interleave_rows(v.type, static_cast<const uint8_t*>(v.data), dst[i], v.ne[0], v.n_rows());
      if (into == InterleaveInto::OWN_COPY) release_map_range(v.data, v.n_bytes());  // now, not after all
    }
  };
  std::vector<std::thread> helpers;
  const unsigned n_threads = std::clamp(std::thread::hardware_concurrency(), 1u, 8u);
  for (unsigned t = 1; t < n_threads; ++t) helpers.emplace_back(work);
  work();
  for (std::thread& t : helpers) t.join();
  for (size_t i = 0; i < todo.size(); ++i) {
    TensorView& v = *todo[i];
    v.data = dst[i];
    v.type = interleaved_type(v.type);
    interleaved_bytes_ += v.n_bytes();
  }
}

void Model::release_map_range(const void* data, uint64_t n_bytes) const {
  // Drops this process's mapping of the whole pages inside the range (the page cache keeps
  // them, reclaimable), so that resident memory counts the rearranged copy only once.
  const uint64_t page = 4096;
  const auto begin = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
  const auto end = (reinterpret_cast<uintptr_t>(data) + n_bytes) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

void Model::prefault_map() const {
  // Map every page now, as llama.cpp does with MAP_POPULATE: otherwise the first decode steps
  // take a page fault for each 4 KiB of weights they touch, and experts are touched at random.
  // Only weights still in the map: rearranged ones live in a copy of their own.
  const uint8_t* base = file_.mapped_data();
  const uint64_t size = file_.file_size();
  uint8_t sink = 0;
  for_each_weight([&](const TensorView& v, TensorRole) {
    const auto* p = static_cast<const uint8_t*>(v.data);
    if (!p || p < base || p >= base + size) return;
    const uintptr_t in_page = reinterpret_cast<uintptr_t>(p) % 4096;
    ::madvise(const_cast<uint8_t*>(p - in_page), v.n_bytes() + in_page, MADV_WILLNEED);
    for (uint64_t off = 0; off < v.n_bytes(); off += 4096) sink ^= *static_cast<const volatile uint8_t*>(p + off);
  });
  (void)sink;
}

void Model::copy_dense_weights() {
  // Every bound weight that is not a stacked expert tensor, packed at 64-byte aligned offsets
  // and read around the page cache; the views are then pointed at the copies.
  std::vector<TensorView*> dense;
  const void* tied = output.data == tok_embd.data ? output.data : nullptr;
  auto collect = [&](TensorView& v, const char*, TensorRole role) {
    if (v.data && role != TensorRole::EXPERTS && !(role == TensorRole::OUTPUT && v.data == tied)) dense.push_back(&v);
  };
  visit_globals(*this, collect);
  for (LayerWeights& l : layers) l.for_each(collect);
  uint64_t total = 0;
  for (const TensorView* v : dense) total += (v->n_bytes() + 63) / 64 * 64;
  owned_.resize(total, DirectFileReader::kAlignment);
  DirectFileReader reader(file_.path());
  require_same_file(file_.identity(), reader.identity(), file_.path(), "model loader");
  const uint8_t* map_base = file_.mapped_data();  // the map exists (views point into it) but is never read
  uint64_t at = 0;
  for (TensorView* v : dense) {
    const uint64_t offset = static_cast<uint64_t>(static_cast<const uint8_t*>(v->data) - map_base);
    reader.read(offset, v->n_bytes(), owned_.data() + at);
    v->data = owned_.data() + at;
    at += (v->n_bytes() + 63) / 64 * 64;
  }
  if (tied) output = tok_embd;
  for (LayerWeights& l : layers) l.gate_exps.data = l.up_exps.data = l.down_exps.data = nullptr;
}

uint64_t Model::dense_bytes() const {
  // Counted as copy_dense_weights() packs them (64-byte aligned), so OWNED holds exactly this.
  uint64_t n = 0;
  for_each_weight([&](const TensorView& v, TensorRole role) {
    n += role == TensorRole::EXPERTS ? 0 : (v.n_bytes() + 63) / 64 * 64;
  });
  return n;
}

uint64_t Model::expert_bytes() const {
  uint64_t n = 0;
  for_each_weight([&](const TensorView& v, TensorRole role) { n += role == TensorRole::EXPERTS ? v.n_bytes() : 0; });
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
