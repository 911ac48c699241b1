// Options and helpers shared by the swapmoe subcommands.
#pragma once

#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "runtime/engine.h"
#include "sampling/sampler.h"

namespace swapmoe::cli {

struct ModelOptions {
  std::string model;  // empty: the default model
  int threads = 0;
  int64_t ctx = 512;
  bool json = false;
};

// -m, -t, -c, --json
void add_model_options(CLI::App* app, ModelOptions& o, int64_t default_ctx);
void add_sampling_options(CLI::App* app, SamplerParams& p, uint64_t& seed, bool& seed_given);

// The model to use: the -m argument, else the shipped default model. Throws with a hint when
// the file does not exist.
std::string resolve_model_path(const std::string& arg);
EngineOptions engine_options(const ModelOptions& o);

// The last line of stdout, for scripts.
void print_json_line(const nlohmann::json& j);

}  // namespace swapmoe::cli
