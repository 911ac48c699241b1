// libFuzzer entry for the chat-template engine. Two kinds of input, by the first byte's low bit:
//   0: the rest is a template's source, parsed and rendered with a small fixed conversation;
//   1: a real template (the built-in ones and the shared chat-templates folder, or
//      SWAPMOE_FUZZ_CHAT_TEMPLATES) rendered with message contents taken from the rest, split at
//      0x1f bytes.
// Either way the engine must render or throw swapmoe::Error; any other exception, a crash, a
// hang or a huge allocation is a bug.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "chat/chat_template.h"
#include "core/error.h"

namespace swapmoe {
namespace {

std::vector<ChatTemplate>& templates() {
  static std::vector<ChatTemplate> t;
  return t;
}

const jinja::RenderOptions k_options{std::time_t{1741953600}};  // strftime_now: a fixed clock

ChatTemplateInputs small_conversation() {
  ChatTemplateInputs in;
  in.messages = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": "Bye"}])");
  in.add_generation_prompt = true;
  in.bos_token = "<s>";
  in.eos_token = "</s>";
  return in;
}

// Contents split at 0x1f; roles alternate user/assistant after an optional system message and
// the conversation ends with a user turn, as every template expects.
ChatTemplateInputs conversation_of(std::string_view contents, bool system, bool generation_prompt) {
  std::vector<std::string> parts;
  size_t at = 0;
  while (parts.size() < 8) {
    const size_t end = contents.find('\x1f', at);
    parts.emplace_back(contents.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at));
    if (end == std::string_view::npos) break;
    at = end + 1;
  }
  ChatTemplateInputs in;
  in.add_generation_prompt = generation_prompt;
  in.bos_token = "<s>";
  in.eos_token = "</s>";
  const size_t first_turn = system && parts.size() > 1 ? 1 : 0;
  if (first_turn) in.messages.push_back({{"role", "system"}, {"content", parts[0]}});
  // Turns counted back from the last, which is the user's.
  const size_t n_turns = parts.size() - first_turn;
  for (size_t i = first_turn; i < parts.size(); ++i) {
    const bool user = (n_turns - 1 - (i - first_turn)) % 2 == 0;
    in.messages.push_back({{"role", user ? "user" : "assistant"}, {"content", parts[i]}});
  }
  return in;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace
}  // namespace swapmoe

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace swapmoe;
  namespace fs = std::filesystem;
  for (const std::string& name : ChatTemplate::builtin_names()) templates().push_back(ChatTemplate::builtin(name));
  const char* env = std::getenv("SWAPMOE_FUZZ_CHAT_TEMPLATES");
  const fs::path dir = env && *env ? fs::path(env) : fs::path(SWAPMOE_SHARED_DATA_DIR) / "chat-templates";
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".jinja") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    try {
      templates().emplace_back(read_file(f), f.filename().string());
    } catch (const Error& e) {
      std::fprintf(stderr, "chat_template_fuzz: %s not used: %s\n", f.c_str(), e.what());
    }
  }
  std::fprintf(stderr, "chat_template_fuzz: %zu real templates (%zu from %s)\n", templates().size(), files.size(),
               dir.c_str());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace swapmoe;
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    if ((mode & 1) == 0) {
      const ChatTemplate tmpl{std::string(rest), "fuzz"};
      (void)tmpl.render(small_conversation(), k_options);
    } else {
      if (rest.empty()) return 0;
      const ChatTemplate& tmpl = templates()[static_cast<uint8_t>(rest[0]) % templates().size()];
      (void)tmpl.render(conversation_of(rest.substr(1), mode & 2, mode & 4), k_options);
    }
  } catch (const Error&) {
  }
  return 0;
}
