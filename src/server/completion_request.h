// An OpenAI /v1/chat/completions or /v1/completions request body, checked field by field and
// turned into what the engine needs: the messages or prompt, the sampler settings, limits and
// stop strings. Anything wrong is an ApiError 400 naming the field; unknown fields are ignored,
// since clients send many (user, metadata, logit_bias...).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/chat_format.h"
#include "sampling/sampler.h"

namespace swapmoe::server {

using swapmoe::ChatMessage;  // {role, content}: what render_chat takes

struct CompletionRequest {
  bool chat = false;                   // /v1/chat/completions (messages) or /v1/completions (prompt)
  std::string model;                   // "" when absent; the server compares it with its model id
  std::vector<ChatMessage> messages;   // chat: roles system, user, assistant, tool ("developer" arrives as system)
  std::string prompt;                  // completions, prompt given as text
  std::vector<int32_t> prompt_tokens;  // completions, prompt given as token ids (>= 0; the vocabulary is not checked)
  bool prompt_is_tokens = false;
  bool stream = false;
  bool include_usage = false;     // stream_options.include_usage: a final chunk with usage
  int max_tokens = -1;            // tokens to generate; -1: until end of generation or the context is full
  std::vector<std::string> stop;  // at most 16, none empty; not part of the output (OpenAI)
  SamplerParams sampling;         // the server's defaults with the request's fields over them
  bool ignore_eos = false;        // llama.cpp: generate past end-of-generation tokens
};

// Limits the parser enforces.
inline constexpr size_t k_max_stop_strings = 16;
inline constexpr int k_max_repeat_last_n = 1 << 20;  // the server clamps to its context; this caps the ring buffer

// `body` must be a JSON object. Sampling fields absent from it keep the values of `defaults`,
// except the seed: absent or negative, it is drawn from std::random_device.
// Throws ApiError (400) on any wrong type, value out of range or unsupported feature.
CompletionRequest parse_completion_request(const nlohmann::json& body, bool chat, const SamplerParams& defaults);

// The same from the raw body; malformed JSON is a 400 naming the line and column.
CompletionRequest parse_completion_body(std::string_view body, bool chat, const SamplerParams& defaults);

}  // namespace swapmoe::server
