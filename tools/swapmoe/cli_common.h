// Options and helpers shared by the swapmoe subcommands.
#pragma once

#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "runtime/engine.h"
#include "runtime/routing_trace.h"
#include "sampling/sampler.h"

namespace swapmoe::cli {

struct ModelOptions {
  std::string model;  // empty: the default model
  int threads = 0;
  int poll = 50;
  int64_t ctx = 512;
  int64_t ubatch = 0;  // 0: the command's default
  int64_t batch = 0;   // -b: llama.cpp's logical batch; caps the micro-batch (0: no cap)
  bool json = false;
  bool no_mmap = false, mlock = false, no_repack = false;

  // Memory budget and expert policy
  std::string policy = "";  // "": full without a budget, swapmoe with one
  std::string memory_budget;
  std::string expert_budget;  // "25%": keep this share of each layer's experts
  std::string plan;
  std::string cache_type_k = "f16", cache_type_v = "f16";  // -ctk/-ctv, llama.cpp's default
  std::string flash_attn = "auto";                          // -fa on|off|auto, llama.cpp's default
  SwapMoeOptions swapmoe;
  std::string cache_evict = "lru";
  int io_threads = PolicyOptions{}.io_threads;
  int prefetch = 0;
  // Set by add_budget_options: whether --exact-threshold / --prefetch were given (a plan's
  // threshold and depth apply only where the command line is silent).
  const CLI::Option* exact_threshold_option = nullptr;
  const CLI::Option* prefetch_option = nullptr;
  std::string dump_routing, replay_routing;
};

// Routing trace files attached to an engine for the duration of a command.
struct RoutingTraces {
  std::unique_ptr<RoutingTraceWriter> writer;
  std::unique_ptr<RoutingTraceReader> reader;
};

// A check for numeric options: finite and inside [lo, hi]; the message names the range.
CLI::Validator finite_in(double lo, double hi);

// -m, -t, -c, --json, --cpu, --no-mmap, --mlock, --no-repack (-nr)
void add_model_options(CLI::App* app, ModelOptions& o, int64_t default_ctx);
// -ub/--ubatch-size and -b/--batch-size
void add_batch_options(CLI::App* app, ModelOptions& o, const std::string& default_text);
// --policy, --memory-budget, --expert-budget, --plan, -ctk/-ctv, swapping knobs, routing traces
void add_budget_options(CLI::App* app, ModelOptions& o);
// --temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n, -s/--seed (-1: random)
void add_sampling_options(CLI::App* app, SamplerParams& p, uint64_t& seed, bool& seed_given);

// The model to use: the -m argument, else the shipped default model. Throws with a hint when
// the file does not exist.
std::string resolve_model_path(const std::string& arg, const std::string& default_file = "shakespeare-moe.gguf");
// The micro-batch when -ub is not given: llama.cpp's 512 for the full model (a prompt's tokens
// spread over 128 experts leave 4 an expert at 64, too few to reuse a weight block in
// registers), 64 under a budget, whose bytes are better spent on experts than on scratch.
inline constexpr int64_t kDefaultUbatch = 512, kBudgetedUbatch = 64;
// default_ubatch 0: kDefaultUbatch, or kBudgetedUbatch under a budget.
EngineOptions engine_options(const ModelOptions& o, int64_t default_ubatch = 0);
RoutingTraces attach_routing_traces(Engine& engine, const ModelOptions& o);

// A note on stderr when a plan file's split had to be scaled to fit the budget.
void note_plan_scaling(const Engine& engine);
// --mlock: locks the engine's memory in RAM (after it is built); warns when the limit refuses.
void lock_memory_if_asked(const ModelOptions& o);

// The whole of a text file named by `flag` (-f); throws naming the path for a missing file or
// a directory.
std::string read_text_file(const std::string& path, const char* flag);

// The last line of stdout, for scripts.
void print_json_line(const nlohmann::json& j);

}  // namespace swapmoe::cli
