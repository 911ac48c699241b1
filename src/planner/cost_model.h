// Cost models of the planner: how long a token takes under a configuration (from the device
// profile). What a budget buys comes from the memory plan (model/memory_plan.h), as the engine's.
#pragma once

#include <cstdint>
#include <vector>

#include "model/memory_plan.h"  // MemorySplit, slots_in_budget, bytes_for_slots, even_split

namespace swapmoe {

// Per-token time of a configuration, in milliseconds: the compute of every routed expert, plus
//  - exact fetches (misses that carry at least the exact threshold's share): the token waits for
//    them; a layer's fetches are read in parallel by io_threads readers;
//  - prefetch: predicting the next layers' experts and issuing their reads happens inside the
//    token's layers, so a share of each prefetch read's time shows in the token.
// Swap loads (pure SwapMoE) run free on the loader: a token never waits for them, however slow
// the storage; they only make residency lag, which the quality model sees. Measured on
// shakespeare-moe (-t 1, 2 shared cores): pure SwapMoE decodes at 97-101% of the full model's
// speed at 25% and 50% of the experts although a read (0.32 ms) takes 5x a token's compute.
struct LatencyFigures {
  double dense_compute_ms = 0;   // attention, router, norms, output per token
  double expert_compute_ms = 0;  // one expert (gate, up, down) for one token
  double expert_load_ms = 0;     // one expert read from storage
  double fetch_ms = 0;           // a token's wait for one fetched expert (read + the loader's wake-ups)
  int n_moe_layers = 0;
  int n_expert_used = 0;
  int io_threads = 4;            // readers of a layer's fetches (the runtime's --io-threads)
  // Share of a prefetch read's time a token pays. Measured on shakespeare-moe at 50% of the
  // experts, --prefetch 2: 1.4 reads a token cost 0.09 ms a token, 0.2 of a 0.32 ms read.
  double prefetch_read_share = 0.2;
};

// What a configuration reads per token (predicted by the quality model).
struct TokenTraffic {
  double loads_per_token = 0;    // every expert read: swaps, fetches and prefetches
  double fetches_per_token = 0;  // of those, reads a token waited for
  int prefetch_depth = 0;        // MoE layers predicted ahead (0: no prefetch reads)
};

// compute + stall + prefetch, where
//   stall    = fetches x fetch_ms / min(io_threads, max(1, fetches per MoE layer)),
//   prefetch = prefetch_read_share x (loads - fetches) x load_ms when prefetch_depth > 0
//              (its non-fetch reads are prefetches and swaps; swaps cost nothing either way).
// Prefetch also hides stalls, through the fetch count itself: a prefetch hit is an exact-routing
// miss that was resident in time, so runs measured with prefetch on count fewer fetches.
double predict_latency_ms(const LatencyFigures& f, const TokenTraffic& t);

// Every expert resident, nothing read: the full model's decode step (the speed floor's reference).
double full_model_latency_ms(const LatencyFigures& f);

}  // namespace swapmoe
