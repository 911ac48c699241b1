// cache: exact routing over an LRU or LFU expert cache, the way expert-offloading engines
// (MoE-Infinity, mixtral-offloading) keep experts. What it adds over ondemand is that a layer's
// misses are known before the layer runs, so they are read together, in parallel.
#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "core/error.h"
#include "experts/policies.h"

namespace swapmoe {

namespace {
// The distinct experts of n tokens' top-k choices, by their summed weight, heaviest first.
std::vector<int32_t> by_weight(int64_t n_tokens, int k, const int32_t* ids, const float* weights) {
  std::vector<std::pair<float, int32_t>> sum;
  for (int64_t i = 0; i < n_tokens * k; ++i) {
    auto it = std::find_if(sum.begin(), sum.end(), [&](const auto& u) { return u.second == ids[i]; });
    if (it == sum.end()) sum.emplace_back(weights[i], ids[i]);
    else it->first += weights[i];
  }
  std::stable_sort(sum.begin(), sum.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<int32_t> experts;
  for (const auto& [w, e] : sum) experts.push_back(e);
  return experts;
}
}  // namespace

CacheExperts::CacheExperts(const ExpertStore& store, const std::vector<int>& slots, Eviction eviction, int io_threads,
                           int prefetch_depth, bool deterministic)
    : store_(store),
      n_expert_(static_cast<int>(store.model().config().n_expert)),
      cache_(static_cast<int>(store.model().layers.size()), n_expert_, store.buffer_bytes(), eviction),
      loader_(std::make_unique<ExpertLoader>(store, io_threads)),
      prefetch_depth_(std::max(0, prefetch_depth)),
      deterministic_(deterministic),
      prefetched_(store.model().layers.size() * static_cast<size_t>(n_expert_), 0) {
  set_slots(slots);
}

CacheExperts::~CacheExperts() { loader_.reset(); }  // joins the readers before the buffers go

void CacheExperts::set_slots(const std::vector<int>& slots) {
  slots_ = slots;
  collect(true);       // no buffer may change hands while a read fills it
  cache_.unpin_all();  // a safe point: no layer is running
  cache_.resize(std::accumulate(slots.begin(), slots.end(), 0));
}

void CacheExperts::observe(int layer, int64_t n_tokens, int k, const int32_t* ids, const float*, const float*) {
  for (int64_t i = 0; i < n_tokens * k; ++i) cache_.count_use(layer, ids[i]);
}

void CacheExperts::collect(bool wait, int layer, const std::vector<int32_t>* experts) {
  auto needed_in_flight = [&] {
    if (!experts) return !in_flight_.empty();
    for (int32_t e : *experts)
      if (cache_.filling(layer, e)) return true;
    return false;
  };
  LoadResult r;
  while (wait ? needed_in_flight() && loader_->wait_poll(&r) : loader_->poll(&r)) {
    auto it = std::find_if(in_flight_.begin(), in_flight_.end(), [&](const auto& f) { return f.first == r.request.buffer; });
    if (it == in_flight_.end()) fail("cache", "a completed prefetch returned an unknown buffer", "this is a bug");
    const int entry = it->second;
    in_flight_.erase(it);
    if (!r.ok) {
      // A failed prediction costs nothing but the read: the expert is fetched when it is routed
      // to, and a failing storage surfaces there.
      cache_.abandon(entry);
      prefetched_[key(r.request.layer, r.request.expert)] = 0;
      continue;
    }
    cache_.commit(entry);
    ++stats_.loads;
    stats_.bytes_read += store_.expert_bytes(r.request.layer);
  }
}

void CacheExperts::prefetch(int layer, int64_t n_tokens, int k, const int32_t* ids, const float* weights) {
  for (int32_t e : by_weight(n_tokens, k, ids, weights)) wishes_.emplace_back(layer, e);
}

void CacheExperts::start_prefetches(int current_layer) {
  // At most a quarter of the cache in flight, so that predictions never crowd out the experts
  // that are actually being used.
  const size_t max_in_flight = static_cast<size_t>(std::max(1, cache_.capacity() / 4));
  for (const auto& [l, e] : wishes_) {
    if (l == current_layer || cache_.entry_of(l, e) >= 0) continue;  // already there or coming
    if (in_flight_.size() >= max_in_flight) break;
    const int entry = cache_.reserve(l, e);
    if (entry < 0) break;
    in_flight_.emplace_back(cache_.buffer(entry), entry);
    loader_->submit({l, e, cache_.buffer(entry)});
    prefetched_[key(l, e)] = 1;
    ++stats_.prefetches;
  }
  wishes_.clear();
  if (deterministic_) collect(true);
}

void CacheExperts::prepare_layer(int layer, int64_t n_tokens, int k, const int32_t* ids, const float* weights) {
  // The layer's experts, heaviest first, so that if the cache cannot hold them all at once the
  // ones that carry the most output are the ones pinned.
  const std::vector<int32_t> needed = by_weight(n_tokens, k, ids, weights);
  {
    const StallClock clock(stats_);
    collect(true, layer, &needed);  // a predicted expert still being read: wait for that read
  }
  for (int32_t e : needed)
    if (prefetched_[key(layer, e)] && cache_.find(layer, e) >= 0) ++stats_.prefetch_hits, prefetched_[key(layer, e)] = 0;

  all_pinned_ = true;
  std::vector<LoadRequest> misses;
  std::vector<int> entries;
  for (const int32_t e : needed) {
    const int hit = cache_.find(layer, e);
    if (hit >= 0) {
      cache_.pin(hit);
      cache_.touch(hit);
    }
  }
  for (const int32_t e : needed) {
    if (cache_.find(layer, e) >= 0) continue;
    const int entry = cache_.reserve(layer, e);
    if (entry < 0) {
      all_pinned_ = false;  // the rest are read one at a time by acquire()
      break;
    }
    prefetched_[key(layer, e)] = 0;  // a prediction that was evicted before its use
    cache_.pin(entry);
    entries.push_back(entry);
    misses.push_back({layer, e, cache_.buffer(entry)});
  }
  if (misses.empty()) {
    start_prefetches(layer);
    return;
  }
  std::vector<LoadResult> results;
  {
    const StallClock clock(stats_);
    results = loader_->read_now(misses);
  }
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
  start_prefetches(layer);
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
    const StallClock clock(stats_);
    collect(true);  // every other entry may be filling: let those reads land
    entry = cache_.reserve(layer, expert);
  }
  fetch_into(cache_, store_, entry, layer, expert);
  return store_.views(layer, cache_.buffer(entry));
}

void CacheExperts::layer_boundary(int) {
  cache_.unpin_all();
  all_pinned_ = false;
  collect(false);
}

void CacheExperts::step_end(int64_t n_tokens) { count_step(n_tokens); }

}  // namespace swapmoe
