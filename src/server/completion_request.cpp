// The top level of a completion request: limits, stop strings, sampling and the features this
// server refuses. The messages and the prompt are read in request_content.cpp.
#include "server/completion_request.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <random>
#include <type_traits>

#include "server/api_error.h"
#include "server/json_fields.h"
#include "server/request_content.h"

namespace swapmoe::server {

namespace {

constexpr int64_t k_int_max = std::numeric_limits<int>::max();

// body[name] into `out` (float or int) when present; `ok` says whether the value is allowed.
// Large integers mean "no limit" for these fields, so they are clamped to int, not refused.
template <typename T, typename Ok>
void read_field(const nlohmann::json& body, const char* name, T& out, Ok ok, const char* requirement) {
  const nlohmann::json* v = find_field(body, name);
  if (!v) return;
  if constexpr (std::is_same_v<T, float>) {
    const double x = as_number(*v, name);
    if (!ok(x)) throw_bad_value(name, requirement, *v);
    out = static_cast<float>(x);
  } else {
    const int64_t x = as_integer(*v, name);
    if (!ok(x)) throw_bad_value(name, requirement, *v);
    out = static_cast<int>(std::min(x, k_int_max));
  }
}

uint64_t random_seed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) | rd();
}

// Absent or negative: a fresh random seed per request, as llama.cpp's -1.
uint64_t read_seed(const nlohmann::json& body) {
  const nlohmann::json* v = find_field(body, "seed");
  if (!v) return random_seed();
  if (v->is_number_unsigned()) return v->get<uint64_t>();  // the whole uint64 range is a seed
  const int64_t s = as_integer(*v, "seed");
  return s >= 0 ? static_cast<uint64_t>(s) : random_seed();
}

SamplerParams read_sampling(const nlohmann::json& body, SamplerParams p) {
  read_field(
      body, "temperature", p.temperature, [](double x) { return x >= 0 && x <= 2; }, "between 0 and 2");
  read_field(
      body, "top_p", p.top_p, [](double x) { return x > 0 && x <= 1; }, "above 0 and at most 1");
  read_field(
      body, "min_p", p.min_p, [](double x) { return x >= 0 && x <= 1; }, "between 0 and 1");
  read_field(
      body, "frequency_penalty", p.frequency_penalty, [](double x) { return x >= -2 && x <= 2; }, "between -2 and 2");
  read_field(
      body, "presence_penalty", p.presence_penalty, [](double x) { return x >= -2 && x <= 2; }, "between -2 and 2");
  read_field(
      body, "repeat_penalty", p.repeat_penalty, [](double x) { return x >= 1e-6 && x <= 1e6; },
      "between 0.000001 and 1000000 (1: off)");
  read_field(
      body, "top_k", p.top_k, [](int64_t x) { return x >= 0; }, "at least 0 (0: off)");
  static_assert(k_max_repeat_last_n == 1048576, "the message below names the limit");
  read_field(
      body, "repeat_last_n", p.repeat_last_n, [](int64_t x) { return x >= 0 && x <= k_max_repeat_last_n; },
      "between 0 and 1048576 (0: off)");
  p.seed = read_seed(body);
  return p;
}

// max_completion_tokens (OpenAI's current name) over max_tokens over n_predict (llama.cpp's).
int read_max_tokens(const nlohmann::json& body) {
  int max_tokens = -1;
  for (const char* name : {"n_predict", "max_tokens", "max_completion_tokens"}) {
    const nlohmann::json* v = find_field(body, name);
    if (!v) continue;
    const int64_t n = as_integer(*v, name);
    const bool n_predict = name == std::string_view("n_predict");
    if (n_predict && n == -1) {
      max_tokens = -1;
      continue;
    }
    if (n < 1) throw_bad_value(name, n_predict ? "at least 1, or -1 for no limit" : "at least 1", *v);
    max_tokens = static_cast<int>(std::min(n, k_int_max));
  }
  return max_tokens;
}

