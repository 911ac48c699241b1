// ondemand: exact routing; a missing expert is read synchronously into the least recently used
// buffer. The baseline that shows what waiting on storage costs.
#include <numeric>

#include "experts/policies.h"

namespace swapmoe {

OnDemandExperts::OnDemandExperts(const ExpertStore& store, const std::vector<int>& slots)
    : store_(store),
      cache_(static_cast<int>(store.model().layers.size()), static_cast<int>(store.model().config().n_expert),
             store.buffer_bytes(), Eviction::LRU) {
  set_slots(slots);
}

void OnDemandExperts::set_slots(const std::vector<int>& slots) {
  slots_ = slots;
  cache_.resize(std::accumulate(slots.begin(), slots.end(), 0));
}

ExpertWeights OnDemandExperts::acquire(int layer, int expert) {
  int entry = cache_.find(layer, expert);
  if (entry >= 0) {
    cache_.touch(entry);
    return store_.views(layer, cache_.buffer(entry));
  }
  entry = cache_.reserve(layer, expert);  // nothing is pinned: always a buffer
  fetch_into(cache_, store_, entry, layer, expert);
  return store_.views(layer, cache_.buffer(entry));
}

void OnDemandExperts::step_end(int64_t n_tokens) { count_step(n_tokens); }

}  // namespace swapmoe
