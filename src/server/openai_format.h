// The OpenAI wire format of replies: whole responses, streamed chunks (server-sent events) and
// usage, for /v1/chat/completions (chat) and /v1/completions (text).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace swapmoe::server {

// What every response and chunk of one request carries.
struct ReplyIdentity {
  bool chat = false;
  std::string id;       // "chatcmpl-..." or "cmpl-..."
  int64_t created = 0;  // Unix seconds
  std::string model;
};

ReplyIdentity new_reply_identity(bool chat, const std::string& model);

nlohmann::json usage_json(int64_t prompt_tokens, int64_t completion_tokens);

// A whole reply (stream: false).
nlohmann::json completion_response(const ReplyIdentity& id, const std::string& text, const std::string& finish_reason,
                                   int64_t prompt_tokens, int64_t completion_tokens);

// Streamed chunks. The chat stream opens with the assistant role, carries content deltas, and
// closes with an empty delta and the finish reason; the text stream carries text pieces.
nlohmann::json role_chunk(const ReplyIdentity& id);
nlohmann::json text_chunk(const ReplyIdentity& id, const std::string& text);
nlohmann::json finish_chunk(const ReplyIdentity& id, const std::string& finish_reason);
// stream_options.include_usage: a last chunk with no choices and the usage.
nlohmann::json usage_chunk(const ReplyIdentity& id, int64_t prompt_tokens, int64_t completion_tokens);

// One server-sent event: "data: <json>\n\n".
std::string sse_event(const nlohmann::json& j);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

}  // namespace swapmoe::server
