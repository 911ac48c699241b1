// OpenAI-style API errors: an exception that carries the HTTP status and the fields of the
// `{"error": {...}}` body, so request parsing and handlers throw and one place answers.
#pragma once

#include <cstdint>
#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace swapmoe::server {

struct ApiError : std::exception {
  int status = 500;                                 // HTTP status
  std::string type;                                 // "invalid_request_error", "authentication_error", ...
  std::string message;                              // for people; names the field and what was wrong
  std::string param;                                // the request field at fault ("messages[0].role"); "": null
  std::string code;                                 // a machine-readable code ("model_not_found"); "": null
  nlohmann::json extra = nlohmann::json::object();  // more members of "error" (minimum_budget_bytes)

  ApiError(int status, std::string type, std::string message, std::string param = {}, std::string code = {});
  const char* what() const noexcept override { return message.c_str(); }
};

// 400 invalid_request_error: malformed JSON, a wrong type, a value out of range, or a feature
// this server does not have.
ApiError bad_request(std::string message, std::string param = {});
// 400 with code context_length_exceeded (OpenAI's code), param "messages" (chat) or "prompt".
// at_least: n_prompt_tokens is a lower bound from the text's length (it was not tokenized).
ApiError context_length_exceeded(int64_t n_prompt_tokens, int64_t n_ctx, bool chat, bool at_least = false);
// 401 authentication_error, code invalid_api_key.
ApiError unauthorized(std::string message);
// 404 invalid_request_error for a path no route serves: "Invalid URL (POST /v1/foo)", as OpenAI words it.
ApiError unknown_route(std::string_view method, std::string_view path);
// 404 invalid_request_error, code model_not_found, param "model".
ApiError model_not_found(std::string_view model);
// 413 invalid_request_error: the body is over `limit_bytes`.
ApiError payload_too_large(uint64_t limit_bytes);
// 422 invalid_request_error, param "budget", with "minimum_budget_bytes" inside "error".
ApiError budget_too_small(std::string message, uint64_t minimum_budget_bytes);
// 503 unavailable_error: the queue is full or the server is shutting down; the caller adds Retry-After.
ApiError unavailable(std::string message);
// 500 server_error: the engine failed; the message says what it reported.
ApiError server_error(std::string message);

// {"error": {"message", "type", "param", "code", ...extra}}; param and code are null when empty.
// A key of `extra` never replaces one of the four.
nlohmann::json error_body(const ApiError& e);

}  // namespace swapmoe::server
