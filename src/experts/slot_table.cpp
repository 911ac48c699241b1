#include "experts/expert_policy.h"

#include <utility>

namespace swapmoe {

void SlotTable::init(int n_layers, int n_expert) {
  layers_.clear();
  layers_.resize(n_layers);
  for (auto& l : layers_) {
    l.expert_slot.assign(n_expert, -1);
    l.mask.assign(n_expert, 0);
  }
}

int SlotTable::n_resident(int layer) const {
  int n = 0;
  for (uint8_t m : layers_[layer].mask) n += m != 0;
  return n;
}

uint64_t SlotTable::n_buffers() const {
  uint64_t n = 0;
  for (const auto& l : layers_) n += l.buffers.size();
  return n;
}

void SlotTable::add_slot(int layer, uint64_t n_bytes) {
  Layer& l = layers_[layer];
  l.slot_expert.push_back(-1);
  l.buffers.emplace_back(n_bytes, 4096);
}

void SlotTable::remove_slot(int layer, int slot) {
  clear(layer, slot);
  Layer& l = layers_[layer];
  // Move the last slot into the hole so slots stay dense.
  const int last = static_cast<int>(l.slot_expert.size()) - 1;
  if (slot != last) {
    l.slot_expert[slot] = l.slot_expert[last];
    std::swap(l.buffers[slot], l.buffers[last]);
    if (l.slot_expert[slot] >= 0) l.expert_slot[l.slot_expert[slot]] = slot;
  }
  l.slot_expert.pop_back();
  l.buffers.pop_back();
}

void SlotTable::assign(int layer, int slot, int expert) {
  clear(layer, slot);
  Layer& l = layers_[layer];
  l.slot_expert[slot] = expert;
  l.expert_slot[expert] = slot;
  l.mask[expert] = 1;
}

void SlotTable::clear(int layer, int slot) {
  Layer& l = layers_[layer];
  const int old = l.slot_expert[slot];
  if (old >= 0) {
    l.expert_slot[old] = -1;
    l.mask[old] = 0;
  }
  l.slot_expert[slot] = -1;
}

void SlotTable::install(int layer, int slot, int expert, AlignedBuffer& other) {
  std::swap(layers_[layer].buffers[slot], other);
  assign(layer, slot, expert);
}

}  // namespace swapmoe
