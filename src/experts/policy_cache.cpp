// cache: exact routing over an LRU or LFU expert cache, the way expert-offloading engines
// (MoE-Infinity, mixtral-offloading) keep experts. What it adds over ondemand is that a layer's
// misses are known before the layer runs, so they are read together, in parallel.
#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "core/error.h"
#include "experts/policies.h"

namespace swapmoe {

CacheExperts::CacheExperts(const ExpertStore& store, const std::vector<int>& slots, Eviction eviction, int io_threads)
    : store_(store),
      cache_(static_cast<int>(store.model().layers.size()), static_cast<int>(store.model().config().n_expert),
             store.buffer_bytes(), eviction),
      loader_(std::make_unique<ExpertLoader>(store, io_threads)) {
  set_slots(slots);
}

CacheExperts::~CacheExperts() { loader_.reset(); }

void CacheExperts::set_slots(const std::vector<int>& slots) {
  slots_ = slots;
  cache_.unpin_all();  // a safe point: no layer is running
  cache_.resize(std::accumulate(slots.begin(), slots.end(), 0));
}

void CacheExperts::observe(int layer, int64_t n_tokens, int k, const int32_t* ids, const float*, const float*) {
  for (int64_t i = 0; i < n_tokens * k; ++i) cache_.count_use(layer, ids[i]);
}

void CacheExperts::prepare_layer(int layer, int64_t n_tokens, int k, const int32_t* ids, const float* weights) {
  // The layer's experts, heaviest first, so that if the cache cannot hold them all at once the
  // ones that carry the most output are the ones pinned.
  thread_local std::vector<std::pair<float, int32_t>> used;
  used.clear();
  for (int64_t i = 0; i < n_tokens * k; ++i) {
    auto it = std::find_if(used.begin(), used.end(), [&](const auto& u) { return u.second == ids[i]; });
    if (it == used.end()) used.emplace_back(weights[i], ids[i]);
    else it->first += weights[i];
  }
  std::stable_sort(used.begin(), used.end(), [](const auto& a, const auto& b) { return a.first > b.first; });

  all_pinned_ = true;
  std::vector<LoadRequest> misses;
  std::vector<int> entries;
  for (const auto& [weight, e] : used) {
    const int hit = cache_.find(layer, e);
    if (hit >= 0) {
      cache_.pin(hit);
      cache_.touch(hit);
    }
  }
  for (const auto& [weight, e] : used) {
    if (cache_.find(layer, e) >= 0) continue;
    const int entry = cache_.reserve(layer, e);
    if (entry < 0) {
      all_pinned_ = false;  // the rest are read one at a time by acquire()
      break;
    }
    cache_.pin(entry);
    entries.push_back(entry);
    misses.push_back({layer, e, cache_.buffer(entry)});
  }
  if (misses.empty()) return;
  const std::vector<LoadResult> results = loader_->read_now(misses);
  std::string error;
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].ok) {
      cache_.abandon(entries[i]);  // never map a half-read buffer to its expert
      if (error.empty()) error = results[i].error;
      continue;
    }
    cache_.commit(entries[i]);
    ++stats_.loads;
    ++stats_.fetches;
    stats_.bytes_read += store_.expert_bytes(layer);
  }
  note_stall();
  if (!error.empty()) fail("cache", error, "the expert was not loaded; the file or the storage is failing");
}

ExpertWeights CacheExperts::acquire(int layer, int expert) {
  int entry = cache_.find(layer, expert);
  if (entry >= 0) {
    cache_.touch(entry);
    return store_.views(layer, cache_.buffer(entry));
  }
  // More experts than the cache holds at once (a long prefill batch): read this one alone,
  // in place of another (pinned ones too, once all are: views are then used one at a time).
  entry = cache_.reserve(layer, expert);
  if (entry < 0) {
    cache_.unpin_all();
    entry = cache_.reserve(layer, expert);
  }
  fetch_into(cache_, store_, entry, layer, expert);
  return store_.views(layer, cache_.buffer(entry));
}

void CacheExperts::layer_boundary(int) {
  cache_.unpin_all();
  all_pinned_ = false;
}

void CacheExperts::step_end(int64_t n_tokens) { count_step(n_tokens); }

}  // namespace swapmoe
