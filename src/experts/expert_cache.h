// ExpertCache: expert buffers shared by all layers, keyed by (layer, expert), with the
// eviction rules of the expert-offloading engines (least recently used, or least frequently
// used). The exact policies (ondemand, cache) hold their experts here.
//
// An entry is reserved (a buffer taken from a free slot or an evicted victim), filled by the
// caller, then committed. Pinned entries are never evicted: the experts a layer is running.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"

namespace swapmoe {

enum class Eviction { LRU, LFU };
Eviction parse_eviction(const std::string& name);  // throws naming the choices
const char* eviction_name(Eviction e);

class ExpertCache {
 public:
  ExpertCache(int n_layers, int n_expert, uint64_t buffer_bytes, Eviction eviction);

  // Grows or shrinks to `capacity` buffers (at least 1); shrinking evicts the victims the rule
  // picks, pinned entries last.
  void resize(int capacity);
  int capacity() const { return static_cast<int>(entries_.size()); }
  uint64_t bytes() const { return entries_.size() * buffer_bytes_; }

  // The entry holding (layer, expert) ready to use, or -1.
  int find(int layer, int expert) const;
  // Whether (layer, expert) is reserved and still being filled (a prefetch in flight).
  bool filling(int layer, int expert) const;
  // The entry reserved or ready for (layer, expert), or -1.
  int entry_of(int layer, int expert) const { return where_[index(layer, expert)]; }
  uint8_t* buffer(int entry) { return entries_[entry].buffer.data(); }

  // A use of an entry: the recency LRU sorts by.
  void touch(int entry) { entries_[entry].last_use = ++clock_; }
  // A routed choice of (layer, expert), whether resident or not: the frequency LFU sorts by.
  void count_use(int layer, int expert) { ++frequency_[index(layer, expert)]; }

  // A buffer for (layer, expert), which must not be in the cache: a free one, else the victim's
  // (evicted now). -1 when every entry is pinned. The entry is not found until commit().
  int reserve(int layer, int expert);
  void commit(int entry);   // its buffer now holds the expert
  void abandon(int entry);  // the fill failed: the entry becomes free

  void pin(int entry) { entries_[entry].pinned = true; }
  void unpin_all();

 private:
  struct Entry {
    AlignedBuffer buffer;
    int layer = -1, expert = -1;  // -1: free
    bool ready = false, pinned = false;
    uint64_t last_use = 0;
  };
  int index(int layer, int expert) const { return layer * n_expert_ + expert; }
  int victim() const;  // a free entry, else the rule's choice among unpinned ones; -1 if none
  void evict(int entry);

  int n_expert_;
  uint64_t buffer_bytes_;
  Eviction eviction_;
  std::vector<Entry> entries_;
  std::vector<int> where_;          // [layer * n_expert + expert] -> entry, or -1
  std::vector<uint64_t> frequency_; // [layer * n_expert + expert] -> routed choices so far
  uint64_t clock_ = 0;
};

}  // namespace swapmoe
