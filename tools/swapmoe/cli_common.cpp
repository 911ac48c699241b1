#include "cli_common.h"

#include <sys/mman.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "core/memory_stats.h"
#include "kernels/vec_dot.h"
#include "planner/plan.h"
#include "planner/planner.h"

namespace swapmoe::cli {

CLI::Validator finite_in(double lo, double hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        double v = 0;
        try {
          size_t used = 0;
          v = std::stod(text, &used);
          if (used != text.size()) return fmt::format("'{}' is not a number", text);
        } catch (const std::exception&) {
          return fmt::format("'{}' is not a number", text);
        }
        if (!std::isfinite(v) || v < lo || v > hi) return fmt::format("{} is outside [{:g}, {:g}]", text, lo, hi);
        return {};
      },
      fmt::format("in [{:g}, {:g}]", lo, hi));
}

void add_model_options(CLI::App* app, ModelOptions& o, int64_t default_ctx) {
  o.ctx = default_ctx;
  app->add_option("-m,--model", o.model, "GGUF model file (default: the shipped shakespeare-moe model)");
  app->add_option("-t,--threads", o.threads, "compute threads (default: all cores)")->check(CLI::Range(0, 1024));
  app->add_option("--poll", o.poll, "how long idle threads spin before sleeping, 0-100 (0: sleep at once, least CPU)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100));
  app->add_option("-c,--ctx-size", o.ctx, "context size in tokens")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app->add_flag("--json", o.json, "end stdout with one JSON object of the run's figures");
  app->add_option_function<std::string>(
      "--cpu",
      [](const std::string& level) {
        const auto l = parse_cpu_level(level);
        if (!l)
          fail("swapmoe", fmt::format("--cpu {}: not an instruction-set level of this machine's architecture", level),
               "choose one of: native, avx512, avx2_vnni, avx2, ref (x86-64); native, neon_dotprod, neon, ref (arm64)");
        set_max_cpu_level(*l);
      },
      "use at most these CPU kernels: native (default), avx512, avx2_vnni, avx2, neon_dotprod, neon, ref");
  app->add_flag("--no-mmap", o.no_mmap, "read the model into memory instead of mapping it (the full model; under a budget nothing is mapped anyway)");
  app->add_flag("--mlock", o.mlock, "lock the engine's memory in RAM so the system cannot page it out");
  app->add_flag("--no-repack", o.no_repack,
                "keep q4_0 and q4_K weights as the file stores them (mapped, shared with the page cache) instead of "
                "interleaving their rows 8 at a time at load, into memory of their own, for faster kernels; "
                "llama.cpp's -nr");
}

void add_batch_options(CLI::App* app, ModelOptions& o, const std::string& default_text) {
  app->add_option("--ubatch-size,--ubatch", o.ubatch, "tokens evaluated together (default: " + default_text + ")")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  app->add_option("-b,--batch-size", o.batch, "logical batch: caps the micro-batch (as in llama.cpp)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
}

namespace {
bool given(const CLI::Option* option) { return option != nullptr && option->count() > 0; }

// The plan's threshold and prefetch depth apply where the command line did not set them.
void load_plan_file(const std::string& path, const ModelOptions& o, EngineOptions& e) {
  const Plan plan = Plan::load(path);
  e.plan_slots = plan.slots;
  e.swapmoe.update_interval = plan.update_interval;
  if (!given(o.exact_threshold_option)) e.swapmoe.exact_threshold = plan.exact_threshold;
  if (!given(o.prefetch_option)) e.prefetch_depth = plan.prefetch_depth;
  e.plan_source = path;
}

// ---- planner hook: a --memory-budget without --plan is split by the model's profile --------
// The engine hands over its own accounting of the budget, at start-up and whenever the budget
// changes, so the plan always fits. Without a (current) profile, or one whose calibration did
// not run (no fitted quality model), the split stays uniform and the note says so.
void attach_profile_planner(const ModelOptions& o, EngineOptions& e) {
  const std::string path = default_profile_path(e.model_path);
  if (!std::filesystem::exists(path)) {
    std::cerr << fmt::format("budget split: uniform (no profile at {}; `swapmoe profile` makes one)\n", path);
    return;
  }
  auto profile = std::make_shared<DeviceProfile>(DeviceProfile::load(path));
  try {
    profile->check_model(e.model_path);
  } catch (const Error& err) {
    std::cerr << fmt::format("budget split: uniform ({})\n", err.what());
    return;
  }
  if (!profile->quality.fitted()) {
    std::cerr << fmt::format("budget split: uniform (no fitted quality model in {}: profile calibration did not run: "
                             "{}; re-run `swapmoe profile` with more --quality-seconds)\n",
                             path, unfitted_reason(*profile));
    return;
  }
  const bool keep_threshold = given(o.exact_threshold_option), keep_depth = given(o.prefetch_option);
  e.plan_for_budget = [profile, keep_threshold, keep_depth](const BudgetPlanRequest& q) {
    PlanRequest r;
    r.budget = q.budget;
    r.memory = q.memory;
    const PlanOutcome out = make_plan(*profile, r);
    std::cerr << fmt::format("budget split: planned from the profile: {} slots, update interval {}, exact threshold {}, "
                             "prefetch {} ({:.2f} s){}\n",
                             out.capacity, out.plan.update_interval, describe_threshold(out.plan.exact_threshold),
                             out.plan.prefetch_depth, out.seconds,
                             out.meets_latency ? "" : "; no plan is predicted to keep the speed floor, this is the closest");
    BudgetPlan plan{out.plan.slots, out.plan.update_interval};
    if (!keep_threshold) plan.exact_threshold = out.plan.exact_threshold;
    if (!keep_depth) plan.prefetch_depth = out.plan.prefetch_depth;  // the engine applies it at start-up only
    return plan;
  };
  e.plan_source = "profile " + path;
  std::cerr << fmt::format("budget split: planned from {} (quality model: {})\n", path,
                           profile->quality.fit_report().chosen);
}

// Whether the budget is enough for every expert to stay resident, as the full policy keeps them.
bool budget_holds_full_model(EngineOptions e) {
  e.policy = "full";
  try {
    Engine::preview_plan(e);
    return true;
  } catch (const Error&) {
    return false;  // too small for the full model (or an error the real engine will report)
  }
}

}  // namespace

void add_budget_options(CLI::App* app, ModelOptions& o) {
  app->add_option("--policy", o.policy, "expert policy: full, prune, ondemand, cache, swapmoe (default: full, or swapmoe with a budget)");
  app->add_option("--memory-budget", o.memory_budget, "memory budget for everything the engine allocates: 512M, 3.5G, or 40% of the full footprint");
  app->add_option("--expert-budget", o.expert_budget, "alternative to --memory-budget: keep this share of each layer's experts resident, e.g. 25%");
  app->add_option("--plan", o.plan, "slots per layer, update interval, exact threshold and prefetch depth from a plan file (swapmoe plan; --exact-threshold and --prefetch, when given, win), or 'uniform'");
  app->add_option("--cache-type-k", o.cache_type_k, "KV cache type of the keys: f32, f16, q8_0")->capture_default_str();
  app->add_option("--cache-type-v", o.cache_type_v, "KV cache type of the values: f32, f16, q8_0")->capture_default_str();
  app->add_option("--flash-attn", o.flash_attn,
                  "attention over an f16 cache as llama.cpp's flash-attention kernel computes it (on, auto: f32 query "
                  "and softmax weights) or as its non-flash path (off: both rounded to f16)")
      ->capture_default_str()
      ->check(CLI::IsMember({"on", "off", "auto", "1", "0", "true", "false"}));
  app->add_option("--update-interval", o.swapmoe.update_interval, "swapmoe: tokens between updates of the wanted experts")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app->add_option("--max-loads-per-step", o.swapmoe.max_loads_per_step, "swapmoe: expert loads started per token")->capture_default_str()->check(CLI::Range(1, 1024));
  app->add_option("--staging-buffers", o.swapmoe.staging_buffers, "swapmoe: loads in flight at once (each buffer counts against the budget)")->capture_default_str()->check(CLI::Range(1, 64));
  app->add_option("--importance-half-life", o.swapmoe.half_life, "swapmoe: importance decays with this half-life in tokens; 0 resets it at each update (the paper's window)")->capture_default_str()->check(finite_in(0, 1e9));
  app->add_flag("--deterministic", o.swapmoe.deterministic,
                "swapmoe: each expert load lands exactly one token after it starts, and predicted experts "
                "(--prefetch, cache too) before their layer, so a budgeted run with a fixed seed gives the same "
                "text and counts every time (by default loads land when the storage delivers them, and the text "
                "may vary from run to run)");
  o.exact_threshold_option = app->add_option("--exact-threshold", o.swapmoe.exact_threshold,
                  "swapmoe: a missing expert that carries at least this share of a token's top-k weight is read "
                  "before the layer runs (the token waits); lighter misses are masked. 0: every miss waits; above 1 "
                  "(the default): none does, pure SwapMoE")
      ->check(finite_in(0, 1e9));
  app->add_option("--cache-evict", o.cache_evict, "cache: which expert leaves the cache: lru or lfu")
      ->capture_default_str()
      ->check(CLI::IsMember({"lru", "lfu"}));
  app->add_option("--io-threads", o.io_threads,
                  "expert reads in flight at once (a layer's misses are read in parallel, each expert's gate, up and "
                  "down apart)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  o.prefetch_option = app->add_option("--prefetch", o.prefetch,
                  "cache, swapmoe: while a MoE layer computes, predict the experts of the next N MoE layers (their "
                  "routers applied to the current hidden state) and start reading the missing ones; 0: off")
      ->capture_default_str()
      ->check(CLI::Range(0, RoutingStats::kMaxDepth));
  app->add_option("--dump-routing", o.dump_routing, "write the unmasked top-k routing of every token and layer to this JSONL file");
  app->add_option("--replay-routing", o.replay_routing, "drive the routing from a trace written by --dump-routing");
}

void add_sampling_options(CLI::App* app, SamplerParams& p, uint64_t& seed, bool& seed_given) {
  app->add_option("--temp", p.temperature, "temperature; 0 = greedy")->capture_default_str()->check(finite_in(0, 1e6));
  app->add_option("--top-k", p.top_k, "keep the k most likely tokens; 0 = off")->capture_default_str()->check(CLI::Range(0, 1 << 30));
  app->add_option("--top-p", p.top_p, "nucleus sampling threshold; 1 = off")->capture_default_str()->check(finite_in(0, 1));
  app->add_option("--min-p", p.min_p, "drop tokens below min-p times the best; 0 = off")->capture_default_str()->check(finite_in(0, 1));
  app->add_option("--repeat-penalty", p.repeat_penalty, "penalty for repeated tokens; 1 = off")->capture_default_str()->check(finite_in(1e-6, 1e6));
  app->add_option("--repeat-last-n", p.repeat_last_n, "tokens the penalty looks back on; 0 = off")->capture_default_str()->check(CLI::Range(0, 1 << 20));
  app->add_option("--frequency-penalty", p.frequency_penalty, "subtract this times a token's count in the last repeat-last-n; 0 = off")
      ->capture_default_str()
      ->check(finite_in(-2, 2));
  app->add_option("--presence-penalty", p.presence_penalty, "subtract this from tokens seen in the last repeat-last-n; 0 = off")
      ->capture_default_str()
      ->check(finite_in(-2, 2));
  app->add_option_function<int64_t>(
         "-s,--seed", [&](const int64_t& s) { seed_given = s >= 0, seed = static_cast<uint64_t>(s); },
         "random seed; -1 = random (the default; the seed used is printed)")
      ->check(CLI::Range(int64_t{-1}, INT64_MAX));
}

std::string resolve_model_path(const std::string& arg, const std::string& default_file) {
  namespace fs = std::filesystem;
  if (!arg.empty()) {
    std::error_code ec;
    if (!fs::exists(arg, ec))
      fail("swapmoe", fmt::format("model file '{}' does not exist", arg), "check the path given with -m");
    if (fs::is_directory(arg, ec))
      fail("swapmoe", fmt::format("'{}' is a directory, not a model file", arg), "pass the .gguf file itself");
    return arg;
  }
  // The checkout's models/ for a build tree; ../share/swapmoe/models beside an installed binary.
  const std::string def = (fs::path(SWAPMOE_DEFAULT_MODEL).parent_path() / default_file).string();
  if (fs::exists(def)) return def;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  const fs::path installed = exe.parent_path().parent_path() / "share/swapmoe/models" / default_file;
  if (!ec && fs::exists(installed, ec)) return installed.string();
  fail("swapmoe", fmt::format("no -m given and the default model is missing ({}, {})", def, installed.string()),
       "pass a GGUF file with -m, or run scripts/demo from the repository");
}

EngineOptions engine_options(const ModelOptions& o, int64_t default_ubatch) {
  EngineOptions e;
  e.model_path = resolve_model_path(o.model);
  e.n_threads = o.threads;
  e.poll = o.poll;
  e.n_ctx = o.ctx;
  const bool budgeted = !o.memory_budget.empty() || !o.expert_budget.empty();
  if (default_ubatch <= 0) default_ubatch = budgeted ? kBudgetedUbatch : kDefaultUbatch;
  e.n_ubatch = o.ubatch > 0 ? o.ubatch : default_ubatch;
  if (o.batch > 0) e.n_ubatch = std::min(e.n_ubatch, o.batch);  // llama.cpp: n_ubatch <= n_batch
  e.use_mmap = !o.no_mmap;
  e.interleave_weights = !o.no_repack;
  e.policy = !o.policy.empty() ? o.policy : (budgeted ? "swapmoe" : "full");
  if (!o.memory_budget.empty() && !o.expert_budget.empty())
    fail("swapmoe", "--memory-budget and --expert-budget both given", "pass one of them");
  // Budgets are parsed here, at the edge, into a typed value.
  if (!o.memory_budget.empty()) e.budget = Budget::parse(o.memory_budget);
  if (!o.expert_budget.empty()) {
    e.budget = Budget::experts(o.expert_budget);
    e.plan_source = "fraction";
  }
  e.type_k = parse_kv_type(o.cache_type_k, "-ctk");
  e.type_v = parse_kv_type(o.cache_type_v, "-ctv");
  e.flash_attn = o.flash_attn != "off" && o.flash_attn != "0" && o.flash_attn != "false";
  e.swapmoe = o.swapmoe;
  e.eviction = parse_eviction(o.cache_evict);
  e.io_threads = o.io_threads;
  e.prefetch_depth = o.prefetch;
  if (!o.plan.empty() && !budgeted)
    fail("swapmoe", fmt::format("--plan {} given without a budget", o.plan),
         "a plan says how a budget is split between layers: add --memory-budget or --expert-budget");
  if (budgeted && o.policy.empty() && budget_holds_full_model(e)) {
    std::cerr << fmt::format("note: the budget ({}) holds the full model: every expert stays resident (policy full)\n",
                             e.budget.describe());
    e.policy = "full";
    return e;
  }
  if (!o.plan.empty() && o.plan != "uniform") load_plan_file(o.plan, o, e);
  if (o.plan.empty() && !o.memory_budget.empty() && e.policy == "swapmoe") attach_profile_planner(o, e);
  return e;
}

RoutingTraces attach_routing_traces(Engine& engine, const ModelOptions& o) {
  RoutingTraces t;
  RoutingHooks& hooks = engine.transformer().hooks;
  if (!o.dump_routing.empty()) {
    // The predictions ride along (two layers ahead, or as deep as --prefetch), so that a replay
    // on a model of real widths prefetches what this model predicted.
    const int depth = std::max(2, engine.options().prefetch_depth);
    t.writer = std::make_unique<RoutingTraceWriter>(o.dump_routing, engine.model(), depth);
    hooks.on_routing = [w = t.writer.get()](const RoutingEvent& e) { w->record(e); };
    hooks.on_prediction = [w = t.writer.get()](int64_t pos, int layer, int d, int k, const int32_t* ids,
                                               const float* weights) { w->record_prediction(pos, layer, d, k, ids, weights); };
    hooks.prediction_depth = t.writer->prediction_depth();
  }
  if (!o.replay_routing.empty()) {
    t.reader = std::make_unique<RoutingTraceReader>(o.replay_routing, engine.model());
    hooks.replay_routing = [r = t.reader.get()](int64_t pos, int layer, int k, int32_t* ids, float* w) {
      return r->replay(pos, layer, k, ids, w);
    };
    hooks.replay_prediction = [r = t.reader.get()](int64_t pos, int layer, int d, int k, int32_t* ids, float* w) {
      return r->replay_prediction(pos, layer, d, k, ids, w);
    };
  }
  return t;
}

void note_plan_scaling(const Engine& engine) {
  const std::vector<int>& asked = engine.options().plan_slots;
  const std::vector<int>& got = engine.memory_plan().slots;
  if (asked.empty() || asked == got) return;
  std::cerr << fmt::format("note: the plan {} from {} was scaled to {} to match this budget\n",
                           fmt::join(asked, ","), engine.options().plan_source, fmt::join(got, ","));
}

void lock_memory_if_asked(const ModelOptions& o) {
  if (!o.mlock) return;
  // What the engine holds now; slots added later by a budget change are not locked.
  if (::mlockall(MCL_CURRENT) != 0)
    std::cerr << fmt::format("warning: --mlock failed ({}); raise the locked-memory limit (ulimit -l) or run "
                             "without --mlock\n", std::strerror(errno));
}

std::string read_text_file(const std::string& path, const char* flag) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    fail("swapmoe", fmt::format("'{}' is a directory, not a text file", path), fmt::format("pass a file with {}", flag));
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("swapmoe", fmt::format("cannot open text file '{}'", path), fmt::format("check the path given with {}", flag));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void print_json_line(const nlohmann::json& j) {
  std::cout << j.dump() << std::endl;
}

}  // namespace swapmoe::cli
