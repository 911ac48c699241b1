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

std::string render_alone(const std::string& source) {
  Template t(source, "test");
  return t.render(Value::from_json(nlohmann::ordered_json::object()));
}

// The error's text, or "no error: <output>".
std::string limit_error(const std::string& source) {
  try {
    return "no error: " + render_alone(source);
  } catch (const Error& e) {
    return e.what();
  }
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

#define EXPECT_ERROR(source, text) EXPECT_NE(limit_error(source).find(text), std::string::npos) << limit_error(source)

TEST(JinjaLimits, StringEscapesTakeExactlyTheirHexDigits) {
  EXPECT_EQ(render_alone(R"({{ '\x41\u00e9\U0001F642' }})"), "A\u00e9\U0001F642");
  // A non-hex digit once reached std::stoul, whose std::invalid_argument escaped the parser.
  EXPECT_ERROR(R"({{ '\x4' }})", R"(truncated \x escape in string literal: 2 hex digits expected)");
  EXPECT_ERROR(R"({{ '\u+041' }})", R"(truncated \u escape)");
  EXPECT_ERROR(R"({{ '\U00110000' }})", "illegal Unicode character");
}

TEST(JinjaLimits, IntegersOverflowIntoAnError) {
  EXPECT_ERROR("{{ 9223372036854775807 + 1 }}", "overflows swapmoe's 64-bit integers");
  EXPECT_ERROR("{{ -9223372036854775807 - 2 }}", "overflows");
  EXPECT_ERROR("{{ 3037000500 * 3037000500 }}", "overflows");
  EXPECT_ERROR("{{ 2 ** 63 }}", "overflows");
  EXPECT_EQ(render_alone("{{ 2 ** 62 }} {{ (-2) ** 63 }} {{ 1 ** 9223372036854775807 }}"),
            "4611686018427387904 -9223372036854775808 1");
  EXPECT_ERROR("{{ (-9223372036854775807 - 1) // -1 }}", "overflows");
  EXPECT_EQ(render_alone("{{ (-9223372036854775807 - 1) % -1 }} {{ 7 // -1 }}"), "0 -7");
  EXPECT_ERROR("{{ -(-9223372036854775807 - 1) }}", "overflows");
  EXPECT_ERROR("{{ (-9223372036854775807 - 1) | abs }}", "overflow");
  EXPECT_ERROR("{{ [9223372036854775807, 1] | sum }}", "overflows");
  // Literals: std::stoll's std::out_of_range once escaped; floats follow Python.
  EXPECT_ERROR("{{ 9223372036854775808 }}", "does not fit swapmoe's 64-bit integers");
  EXPECT_EQ(render_alone("{{ 1e999 }} {{ 1e-999 }}"), "inf 0.0");
  EXPECT_ERROR("{{ 1e300 | int }}", "integer overflow");
  EXPECT_ERROR("{{ '1e300' | int }}", "integer overflow");
  EXPECT_EQ(render_alone("{{ 'nan' | int }} {{ '2.5' | int }}"), "0 2");  // as jinja2: int(float(s)), else the default
}

TEST(JinjaLimits, RangeIsCappedLikeJinja2Sandbox) {
  EXPECT_EQ(render_alone("{{ range(100000) | length }}"), "100000");
  EXPECT_ERROR("{{ range(100001) | length }}", "range too big: at most 100000 items");
  EXPECT_ERROR("{{ range(9999999999) | length }}", "range too big");  // once a 1.7 GB allocation
  // Steps that would overflow int64 on the way are counted exactly.
  EXPECT_EQ(render_alone("{{ range(-9223372036854775807, 9223372036854775807, 4611686018427387904) | list }}"),
            "[-9223372036854775807, -4611686018427387903, 1, 4611686018427387905]");
  EXPECT_EQ(render_alone("{{ range(5, -9223372036854775807, -9223372036854775807) | list }}"), "[5, -9223372036854775802]");
}

TEST(JinjaLimits, StringsAndOutputAreCapped) {
  EXPECT_EQ(render_alone("{{ 'ab' * 3 }}|{{ 'ab' * -1 }}|{{ 2 * 'c' }}"), "ababab||cc");
  EXPECT_ERROR("{{ 'ab' * 99999999999 }}", "a string of more than 16 MiB");  // once a hang
  EXPECT_ERROR("{% set ns = namespace(x='ab') %}{% for i in range(40) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}",
               "more than 16 MiB");
  EXPECT_ERROR("{% for i in range(20) %}{{ 'x' * 1000000 }}{% endfor %}", "the template wrote more than 16 MiB");
  EXPECT_ERROR("{{ [1] | tojson(indent=99999999999) }}", "more than 16 MiB");
  EXPECT_EQ(render_alone("{{ 'a\nb' | indent(-5, true) }}"), "a\nb");
}

TEST(JinjaLimits, MemoryOfOneRenderingIsBounded) {
  // Ten-megabyte strings kept in a list: refused once the values alive pass 128 MiB.
  EXPECT_ERROR(
      "{% set ns = namespace(x=[]) %}{% set big = 'x' * 10000000 %}"
      "{% for i in range(100) %}{% set ns.x = ns.x + [big ~ i] %}{% endfor %}",
      "the template holds more than 128 MiB of values");
  // Made and dropped at once: refused once 512 MiB were made, which bounds the time.
  EXPECT_ERROR("{% set big = 'x' * 10000000 %}{% for i in range(100) %}{% set y = big ~ i %}{% endfor %}",
               "built more than 512 MiB of values");
}

TEST(JinjaLimits, RecursionIsBounded) {
  EXPECT_ERROR("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "calls nested more than 100 deep");
  EXPECT_EQ(render_alone("{% macro m(n) %}{% if n > 0 %}{{ m(n - 1) }}{% endif %}{{ n }}{% endmacro %}{{ m(50) | length }}"),
            "92");  // "0123...4950": 10 numbers of one digit, 41 of two
  EXPECT_ERROR("{{ " + repeat("(", 20000) + "1" + repeat(")", 20000) + " }}", "nested more than 256 deep");
  EXPECT_ERROR("{{ " + repeat("not ", 20000) + "1 }}", "nested more than 256 deep");
  EXPECT_ERROR("{{ " + repeat("1 + ", 20000) + "1 }}", "expression nested more than 256 deep");
  EXPECT_ERROR("{{ x" + repeat(".a", 20000) + " }}", "expression nested more than 256 deep");
  EXPECT_ERROR(repeat("{% if 1 %}", 2000) + "x" + repeat("{% endif %}", 2000), "nested more than 256 deep");
  EXPECT_EQ(render_alone(repeat("{% if 1 %}", 100) + "x" + repeat("{% endif %}", 100)), "x");
}

TEST(JinjaLimits, ValuesNestAtMost128Deep) {
  EXPECT_ERROR(
      "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}",
      "nests lists and dicts more than 128 deep");
  EXPECT_ERROR(
      "{% set ns = namespace(x={}) %}{% for i in range(100000) %}{% set ns.x = {'a': ns.x} %}{% endfor %}",
      "more than 128 deep");
  // A bound method keeps its dict: nesting through d.get counts too.
  EXPECT_ERROR(
      "{% set ns = namespace(x={}) %}{% for i in range(100000) %}{% set ns.x = {'a': [ns.x.get]} %}{% endfor %}",
      "more than 128 deep");
}

TEST(JinjaLimits, NamespacesCannotHoldNamespaces) {
  // A namespace holding itself was a reference cycle: leaked, and endless to print.
  EXPECT_ERROR("{% set ns = namespace(a=1) %}{% set ns.self = ns %}{{ ns }}", "cannot hold another namespace");
  EXPECT_ERROR("{% set ns = namespace(a=1) %}{% set ns.l = [ns] %}", "cannot hold another namespace");
  EXPECT_ERROR("{% set a = namespace() %}{% set b = namespace(x=a) %}", "cannot hold another namespace");
  EXPECT_EQ(render_alone("{% set ns = namespace(a=[1, {'b': 2}]) %}{% set ns.c = ns.a %}{{ ns.c }}"), "[1, {'b': 2}]");
}

TEST(JinjaLimits, LoopsAreBounded) {
  EXPECT_ERROR("{% macro m() %}{% endmacro %}{% for i in range(100000) %}{{ m() }}{{ m() }}{{ m() }}{% endfor %}",
               "more than 262144 loop iterations and macro calls");
  // Each iteration's loop variable is counted too: here the values made run out first.
  EXPECT_ERROR("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "[chat template]");
}

TEST(JinjaLimits, AttributePathsWithHugeIndexes) {
  EXPECT_ERROR("{{ [[1]] | map(attribute='99999999999999999999') | list }}", "too large");
  EXPECT_EQ(render_alone("{{ [[1, 2]] | map(attribute='1') | list }}"), "[2]");
}

}  // namespace
}  // namespace swapmoe::jinja
