#include "server/openai_format.h"

#include <atomic>
#include <chrono>
#include <random>

#include <fmt/format.h>

namespace swapmoe::server {

using nlohmann::json;

ReplyIdentity new_reply_identity(bool chat, const std::string& model) {
  // Unique within a server's life and unlikely to repeat across restarts.
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}();
  const int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  return {chat, fmt::format("{}-{:08x}{:06x}", chat ? "chatcmpl" : "cmpl", static_cast<uint32_t>(salt), ++counter), now,
          model};
}

json usage_json(int64_t prompt_tokens, int64_t completion_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens}};
}

namespace {
json envelope(const ReplyIdentity& id, bool chunk) {
  const char* object = id.chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
  return {{"id", id.id}, {"object", object}, {"created", id.created}, {"model", id.model}};
}

json choice(const ReplyIdentity& id, const json& delta_or_text, const json& finish_reason, bool chunk) {
  json c = {{"index", 0}};
  if (id.chat) c[chunk ? "delta" : "message"] = delta_or_text;
  else c["text"] = delta_or_text, c["logprobs"] = nullptr;
  c["finish_reason"] = finish_reason;
  return c;
}
}  // namespace

json completion_response(const ReplyIdentity& id, const std::string& text, const std::string& finish_reason,
                         int64_t prompt_tokens, int64_t completion_tokens) {
  json r = envelope(id, false);
  const json body = id.chat ? json{{"role", "assistant"}, {"content", text}} : json(text);
  r["choices"] = json::array({choice(id, body, finish_reason, false)});
  r["usage"] = usage_json(prompt_tokens, completion_tokens);
  return r;
}

json role_chunk(const ReplyIdentity& id) {
  json r = envelope(id, true);
  r["choices"] = json::array({choice(id, json{{"role", "assistant"}, {"content", ""}}, nullptr, true)});
  return r;
}

json text_chunk(const ReplyIdentity& id, const std::string& text) {
  json r = envelope(id, true);
  r["choices"] = json::array({choice(id, id.chat ? json{{"content", text}} : json(text), nullptr, true)});
  return r;
}

json finish_chunk(const ReplyIdentity& id, const std::string& finish_reason) {
  json r = envelope(id, true);
  r["choices"] = json::array({choice(id, id.chat ? json::object() : json(""), finish_reason, true)});
  return r;
}

json usage_chunk(const ReplyIdentity& id, int64_t prompt_tokens, int64_t completion_tokens) {
  json r = envelope(id, true);
  r["choices"] = json::array();
  r["usage"] = usage_json(prompt_tokens, completion_tokens);
  return r;
}

std::string sse_event(const json& j) {
  // Invalid UTF-8 cannot reach here (the detokenizer emits whole characters), but replace
  // rather than throw if it ever does.
  return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

}  // namespace swapmoe::server
