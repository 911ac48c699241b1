// Measuring one bench configuration on a live engine: timed prefill and teacher-forced greedy
// decode (speed, latency, expert traffic, agreement with full's greedy tokens) and perplexity.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench_sweep.h"
#include "cli_common.h"

namespace swapmoe::cli {

// The engine options of one sweep configuration on top of the command's model options.
// `full` runs without a budget; other policies get --expert-budget or --memory-budget.
EngineOptions sweep_engine_options(const ModelOptions& base, const SweepConfig& config, BudgetKind kind,
                                   int64_t n_ubatch);

// The prompt: the first n tokens of `text` (BOS first when the model wants it), or seeded random
// tokens when there is no text.
std::vector<int32_t> bench_prompt(const Engine& engine, const std::string& text, int n_prompt);

struct DecodeResult {
  double prompt_seconds = 0;   // prefill plus finish_prefill (expert warm-up): time to first token
  std::vector<double> token_ms;  // per decode step
  std::vector<int32_t> greedy;   // the engine's greedy token at each position
  double agreement = -1;         // share of positions where greedy == reference; -1 without one
  // Expert traffic of the decode steps only (after the prompt's prefill and warm-up).
  uint64_t stalls = 0, swaps = 0, loads = 0, bytes_read = 0, tokens = 0;
  double hit_rate = 1, fidelity = 1;
};

// Prefill `prompt`, then n_decode single-token steps. Each step feeds reference[i] when a
// reference is given (teacher forcing, so every policy sees the same prefix), else the
// engine's own greedy token (how the reference itself is made).
DecodeResult measure_decode(Engine& engine, const std::vector<int32_t>& prompt, int n_decode,
                            const std::vector<int32_t>& reference);

// Fills a row's speed, latency and traffic figures from one or more decode rounds (medians of
// the rates, percentiles over the pooled step latencies, traffic from the first round).
void fill_speed(SweepRow& row, const std::vector<DecodeResult>& rounds, int n_prompt);

}  // namespace swapmoe::cli
