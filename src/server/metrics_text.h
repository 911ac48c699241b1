// GET /metrics: the server's counters, latency histograms and the engine's memory and expert
// figures in Prometheus text format (prefix swapmoe_).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "server/server_metrics.h"

namespace swapmoe::server {

// `memory`: the report of GET /v1/memory (memory_report plus the automatic budget's state).
std::string metrics_text(ServerMetrics& metrics, const nlohmann::json& memory);

}  // namespace swapmoe::server
