// libFuzzer entry for the GGUF reader plus model binding: any file either loads as a Model and
// yields what `swapmoe plan` and the engine read before any weight is used (every weight view,
// expert file ranges, tokenizer, memory plan), or is refused with swapmoe::Error. Anything else
// (a crash, a view outside the file, a huge allocation, a hang) is a bug for libFuzzer to report.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>
#include <string>

#include "core/error.h"
#include "io/fuzz_input_file.h"
#include "io/gguf_fuzz_mutator.h"
#include "model/memory_plan.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace swapmoe {
namespace {

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "model_fuzz: %s\n", what);
  std::abort();
}

// A view the loader handed out must lie inside the file; reading its ends proves it to ASan
// (outside the map, the read faults).
void check_view(const Model& m, const TensorView& v) {
  if (!v.data) return;
  const uint8_t* base = m.file().mapped_data();
  const auto* p = static_cast<const uint8_t*>(v.data);
  if (p < base || v.n_bytes() == 0 || v.n_bytes() > m.file().file_size() ||
      static_cast<uint64_t>(p - base) > m.file().file_size() - v.n_bytes())
    violated("a weight view lies outside the file");
  volatile uint8_t sink = p[0] ^ p[v.n_bytes() - 1];
  (void)sink;
}

void check_experts(const Model& m) {
  const ModelConfig& c = m.config();
  for (const LayerWeights& l : m.layers) {
    if (!l.is_moe) continue;
    for (int64_t e = 0; e < c.n_expert; ++e) {
      const ExpertFileRanges r = l.expert_ranges(e);
      for (int p = 0; p < 3; ++p)
        if (r.n_bytes[p] == 0 || r.offset[p] > m.file().file_size() || r.n_bytes[p] > m.file().file_size() - r.offset[p])
          violated("an expert's file range lies outside the file");
      const ExpertWeights w = l.expert(e);
      for (const TensorView* v : {&w.gate, &w.up, &w.down}) check_view(m, *v);
    }
  }
}

// What Engine::preview_plan does after loading: the full model's plan, and a half budget split
// into expert slots.
void plan(const Model& m, uint64_t runtime_bytes) {
  const MemoryInputs in = memory_inputs(m, runtime_bytes);
  (void)expert_slot_layout(m);
  PlanSettings full;
  try {
    (void)plan_memory(in, RunShape{}, full);
  } catch (const Error&) {
  }
  if (!m.config().is_moe()) return;
  PlanSettings half;
  half.holding = ExpertHolding::PER_LAYER;
  half.staging_buffers = 2;
  half.budget = Budget::parse("50%");
  try {
    (void)plan_memory(in, RunShape{}, half);
  } catch (const Error&) {
  }
}

}  // namespace
}  // namespace swapmoe

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  return swapmoe::gguf_fuzz::mutate(data, size, max_size, seed);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace swapmoe;
  const std::string& path = write_fuzz_input(data, size);
  std::unique_ptr<Model> model;
  try {
    model = Model::load(path, DenseWeights::LAZY);
  } catch (const Error&) {
    return 0;
  }
  model->for_each_weight([&](const TensorView& v, TensorRole) { check_view(*model, v); });
  check_experts(*model);
  (void)model->dense_bytes();
  (void)model->expert_bytes();

  // The tokenizer the engine would build from the same file, and a short prompt through it.
  try {
    const Tokenizer tokenizer = Tokenizer::from_gguf(model->file());
    const std::vector<int32_t> ids = tokenizer.encode("Hello <s> world\xe2\x96\x81!", true, true);
    for (int32_t id : ids)
      if (!tokenizer.vocab().is_valid(id)) violated("encode returned an id outside the vocabulary");
    (void)tokenizer.decode(ids, true);
  } catch (const Error&) {
  }
  plan(*model, 4 << 20);
  return 0;
}
