// How a conversation becomes the text a chat model was trained on: the model's own Jinja chat
// template (tokenizer.chat_template), rendered by swapmoe's interpreter (src/chat) with the
// vocabulary's BOS/EOS text, or a template named by --chat-template. A model without a template
// gets ChatML, as in llama.cpp; a template using something the interpreter does not support is
// refused with the construct and its line, never rendered approximately.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "chat/chat_template.h"

namespace swapmoe {

class GgufFile;

struct ChatMessage {
  std::string role;  // system, user, assistant
  std::string content;
};

// The template and the special-token text it is rendered with.
struct ChatFormat {
  ChatTemplate tmpl;
  std::string bos_token, eos_token;
};

// `option` (--chat-template: a built-in name or a template file) when given, else the file's
// tokenizer.chat_template, else ChatML. Throws, naming the construct and line, when the
// model's template is outside the supported subset (the hint says to pass --chat-template).
ChatFormat chat_format_for(const GgufFile& file, const std::string& option);

// The BOS and EOS token text of the file's vocabulary ("" when it has none).
void read_special_tokens(const GgufFile& file, std::string& bos, std::string& eos);

// The conversation as the model sees it; with add_generation_prompt, the opening of the
// assistant's reply follows.
std::string render_chat(const ChatFormat& format, std::span<const ChatMessage> messages, bool add_generation_prompt);

// The text of `message` added to a conversation `past` whose rendering the model has already
// seen, as llama.cpp's chat mode computes it: the rendering with it minus the rendering without.
std::string render_chat_turn(const ChatFormat& format, std::span<const ChatMessage> past, const ChatMessage& message,
                             bool add_generation_prompt);

// Text that ends an assistant turn in this format (what the template writes right after an
// assistant message, up to the line end), for models whose vocabulary lacks it as an
// end-of-generation token; "" when the template writes nothing there.
std::string chat_turn_end(const ChatFormat& format);

}  // namespace swapmoe
