// swapmoe plan: turn a memory budget into slots per layer, an update interval, an exact threshold
// and a prefetch depth, from the model's device profile, and write the plan that --plan applies.
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli_common.h"
#include "core/error.h"
#include "core/memory_stats.h"
#include "core/timer.h"
#include "planner/planner.h"

namespace swapmoe::cli {

namespace {

struct PlanCmdOptions {
  std::string model;
  std::string profile;
  std::string memory_budget;
  std::string expert_budget;
  std::string output;
  double max_latency_ms = 0;
  double min_speed = PlanRequest{}.min_speed;
  uint64_t seed = 1;
  int threads = 0;
  int64_t ctx = 512;
  int64_t ubatch = 64;
  std::string cache_type_k = "f16", cache_type_v = "f16";
  int staging_buffers = SwapMoeOptions{}.staging_buffers;
  bool json = false;
};

void run(const PlanCmdOptions& o) {
  Timer total;
  const std::string model_path = resolve_model_path(o.model);
  const std::string profile_path = o.profile.empty() ? default_profile_path(model_path) : o.profile;
  const DeviceProfile profile = DeviceProfile::load(profile_path);
  profile.check_model(model_path);
  if (o.memory_budget.empty() == o.expert_budget.empty())
    fail("plan", "give exactly one of --memory-budget and --expert-budget", "e.g. --memory-budget 40% or --expert-budget 25%");

  // The memory plan the engine would run with these settings (-c, -t, --ubatch, -ctk/-ctv,
  // staging): the same fixed part, slot price and uniform split as `swapmoe run`.
  EngineOptions eo;
  eo.model_path = model_path;
  eo.n_threads = o.threads;
  eo.n_ctx = o.ctx;
  eo.n_ubatch = o.ubatch;
  eo.type_k = parse_kv_type(o.cache_type_k, "-ctk");
  eo.type_v = parse_kv_type(o.cache_type_v, "-ctv");
  eo.policy = "swapmoe";
  eo.swapmoe.staging_buffers = o.staging_buffers;
  eo.budget = o.memory_budget.empty() ? Budget::experts(o.expert_budget) : Budget::parse(o.memory_budget);
  const MemoryPlan memory = Engine::preview_plan(eo);
  PlanRequest r;
  r.memory = memory.split();
  r.budget = memory.budget;
  r.max_latency_ms = o.max_latency_ms;
  r.min_speed = o.min_speed;
  r.seed = o.seed;

  const PlanOutcome out = make_plan(profile, r);
  Plan plan = out.plan;
  plan.model = model_path;
  if (!o.output.empty()) plan.save(o.output);

  const QualityFit& f = profile.quality.fit_report();
  const Configuration& c = out.chosen;
  auto speed = [&](double ms) { return ms > 0 ? out.full_latency_ms / ms : 0.0; };
  std::cerr << fmt::format("budget {} ({} bytes) buys {} expert slots of {} ({} MoE layers x {} experts)\n",
                           format_bytes(r.budget), r.budget, out.capacity, format_bytes(r.memory.slot_bytes),
                           profile.moe_layers.size(), profile.n_expert);
  const std::string knobs = fmt::format("slots {} interval {}, exact threshold {}, prefetch {}", c.slots,
                                        c.update_interval, describe_threshold(c.exact_threshold), c.prefetch_depth);
  if (!out.fitted) {
    // No prediction is claimed: the profile's calibration did not run.
    std::cerr << fmt::format("no fitted quality model (profile calibration did not run: {}); this plan is the uniform "
                             "split, not a prediction\n",
                             unfitted_reason(profile));
    std::cerr << fmt::format("plan     {}\n", knobs);
    std::cerr << "hint: re-run `swapmoe profile` with more --quality-seconds (it prints how many) to plan from measurements\n";
  } else {
    const std::string limit =
        o.max_latency_ms > 0 ? fmt::format("--max-latency {:g} ms", o.max_latency_ms)
        : out.latency_limit_ms > 0
            ? fmt::format("speed floor {:g} of the full model's {:.3f} ms/token: at most {:.3f} ms/token", o.min_speed,
                          out.full_latency_ms, out.latency_limit_ms)
            : std::string("no speed floor (--min-speed 0)");
    std::cerr << fmt::format("limit    {}\n", limit);
    std::cerr << fmt::format("plan     {}: predicted ppl {:.3f}, {:.3f} ms/token ({:.2f} of full speed), {:.3f} "
                             "fetches/token\n",
                             knobs, std::exp(out.predicted.quality), out.predicted.latency_ms,
                             speed(out.predicted.latency_ms), out.predicted_fetches_per_token);
    std::cerr << fmt::format("uniform  slots {} interval {}, pure SwapMoE: predicted ppl {:.3f}, {:.3f} ms/token\n",
                             out.uniform.slots, out.uniform.update_interval, std::exp(out.uniform_predicted.quality),
                             out.uniform_predicted.latency_ms);
  }
  if (!out.meets_latency)
    std::cerr << fmt::format("WARNING: no configuration is predicted to meet {:.3f} ms/token; this plan is the closest "
                             "({:.3f} ms/token). Lower --min-speed, raise --max-latency or the memory budget\n",
                             out.latency_limit_ms, out.predicted.latency_ms);
  std::cerr << fmt::format("quality model: {}; search {:.3f} s ({} configurations), plan {:.2f} s in all{}\n",
                           out.fitted ? fmt::format("{} (CV error of log-ppl {:.4f})", f.chosen, f.cv_rmse)
                                      : std::string("prior (none fitted)"),
                           out.seconds, out.evaluations, total.seconds(),
                           o.output.empty() ? "" : fmt::format("; wrote {}", o.output));
  if (o.json || o.output.empty()) {
    const auto or_null = [&](double v) { return out.fitted ? nlohmann::json(v) : nlohmann::json(nullptr); };
    print_json_line({{"model", model_path},
                     {"memory_budget_bytes", r.budget},
                     {"capacity_slots", out.capacity},
                     {"slots", plan.slots},
                     {"update_interval", plan.update_interval},
                     {"exact_threshold", plan.exact_threshold},
                     {"prefetch_depth", plan.prefetch_depth},
                     {"quality_model", plan.quality_model},
                     {"predicted_ppl", or_null(plan.predicted_quality)},
                     {"predicted_latency_ms", plan.predicted_latency_ms},
                     {"predicted_fetches_per_token", or_null(plan.predicted_fetches_per_token)},
                     {"full_latency_ms", out.full_latency_ms},
                     {"latency_limit_ms", out.latency_limit_ms},
                     {"meets_latency", out.meets_latency},
                     {"uniform_slots", per_layer_slots(profile, out.uniform.slots)},
                     {"uniform_predicted_ppl", or_null(std::exp(out.uniform_predicted.quality))},
                     {"search_seconds", out.seconds},
                     {"seconds", total.seconds()}});
  }
}

}  // namespace

void register_plan(CLI::App& app) {
  auto o = std::make_shared<PlanCmdOptions>();
  CLI::App* cmd = app.add_subcommand("plan", "choose slots per layer, the update interval, the exact threshold and the "
                                             "prefetch depth for a memory budget");
  cmd->add_option("-m,--model", o->model, "GGUF model file (default: the shipped shakespeare-moe model)");
  cmd->add_option("--profile", o->profile, "device profile (default: <model>.profile.json, from swapmoe profile)");
  cmd->add_option("--memory-budget", o->memory_budget, "budget for everything the engine allocates: 512M, 3.5G or 40%");
  cmd->add_option("--expert-budget", o->expert_budget, "or: the budget --expert-budget gives the uniform split, e.g. 25%");
  cmd->add_option("--min-speed", o->min_speed,
                  "speed floor: keep at least this share of the full model's decode speed (predicted); among the "
                  "plans that do, the best predicted quality (0: no floor, quality first)")
      ->capture_default_str()
      ->check(finite_in(0, 1));
  cmd->add_option("--max-latency", o->max_latency_ms, "predicted per-token latency limit in ms; overrides --min-speed (0: none)")->check(finite_in(0, 1e9));
  cmd->add_option("--seed", o->seed, "search seed (same seed, same plan)")->capture_default_str();
  cmd->add_option("-o,--output", o->output, "plan file to write (for --plan); without it the plan goes to stdout");
  cmd->add_option("-t,--threads", o->threads, "threads the plan is for (scratch memory; default: all cores)")->check(CLI::Range(0, 1024));
  cmd->add_option("-c,--ctx-size", o->ctx, "context the plan is for (KV cache memory): use the run's -c")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--ubatch-size,--ubatch", o->ubatch, "micro-batch the plan is for (scratch memory): use the run's")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  cmd->add_option("--cache-type-k", o->cache_type_k, "KV cache type of the keys the plan is for")->capture_default_str();
  cmd->add_option("--cache-type-v", o->cache_type_v, "KV cache type of the values the plan is for")->capture_default_str();
  cmd->add_option("--staging-buffers", o->staging_buffers, "swapmoe staging buffers the plan is for")->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_flag("--json", o->json, "end stdout with one JSON object of the plan");
  cmd->callback([o] { run(*o); });
}

}  // namespace swapmoe::cli
