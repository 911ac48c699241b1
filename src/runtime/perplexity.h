// Perplexity as llama.cpp's perplexity tool computes it: consecutive chunks of n_ctx tokens,
// each evaluated from an empty cache with BOS in front, only the second half of each scored.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/engine.h"

namespace swapmoe {

struct PerplexityResult {
  double ppl = 0;
  double nll = 0;            // mean negative log-likelihood per scored token (nats)
  int64_t n_tokens = 0;      // tokens in the text (with BOS)
  int64_t n_chunks = 0;
  int64_t n_scored = 0;      // tokens whose likelihood was scored
  double seconds = 0;
  std::vector<double> chunk_ppl;  // running perplexity after each chunk
};

// progress(chunk_index, n_chunks, running_ppl) after each chunk. max_chunks < 0: all.
PerplexityResult perplexity(Engine& engine, const std::string& text, int64_t n_ctx,
                            const std::function<void(int64_t, int64_t, double)>& progress = {},
                            int64_t max_chunks = -1);

}  // namespace swapmoe
