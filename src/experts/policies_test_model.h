// The small MoE model the policy tests share (16 experts, top-2, 3 layers, q8_0), and how the
// exact-routing tests run it: token by token, greedy.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <algorithm>
#include <string>
#include <vector>

#include "model/synth_model.h"
#include "runtime/engine.h"
#include "runtime/session.h"

namespace swapmoe {

// Writes the model to a temporary file named after `tag` and this process; returns its path.
// Another seed gives the same shape with other weights, another type other matrices.
inline std::string write_policies_test_model(const std::string& tag, uint64_t seed = 1,
                                             GgmlType type = GgmlType::Q8_0) {
  SynthSpec s = synth_preset("tiny");
  s.seed = seed;
  s.n_expert = 16;
  s.n_layer = 3;
  s.n_embd = 64;
  s.n_ff = 96;
  s.type = type;
  const std::string path =
      (std::filesystem::temp_directory_path() / ("swapmoe_" + tag + "_" + std::to_string(::getpid()) + ".gguf")).string();
  write_synth_model(s, path, 2);
  return path;
}

// Removes the model and the expert-norms cache written beside it.
inline void remove_policies_test_model(const std::string& path) {
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".expert-norms");
}

// One token per step, the prompt too: each step's misses then always fit the slots, so exact
// policies must reproduce the full model token for token. Loads land deterministically.
inline EngineOptions token_by_token_options(const std::string& path, const std::string& policy,
                                            const std::string& share) {
  EngineOptions o;
  o.model_path = path;
  o.n_threads = 2;
  o.n_ctx = 128;
  o.n_ubatch = 1;
  o.policy = policy;
  o.swapmoe.deterministic = true;
  if (!share.empty()) o.budget = Budget::experts(share);
  return o;
}

// n greedy tokens after a fixed prompt, in a new session.
inline std::vector<int32_t> greedy_tokens(Engine& e, int n) {
  Session session(e);
  std::span<const float> logits = session.prefill(e.tokenizer().encode("the quick brown fox", true));
  std::vector<int32_t> out;
  while (static_cast<int>(out.size()) < n) {
    const auto next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(next);
    logits = session.step(next);
  }
  return out;
}

}  // namespace swapmoe
