// Text generation: evaluate a prompt (or a user's turn), then sample token by token until an
// end-of-generation token, a stop string, the token limit or the end of the context.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/engine.h"
#include "runtime/session.h"
#include "runtime/stop_strings.h"
#include "sampling/sampler.h"

namespace swapmoe {

struct GenerationSettings {
  int n_predict = 128;            // tokens to generate; -1: until end of generation or a full context
  std::vector<StopString> stops;  // reverse prompts (kept) and stop strings (dropped)
  bool ignore_eos = false;  // never sample an end-of-generation token (llama.cpp's --ignore-eos)
  // When set, polled before each token: true ends the reply ("interrupted"), e.g. on Ctrl-C.
  const std::atomic<bool>* interrupt = nullptr;
};

struct GenerationResult {
  std::vector<int32_t> prompt_tokens;  // the evaluated input (with BOS when the model wants it)
  std::vector<int32_t> tokens;         // generated
  std::string text;                    // generated text as shown (stop strings applied)
  double prompt_seconds = 0;           // prefill wall time
  double gen_seconds = 0;              // decode wall time (all generated tokens after the first)
  std::vector<double> token_ms;        // per decode step latency
  std::string stop_reason;             // "eos", "stop" (a stop string), "limit", "context" or "interrupted"
  // The last sampled token when it was not evaluated (generation ended on it, an
  // end-of-generation token included); a later turn on the same session evaluates it first.
  // -1: none.
  int32_t pending = -1;

  double prompt_tokens_per_s() const;
  double gen_tokens_per_s() const;
};

// Throws, naming the sizes, when `n_tokens` more tokens do not fit in the session's context.
void check_fits_context(const Session& session, int64_t n_tokens);
// The same for a text not yet tokenized, when its length alone proves it cannot fit (a prompt of
// megabytes); cheap, and before any tokenizing.
void check_text_fits_context(const Session& session, std::string_view text);

// One turn on a session that may already hold a conversation: evaluates `input` (preceded by
// `pending`, the previous turn's unevaluated token, when >= 0), then generates. on_text
// receives generated text as it becomes printable UTF-8.
GenerationResult generate_turn(Session& session, std::vector<int32_t> input, int32_t pending,
                               const GenerationSettings& settings,
                               const std::function<void(std::string_view)>& on_text = {});

// A fresh session: the prompt (BOS added when the model wants it), then generation.
GenerationResult generate(Engine& engine, const std::string& prompt, const GenerationSettings& settings,
                          const SamplerParams& sampling, const std::function<void(std::string_view)>& on_text = {});

// Latency percentile (0..100) of a sample, linear interpolation; 0 for an empty sample.
double percentile(std::vector<double> values, double p);

}  // namespace swapmoe
