#include "runtime/chat_format.h"

#include <fmt/format.h>

#include "core/error.h"
#include "io/gguf.h"

namespace swapmoe {

ChatFormat chat_format_for(const GgufFile& file, const std::string& name) {
  if (!name.empty()) {
    if (name == "chatml") return ChatFormat::CHATML;
    fail("chat", fmt::format("unknown chat format '{}'", name), "the built-in formats are: chatml");
  }
  const std::string tmpl = file.get_string("tokenizer.chat_template", "");
  if (tmpl.empty() || tmpl.find("<|im_start|>") != std::string::npos) return ChatFormat::CHATML;
  fail("chat", fmt::format("{}: the model's chat template is not ChatML, the one format swapmoe renders so far",
                           file.path()),
       "use -i for a plain-text interactive session, or --chat-template chatml to use ChatML anyway");
}

std::string render_chat(ChatFormat, std::span<const ChatMessage> messages, bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& m : messages) out += fmt::format("<|im_start|>{}\n{}<|im_end|>\n", m.role, m.content);
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

std::string render_chat_turn(ChatFormat format, std::span<const ChatMessage> past, const ChatMessage& message,
                             bool add_generation_prompt) {
  std::vector<ChatMessage> all(past.begin(), past.end());
  all.push_back(message);
  const std::string before = render_chat(format, past, false);
  const std::string after = render_chat(format, all, add_generation_prompt);
  // Templates that render the past differently once more follows are rare; fall back to the
  // whole tail in that case rather than cutting a wrong prefix.
  return after.compare(0, before.size(), before) == 0 ? after.substr(before.size()) : after;
}

std::string chat_turn_end(ChatFormat) { return "<|im_end|>"; }

}  // namespace swapmoe
