// prune: a fixed set of the S_l largest-magnitude experts per layer; masked gating, no swapping.
#include "experts/policies.h"

#include <algorithm>
#include <numeric>

namespace swapmoe {

PruneExperts::PruneExperts(const ExpertStore& store, std::vector<std::vector<float>> magnitudes,
                           const std::vector<int>& slots)
    : store_(store), magnitudes_(std::move(magnitudes)) {
  table_.init(static_cast<int>(store.model().layers.size()), static_cast<int>(store.model().config().n_expert));
  set_slots(slots);
}

std::vector<int> PruneExperts::by_magnitude(int layer) const {
  std::vector<int> order(magnitudes_[layer].size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return magnitudes_[layer][a] > magnitudes_[layer][b]; });
  return order;
}

void PruneExperts::set_slots(const std::vector<int>& slots) {
  const auto& layers = store_.model().layers;
  for (size_t l = 0; l < layers.size(); ++l) {
    if (!layers[l].is_moe) continue;
    const int layer = static_cast<int>(l);
    const int want = std::min<int>(slots[l], static_cast<int>(magnitudes_[l].size()));
    const std::vector<int> order = by_magnitude(layer);
    // Shrink: drop the smallest resident experts first.
    while (table_.n_slots(layer) > want) {
      int victim = 0;
      for (int s = 0; s < table_.n_slots(layer); ++s) {
        const int e = table_.expert_in(layer, s), v = table_.expert_in(layer, victim);
        if (e < 0 || (v >= 0 && magnitudes_[l][e] < magnitudes_[l][v])) victim = s;
      }
      table_.remove_slot(layer, victim);
    }
    // Grow: load the largest experts not yet resident.
    for (int e : order) {
      if (table_.n_resident(layer) >= want) break;
      if (table_.resident(layer, e)) continue;
      int slot = -1;
      for (int s = 0; s < table_.n_slots(layer) && slot < 0; ++s)
        if (table_.expert_in(layer, s) < 0) slot = s;
      if (slot < 0) {
        table_.add_slot(layer, store_.buffer_bytes());
        slot = table_.n_slots(layer) - 1;
      }
      store_.read(layer, e, table_.buffer(layer, slot));
      table_.assign(layer, slot, e);
      ++stats_.loads;
      stats_.bytes_read += store_.expert_bytes(layer);
    }
  }
}

std::vector<int> PruneExperts::slots() const {
  std::vector<int> s(store_.model().layers.size(), 0);
  for (size_t l = 0; l < s.size(); ++l)
    if (store_.model().layers[l].is_moe) s[l] = table_.n_slots(static_cast<int>(l));
  return s;
}

uint64_t PruneExperts::resident_bytes() const { return table_.n_buffers() * store_.buffer_bytes(); }

ExpertWeights PruneExperts::acquire(int layer, int expert) {
  return store_.views(layer, table_.buffer(layer, table_.slot_of(layer, expert)));
}

void PruneExperts::step_end(int64_t n_tokens) {
  stats_.tokens += n_tokens;
}

}  // namespace swapmoe
