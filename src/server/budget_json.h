// The memory budget of POST /v1/memory, read from JSON with the CLI's own parser
// (Budget::parse), so "3G", "40%" and "123456" mean the same in both places.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "model/memory_plan.h"

namespace swapmoe::server {

// A number (bytes, >= 1) or a string in --memory-budget's syntax ("512M", "3.5G", "40%",
// "100%" for the full model). Anything else is ApiError 400 with param "budget".
Budget budget_from_json(const nlohmann::json& v);

// The body of POST /v1/memory: {"budget": ...}; 400 when it is not JSON, not an object or has no budget.
Budget parse_memory_body(std::string_view body);

}  // namespace swapmoe::server
