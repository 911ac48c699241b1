// ApiError helpers and the OpenAI error body.
#include "server/api_error.h"

#include <fmt/format.h>

namespace swapmoe::server {

namespace {
constexpr const char* k_invalid_request = "invalid_request_error";
}

ApiError::ApiError(int status, std::string type, std::string message, std::string param, std::string code)
    : status(status),
      type(std::move(type)),
      message(std::move(message)),
      param(std::move(param)),
      code(std::move(code)) {}

ApiError bad_request(std::string message, std::string param) {
  return {400, k_invalid_request, std::move(message), std::move(param)};
}

ApiError context_length_exceeded(int64_t n_prompt_tokens, int64_t n_ctx, bool chat, bool at_least) {
  return {400, k_invalid_request,
          fmt::format("the prompt is {}{} tokens and the context holds {}; shorten the {} or start the server with a "
                      "larger -c",
                      at_least ? "at least " : "", n_prompt_tokens, n_ctx, chat ? "messages" : "prompt"),
          chat ? "messages" : "prompt", "context_length_exceeded"};
}

ApiError unauthorized(std::string message) {
  return {401, "authentication_error", std::move(message), {}, "invalid_api_key"};
}

ApiError unknown_route(std::string_view method, std::string_view path) {
  return {404, k_invalid_request, fmt::format("Invalid URL ({} {})", method, path)};
}

ApiError model_not_found(std::string_view model) {
  return {404, k_invalid_request,
          fmt::format("the model '{}' does not exist; GET /v1/models lists the one served", model), "model",
          "model_not_found"};
}

ApiError payload_too_large(uint64_t limit_bytes) {
  return {413, k_invalid_request, fmt::format("the request body is larger than the limit of {} bytes", limit_bytes)};
}

ApiError budget_too_small(std::string message, uint64_t minimum_budget_bytes) {
  ApiError e(422, k_invalid_request, std::move(message), "budget");
  e.extra["minimum_budget_bytes"] = minimum_budget_bytes;
  return e;
}

ApiError unavailable(std::string message) { return {503, "unavailable_error", std::move(message)}; }

ApiError server_error(std::string message) { return {500, "server_error", std::move(message)}; }

nlohmann::json error_body(const ApiError& e) {
  nlohmann::json error = e.extra.is_object() ? e.extra : nlohmann::json::object();
  error["message"] = e.message;
  error["type"] = e.type;
  error["param"] = e.param.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.param);
  error["code"] = e.code.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.code);
  return {{"error", std::move(error)}};
}

}  // namespace swapmoe::server
