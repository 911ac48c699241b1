#include "runtime/session.h"

#include <cmath>

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"

namespace swapmoe {

Session::Session(Engine& engine, const SamplerParams& sampling)
    : seat_(engine),
      engine_(engine),
      kv_(engine.model().config(), engine.run_shape()),
      logits_(static_cast<size_t>(engine.model().config().n_vocab), 0.0f),
      sampler_(sampling, static_cast<int32_t>(engine.model().config().n_vocab)) {}

std::span<const float> Session::keep_logits(const float* logits) {
  if (logits) std::copy(logits, logits + logits_.size(), logits_.begin());
  return logits_;
}

std::span<const float> Session::evaluate(std::span<const int32_t> tokens) {
  const float* logits = engine_.transformer().forward(kv_, tokens, pos_);
  pos_ += static_cast<int64_t>(tokens.size());
  for (int32_t t : tokens) sampler_.accept(t);
  return keep_logits(logits);
}

std::span<const float> Session::prefill(std::span<const int32_t> tokens) {
  evaluate(tokens);
  engine_.policy().finish_prefill();
  return logits_;
}

std::span<const float> Session::step(int32_t token) {
  const float* logits = engine_.transformer().forward(kv_, {&token, 1}, pos_);
  ++pos_;
  return keep_logits(logits);
}

void Session::step_batch(std::span<Session* const> sessions, std::span<const int32_t> tokens) {
  if (sessions.size() != tokens.size())
    fail("session", fmt::format("a batched step of {} sessions has {} tokens", sessions.size(), tokens.size()),
         "give one token a session");
  std::vector<Run> runs;
  runs.reserve(sessions.size());
  for (size_t i = 0; i < sessions.size(); ++i) runs.push_back({sessions[i], tokens.subspan(i, 1), RunKind::decode});
  evaluate_batch(runs);
}

void Session::evaluate_batch(std::span<const Run> runs) {
  if (runs.empty()) return;
  Engine& engine = runs[0].session->engine_;
  std::vector<Transformer::SequenceRun> sequences;
  sequences.reserve(runs.size());
  for (const Run& r : runs) {
    if (&r.session->engine_ != &engine) fail("session", "a batch mixes sessions of different engines", "batch sessions of one engine");
    sequences.push_back({&r.session->kv_, r.tokens, r.session->pos_});
  }
  const float* logits = engine.transformer().forward_runs(sequences);
  const size_t V = runs[0].session->logits_.size();
  bool prompt_ended = false;
  for (size_t i = 0; i < runs.size(); ++i) {
    Session& s = *runs[i].session;
    s.keep_logits(logits + i * V);
    s.pos_ += static_cast<int64_t>(runs[i].tokens.size());
    if (runs[i].kind != RunKind::decode)
      for (int32_t t : runs[i].tokens) s.sampler_.accept(t);
    prompt_ended = prompt_ended || runs[i].kind == RunKind::prompt_end;
  }
  if (prompt_ended) engine.policy().finish_prefill();
}

void Session::evaluate_all(std::span<const int32_t> tokens, const Transformer::LogitsSink& on_logits) {
  engine_.transformer().forward_all(kv_, tokens, pos_, on_logits);
  pos_ += static_cast<int64_t>(tokens.size());
}

int32_t Session::sample(std::span<const int32_t> banned) {
  for (int32_t b : banned)
    if (b >= 0 && static_cast<size_t>(b) < logits_.size()) logits_[static_cast<size_t>(b)] = -INFINITY;
  const int32_t t = sampler_.sample(logits_);
  sampler_.accept(t);
  return t;
}

void Session::reset() {
  pos_ = 0;
  sampler_.reset();
}

int64_t Session::keep_prefix(std::span<const int32_t> kept) {
  if (static_cast<int64_t>(kept.size()) > pos_)
    fail("session", "keep_prefix asks for more positions than the sequence holds", "pass a prefix of what was evaluated");
  const int64_t n = kv_.reusable_prefix(static_cast<int64_t>(kept.size()), pos_);
  reset();
  for (int32_t t : kept.first(static_cast<size_t>(n))) sampler_.accept(t);
  pos_ = n;
  return n;
}

}  // namespace swapmoe
