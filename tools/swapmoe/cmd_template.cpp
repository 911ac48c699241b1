// swapmoe template: print a conversation rendered with a model's chat template, exactly as the
// model would be fed it. Reads only the file's metadata, so vocabulary-only GGUF files work.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>

#include "cli_common.h"
#include "core/error.h"
#include "io/gguf.h"
#include "runtime/chat_format.h"

namespace swapmoe::cli {

namespace {

struct TemplateOptions {
  std::string model;
  std::string chat_template;
  std::string messages_file;
  bool add_generation_prompt = false;
};

// The conversation file: a list of messages, or an object with "messages", optional "tools"
// and "add_generation_prompt", and any other keys as template variables (enable_thinking...).
ChatTemplateInputs read_conversation(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("template", fmt::format("cannot open '{}'", path), "--messages takes a JSON file");
  std::ostringstream text;
  text << in.rdbuf();
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    fail("template", fmt::format("{} is not valid JSON: {}", path, e.what()));
  }
  ChatTemplateInputs inputs;
  if (j.is_array()) {
    inputs.messages = j;
    return inputs;
  }
  if (!j.is_object() || !j.contains("messages") || !j["messages"].is_array())
    fail("template", fmt::format("{} holds no conversation", path),
         "give a list of messages, or an object with a \"messages\" list");
  inputs.variables = nlohmann::ordered_json::object();
  for (const auto& [key, value] : j.items()) {
    if (key == "messages") inputs.messages = value;
    else if (key == "tools") inputs.tools = value;
    else if (key == "add_generation_prompt") inputs.add_generation_prompt = value.is_boolean() && value.get<bool>();
    else inputs.variables[key] = value;
  }
  return inputs;
}

void run(const TemplateOptions& o) {
  ChatTemplateInputs inputs = read_conversation(o.messages_file);
  inputs.add_generation_prompt = inputs.add_generation_prompt || o.add_generation_prompt;
  std::string rendered;
  if (o.model.empty() && !o.chat_template.empty()) {
    rendered = ChatTemplate::from_option(o.chat_template).render(inputs);  // no vocabulary: no BOS/EOS text
  } else {
    const GgufFile file = GgufFile::open(resolve_model_path(o.model));
    const ChatFormat format = chat_format_for(file, o.chat_template);
    inputs.bos_token = format.bos_token;
    inputs.eos_token = format.eos_token;
    rendered = format.tmpl.render(inputs);
  }
  std::cout << rendered << std::flush;
}

}  // namespace

void register_template(CLI::App& app) {
  auto o = std::make_shared<TemplateOptions>();
  CLI::App* cmd = app.add_subcommand("template", "print a conversation rendered with the model's chat template");
  cmd->add_option("-m,--model", o->model, "GGUF file whose tokenizer.chat_template is used (a vocabulary-only file works)");
  cmd->add_option("--chat-template", o->chat_template,
                  "a Jinja template file or a built-in (chatml, llama3, gemma) instead of the model's");
  cmd->add_option("--messages", o->messages_file, "JSON conversation: a list of messages or {\"messages\", \"tools\"...}")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_flag("--add-generation-prompt", o->add_generation_prompt, "end with the opening of the assistant's reply");
  cmd->callback([o] { run(*o); });
}

}  // namespace swapmoe::cli
