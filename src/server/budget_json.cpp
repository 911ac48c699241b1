// Budgets from JSON.
#include "server/budget_json.h"

#include <fmt/format.h>

#include <cmath>

#include "core/error.h"
#include "server/api_error.h"
#include "server/json_fields.h"

namespace swapmoe::server {

namespace {
constexpr const char* k_param = "budget";
constexpr const char* k_syntax = "a number of bytes or a string such as \"512M\", \"3.5G\" or \"40%\"";
}  // namespace

Budget budget_from_json(const nlohmann::json& v) {
  if (v.is_number()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > 0) return Budget::of_bytes(v.get<uint64_t>());
    // 3e9 arrives as a double; a fraction of a byte or a non-positive size is a mistake.
    const double bytes = v.get<double>();
    if (!(bytes >= 1 && bytes < 0x1p64) || bytes != std::floor(bytes))
      throw_bad_value(k_param, "a whole number of bytes >= 1", v);
    return Budget::of_bytes(static_cast<uint64_t>(bytes));
  }
  if (!v.is_string()) throw_wrong_type(k_param, k_syntax, v);
  try {
    return Budget::parse(v.get<std::string>());
  } catch (const Error&) {
    // Budget::parse's hint names the CLI flag; an API client needs the syntax instead.
    throw_bad_value(k_param, k_syntax, v);
  }
}

Budget parse_memory_body(std::string_view body) {
  const nlohmann::json request = parse_json_object(body);
  const nlohmann::json* budget = find_field(request, "budget");
  if (!budget) throw bad_request(fmt::format("'budget' is required: {}", k_syntax), k_param);
  return budget_from_json(*budget);
}

}  // namespace swapmoe::server
