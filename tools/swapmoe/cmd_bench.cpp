// swapmoe bench: prefill and decode throughput, measured like llama-bench (pp N / tg N).
#include <cmath>
#include <iostream>
#include <numeric>
#include <random>

#include <fmt/format.h>

#include "cli_common.h"
#include "core/memory_stats.h"
#include "core/timer.h"

namespace swapmoe::cli {

namespace {

struct BenchOptions {
  ModelOptions model;
  int n_prompt = 128;
  int n_gen = 32;
  int reps = 3;
};

struct Sample {
  double mean = 0, stddev = 0;
};

Sample summarize(const std::vector<double>& v) {
  Sample s;
  if (v.empty()) return s;
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  double var = 0;
  for (double x : v) var += (x - s.mean) * (x - s.mean);
  s.stddev = v.size() > 1 ? std::sqrt(var / static_cast<double>(v.size() - 1)) : 0;
  return s;
}

void run(const BenchOptions& o) {
  ModelOptions mo = o.model;
  mo.ctx = std::max<int64_t>(mo.ctx, std::max(o.n_prompt, o.n_gen) + 1);
  Engine engine(engine_options(mo));
  RoutingTraces traces = attach_routing_traces(engine, mo);
  Transformer& tf = engine.transformer();
  const int64_t n_vocab = engine.model().config().n_vocab;
  std::mt19937 rng(42);
  std::uniform_int_distribution<int32_t> dist(3, static_cast<int32_t>(n_vocab - 1));
  std::vector<float> logits(n_vocab);

  // Warm-up: touches every page of the map and the caches once.
  std::vector<int32_t> warm(std::min(o.n_prompt, 8));
  for (auto& t : warm) t = dist(rng);
  if (!warm.empty()) tf.forward(warm, 0, logits.data(), false);

  std::vector<double> pp, tg;
  for (int r = 0; r < o.reps; ++r) {
    if (o.n_prompt > 0) {
      std::vector<int32_t> prompt(o.n_prompt);
      for (auto& t : prompt) t = dist(rng);
      Timer t;
      tf.forward(prompt, 0, logits.data(), false);
      pp.push_back(o.n_prompt / t.seconds());
    }
    if (o.n_gen > 0) {
      Timer t;
      for (int i = 0; i < o.n_gen; ++i) {
        int32_t tok = dist(rng);
        tf.forward({&tok, 1}, i, logits.data(), false);
      }
      tg.push_back(o.n_gen / t.seconds());
    }
  }
  const Sample spp = summarize(pp), stg = summarize(tg);
  const uint64_t peak = peak_rss_bytes();
  const ModelConfig& c = engine.model().config();
  std::cout << fmt::format("| model | size | threads | test | tokens/s |\n|---|---|---|---|---|\n");
  const std::string name = c.name.empty() ? c.arch : c.name;
  const std::string size = format_bytes(engine.model().total_bytes());
  if (o.n_prompt > 0)
    std::cout << fmt::format("| {} | {} | {} | pp{} | {:.2f} ± {:.2f} |\n", name, size, engine.pool().size(),
                             o.n_prompt, spp.mean, spp.stddev);
  if (o.n_gen > 0)
    std::cout << fmt::format("| {} | {} | {} | tg{} | {:.2f} ± {:.2f} |\n", name, size, engine.pool().size(), o.n_gen,
                             stg.mean, stg.stddev);
  std::cerr << fmt::format("peak RSS {}\n", format_bytes(peak));
  if (o.model.json)
    print_json_line({{"model", engine.options().model_path},
                     {"threads", engine.pool().size()},
                     {"n_prompt", o.n_prompt},
                     {"n_gen", o.n_gen},
                     {"prompt_tokens_per_s", spp.mean},
                     {"gen_tokens_per_s", stg.mean},
                     {"prompt_tokens_per_s_stddev", spp.stddev},
                     {"gen_tokens_per_s_stddev", stg.stddev},
                     {"peak_rss_bytes", peak}});
}

}  // namespace

void register_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "prefill (pp) and decode (tg) throughput");
  add_model_options(cmd, o->model, 512);
  add_budget_options(cmd, o->model);
  cmd->add_option("-p,--n-prompt", o->n_prompt, "prompt tokens for the prefill test")->capture_default_str()->check(CLI::Range(0, 1 << 16));
  cmd->add_option("-n,--n-gen", o->n_gen, "tokens for the decode test")->capture_default_str()->check(CLI::Range(0, 1 << 16));
  cmd->add_option("-r,--repetitions", o->reps, "repetitions")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->callback([o] { run(*o); });
}

}  // namespace swapmoe::cli
