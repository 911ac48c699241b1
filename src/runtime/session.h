// Session: one sequence on an Engine: its KV cache, position, last logits and sampler. Every
// driver (generation, perplexity, bench, profiler, server) evaluates through a Session, so the
// prefill/decode protocol (the expert warm-up after a prompt) lives in one place.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/kv_cache.h"
#include "runtime/engine.h"
#include "sampling/sampler.h"

namespace swapmoe {

class Session {
 public:
  // Allocates the KV cache; throws when the engine's planned sessions are all in use.
  explicit Session(Engine& engine, const SamplerParams& sampling = {});
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Evaluates a prompt (or its continuation) at the current position, then lets the expert
  // policy prepare for decoding (SwapMoE loads the prompt's wanted experts). Returns the last
  // token's logits. The tokens are recorded for the sampler's repetition penalty.
  std::span<const float> prefill(std::span<const int32_t> tokens);
  // Evaluates tokens at the current position without the decode warm-up (llama-bench's pp).
  std::span<const float> evaluate(std::span<const int32_t> tokens);
  // Evaluates one token at the current position: a decode step.
  std::span<const float> step(int32_t token);
  // One decode step for each of several sessions of the same engine, in one forward: session i
  // evaluates tokens[i], and its logits() are its own afterwards. Experts are read once for all.
  static void step_batch(std::span<Session* const> sessions, std::span<const int32_t> tokens);
  // Runs of tokens of several sessions of one engine in one forward (Transformer::forward_runs):
  // a server's decode step with new requests' prompt chunks beside it. Each session's logits()
  // are its run's last token's afterwards. Prompt tokens are recorded for the sampler's
  // repetition penalty, as evaluate() records them; a decode run's token was recorded when it was
  // sampled. When a run ends its prompt, the expert policy prepares for decoding, as after prefill().
  enum class RunKind { decode, prompt, prompt_end };
  struct Run {
    Session* session;
    std::span<const int32_t> tokens;
    RunKind kind = RunKind::decode;
  };
  static void evaluate_batch(std::span<const Run> runs);
  // Scores tokens without the decode warm-up: every token's logits, one micro-batch at a time.
  void evaluate_all(std::span<const int32_t> tokens, const Transformer::LogitsSink& on_logits);

  // Samples the next token from the last logits and records it; `banned` tokens are never
  // chosen (llama.cpp's --ignore-eos bans the end-of-generation tokens).
  int32_t sample(std::span<const int32_t> banned = {});

  // Forgets the sequence (position 0, sampler history cleared); the cache is reused.
  void reset();
  // Keeps the first kept.size() positions, which hold `kept` (the caller's record of them), and
  // forgets the rest: their cache rows are reused as they are, and the sampler's history is
  // rebuilt from them. A server reuses a conversation's prefix this way. Returns how many were
  // kept: all, or 0 when a sliding-window layer's ring has already overwritten rows they need.
  int64_t keep_prefix(std::span<const int32_t> kept);

  int64_t pos() const { return pos_; }
  int64_t n_ctx() const { return kv_.n_ctx(); }
  std::span<const float> logits() const { return logits_; }
  Sampler& sampler() { return sampler_; }
  Engine& engine() { return engine_; }
  const Engine& engine() const { return engine_; }
  // Bytes this session holds (KV cache and logits), as session_bytes() plans them.
  uint64_t bytes() const { return kv_.bytes() + logits_.size() * sizeof(float); }

 private:
  std::span<const float> keep_logits(const float* logits);

  SessionSeat seat_;
  Engine& engine_;
  KvCache kv_;
  int64_t pos_ = 0;
  std::vector<float> logits_;  // [n_vocab] of the last evaluated token
  Sampler sampler_;
};

}  // namespace swapmoe
