// Reading fields of a request body with OpenAI-style errors: a wrong type is a 400 naming the
// field and both types ("'temperature' must be a number, got a string"). Absent and null are the
// same (the OpenAI schema makes optional fields nullable).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace swapmoe::server {

// The body as a JSON object; 400 naming the position of malformed JSON, or when it is no object.
nlohmann::json parse_json_object(std::string_view body);
// 400 unless the parsed body is an object.
void check_body_is_object(const nlohmann::json& body);

// "a string", "a number", "a boolean", "an array", "an object", "null".
const char* json_kind(const nlohmann::json& v);

// 400: "'<param>' must be <expected>, got <kind of v>", param set.
[[noreturn]] void throw_wrong_type(const std::string& param, std::string_view expected, const nlohmann::json& v);
// 400: "'<param>' must be <requirement>, got <v>", param set.
[[noreturn]] void throw_bad_value(const std::string& param, std::string_view requirement, const nlohmann::json& v);

// obj[name], or nullptr when absent or null.
const nlohmann::json* find_field(const nlohmann::json& obj, const char* name);

// Typed readers of `v`, reported as `param`.
bool as_bool(const nlohmann::json& v, const std::string& param);
double as_number(const nlohmann::json& v, const std::string& param);    // finite
int64_t as_integer(const nlohmann::json& v, const std::string& param);  // 3.0 is accepted as 3
const std::string& as_string(const nlohmann::json& v, const std::string& param);

// obj[name] read as the type; std::nullopt when absent or null.
std::optional<bool> get_bool(const nlohmann::json& obj, const char* name);
std::optional<std::string> get_string(const nlohmann::json& obj, const char* name);

}  // namespace swapmoe::server
