// How a conversation becomes the text a chat model was trained on. For now one built-in
// format, ChatML, which is also what llama.cpp uses when a file carries no chat template;
// a model whose own template is something else is refused with a message saying so, rather
// than fed a format it does not know.
#pragma once

#include <span>
#include <string>
#include <vector>

namespace swapmoe {

class GgufFile;

struct ChatMessage {
  std::string role;  // system, user, assistant
  std::string content;
};

enum class ChatFormat { CHATML };

// The format for this model: `name` ("chatml") when given, else the file's
// tokenizer.chat_template when it is ChatML, else ChatML when the file has no template.
// Throws, naming the problem, when the file's template is another format.
ChatFormat chat_format_for(const GgufFile& file, const std::string& name);

// The conversation as the model sees it; with add_generation_prompt, the opening of the
// assistant's reply follows.
std::string render_chat(ChatFormat format, std::span<const ChatMessage> messages, bool add_generation_prompt);

// The text of `message` added to a conversation `past` whose rendering the model has already
// seen, as llama.cpp's chat mode computes it: the rendering with it minus the rendering without.
std::string render_chat_turn(ChatFormat format, std::span<const ChatMessage> past, const ChatMessage& message,
                             bool add_generation_prompt);

// Text that ends an assistant turn in this format, for models whose vocabulary lacks it as
// an end-of-generation token.
std::string chat_turn_end(ChatFormat format);

}  // namespace swapmoe
