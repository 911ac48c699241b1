// The engine's memory as GET /v1/memory reports it: the budget, what each part holds now, the
// experts resident per layer and the expert traffic so far. Runs on the engine thread.
#pragma once

#include <nlohmann/json.hpp>

#include "runtime/engine.h"

namespace swapmoe::server {

nlohmann::json memory_report(const Engine& engine);

}  // namespace swapmoe::server
