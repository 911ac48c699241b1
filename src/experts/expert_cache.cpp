#include "experts/expert_cache.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"

namespace swapmoe {

Eviction parse_eviction(const std::string& name) {
  if (name == "lru") return Eviction::LRU;
  if (name == "lfu") return Eviction::LFU;
  fail("cache", fmt::format("unknown eviction rule '{}'", name), "choose lru or lfu");
}

const char* eviction_name(Eviction e) { return e == Eviction::LRU ? "lru" : "lfu"; }

ExpertCache::ExpertCache(int n_layers, int n_expert, uint64_t buffer_bytes, Eviction eviction)
    : n_expert_(n_expert), buffer_bytes_(buffer_bytes), eviction_(eviction) {
  where_.assign(static_cast<size_t>(n_layers) * n_expert, -1);
  frequency_.assign(where_.size(), 0);
}

int ExpertCache::find(int layer, int expert) const {
  const int e = where_[index(layer, expert)];
  return e >= 0 && entries_[e].ready ? e : -1;
}

bool ExpertCache::filling(int layer, int expert) const {
  const int e = where_[index(layer, expert)];
  return e >= 0 && !entries_[e].ready;
}

int ExpertCache::victim() const {
  int best = -1;
  for (int i = 0; i < capacity(); ++i) {
    const Entry& e = entries_[i];
    if (e.layer < 0) return i;
    if (e.pinned || !e.ready) continue;
    if (best < 0) {
      best = i;
      continue;
    }
    const Entry& b = entries_[best];
    if (eviction_ == Eviction::LFU) {
      const uint64_t fe = frequency_[index(e.layer, e.expert)], fb = frequency_[index(b.layer, b.expert)];
      if (fe != fb) {
        if (fe < fb) best = i;
        continue;
      }
    }
    if (e.last_use < b.last_use) best = i;  // LRU, and LFU's ties
  }
  return best;
}

void ExpertCache::evict(int entry) {
  Entry& e = entries_[entry];
  if (e.layer >= 0) where_[index(e.layer, e.expert)] = -1;
  e.layer = e.expert = -1;
  e.ready = e.pinned = false;
}

int ExpertCache::reserve(int layer, int expert) {
  const int v = victim();
  if (v < 0) return -1;
  evict(v);
  Entry& e = entries_[v];
  e.layer = layer, e.expert = expert;
  where_[index(layer, expert)] = v;
  return v;
}

void ExpertCache::commit(int entry) {
  entries_[entry].ready = true;
  touch(entry);
}

void ExpertCache::abandon(int entry) { evict(entry); }

void ExpertCache::unpin_all() {
  for (Entry& e : entries_) e.pinned = false;
}

void ExpertCache::resize(int capacity) {
  capacity = std::max(1, capacity);
  while (this->capacity() > capacity) {
    // The victim (free entries first), else any entry: a shrink must happen.
    int v = victim();
    if (v < 0) v = this->capacity() - 1;
    evict(v);
    const int last = this->capacity() - 1;
    if (v != last) {
      std::swap(entries_[v], entries_[last]);
      if (entries_[v].layer >= 0) where_[index(entries_[v].layer, entries_[v].expert)] = v;
    }
    entries_.pop_back();
  }
  while (this->capacity() < capacity) entries_.push_back(Entry{AlignedBuffer(buffer_bytes_, 4096)});
}

}  // namespace swapmoe
