// The memory roofline of decode, measured on the machine it runs on: how fast the engine's own
// threads can read the weights where they live, so that a decode speed (model/token_work.h's
// bytes a token) can be printed as a share of its own limit.
#pragma once

#include <cstdint>

#include "core/thread_pool.h"
#include "model/model.h"

namespace swapmoe::cli {

struct ReadBandwidth {
  double bytes_per_s = 0;  // best pass
  uint64_t bytes = 0;      // bytes read in one pass
  int passes = 0;
};

// Reads every weight of the model that is in memory (mapped, owned or read; not the experts a
// budgeted run keeps in its slots) on all threads of `pool`, a share of the bytes each, in
// passes until `min_seconds` have gone by (at least 3; the best one counts, as the machine may
// be shared). A model that fits in the caches is read from the caches: the limit of its decode
// is theirs, not DRAM's.
ReadBandwidth measure_weight_read_bandwidth(const Model& model, ThreadPool& pool, double min_seconds = 1.0);

}  // namespace swapmoe::cli
