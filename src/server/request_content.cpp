// Chat messages and completions prompts of a request body.
#include "server/request_content.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <limits>
#include <string_view>

#include "server/api_error.h"
#include "server/json_fields.h"

namespace swapmoe::server {

namespace {

constexpr std::array<std::string_view, 5> k_roles = {"system", "user", "assistant", "developer", "tool"};

std::string read_role(const nlohmann::json& message, const std::string& at) {
  const std::string param = at + ".role";
  const nlohmann::json* role = find_field(message, "role");
  if (!role) throw bad_request(fmt::format("'{}' is required", param), param);
  const std::string& r = as_string(*role, param);
  if (std::find(k_roles.begin(), k_roles.end(), r) == k_roles.end()) {
    throw_bad_value(param, "one of system, user, assistant, developer, tool", *role);
  }
  return r == "developer" ? "system" : r;
}

// The text of a content-parts array; the model reads text only, so any other part is refused
// rather than dropped (the reply would pretend to have seen it).
std::string read_parts(const nlohmann::json& parts, const std::string& param) {
  std::string text;
  for (size_t i = 0; i < parts.size(); ++i) {
    const nlohmann::json& part = parts[i];
    const std::string at = fmt::format("{}[{}]", param, i);
    if (!part.is_object()) throw_wrong_type(at, "an object", part);
    const nlohmann::json* type = find_field(part, "type");
    if (!type) throw bad_request(fmt::format("'{}.type' is required", at), at + ".type");
    const std::string& t = as_string(*type, at + ".type");
    if (t != "text") {
      throw bad_request(fmt::format("'{}' is a content part of type '{}': this model reads text only", at, t),
                        at + ".type");
    }
    const nlohmann::json* part_text = find_field(part, "text");
    if (!part_text) throw bad_request(fmt::format("'{}.text' is required", at), at + ".text");
    if (i > 0) text += '\n';
    text += as_string(*part_text, at + ".text");
  }
  return text;
}

std::string read_content(const nlohmann::json& message, const std::string& role, const std::string& at) {
  const std::string param = at + ".content";
  const nlohmann::json* content = find_field(message, "content");
  if (!content) {
    if (role == "assistant") return {};  // a turn that only called tools
    throw bad_request(fmt::format("'{}' is required", param), param);
  }
  if (content->is_string()) return content->get<std::string>();
  if (content->is_array()) return read_parts(*content, param);
  throw_wrong_type(param, "a string or an array of content parts", *content);
}

[[noreturn]] void bad_prompt(const nlohmann::json& prompt) {
  throw_wrong_type("prompt", "a string, an array of one string or an array of token ids", prompt);
}

void read_token_ids(const nlohmann::json& ids, const std::string& param, std::vector<int32_t>& tokens) {
  tokens.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string at = fmt::format("{}[{}]", param, i);
    const nlohmann::json& id = ids[i];
    if (!id.is_number()) throw_wrong_type(at, "a token id (an integer)", id);
    const int64_t t = as_integer(id, at);
    if (t < 0 || t > std::numeric_limits<int32_t>::max()) throw_bad_value(at, "a token id (an integer >= 0)", id);
    tokens.push_back(static_cast<int32_t>(t));
  }
}

}  // namespace

std::vector<ChatMessage> read_messages(const nlohmann::json& body) {
  const nlohmann::json* messages = find_field(body, "messages");
  if (!messages) throw bad_request("'messages' is required", "messages");
  if (!messages->is_array()) throw_wrong_type("messages", "an array", *messages);
  if (messages->empty()) throw bad_request("'messages' must hold at least one message", "messages");
  std::vector<ChatMessage> out;
  out.reserve(messages->size());
  for (size_t i = 0; i < messages->size(); ++i) {
    const nlohmann::json& m = (*messages)[i];
    const std::string at = fmt::format("messages[{}]", i);
    if (!m.is_object()) throw_wrong_type(at, "an object", m);
    ChatMessage message;
    message.role = read_role(m, at);
    message.content = read_content(m, message.role, at);
    out.push_back(std::move(message));
  }
  return out;
}

void read_prompt(const nlohmann::json& body, std::string& text, std::vector<int32_t>& tokens, bool& is_tokens) {
  const nlohmann::json* prompt = find_field(body, "prompt");
  if (!prompt) throw bad_request("'prompt' is required", "prompt");
  is_tokens = false;
  if (prompt->is_string()) {
    text = prompt->get<std::string>();
    return;
  }
  if (!prompt->is_array() || prompt->empty()) bad_prompt(*prompt);
  const nlohmann::json& first = (*prompt)[0];
  // OpenAI batches several prompts in one request; this server answers one per request, so
  // only a batch of one is taken: ["text"] or [[ids]].
  if (first.is_string() || first.is_array()) {
    if (prompt->size() > 1) throw bad_request("'prompt' holds several prompts; send one prompt per request", "prompt");
    if (first.is_string()) {
      text = first.get<std::string>();
      return;
    }
    if (first.empty()) bad_prompt(*prompt);
    read_token_ids(first, "prompt[0]", tokens);
  } else {
    read_token_ids(*prompt, "prompt", tokens);
  }
  is_tokens = true;
}

}  // namespace swapmoe::server
