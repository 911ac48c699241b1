#include "chat/chat_template.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/error.h"

namespace swapmoe {

namespace {

struct Builtin {
  const char* name;
  const char* source;
};

// The formats llama.cpp falls back on by name, written as the Jinja their models ship.
const Builtin kBuiltins[] = {
    {"chatml",
     "{%- for message in messages -%}\n"
     "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}\n"
     "{%- endfor -%}\n"
     "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}\n"},
    {"llama3",
     "{{- bos_token -}}\n"
     "{%- for message in messages -%}\n"
     "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + "
     "'<|eot_id|>' -}}\n"
     "{%- endfor -%}\n"
     "{%- if add_generation_prompt -%}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}{%- endif -%}\n"},
    {"gemma",
     "{{- bos_token -}}\n"
     "{%- set ns = namespace(system='') -%}\n"
     "{%- for message in messages -%}\n"
     "{%- if message['role'] == 'system' -%}{%- set ns.system = message['content'] | trim + '\\n\\n' -%}\n"
     "{%- else -%}\n"
     "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}\n"
     "{{- '<start_of_turn>' + role + '\\n' + (ns.system if role == 'user' else '') + message['content'] | trim + "
     "'<end_of_turn>\\n' -}}\n"
     "{%- if role == 'user' -%}{%- set ns.system = '' -%}{%- endif -%}\n"
     "{%- endif -%}\n"
     "{%- endfor -%}\n"
     "{%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}\n"},
};

}  // namespace

ChatTemplate::ChatTemplate(std::string source, std::string name)
    : source_(std::move(source)), template_(source_, std::move(name)) {}

std::vector<std::string> ChatTemplate::builtin_names() {
  std::vector<std::string> names;
  for (const Builtin& b : kBuiltins) names.emplace_back(b.name);
  return names;
}

ChatTemplate ChatTemplate::builtin(const std::string& name) {
  for (const Builtin& b : kBuiltins)
    if (name == b.name) return ChatTemplate(b.source, name);
  fail("chat template", fmt::format("no built-in chat template '{}'", name),
       fmt::format("the built-in ones are: {}; or pass a Jinja template file", fmt::join(builtin_names(), ", ")));
}

ChatTemplate ChatTemplate::from_option(const std::string& name_or_file) {
  for (const Builtin& b : kBuiltins)
    if (name_or_file == b.name) return builtin(name_or_file);
  if (!std::filesystem::is_regular_file(name_or_file))
    fail("chat template", fmt::format("'{}' is neither a built-in chat template nor a file", name_or_file),
         fmt::format("the built-in ones are: {}", fmt::join(builtin_names(), ", ")));
  std::ifstream in(name_or_file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) fail("chat template", fmt::format("cannot read '{}'", name_or_file));
  return ChatTemplate(text.str(), std::filesystem::path(name_or_file).filename().string());
}

std::string ChatTemplate::render(const ChatTemplateInputs& inputs, const jinja::RenderOptions& options) const {
  nlohmann::ordered_json context = nlohmann::ordered_json::object();
  context["messages"] = inputs.messages;
  context["add_generation_prompt"] = inputs.add_generation_prompt;
  context["bos_token"] = inputs.bos_token;
  context["eos_token"] = inputs.eos_token;
  if (!inputs.tools.is_null()) context["tools"] = inputs.tools;
  if (inputs.variables.is_object())
    for (const auto& [k, v] : inputs.variables.items()) context[k] = v;
  return template_.render(jinja::Value::from_json(context), options);
}

}  // namespace swapmoe
