// A model's chat template and what it is rendered with: the conversation (messages in the
// OpenAI/transformers shape, tool calls and tool results included), the tool definitions,
// add_generation_prompt and the vocabulary's BOS/EOS text, as transformers and llama.cpp pass
// them. Built-in templates (chatml, llama3, gemma...) are Jinja sources like any other.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/jinja_template.h"

namespace swapmoe {

struct ChatTemplateInputs {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json tools;      // null: no tools variable at all
  nlohmann::ordered_json variables;  // null or an object of extra variables (enable_thinking...)
  bool add_generation_prompt = false;
  std::string bos_token, eos_token;
};

class ChatTemplate {
 public:
  // Parses `source`; throws swapmoe::Error naming the unsupported construct and its line.
  ChatTemplate(std::string source, std::string name);

  // A built-in template by name; throws listing the names when there is none.
  static ChatTemplate builtin(const std::string& name);
  static std::vector<std::string> builtin_names();
  // --chat-template's argument: a built-in name, else a file holding a Jinja template.
  static ChatTemplate from_option(const std::string& name_or_file);

  std::string render(const ChatTemplateInputs& inputs, const jinja::RenderOptions& options = {}) const;

  const std::string& name() const { return template_.name(); }
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  jinja::Template template_;
};

}  // namespace swapmoe
