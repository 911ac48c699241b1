// What a completion request asks the model to continue: chat messages (roles, text content,
// content parts) or a completions prompt (text or token ids). Errors are ApiError 400s whose
// param is the path of the field at fault ("messages[2].content[0].type").
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/chat_format.h"

namespace swapmoe::server {

// body["messages"]: a non-empty array of {role, content}. Content is a string; null or absent
// for an assistant turn (one that only called tools); or an array of {"type":"text","text"}
// parts, joined with "\n" as llama.cpp does. Any other part (an image, audio) is refused.
// "developer" (OpenAI's newer name for system) becomes "system", which chat templates know.
std::vector<ChatMessage> read_messages(const nlohmann::json& body);

// body["prompt"]: a string, an array of token ids (>= 0), or a batch of one of either
// (["text"], [[ids]]); a batch of several prompts is refused.
void read_prompt(const nlohmann::json& body, std::string& text, std::vector<int32_t>& tokens, bool& is_tokens);

}  // namespace swapmoe::server
