#include "experts/expert_store.h"

#include <fmt/format.h>

#include "core/error.h"
#include "model/memory_plan.h"

namespace swapmoe {

ExpertStore::ExpertStore(const Model& model, ByteRangeReader& reader) : model_(model), reader_(reader) {
  const ExpertSlotLayout layout = expert_slot_layout(model);
  for (int p = 0; p < 3; ++p) part_offset_[p] = layout.part_offset[p];
  buffer_bytes_ = layout.buffer_bytes;
}

void ExpertStore::read(int layer, int expert, uint8_t* buffer) const {
  for (int p = 0; p < 3; ++p) read_part(layer, expert, p, buffer);
}

void ExpertStore::read_part(int layer, int expert, int part, uint8_t* buffer) const {
  const ExpertFileRanges r = model_.layers[layer].expert_ranges(expert);
  for (int attempt = 0;; ++attempt) {
    try {
      reader_.read(r.offset[part], r.n_bytes[part], buffer + part_offset_[part]);
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
  return w;
}

}  // namespace swapmoe
