// swapmoe run: generate text from a prompt, streamed, then a stats line.
#include <chrono>
#include <cstdio>
#include <iostream>

#include <fmt/format.h>

#include "cli_common.h"
#include "core/memory_stats.h"
#include "runtime/generation.h"
#include "runtime/metrics.h"

namespace swapmoe::cli {

namespace {

struct RunOptions {
  ModelOptions model;
  std::string prompt;
  int n_predict = 128;
  SamplerParams sampling;
  uint64_t seed = 0;
  bool seed_given = false;
};

void run(const RunOptions& o) {
  Engine engine(engine_options(o.model));
  RoutingTraces traces = attach_routing_traces(engine, o.model);
  SamplerParams sp = o.sampling;
  sp.seed = o.seed_given ? o.seed
                         : static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());

  std::cout << o.prompt << std::flush;
  GenerationResult r = generate(engine, o.prompt, o.n_predict, sp, [](std::string_view piece) {
    std::cout << piece << std::flush;
  });
  std::cout << "\n" << std::flush;

  const uint64_t peak = peak_rss_bytes();
  const double p50 = percentile(r.token_ms, 50), p99 = percentile(r.token_ms, 99);
  std::cerr << fmt::format(
      "\nprompt: {} tokens, {:.2f} tok/s | generation: {} tokens, {:.2f} tok/s, p50 {:.2f} ms, p99 {:.2f} ms | "
      "peak RSS {} | stop: {} | seed {}\n",
      r.prompt_tokens.size(), r.prompt_tokens_per_s(), r.tokens.size(), r.gen_tokens_per_s(), p50, p99,
      format_bytes(peak), r.stop_reason, sp.seed);
  const RunMetrics m = collect_metrics(engine);
  std::cerr << format_metrics_line(m) << "\n";
  if (o.model.json) {
    nlohmann::json j = to_json(m);
    j.update({
        {"model", engine.options().model_path},
        {"threads", engine.pool().size()},
        {"n_prompt_tokens", r.prompt_tokens.size()},
        {"n_gen_tokens", r.tokens.size()},
        {"prompt_tokens_per_s", r.prompt_tokens_per_s()},
        {"gen_tokens_per_s", r.gen_tokens_per_s()},
        {"p50_ms", p50},
        {"p99_ms", p99},
        {"peak_rss_bytes", peak},
        {"stop_reason", r.stop_reason},
        {"seed", sp.seed},
        {"tokens", r.tokens},
        {"text", r.text},
    });
    print_json_line(j);
  }
}

}  // namespace

void register_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "generate text from a prompt");
  add_model_options(cmd, o->model, 512);
  add_budget_options(cmd, o->model);
  cmd->add_option("-p,--prompt", o->prompt, "prompt text")->capture_default_str();
  cmd->add_option("-n,--n-predict", o->n_predict, "tokens to generate")->capture_default_str()->check(CLI::Range(0, 1 << 24));
  add_sampling_options(cmd, o->sampling, o->seed, o->seed_given);
  cmd->callback([o] { run(*o); });
}

}  // namespace swapmoe::cli
