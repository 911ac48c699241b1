// swapmoe bench: prefill and decode throughput, measured like llama-bench (pp N / tg N), for one
// configuration or, with --sweep, for every (budget, policy) pair with quality and a plot.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <numeric>
#include <random>
#include <sstream>

#include <fmt/format.h>

#include "bench_measure.h"
#include "bench_roofline.h"
#include "bench_sweep.h"
#include "cli_common.h"
#include "core/error.h"
#include "core/memory_stats.h"
#include "core/timer.h"
#include "kernels/vec_dot.h"
#include "model/token_work.h"
#include "runtime/generation.h"
#include "runtime/metrics.h"
#include "runtime/perplexity.h"
#include "runtime/session.h"
#include "svg_plot.h"

namespace swapmoe::cli {

namespace {

struct BenchOptions {
  ModelOptions model;
  int n_prompt = 128;
  int n_gen = 32;
  int reps = 3;
  int n_parallel = 1;  // sequences decoded together in the decode test (one batched forward a step)
  int n_depth = 0;     // tokens already in the context before each test (llama-bench's -d)
  int n_join = 0;      // --join: a prompt of this many tokens beside a decode step of the others

  // --sweep
  bool sweep = false;
  std::string budgets = "25%,50%,75%";
  std::string budget_kind = "experts";
  std::string policies = "full,prune,ondemand,swapmoe";
  std::string ppl_file;
  int64_t ppl_ctx = 128;
  int64_t ppl_chunks = -1;
  int agreement_tokens = 0;
  std::string csv, json_out, plot;
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

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("bench", fmt::format("cannot open text file '{}'", path), "check the path given with --ppl-file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) fail("bench", fmt::format("cannot write '{}'", path), "check that the directory exists and is writable");
}

// ---------------------------------------------------------------------------------------------
// One configuration, llama-bench style: random tokens, repeated, mean ± stddev.

void run_single(const BenchOptions& o) {
  ModelOptions mo = o.model;
  mo.ctx = std::max<int64_t>(mo.ctx, o.n_depth + std::max({o.n_prompt, o.n_gen, o.n_join}) + 1);
  EngineOptions eo = engine_options(mo);
  eo.n_sessions = o.n_parallel;
  eo.n_ubatch = std::max<int64_t>(eo.n_ubatch, o.n_parallel);
  if (o.n_join > 0 && o.n_parallel < 2)
    fail("bench", "--join puts a prompt beside other sequences' decode step", "add --parallel 2 or more");
  if (o.n_join > 0 && o.n_join + o.n_parallel - 1 > eo.n_ubatch)
    fail("bench", fmt::format("--join {} and {} decoding sequences exceed the micro-batch of {}", o.n_join, o.n_parallel - 1, eo.n_ubatch),
         "raise -ub or lower --join");
  Engine engine(eo);
  RoutingTraces traces = attach_routing_traces(engine, mo);
  Session session(engine);
  // -np N: N - 1 more sequences that decode beside the first, one batched forward per step.
  std::vector<std::unique_ptr<Session>> others;
  for (int i = 1; i < o.n_parallel; ++i) others.push_back(std::make_unique<Session>(engine));
  std::vector<Session*> batch = {&session};
  for (auto& s : others) batch.push_back(s.get());
  const int64_t n_vocab = engine.model().config().n_vocab;
  std::mt19937 rng(42);
  std::uniform_int_distribution<int32_t> dist(3, static_cast<int32_t>(n_vocab - 1));

  // Warm-up: touches every page of the map and the caches once.
  std::vector<int32_t> warm(std::min(o.n_prompt, 8));
  for (auto& t : warm) t = dist(rng);
  if (!warm.empty()) session.evaluate(warm);

  // -d: each test starts from a context already holding n_depth tokens (filled untimed), so
  // attention reads that many keys and values per token, as in a long conversation.
  auto fill_to_depth = [&](Session& s) {
    s.reset();
    if (o.n_depth == 0) return;
    std::vector<int32_t> context(o.n_depth);
    for (auto& t : context) t = dist(rng);
    s.evaluate(context);
  };
  std::vector<double> pp, tg, token_ms;
  for (int r = 0; r < o.reps; ++r) {
    if (o.n_prompt > 0) {
      std::vector<int32_t> prompt(o.n_prompt);
      for (auto& t : prompt) t = dist(rng);
      fill_to_depth(session);
      Timer t;
      session.evaluate(prompt);
      pp.push_back(o.n_prompt / t.seconds());
    }
    if (o.n_gen > 0) {
      for (Session* s : batch) fill_to_depth(*s);
      std::vector<int32_t> toks(batch.size());
      Timer t;
      for (int i = 0; i < o.n_gen; ++i) {
        for (auto& tok : toks) tok = dist(rng);
        Timer step;
        if (batch.size() == 1) session.step(toks[0]);
        else Session::step_batch(batch, toks);
        token_ms.push_back(step.seconds() * 1e3);
      }
      tg.push_back(static_cast<double>(o.n_gen) * static_cast<double>(batch.size()) / t.seconds());
    }
  }
  // --join: a new request's prompt arriving while the others decode, as swapmoe serve sees it:
  // one forward with the decode tokens and the prompt together, against the prompt's own forward
  // and then the decode step. Alternating, -r rounds of 8 each.
  std::vector<double> joined, apart;
  if (o.n_join > 0) {
    std::vector<Session*> decoders(batch.begin() + 1, batch.end());
    std::vector<int32_t> prompt(o.n_join), toks(decoders.size());
    for (int r = 0; r < o.reps; ++r)
      for (bool join : {true, false}) {
        double seconds = 0;
        for (int i = 0; i < 8; ++i) {
          for (Session* s : batch) fill_to_depth(*s);
          for (auto& t : prompt) t = dist(rng);
          for (auto& t : toks) t = dist(rng);
          Timer t;
          if (join) {
            std::vector<Session::Run> runs;
            for (size_t j = 0; j < decoders.size(); ++j) runs.push_back({decoders[j], {&toks[j], 1}, Session::RunKind::decode});
            runs.push_back({&session, prompt, Session::RunKind::prompt});
            Session::evaluate_batch(runs);
          } else {
            session.evaluate(prompt);
            Session::step_batch(decoders, toks);
          }
          seconds += t.seconds();
        }
        (join ? joined : apart).push_back(8.0 * static_cast<double>(o.n_join + decoders.size()) / seconds);
      }
  }
  const Sample spp = summarize(pp), stg = summarize(tg), sjoined = summarize(joined), sapart = summarize(apart);
  const uint64_t peak = peak_rss_bytes();
  const ModelConfig& c = engine.model().config();
  std::cout << fmt::format("| model | size | threads | test | tokens/s |\n|---|---|---|---|---|\n");
  const std::string name = c.name.empty() ? c.arch : c.name;
  const std::string size = format_bytes(engine.model().total_bytes());
  const std::string depth = o.n_depth > 0 ? fmt::format(" @ d{}", o.n_depth) : "";
  if (o.n_prompt > 0)
    std::cout << fmt::format("| {} | {} | {} | pp{}{} | {:.2f} ± {:.2f} |\n", name, size, engine.pool().size(),
                             o.n_prompt, depth, spp.mean, spp.stddev);
  if (o.n_gen > 0)
    std::cout << fmt::format("| {} | {} | {} | tg{}{}{} | {:.2f} ± {:.2f} |\n", name, size, engine.pool().size(), o.n_gen,
                             o.n_parallel > 1 ? fmt::format(" x{}", o.n_parallel) : "", depth, stg.mean, stg.stddev);
  if (o.n_join > 0)
    for (const auto& [how, sample] : {std::pair{"one forward", sjoined}, std::pair{"two forwards", sapart}})
      std::cout << fmt::format("| {} | {} | {} | pp{} + tg x{}{}, {} | {:.2f} ± {:.2f} |\n", name, size, engine.pool().size(),
                               o.n_join, o.n_parallel - 1, depth, how, sample.mean, sample.stddev);
  const RunMetrics m = collect_metrics(engine);
  const double p50 = percentile(token_ms, 50), p99 = percentile(token_ms, 99);
  // Weights rearranged at load for the interleaved kernels (under a budget: the dense ones; the
  // experts are rearranged as they are read).
  const uint64_t repacked = engine.model().interleaved_bytes();
  std::cerr << fmt::format("peak RSS {} | decode p50 {:.2f} ms, p99 {:.2f} ms | cpu: {}{}\n", format_bytes(peak), p50,
                           p99, cpu_description(),
                           repacked > 0 ? fmt::format(" | repacked {} (8 rows interleaved)", format_bytes(repacked)) : "");
  std::cerr << format_metrics_line(m) << "\n";
  // Decode's own limit, measured after the peak RSS was taken (it allocates nothing anyway).
  const uint64_t per_token = token_work(engine.model()).weight_bytes;
  ReadBandwidth bw;
  if (o.n_gen > 0 && o.n_parallel == 1) {
    bw = measure_weight_read_bandwidth(engine.model(), engine.pool());
    const double decode_bps = static_cast<double>(per_token) * stg.mean;
    if (bw.passes > 0) std::cerr << fmt::format(
        "roofline: decode reads {} of weights a token, {:.1f} GB/s: {:.0f}% of the {:.1f} GB/s at which {} thread(s) "
        "read the {} of weights in memory\n",
        format_bytes(per_token), decode_bps / 1e9, 100.0 * decode_bps / bw.bytes_per_s, bw.bytes_per_s / 1e9,
        engine.pool().size(), format_bytes(bw.bytes));
  }
  if (o.model.json) {
    nlohmann::json j = to_json(m);
    j.update({{"model", engine.options().model_path},
              {"cpu", cpu_description()},
              {"repacked_bytes", repacked},
              {"threads", engine.pool().size()},
              {"n_prompt", o.n_prompt},
              {"n_gen", o.n_gen},
              {"n_parallel", o.n_parallel},
              {"n_depth", o.n_depth},
              {"n_join", o.n_join},
              {"n_ubatch", engine.options().n_ubatch},
              {"prompt_tokens_per_s", spp.mean},
              {"gen_tokens_per_s", stg.mean},
              {"prompt_tokens_per_s_stddev", spp.stddev},
              {"gen_tokens_per_s_stddev", stg.stddev},
              {"join_one_forward_tokens_per_s", sjoined.mean},
              {"join_two_forwards_tokens_per_s", sapart.mean},
              {"p50_ms", p50},
              {"p99_ms", p99},
              {"peak_rss_bytes", peak},
              {"weight_bytes_per_token", per_token}});
    if (bw.passes > 0) {
      j.update({{"decode_read_gb_per_s", static_cast<double>(per_token) * stg.mean / 1e9},
                {"weights_read_gb_per_s", bw.bytes_per_s / 1e9},
                {"roofline_share", static_cast<double>(per_token) * stg.mean / bw.bytes_per_s}});
    }
    print_json_line(j);
  }
}

// ---------------------------------------------------------------------------------------------
// The sweep: budgets x policies, interleaved in rounds, quality measured in the first round.

struct SweepState {
  std::vector<int32_t> prompt;
  std::vector<int32_t> reference;  // full's greedy continuation (teacher forcing for the others)
  std::string text;
};

// Runs one configuration once: a fresh engine, kept alive only while it is measured.
DecodeResult sweep_speed_round(const BenchOptions& o, const SweepSpec& spec, const SweepConfig& cfg, int n_decode,
                               SweepState& st, SweepRow* row, bool quality) {
  ModelOptions mo = o.model;
  DecodeResult d;
  {
    Engine engine(sweep_engine_options(mo, cfg, spec.kind, 64));
    if (st.prompt.empty()) st.prompt = bench_prompt(engine, st.text, o.n_prompt);
    d = measure_decode(engine, st.prompt, n_decode, cfg.policy == "full" ? std::vector<int32_t>{} : st.reference);
    if (cfg.policy == "full") {
      if (st.reference.empty()) st.reference = d.greedy;
      d.agreement = 1.0;  // full against itself, by construction
    }
    if (!row) return d;
    row->slots = engine.policy().slots();
    row->memory_budget_bytes = engine.memory_budget();
    row->accounted_bytes = engine.memory_account().total();
    row->rss_bytes = current_rss_bytes();
    // Exact and static policies give the same perplexity at any micro-batch: reuse this engine.
    if (quality && !st.text.empty() && parse_policy_variant(cfg.policy).policy != "swapmoe") {
      row->ppl = perplexity(engine, st.text, o.ppl_ctx, {}, o.ppl_chunks).ppl;
      return d;
    }
  }
  if (quality && !st.text.empty()) {
    // swapmoe evaluates token by token, as in decoding, so that experts change between tokens;
    // each load lands one token after it starts (as `swapmoe perplexity` does), so that the
    // figure does not depend on the machine's load. Speed and agreement use free-running loads.
    EngineOptions eo = sweep_engine_options(mo, cfg, spec.kind, 1);
    eo.swapmoe.deterministic = true;
    Engine engine(eo);
    row->ppl = perplexity(engine, st.text, o.ppl_ctx, {}, o.ppl_chunks).ppl;
  }
  return d;
}

void run_sweep(const BenchOptions& o) {
  SweepSpec spec;
  spec.kind = parse_budget_kind(o.budget_kind);
  spec.budgets = parse_budget_list(o.budgets, spec.kind);
  spec.policies = parse_policy_list(o.policies);
  const std::vector<SweepConfig> order = sweep_order(spec);
  if (!o.model.dump_routing.empty() || !o.model.replay_routing.empty())
    fail("bench", "--dump-routing/--replay-routing are per run, not per sweep", "use them without --sweep");
  if (!o.model.policy.empty() || !o.model.memory_budget.empty() || !o.model.expert_budget.empty())
    fail("bench", "--policy, --memory-budget and --expert-budget choose one configuration",
         "with --sweep use --policies, --budgets and --budget-kind");

  SweepState st;
  if (!o.ppl_file.empty()) st.text = read_file(o.ppl_file);
  const int n_decode = std::max(o.n_gen, o.agreement_tokens);
  BenchOptions oo = o;
  oo.model.ctx = std::max<int64_t>({o.model.ctx, o.ppl_ctx, static_cast<int64_t>(o.n_prompt) + n_decode + 1});

  std::vector<SweepRow> rows(order.size());
  std::vector<std::vector<DecodeResult>> rounds(order.size());
  Timer total;
  for (int r = 0; r < o.reps; ++r)
    for (size_t i = 0; i < order.size(); ++i) {
      const SweepConfig& cfg = order[i];
      rows[i].budget = cfg.budget;
      rows[i].policy = cfg.policy;
      Timer t;
      rounds[i].push_back(sweep_speed_round(oo, spec, cfg, n_decode, st, r == 0 ? &rows[i] : nullptr, r == 0));
      const DecodeResult& d = rounds[i].back();
      double s = 0;
      for (double ms : d.token_ms) s += ms / 1e3;
      std::cerr << fmt::format("[round {}/{}] {:>6} {:<8} tg {:.2f} tok/s{} ({:.1f} s)\n", r + 1, o.reps, cfg.budget,
                               cfg.policy, s > 0 ? static_cast<double>(d.token_ms.size()) / s : 0.0,
                               r == 0 && std::isfinite(rows[i].ppl) ? fmt::format(", ppl {:.4f}", rows[i].ppl) : "",
                               t.seconds());
    }
  for (size_t i = 0; i < order.size(); ++i) fill_speed(rows[i], rounds[i], static_cast<int>(st.prompt.size()));

  std::cout << format_sweep_table(rows);
  std::cerr << fmt::format("sweep: {} configurations x {} round(s) in {:.1f} s; peak RSS of the process {} (per "
                           "configuration see accounted bytes; a cgroup run is the real check)\n",
                           order.size(), o.reps, total.seconds(), format_bytes(peak_rss_bytes()));
  nlohmann::json doc = {{"model", resolve_model_path(o.model.model)},
                        {"budget_kind", budget_kind_name(spec.kind)},
                        {"n_prompt", st.prompt.size()},
                        {"n_decode", n_decode},
                        {"ppl_file", o.ppl_file},
                        {"ppl_ctx", o.ppl_ctx},
                        {"ppl_chunks", o.ppl_chunks},
                        {"threads", o.model.threads > 0 ? o.model.threads : default_thread_count()},
                        {"rounds", o.reps},
                        {"peak_rss_bytes", peak_rss_bytes()},
                        {"rows", nlohmann::json::array()}};
  for (const SweepRow& row : rows) doc["rows"].push_back(sweep_row_json(row));
  if (!o.csv.empty()) write_file(o.csv, format_sweep_csv(rows));
  if (!o.json_out.empty()) write_file(o.json_out, doc.dump(2) + "\n");
  if (!o.plot.empty()) {
    const std::string title = fmt::format("{} ({} budgets)", resolve_model_path(o.model.model), budget_kind_name(spec.kind));
    write_file(o.plot, render_svg(sweep_plot_panels(rows), title));
  }
  if (o.model.json) print_json_line(doc);
}

}  // namespace

void register_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "prefill (pp) and decode (tg) throughput; --sweep for budgets x policies");
  add_model_options(cmd, o->model, 512);
  add_batch_options(cmd, o->model, "512, or 64 under a budget");
  add_budget_options(cmd, o->model);
  cmd->add_option("-p,--n-prompt", o->n_prompt, "prompt tokens for the prefill test")->capture_default_str()->check(CLI::Range(0, 1 << 16));
  cmd->add_option("-n,--n-gen", o->n_gen, "tokens for the decode test")->capture_default_str()->check(CLI::Range(0, 1 << 16));
  cmd->add_option("--parallel", o->n_parallel,
                  "decode test: sequences decoded together (-np), one batched forward per step; tg is their total tokens/s")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--join", o->n_join,
                  "with --parallel N: time a prompt of this many tokens beside the other N-1 sequences' decode step, in "
                  "one forward (as swapmoe serve runs it) and in two; tokens/s of both")
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("-d,--n-depth", o->n_depth,
                  "tokens already in the context when each test starts (filled untimed), as llama-bench's -d")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-r,--repetitions", o->reps, "repetitions (with --sweep: interleaved rounds, medians reported)")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_flag("--sweep", o->sweep, "run every (budget, policy) pair: speed, latency, expert traffic, quality");
  cmd->add_option("--budgets", o->budgets, "sweep: comma-separated budgets, e.g. 25%,50%,75% (sizes such as 512M with --budget-kind footprint)")->capture_default_str();
  cmd->add_option("--budget-kind", o->budget_kind, "sweep: budgets are a share of each layer's 'experts' or of the full model's 'footprint'")->capture_default_str();
  cmd->add_option("--policies", o->policies, "sweep: comma-separated policies; full runs once and is the reference for agreement")->capture_default_str();
  cmd->add_option("--ppl-file", o->ppl_file, "sweep: text for perplexity (llama.cpp's method) and for the prompt");
  cmd->add_option("--ppl-ctx", o->ppl_ctx, "sweep: perplexity chunk size in tokens")->capture_default_str()->check(CLI::Range(16, 1 << 16));
  cmd->add_option("--ppl-chunks", o->ppl_chunks, "sweep: evaluate at most this many chunks (default: all)")->check(CLI::Range(1, 1 << 30));
  cmd->add_option("--agreement-tokens", o->agreement_tokens, "sweep: decode at least this many teacher-forced tokens for agreement (default: -n)")->check(CLI::Range(0, 1 << 16));
  cmd->add_option("--csv", o->csv, "sweep: write the rows as CSV");
  cmd->add_option("--json-out", o->json_out, "sweep: write the rows as JSON");
  cmd->add_option("--plot", o->plot, "sweep: draw quality and speed against memory per policy (SVG)");
  cmd->callback([o] {
    if (o->sweep && o->n_depth > 0)
      fail("bench", "-d/--n-depth is for a single run; a sweep measures from an empty context", "drop -d or --sweep");
    if (o->sweep && o->n_join > 0) fail("bench", "--join is for a single run", "drop --join or --sweep");
    if (o->sweep) {
      run_sweep(*o);
      return;
    }
    if (!o->csv.empty() || !o->json_out.empty() || !o->plot.empty() || !o->ppl_file.empty())
      fail("bench", "--csv, --json-out, --plot and --ppl-file belong to a sweep", "add --sweep");
    run_single(*o);
  });
}

}  // namespace swapmoe::cli
