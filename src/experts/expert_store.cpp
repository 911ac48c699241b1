#include "experts/expert_store.h"

#include <fmt/format.h>

#include "core/error.h"
#include "kernels/vec_dot.h"
#include "model/memory_plan.h"
#include "tensor/interleave.h"

namespace swapmoe {

namespace {

const TensorView& part_view(const LayerWeights& l, int part) {
  return part == 0 ? l.gate_exps : part == 1 ? l.up_exps : l.down_exps;
}

}  // namespace

ExpertStore::ExpertStore(const Model& model, ByteRangeReader& reader, bool interleave)
    : model_(model), reader_(reader), interleaved_(model.layers.size(), {false, false, false}) {
  const ExpertSlotLayout layout = expert_slot_layout(model);
  for (int p = 0; p < 3; ++p) part_offset_[p] = layout.part_offset[p];
  buffer_bytes_ = layout.buffer_bytes;
  for (size_t l = 0; interleave && l < model.layers.size(); ++l)
    for (int p = 0; p < 3; ++p) {
      const TensorView& v = part_view(model.layers[l], p);
      interleaved_[l][p] = model.layers[l].is_moe && interleaving_pays(v.type, v.ne[0], v.ne[1]);
    }
}

void ExpertStore::read(int layer, int expert, uint8_t* buffer) const {
  for (int p = 0; p < 3; ++p) read_part(layer, expert, p, buffer);
}

void ExpertStore::read_part(int layer, int expert, int part, uint8_t* buffer) const {
  const ExpertFileRanges r = model_.layers[layer].expert_ranges(expert);
  for (int attempt = 0;; ++attempt) {
    try {
      uint8_t* to = buffer + part_offset_[part];
      reader_.read(r.offset[part], r.n_bytes[part], to);
      if (interleaved_[layer][part]) {
        const TensorView& v = part_view(model_.layers[layer], part);
        interleave_rows(v.type, to, to, v.ne[0], v.ne[1]);
      }
      return;
    } catch (const Error& e) {
      if (attempt == 0) continue;  // one retry: transient storage errors happen on flash
      fail("expert store",
           fmt::format("reading expert {} of layer {} ({} bytes at offset {}) failed: {}", expert, layer,
                       r.n_bytes[part], r.offset[part], e.what()),
           "the model file may be truncated or the storage failing; check the file and retry");
    }
  }
}

ExpertWeights ExpertStore::views(int layer, const uint8_t* buffer) const {
  const LayerWeights& l = model_.layers[layer];
  ExpertWeights w{l.gate_exps.slice2(0), l.up_exps.slice2(0), l.down_exps.slice2(0)};
  w.gate.data = buffer + part_offset_[0];
  w.up.data = buffer + part_offset_[1];
  w.down.data = buffer + part_offset_[2];
  TensorView* parts[3] = {&w.gate, &w.up, &w.down};
  for (int p = 0; p < 3; ++p)
    if (interleaved_[layer][p]) parts[p]->type = interleaved_type(parts[p]->type);
  return w;
}

}  // namespace swapmoe
