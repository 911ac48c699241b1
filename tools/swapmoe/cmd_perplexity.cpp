// swapmoe perplexity: llama.cpp-comparable perplexity of a model on a text file.
#include <unistd.h>

#include <algorithm>
#include <iostream>

#include <fmt/format.h>

#include "cli_common.h"
#include "core/error.h"
#include "core/memory_stats.h"
#include "runtime/metrics.h"
#include "runtime/perplexity.h"

namespace swapmoe::cli {

namespace {

struct PerplexityOptions {
  ModelOptions model;
  std::string file;
  int64_t max_chunks = -1;
  bool async_loads = false;
};

void run(const PerplexityOptions& o) {
  const std::string text = read_text_file(o.file, "-f");
  if (text.empty()) fail("perplexity", fmt::format("text file '{}' is empty", o.file), "pass a text to score with -f");
  // Under swapmoe every token is evaluated on its own by default, as in decoding, so that the
  // experts can change between tokens exactly as they would while generating.
  const bool swapping = o.model.policy == "swapmoe" ||
                        (o.model.policy.empty() && (!o.model.memory_budget.empty() || !o.model.expert_budget.empty()));
  ModelOptions mo = o.model;
  mo.swapmoe.deterministic = !o.async_loads;
  EngineOptions eo = engine_options(mo, swapping ? 1 : 64);
  eo.all_logits = true;
  Engine engine(eo);
  lock_memory_if_asked(mo);
  note_plan_scaling(engine);
  RoutingTraces traces = attach_routing_traces(engine, o.model);
  std::cerr << fmt::format("perplexity: {} bytes of text, context {}, {} threads\n", text.size(), o.model.ctx,
                           engine.pool().size());
  // On a terminal the progress line rewrites itself; in a log, one line per tenth of the work.
  const bool tty = ::isatty(2) != 0;
  PerplexityResult r = perplexity(engine, text, o.model.ctx, [tty](int64_t c, int64_t n, double ppl) {
    if (tty)
      std::cerr << fmt::format("\r[{}/{}] ppl {:.4f}", c + 1, n, ppl) << std::flush;
    else if ((c + 1) % std::max<int64_t>(1, n / 10) == 0 || c + 1 == n)
      std::cerr << fmt::format("[{}/{}] ppl {:.4f}\n", c + 1, n, ppl);
  }, o.max_chunks);
  if (tty) std::cerr << "\n";
  const uint64_t peak = peak_rss_bytes();
  const double tps = r.seconds > 0 ? static_cast<double>(r.n_chunks * o.model.ctx) / r.seconds : 0;
  std::cout << fmt::format("ppl = {:.4f} over {} chunks of {} tokens ({} tokens in the text, {} scored)\n", r.ppl,
                           r.n_chunks, o.model.ctx, r.n_tokens, r.n_scored);
  std::cerr << fmt::format("{:.2f} s, {:.1f} tokens/s, peak RSS {}\n", r.seconds, tps, format_bytes(peak));
  const RunMetrics m = collect_metrics(engine);
  std::cerr << format_metrics_line(m) << "\n";
  if (o.model.json) {
    nlohmann::json j = to_json(m);
    j.update({{"model", engine.options().model_path},
                     {"ppl", r.ppl},
                     {"nll", r.nll},
                     {"n_tokens", r.n_tokens},
                     {"n_chunks", r.n_chunks},
                     {"n_scored", r.n_scored},
                     {"ctx", o.model.ctx},
                     {"seconds", r.seconds},
                     {"tokens_per_s", tps},
                     {"peak_rss_bytes", peak}});
    print_json_line(j);
  }
}

}  // namespace

void register_perplexity(CLI::App& app) {
  auto o = std::make_shared<PerplexityOptions>();
  CLI::App* cmd = app.add_subcommand("perplexity", "perplexity of the model on a text file (llama.cpp's method)");
  add_model_options(cmd, o->model, 512);
  add_budget_options(cmd, o->model);
  add_batch_options(cmd, o->model, "64, or 1 under swapmoe");
  cmd->add_option("-f,--file", o->file, "text file")->required();
  cmd->add_option("--chunks", o->max_chunks, "evaluate at most this many chunks; -1 = all (the default)")
      ->check(CLI::Validator(
          [](std::string& v) -> std::string {
            return v == "0" ? "0 chunks scores nothing: pass N > 0, or -1 for all" : std::string{};
          },
          "N > 0 or -1"))
      ->check(CLI::Range(int64_t{-1}, INT64_MAX));
  cmd->add_flag("--async-loads", o->async_loads,
                "swapmoe: switch experts in whenever their reads complete, as when serving (figures then vary "
                "from run to run); by default each load lands one token after it starts");
  cmd->callback([o] { run(*o); });
}

}  // namespace swapmoe::cli
