// Text generation: prefill the prompt, then sample token by token until EOS or the limit.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/engine.h"
#include "sampling/sampler.h"

namespace swapmoe {

struct GenerationResult {
  std::vector<int32_t> prompt_tokens;  // with BOS when the model wants it
  std::vector<int32_t> tokens;         // generated
  std::string text;                    // generated text
  double prompt_seconds = 0;           // prefill wall time
  double gen_seconds = 0;              // decode wall time (all generated tokens after the first)
  std::vector<double> token_ms;        // per decode step latency
  std::string stop_reason;             // "eos", "limit" or "context"

  double prompt_tokens_per_s() const;
  double gen_tokens_per_s() const;
};

// on_text receives generated text as it becomes printable UTF-8.
GenerationResult generate(Engine& engine, const std::string& prompt, int n_predict, const SamplerParams& sampling,
                          const std::function<void(std::string_view)>& on_text = {});

// Latency percentile (0..100) of a sample, linear interpolation; 0 for an empty sample.
double percentile(std::vector<double> values, double p);

}  // namespace swapmoe
