// ||E_i||: the Frobenius norm of each expert's gate, up and down matrices together, used for
// pruning and for the importance score. Computed once per model file and cached beside it.
#pragma once

#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "experts/expert_store.h"

namespace swapmoe {

// [layer][expert]; empty rows for dense layers. Reads the cache file "<model>.expert-norms" when
// it matches the model (size and modification time), otherwise computes (reading every expert
// once) and tries to write the cache.
std::vector<std::vector<float>> expert_magnitudes(const ExpertStore& store, ThreadPool& pool);

// The computation alone, without the cache.
std::vector<std::vector<float>> compute_expert_magnitudes(const ExpertStore& store, ThreadPool& pool);

}  // namespace swapmoe
