// Configurations for the quality model's training runs: spread over the whole range of total
// slots (stratified), over uniform and uneven layer shapes, and over the update intervals,
// exact thresholds and prefetch depths.
#pragma once

#include <cstdint>
#include <vector>

#include "planner/search.h"

namespace swapmoe {

// n configurations over the space's MoE layers (its capacity is not used: totals span all
// sizes); deterministic for a seed. Every fourth one is uniform, the others draw per-layer
// weights of random spread, and one in four of all keeps a random layer as small as it can be. Each knob takes its candidates in shuffled rounds, so each value
// appears about equally often and in every mix with the others.
std::vector<Configuration> sample_configurations(const SearchSpace& space, int n, uint64_t seed);

}  // namespace swapmoe
