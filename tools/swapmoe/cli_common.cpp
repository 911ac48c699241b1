#include "cli_common.h"

#include <cstdio>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "core/error.h"

namespace swapmoe::cli {

void add_model_options(CLI::App* app, ModelOptions& o, int64_t default_ctx) {
  o.ctx = default_ctx;
  app->add_option("-m,--model", o.model, "GGUF model file (default: the shipped shakespeare-moe model)");
  app->add_option("-t,--threads", o.threads, "compute threads (default: all cores)")->check(CLI::Range(0, 1024));
  app->add_option("-c,--ctx-size", o.ctx, "context size in tokens")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app->add_flag("--json", o.json, "end stdout with one JSON object of the run's figures");
}

void add_sampling_options(CLI::App* app, SamplerParams& p, uint64_t& seed, bool& seed_given) {
  app->add_option("--temp", p.temperature, "temperature; 0 = greedy")->capture_default_str();
  app->add_option("--top-k", p.top_k, "keep the k most likely tokens; 0 = off")->capture_default_str();
  app->add_option("--top-p", p.top_p, "nucleus sampling threshold; 1 = off")->capture_default_str();
  app->add_option("--min-p", p.min_p, "drop tokens below min-p times the best; 0 = off")->capture_default_str();
  app->add_option("--repeat-penalty", p.repeat_penalty, "penalty for repeated tokens; 1 = off")->capture_default_str();
  app->add_option("--repeat-last-n", p.repeat_last_n, "tokens the penalty looks back on")->capture_default_str();
  app->add_option_function<uint64_t>("-s,--seed", [&](const uint64_t& s) { seed = s, seed_given = true; },
                                     "random seed (default: random)");
}

std::string resolve_model_path(const std::string& arg) {
  namespace fs = std::filesystem;
  if (!arg.empty()) {
    std::error_code ec;
    if (!fs::exists(arg, ec))
      fail("swapmoe", fmt::format("model file '{}' does not exist", arg), "check the path given with -m");
    if (fs::is_directory(arg, ec))
      fail("swapmoe", fmt::format("'{}' is a directory, not a model file", arg), "pass the .gguf file itself");
    return arg;
  }
  const std::string def = SWAPMOE_DEFAULT_MODEL;
  if (fs::exists(def)) return def;
  fail("swapmoe", fmt::format("no -m given and the default model {} is missing", def),
       "pass a GGUF file with -m, or run scripts/demo from the repository");
}

EngineOptions engine_options(const ModelOptions& o) {
  EngineOptions e;
  e.model_path = resolve_model_path(o.model);
  e.n_threads = o.threads;
  e.n_ctx = o.ctx;
  return e;
}

void print_json_line(const nlohmann::json& j) {
  std::cout << j.dump() << std::endl;
}

}  // namespace swapmoe::cli
