// ondemand: exact routing; a missing expert is read synchronously into the least recently used
// buffer. The baseline that shows what waiting on storage costs.
#include <numeric>

#include <fmt/format.h>

#include "core/error.h"
#include "experts/policies.h"

namespace swapmoe {

OnDemandExperts::OnDemandExperts(const ExpertStore& store, const std::vector<int>& slots) : store_(store) {
  set_slots(slots);
}

void OnDemandExperts::set_slots(const std::vector<int>& slots) {
  slots_ = slots;
  const int capacity = std::max(1, std::accumulate(slots.begin(), slots.end(), 0));
  // Shrink: evict least recently used entries until the buffers fit, then free buffers.
  while (static_cast<int>(buffers_.size()) > capacity) {
    if (free_.empty()) {
      const uint64_t victim = lru_.back();
      lru_.pop_back();
      free_.push_back(resident_.at(victim).buffer);
      resident_.erase(victim);
    }
    const int b = free_.back();
    free_.pop_back();
    const int last = static_cast<int>(buffers_.size()) - 1;
    if (b != last) {
      // Move the last buffer into index b and fix whoever pointed at it.
      std::swap(buffers_[b], buffers_[last]);
      for (auto& [k, entry] : resident_)
        if (entry.buffer == last) entry.buffer = b;
      for (int& f : free_)
        if (f == last) f = b;
    }
    buffers_.pop_back();
  }
  while (static_cast<int>(buffers_.size()) < capacity) {
    buffers_.emplace_back(store_.buffer_bytes(), 4096);
    free_.push_back(static_cast<int>(buffers_.size()) - 1);
  }
}

bool OnDemandExperts::is_resident(int layer, int expert) { return resident_.count(key(layer, expert)) != 0; }

ExpertWeights OnDemandExperts::acquire(int layer, int expert) {
  const uint64_t k = key(layer, expert);
  auto it = resident_.find(k);
  if (it != resident_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.pos);
    return store_.views(layer, buffers_[it->second.buffer].data());
  }
  int b;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else {
    const uint64_t victim = lru_.back();
    lru_.pop_back();
    b = resident_.at(victim).buffer;
    resident_.erase(victim);
  }
  try {
    store_.read(layer, expert, buffers_[b].data());
  } catch (...) {
    free_.push_back(b);  // the buffer holds garbage now: never map it to the expert
    throw;
  }
  ++stats_.loads;
  stats_.bytes_read += store_.expert_bytes(layer);
  step_stalled_ = true;
  lru_.push_front(k);
  resident_[k] = Entry{b, lru_.begin()};
  return store_.views(layer, buffers_[b].data());
}

void OnDemandExperts::step_end(int64_t n_tokens) {
  stats_.tokens += n_tokens;
  if (step_stalled_) stats_.stalls += n_tokens;
  step_stalled_ = false;
}

}  // namespace swapmoe
