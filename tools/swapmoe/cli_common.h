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
  int64_t ctx = 512;
  int64_t ubatch = 0;  // 0: the command's default
  bool json = false;

  // Memory budget and expert policy
  std::string policy = "";  // "": full without a budget, swapmoe with one
  std::string memory_budget;
  std::string expert_budget;  // "25%": keep this share of each layer's experts
  std::string plan;
  std::string cache_type_k = "f16", cache_type_v = "f16";  // -ctk/-ctv, llama.cpp's default
  SwapMoeOptions swapmoe;
  std::string dump_routing, replay_routing;
};

// Routing trace files attached to an engine for the duration of a command.
struct RoutingTraces {
  std::unique_ptr<RoutingTraceWriter> writer;
  std::unique_ptr<RoutingTraceReader> reader;
};

// -m, -t, -c, --json
void add_model_options(CLI::App* app, ModelOptions& o, int64_t default_ctx);
// --policy, --memory-budget, --expert-budget, --plan, -ctk/-ctv, swapping knobs, routing traces
void add_budget_options(CLI::App* app, ModelOptions& o);
void add_sampling_options(CLI::App* app, SamplerParams& p, uint64_t& seed, bool& seed_given);

// The model to use: the -m argument, else the shipped default model. Throws with a hint when
// the file does not exist.
std::string resolve_model_path(const std::string& arg);
EngineOptions engine_options(const ModelOptions& o, int64_t default_ubatch = 64);
RoutingTraces attach_routing_traces(Engine& engine, const ModelOptions& o);

// The last line of stdout, for scripts.
void print_json_line(const nlohmann::json& j);

}  // namespace swapmoe::cli
