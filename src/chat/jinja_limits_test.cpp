// Hostile and broken templates (chat templates come inside downloaded model files): each must end
// in swapmoe::Error naming the problem, never a crash, undefined behaviour, a hang or an
// allocation without bound. The inputs are those the chat-template fuzzer (scripts/fuzz
// chat_template_fuzz) reported or that were written while fixing what it found.
#include <gtest/gtest.h>

#include <string>

#include "chat/jinja_template.h"
#include "core/error.h"

namespace swapmoe::jinja {
namespace {

std::string render(const std::string& source) {
  Template t(source, "test");
  return t.render(Value::from_json(nlohmann::ordered_json::object()));
}

// The error's text, or "no error: <output>".
std::string error_of(const std::string& source) {
  try {
    return "no error: " + render(source);
  } catch (const Error& e) {
    return e.what();
  }
}

#define EXPECT_ERROR(source, text) EXPECT_NE(error_of(source).find(text), std::string::npos) << error_of(source)

TEST(JinjaLimits, StringEscapesTakeExactlyTheirHexDigits) {
  EXPECT_EQ(render(R"({{ '\x41\u00e9\U0001F642' }})"), "A\u00e9\U0001F642");
  // A non-hex digit once reached std::stoul, whose std::invalid_argument escaped the parser.
  EXPECT_ERROR(R"({{ '\x4' }})", R"(truncated \x escape in string literal: 2 hex digits expected)");
  EXPECT_ERROR(R"({{ '\u+041' }})", R"(truncated \u escape)");
  EXPECT_ERROR(R"({{ '\U00110000' }})", "illegal Unicode character");
}

}  // namespace
}  // namespace swapmoe::jinja
