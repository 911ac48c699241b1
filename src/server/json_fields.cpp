// Typed field readers for request bodies.
#include "server/json_fields.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "server/api_error.h"

namespace swapmoe::server {

nlohmann::json parse_json_object(std::string_view body) {
  nlohmann::json v;
  try {
    v = nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    // e.what() reads "[json.exception.parse_error.101] parse error at line 1, column 9: ..." (or
    // out_of_range.406 "number overflow parsing '1e999'"); the part after the bracket is what a
    // client can act on.
    std::string_view what = e.what();
    if (const size_t at = what.find("] "); at != std::string_view::npos) what.remove_prefix(at + 2);
    throw bad_request(fmt::format("the request body is not valid JSON: {}", what));
  }
  check_body_is_object(v);
  return v;
}

void check_body_is_object(const nlohmann::json& body) {
  if (!body.is_object())
    throw bad_request(fmt::format("the request body must be a JSON object, got {}", json_kind(body)));
}

const char* json_kind(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::object: return "an object";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float: return "a number";
    default: return "an unsupported value";
  }
}

void throw_wrong_type(const std::string& param, std::string_view expected, const nlohmann::json& v) {
  throw bad_request(fmt::format("'{}' must be {}, got {}", param, expected, json_kind(v)), param);
}

void throw_bad_value(const std::string& param, std::string_view requirement, const nlohmann::json& v) {
  throw bad_request(fmt::format("'{}' must be {}, got {}", param, requirement, v.dump()), param);
}

const nlohmann::json* find_field(const nlohmann::json& obj, const char* name) {
  const auto it = obj.find(name);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

bool as_bool(const nlohmann::json& v, const std::string& param) {
  if (!v.is_boolean()) throw_wrong_type(param, "a boolean", v);
  return v.get<bool>();
}

double as_number(const nlohmann::json& v, const std::string& param) {
  if (!v.is_number()) throw_wrong_type(param, "a number", v);
  const double x = v.get<double>();
  // The parser refuses 1e999, but a body built in code can hold infinity (dump() shows null).
  if (!std::isfinite(x))
    throw bad_request(fmt::format("'{}' must be a finite number, got one out of range", param), param);
  return x;
}

int64_t as_integer(const nlohmann::json& v, const std::string& param) {
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      throw_bad_value(param, "an integer below 2^63", v);
    return static_cast<int64_t>(v.get<uint64_t>());
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  if (!v.is_number()) throw_wrong_type(param, "an integer", v);
  // Clients written in JavaScript or Python sometimes send 3.0 for 3.
  const double x = v.get<double>();
  if (!(std::abs(x) < 0x1p63) || x != std::floor(x)) throw_bad_value(param, "an integer", v);
  return static_cast<int64_t>(x);
}

const std::string& as_string(const nlohmann::json& v, const std::string& param) {
  if (!v.is_string()) throw_wrong_type(param, "a string", v);
  return v.get_ref<const std::string&>();
}

std::optional<bool> get_bool(const nlohmann::json& obj, const char* name) {
  const nlohmann::json* v = find_field(obj, name);
  return v ? std::optional(as_bool(*v, name)) : std::nullopt;
}

std::optional<std::string> get_string(const nlohmann::json& obj, const char* name) {
  const nlohmann::json* v = find_field(obj, name);
  return v ? std::optional(as_string(*v, name)) : std::nullopt;
}

}  // namespace swapmoe::server
