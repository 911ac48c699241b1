#include "bench_measure.h"

#include <algorithm>
#include <random>

#include "core/timer.h"
#include "runtime/generation.h"
#include "runtime/session.h"

namespace swapmoe::cli {

EngineOptions sweep_engine_options(const ModelOptions& base, const SweepConfig& config, BudgetKind kind,
                                   int64_t n_ubatch) {
  ModelOptions mo = base;
  const PolicyVariant v = parse_policy_variant(config.policy);
  mo.policy = v.policy;
  mo.cache_evict = v.eviction;
  mo.swapmoe.exact_threshold = v.exact_threshold;
  mo.memory_budget.clear();
  mo.expert_budget.clear();
  if (config.policy != "full") {
    if (kind == BudgetKind::EXPERTS)
      mo.expert_budget = config.budget;
    else
      mo.memory_budget = config.budget;
  }
  mo.ubatch = n_ubatch;
  EngineOptions eo = engine_options(mo, n_ubatch);
  eo.all_logits = true;  // the rows' perplexity
  return eo;
}

std::vector<int32_t> bench_prompt(const Engine& engine, const std::string& text, int n_prompt) {
  const Tokenizer& tok = engine.tokenizer();
  std::vector<int32_t> prompt;
  if (!text.empty()) prompt = tok.encode(text.substr(0, std::min<size_t>(text.size(), 64 * (n_prompt + 16))), tok.add_bos());
  if (static_cast<int>(prompt.size()) >= n_prompt) {
    prompt.resize(std::max(n_prompt, 1));
    return prompt;
  }
  // No text (or too short): seeded random ids, skipping the first ids (control tokens).
  const int32_t n_vocab = static_cast<int32_t>(engine.model().config().n_vocab);
  std::mt19937 rng(42);
  std::uniform_int_distribution<int32_t> dist(std::min<int32_t>(3, n_vocab - 1), n_vocab - 1);
  prompt.assign(std::max(n_prompt, 1), 0);
  for (auto& t : prompt) t = dist(rng);
  if (tok.add_bos()) prompt[0] = tok.bos_id();
  return prompt;
}

namespace {
int32_t argmax(std::span<const float> v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}
}  // namespace

DecodeResult measure_decode(Engine& engine, const std::vector<int32_t>& prompt, int n_decode,
                            const std::vector<int32_t>& reference) {
  Session session(engine);
  DecodeResult r;

  Timer prefill;
  std::span<const float> logits = session.prefill(prompt);
  r.prompt_seconds = prefill.seconds();
  Transformer& tf = engine.transformer();

  // Figures of the decode steps alone: the prompt's routing and warm-up loads are excluded.
  tf.reset_routing_stats();
  const ExpertStats before = engine.policy().stats();
  int agree = 0;
  const bool forced = !reference.empty();
  const int n = forced ? std::min<int>(n_decode, static_cast<int>(reference.size())) : n_decode;
  for (int i = 0; i < n && session.pos() < session.n_ctx(); ++i) {
    const int32_t g = argmax(logits);
    r.greedy.push_back(g);
    if (forced) agree += g == reference[i];
    const int32_t next = forced ? reference[i] : g;
    Timer step;
    logits = session.step(next);
    r.token_ms.push_back(step.seconds() * 1e3);
  }
  const ExpertStats& after = engine.policy().stats();
  r.stalls = after.stalls - before.stalls;
  r.swaps = after.swaps - before.swaps;
  r.loads = after.loads - before.loads;
  r.bytes_read = after.bytes_read - before.bytes_read;
  r.tokens = after.tokens - before.tokens;
  r.hit_rate = tf.routing_stats().hit_rate();
  r.fidelity = tf.routing_stats().fidelity();
  if (forced && !r.greedy.empty()) r.agreement = static_cast<double>(agree) / static_cast<double>(r.greedy.size());
  return r;
}

void fill_speed(SweepRow& row, const std::vector<DecodeResult>& rounds, int n_prompt) {
  if (rounds.empty()) return;
  std::vector<double> pp, tg, all_ms, ttft;
  for (const DecodeResult& d : rounds) {
    double s = 0;
    for (double ms : d.token_ms) s += ms / 1e3;
    all_ms.insert(all_ms.end(), d.token_ms.begin(), d.token_ms.end());
    if (d.prompt_seconds > 0) pp.push_back(n_prompt / d.prompt_seconds), ttft.push_back(d.prompt_seconds * 1e3);
    if (s > 0) tg.push_back(static_cast<double>(d.token_ms.size()) / s);
  }
  row.prompt_tokens_per_s = pp.empty() ? SweepRow::kNaN : percentile(pp, 50);
  row.gen_tokens_per_s = tg.empty() ? SweepRow::kNaN : percentile(tg, 50);
  row.ttft_ms = ttft.empty() ? SweepRow::kNaN : percentile(ttft, 50);
  row.p50_ms = percentile(all_ms, 50);
  row.p99_ms = percentile(all_ms, 99);
  const DecodeResult& first = rounds.front();
  row.hit_rate = first.hit_rate;
  row.fidelity = first.fidelity;
  row.stalls = first.stalls;
  row.swaps = first.swaps;
  row.loads = first.loads;
  row.bytes_read_per_token =
      first.tokens ? static_cast<double>(first.bytes_read) / static_cast<double>(first.tokens) : 0.0;
  if (first.agreement >= 0) row.agreement = first.agreement;
  row.rounds = static_cast<int>(rounds.size());
}

}  // namespace swapmoe::cli
