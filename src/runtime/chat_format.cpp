#include "runtime/chat_format.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"
#include "io/gguf.h"

namespace swapmoe {

namespace {

std::string token_text(const GgufFile& file, const char* id_key) {
  const GgufValue* id = file.find(id_key);
  const GgufValue* tokens = file.find("tokenizer.ggml.tokens");
  if (!id || !tokens) return "";
  const auto& values = tokens->as_array().values;
  const int64_t i = id->as_i64();
  return i >= 0 && static_cast<size_t>(i) < values.size() ? values[static_cast<size_t>(i)].as_string() : "";
}

nlohmann::ordered_json messages_json(std::span<const ChatMessage> messages) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const ChatMessage& m : messages) out.push_back({{"role", m.role}, {"content", m.content}});
  return out;
}

}  // namespace

void read_special_tokens(const GgufFile& file, std::string& bos, std::string& eos) {
  bos = token_text(file, "tokenizer.ggml.bos_token_id");
  eos = token_text(file, "tokenizer.ggml.eos_token_id");
}

ChatFormat chat_format_for(const GgufFile& file, const std::string& option) {
  std::string bos, eos;
  read_special_tokens(file, bos, eos);
  if (!option.empty()) return {ChatTemplate::from_option(option), bos, eos};
  const std::string source = file.get_string("tokenizer.chat_template", "");
  if (source.empty()) return {ChatTemplate::builtin("chatml"), bos, eos};
  try {
    return {ChatTemplate(source, "tokenizer.chat_template"), bos, eos};
  } catch (const Error& e) {
    fail("chat", fmt::format("{}: the model's chat template cannot be rendered: {}", file.path(), e.what()),
         fmt::format("pass --chat-template with a template file or a built-in name ({})",
                     fmt::join(ChatTemplate::builtin_names(), ", ")));
  }
}

std::string render_chat(const ChatFormat& format, std::span<const ChatMessage> messages, bool add_generation_prompt) {
  ChatTemplateInputs in;
  in.messages = messages_json(messages);
  in.add_generation_prompt = add_generation_prompt;
  in.bos_token = format.bos_token;
  in.eos_token = format.eos_token;
  return format.tmpl.render(in);
}

std::string render_chat_turn(const ChatFormat& format, std::span<const ChatMessage> past, const ChatMessage& message,
                             bool add_generation_prompt) {
  std::vector<ChatMessage> all(past.begin(), past.end());
  all.push_back(message);
  // Templates may refuse a conversation that ends mid-exchange (or is empty); the whole
  // rendering is then the turn's text.
  std::string before;
  if (!past.empty()) {
    try {
      before = render_chat(format, past, false);
    } catch (const Error&) {
      before.clear();
    }
  }
  const std::string after = render_chat(format, all, add_generation_prompt);
  // Templates that render the past differently once more follows are rare; fall back to the
  // whole tail in that case rather than cutting a wrong prefix.
  return after.compare(0, before.size(), before) == 0 ? after.substr(before.size()) : after;
}

std::string chat_turn_end(const ChatFormat& format) {
  static const std::string kMark = "\x01\x02";  // text no template writes, and not whitespace (trim)
  const ChatMessage probe[] = {{"user", "u"}, {"assistant", kMark}};
  std::string text;
  try {
    text = render_chat(format, probe, false);
  } catch (const Error&) {
    return "";
  }
  const size_t at = text.rfind(kMark);
  if (at == std::string::npos) return "";
  std::string end = text.substr(at + kMark.size());
  end.erase(0, std::min(end.size(), end.find_first_not_of('\n')));
  const size_t nl = end.find('\n');
  if (nl != std::string::npos) end.resize(nl);
  return end;
}

}  // namespace swapmoe