std::vector<std::string> read_stop(const nlohmann::json& body) {
  const nlohmann::json* v = find_field(body, "stop");
  if (!v) return {};
  if (v->is_string()) {
    if (v->get_ref<const std::string&>().empty()) throw_bad_value("stop", "a non-empty string", *v);
    return {v->get<std::string>()};
  }
  if (!v->is_array()) throw_wrong_type("stop", "a string or an array of strings", *v);
  if (v->size() > k_max_stop_strings) {
    throw bad_request(fmt::format("'stop' may hold at most {} strings, got {}", k_max_stop_strings, v->size()), "stop");
  }
  std::vector<std::string> stop;
  for (size_t i = 0; i < v->size(); ++i) {
    const std::string param = fmt::format("stop[{}]", i);
    const std::string& s = as_string((*v)[i], param);
    if (s.empty()) throw_bad_value(param, "a non-empty string", (*v)[i]);
    stop.push_back(s);
  }
  return stop;
}

[[noreturn]] void unsupported(const std::string& what, const char* param) {
  throw bad_request(what + " is not supported by this server", param);
}

// Features a client may ask for that this server does not have: refused rather than ignored,
// since the client would otherwise read a reply of another shape than it asked for.
void refuse_unsupported(const nlohmann::json& body) {
  if (const nlohmann::json* n = find_field(body, "n"); n && as_integer(*n, "n") != 1) {
    throw_bad_value("n", "1 (one choice per request)", *n);
  }
  if (const nlohmann::json* v = find_field(body, "n_probs"); v && as_integer(*v, "n_probs") != 0)
    unsupported("'n_probs' (token probabilities)", "n_probs");
  if (const nlohmann::json* v = find_field(body, "logprobs")) {
    if (v->is_number() || (v->is_boolean() && v->get<bool>())) unsupported("'logprobs'", "logprobs");
    as_bool(*v, "logprobs");
  }
  if (const nlohmann::json* tools = find_field(body, "tools")) {
    if (!tools->is_array()) throw_wrong_type("tools", "an array", *tools);
    const nlohmann::json* choice = find_field(body, "tool_choice");
    const bool none = choice && choice->is_string() && choice->get_ref<const std::string&>() == "none";
    if (!tools->empty() && !none) unsupported("Tool calling ('tools' with a tool_choice other than \"none\")", "tools");
  }
  if (const nlohmann::json* format = find_field(body, "response_format")) {
    if (!format->is_object()) throw_wrong_type("response_format", "an object", *format);
    const nlohmann::json* type = find_field(*format, "type");
    if (!type) throw bad_request("'response_format.type' is required", "response_format.type");
    const std::string& t = as_string(*type, "response_format.type");
    if (t != "text") unsupported(fmt::format("'response_format' of type '{}'", t), "response_format");
  }
}

}  // namespace

CompletionRequest parse_completion_request(const nlohmann::json& body, bool chat, const SamplerParams& defaults) {
  check_body_is_object(body);
  refuse_unsupported(body);
  CompletionRequest r;
  r.chat = chat;
  r.model = get_string(body, "model").value_or("");
  if (chat) {
    r.messages = read_messages(body);
  } else {
    read_prompt(body, r.prompt, r.prompt_tokens, r.prompt_is_tokens);
  }
  r.stream = get_bool(body, "stream").value_or(false);
  if (const nlohmann::json* options = find_field(body, "stream_options")) {
    if (!options->is_object()) throw_wrong_type("stream_options", "an object", *options);
    if (const nlohmann::json* usage = find_field(*options, "include_usage")) {
      r.include_usage = as_bool(*usage, "stream_options.include_usage");
    }
  }
  r.max_tokens = read_max_tokens(body);
  r.stop = read_stop(body);
  r.sampling = read_sampling(body, defaults);
  r.ignore_eos = get_bool(body, "ignore_eos").value_or(false);
  return r;
}

CompletionRequest parse_completion_body(std::string_view body, bool chat, const SamplerParams& defaults) {
  return parse_completion_request(parse_json_object(body), chat, defaults);
}

}  // namespace swapmoe::server
