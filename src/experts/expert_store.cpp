#include "experts/expert_store.h"

#include <fmt/format.h>

#include "core/error.h"

namespace swapmoe {

namespace {
constexpr uint64_t kPartAlign = 4096;
uint64_t align_up(uint64_t n) { return (n + kPartAlign - 1) / kPartAlign * kPartAlign; }
}  // namespace

ExpertStore::ExpertStore(const Model& model, ByteRangeReader& reader) : model_(model), reader_(reader) {
  uint64_t part[3] = {0, 0, 0};
  for (const auto& l : model.layers) {
    if (!l.is_moe) continue;
    part[0] = std::max<uint64_t>(part[0], l.gate_exps.nb[2]);
    part[1] = std::max<uint64_t>(part[1], l.up_exps.nb[2]);
    part[2] = std::max<uint64_t>(part[2], l.down_exps.nb[2]);
  }
  part_offset_[0] = 0;
  part_offset_[1] = align_up(part[0]);
  part_offset_[2] = part_offset_[1] + align_up(part[1]);
  buffer_bytes_ = part_offset_[2] + align_up(part[2]);
}

void ExpertStore::read(int layer, int expert, uint8_t* buffer) const {
  const ExpertFileRanges r = model_.layers[layer].expert_ranges(expert);
  for (int p = 0; p < 3; ++p) {
    for (int attempt = 0;; ++attempt) {
      try {
        reader_.read(r.offset[p], r.n_bytes[p], buffer + part_offset_[p]);
        break;
      } catch (const Error& e) {
        if (attempt == 0) continue;  // one retry: transient storage errors happen on flash
        fail("expert store",
             fmt::format("reading expert {} of layer {} ({} bytes at offset {}) failed: {}", expert, layer,
                         r.n_bytes[p], r.offset[p], e.what()),
             "the model file may be truncated or the storage failing; check the file and retry");
      }
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
