// Every chat template in the shared data folder, rendered on every test conversation, must
// equal python3-jinja2's rendering byte for byte (or fail where jinja2 fails). The reference is
// produced at test time by tools/chat/render_expected.py; without python3-jinja2 the test skips.
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "chat/chat_template.h"
#include "core/error.h"

namespace swapmoe {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// render_expected.py's FIXED_NOW, 2025-03-14 12:00:00 local time.
std::time_t fixed_now() {
  std::tm tm{};
  tm.tm_year = 2025 - 1900;
  tm.tm_mon = 2;
  tm.tm_mday = 14;
  tm.tm_hour = 12;
  tm.tm_isdst = -1;
  return std::mktime(&tm);
}

// Where two renderings first differ, with a little context, for the failure message.
std::string first_difference(const std::string& want, const std::string& got) {
  size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
  const size_t from = i > 40 ? i - 40 : 0;
  return fmt::format("first difference at byte {}:\n  jinja2:  {:?}\n  swapmoe: {:?}", i, want.substr(from, 80),
                     got.substr(from, 80));
}

TEST(ChatTemplates, RenderLikePythonJinja2) {
  const fs::path templates = fs::path(SWAPMOE_SHARED_DATA_DIR) / "chat-templates";
  if (!fs::is_directory(templates)) GTEST_SKIP() << "no shared chat templates at " << templates;
  const fs::path conversations_file = fs::path(SWAPMOE_SOURCE_DIR) / "src/chat/testdata/conversations.json";
  const fs::path expected_file = fs::path(SWAPMOE_TEST_OUTPUT_DIR) / "chat_templates_expected.json";
  // Debian's python3 with python3-jinja2 is the oracle; another python3 on PATH (a virtual
  // environment) may carry another jinja2.
  const std::string python = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  const std::string command =
      fmt::format("{} '{}' --templates '{}' --conversations '{}' --out '{}'", python,
                  (fs::path(SWAPMOE_SOURCE_DIR) / "tools/chat/render_expected.py").string(), templates.string(),
                  conversations_file.string(), expected_file.string());
  const int status = std::system(command.c_str());
  if (status != 0) GTEST_SKIP() << "python3 with jinja2 is needed for the reference renderings (" << command << ")";

  const auto conversations = nlohmann::ordered_json::parse(read_file(conversations_file))["conversations"];
  const auto expected = nlohmann::ordered_json::parse(read_file(expected_file));
  jinja::RenderOptions options;
  options.now = fixed_now();

  int templates_identical = 0, cases_identical = 0, cases = 0;
  for (const auto& [template_name, per_conversation] : expected.items()) {
    std::unique_ptr<ChatTemplate> tmpl;
    try {
      tmpl = std::make_unique<ChatTemplate>(read_file(templates / template_name), template_name);
    } catch (const Error& e) {
      ADD_FAILURE() << template_name << " does not parse: " << e.what();
      cases += static_cast<int>(per_conversation.size());
      continue;
    }
    int identical = 0;
    for (const auto& c : conversations) {
      const std::string name = c["name"];
      const auto& want = per_conversation[name];
      ChatTemplateInputs in;
      in.messages = c["messages"];
      if (c.contains("tools")) in.tools = c["tools"];
      if (c.contains("variables")) in.variables = c["variables"];
      in.add_generation_prompt = c["add_generation_prompt"];
      in.bos_token = "<s>";
      in.eos_token = "</s>";
      std::string got, error;
      try {
        got = tmpl->render(in, options);
      } catch (const Error& e) {
        error = e.what();
      }
      ++cases;
      if (want.contains("error")) {
        if (!error.empty()) ++identical;
        else ADD_FAILURE() << template_name << " / " << name << ": jinja2 fails (" << want["error"].get<std::string>()
                           << ") but swapmoe rendered:\n" << got;
        continue;
      }
      if (!error.empty()) {
        ADD_FAILURE() << template_name << " / " << name << ": swapmoe fails: " << error;
      } else if (got != want["output"].get<std::string>()) {
        ADD_FAILURE() << template_name << " / " << name << ": "
                      << first_difference(want["output"].get<std::string>(), got);
      } else {
        ++identical;
      }
    }
    cases_identical += identical;
    if (identical == static_cast<int>(conversations.size())) ++templates_identical;
    std::cout << fmt::format("{:<48} {}/{} conversations identical\n", template_name, identical, conversations.size());
  }
  std::cout << fmt::format("{}/{} templates identical on every conversation; {}/{} renderings\n", templates_identical,
                           expected.size(), cases_identical, cases);
  EXPECT_EQ(cases_identical, cases);
}

}  // namespace
}  // namespace swapmoe
