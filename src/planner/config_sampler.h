// Configurations for the quality model's training runs: spread over the whole range of total
// slots (stratified), over uniform and uneven layer shapes, and over the update intervals.
#pragma once

#include <cstdint>
#include <vector>

#include "planner/search.h"

namespace swapmoe {

// n configurations over n_layers MoE layers of n_expert experts; deterministic for a seed.
// Every fourth one is uniform, the others draw per-layer weights of random spread.
std::vector<Configuration> sample_configurations(int n_layers, int n_expert, const std::vector<int>& intervals, int n,
                                                 uint64_t seed);

}  // namespace swapmoe
