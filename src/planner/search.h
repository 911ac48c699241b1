// Search over configurations (slots per MoE layer, update interval, exact threshold, prefetch
// depth) for the best predicted quality within the slots a budget buys, with latency as a
// constraint or a tie-breaker.
//
// The memory constraint is structural: every candidate spends exactly `capacity` slots (more
// resident experts never lower quality, so a plan that leaves affordable slots empty is never
// better), each layer between 1 and n_expert. A genetic algorithm explores, a hill climb over
// single-slot moves and one-step knob moves polishes its best; both are deterministic for a seed.
#pragma once

#include <cstdint>
#include <functional>
#include <tuple>
#include <vector>

namespace swapmoe {

// An exact threshold above 1 never waits for a miss: pure SwapMoE (the runtime's default).
inline constexpr double kPureSwapMoe = 2.0;

struct SearchSpace {
  int n_layers = 0;              // MoE layers
  int n_expert = 0;
  int64_t capacity = 0;          // slots to spend in total; clamped to [n_layers, n_layers * n_expert]
  std::vector<int> intervals;    // candidate update intervals (tokens), ascending
  // Candidate exact thresholds (share of a token's top-k weight; above 1: pure) and prefetch
  // depths (MoE layers ahead), ascending. The defaults keep the runtime's defaults only.
  std::vector<double> thresholds{kPureSwapMoe};
  std::vector<int> prefetch_depths{0};
};

struct Configuration {
  std::vector<int> slots;  // per MoE layer
  int update_interval = 8;
  double exact_threshold = kPureSwapMoe;
  int prefetch_depth = 0;
  bool operator==(const Configuration&) const = default;
  bool operator<(const Configuration& o) const {  // any strict order, for memo tables
    return std::tie(update_interval, exact_threshold, prefetch_depth, slots) <
           std::tie(o.update_interval, o.exact_threshold, o.prefetch_depth, o.slots);
  }
};

struct Score {
  double quality = 0;     // lower is better (predicted log-perplexity)
  double latency_ms = 0;  // predicted per-token latency
};

using Objective = std::function<Score(const Configuration&)>;

struct SearchOptions {
  uint64_t seed = 1;
  int population = 48;
  int generations = 60;
  double max_latency_ms = 0;  // 0: no constraint (latency only breaks ties)
};

struct SearchResult {
  Configuration best;
  Score score;
  bool feasible = true;       // false: nothing met max_latency_ms; best is the closest
  int64_t evaluations = 0;    // distinct configurations scored
};

SearchResult genetic_search(const SearchSpace& space, const Objective& objective, const SearchOptions& options);

// Every configuration (for tests and tiny spaces); throws if there are more than max_configs.
SearchResult exhaustive_search(const SearchSpace& space, const Objective& objective, const SearchOptions& options,
                               int64_t max_configs = 2'000'000);

}  // namespace swapmoe
