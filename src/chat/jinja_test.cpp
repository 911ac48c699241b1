// The interpreter on small templates: whitespace control, scoping, filters, Python semantics,
// and errors that name the construct and the line.
#include <gtest/gtest.h>

#include "chat/jinja_template.h"
#include "core/error.h"

namespace swapmoe::jinja {
namespace {

std::string render(const std::string& source, const std::string& context_json = "{}") {
  Template t(source, "test");
  return t.render(Value::from_json(nlohmann::ordered_json::parse(context_json)));
}

std::string error_of(const std::string& source, const std::string& context_json = "{}") {
  try {
    render(source, context_json);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(Jinja, TrimAndLstripBlocks) {
  EXPECT_EQ(render("  {% if true %}\n  x\n  {% endif %}\ny"), "  x\ny");
  EXPECT_EQ(render("a  {%- if true -%}  b  {%- endif %}"), "ab");
  EXPECT_EQ(render("{{ 'a' }}\n{{- ' b' -}}\n c"), "a bc");
  EXPECT_EQ(render("a {# note #}\nb"), "a b");
  EXPECT_EQ(render("x\n"), "x");
  EXPECT_EQ(render("x\n\n"), "x\n");
}

TEST(Jinja, LoopsAndScopes) {
  EXPECT_EQ(render("{% for x in [1,2,3] %}{{ loop.index }}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}"),
            "11,22,33");
  EXPECT_EQ(render("{% set y = 0 %}{% for x in [1,2] %}{% set y = x %}{% endfor %}{{ y }}"), "0");
  EXPECT_EQ(render("{% set ns = namespace(y=0) %}{% for x in [1,2] %}{% set ns.y = x %}{% endfor %}{{ ns.y }}"), "2");
  EXPECT_EQ(render("{% for x in [] %}a{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for x in [1,2,3,4] if x is even %}{{ x }}{{ loop.length }}{% endfor %}"), "2242");
  EXPECT_EQ(render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}"), "a=1;b=2;");
  EXPECT_EQ(render("{% for x in [1,2,3] %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}"), "1");
  EXPECT_EQ(render("{% for x in 'ab' %}{{ loop.previtem is defined }}{{ loop.nextitem }}{% endfor %}"), "FalsebTrue");
}

TEST(Jinja, MacrosAndSet) {
  EXPECT_EQ(render("{% macro m(a, b='d') %}[{{ a }}{{ b }}]{% endmacro %}{{ m(1) }}{{ m(1, b=2) }}"), "[1d][12]");
  EXPECT_EQ(render("{% set x %}in{{ 1 + 1 }}{% endset %}{{ x }}"), "in2");
}

TEST(Jinja, PythonSemantics) {
  EXPECT_EQ(render("{{ none }} {{ true }} {{ [1, 'a', none] }} {{ {'k': 1.0} }}"), "None True [1, 'a', None] {'k': 1.0}");
  EXPECT_EQ(render("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % -3 }} {{ 1 / 2 }} {{ 2 ** 10 }}"), "3 -4 -2 0.5 1024");
  EXPECT_EQ(render("{{ 'abc'[::-1] }} {{ [1,2,3][1:] }} {{ 'héllo'[1] }} {{ 'héllo' | length }}"), "cba [2, 3] é 5");
  EXPECT_EQ(render("{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'x</think>y'.split('</think>', 1)[1] }}"),
            "['a', 'b', '', 'c'] ['a', 'b'] y");
  EXPECT_EQ(render("{{ '\\n x \\n'.strip() }}|{{ 'xxay'.lstrip('x') }}|{{ 'ab'.startswith(('x', 'a')) }}"), "x|ay|True");
  EXPECT_EQ(render("{{ missing }}|{{ missing is defined }}|{{ missing | default('d') }}|{{ '' | default('e', true) }}"),
            "|False|d|e");
  EXPECT_EQ(render("{{ 1 if false }}|{{ 'a' if 0 else 'b' }}|{{ [] or 'x' }}|{{ 'q' in 'aqb' }}|{{ 2 not in [1] }}"),
            "|b|x|True|True");
  EXPECT_EQ(render("{{ not x is defined }} {{ 'a' ~ 1 ~ none }} {{ '\\u00e9' }}", "{}"), "True a1None é");
}

TEST(Jinja, Filters) {
  EXPECT_EQ(render("{{ x | tojson }}", R"({"x": {"b": [1, 2.5, "é\n"], "a": null}})"),
            R"({"b": [1, 2.5, "é\n"], "a": null})");
  EXPECT_EQ(render("{{ x | tojson(indent=2) }}", R"({"x": {"a": [1], "b": {}}})"),
            "{\n  \"a\": [\n    1\n  ],\n  \"b\": {}\n}");
  EXPECT_EQ(render("{{ x | tojson(ensure_ascii=True) }}", R"({"x": "é😀"})"), R"("\u00e9\ud83d\ude00")");
  EXPECT_EQ(render("{{ m | selectattr('role', 'equalto', 'user') | map(attribute='c') | join(',') }}",
                   R"({"m": [{"role": "user", "c": 1}, {"role": "x", "c": 2}, {"role": "user", "c": 3}]})"),
            "1,3");
  EXPECT_EQ(render("{{ ['a', 'code', 'b'] | reject('equalto', 'code') | list }}"), "['a', 'b']");
  EXPECT_EQ(render("{{ '  x ' | trim }}|{{ 'ab' | upper }}|{{ [3,1,2] | sort | first }}|{{ {'b':1,'a':2} | dictsort }}"),
            "x|AB|1|[('a', 2), ('b', 1)]");
}

TEST(Jinja, ErrorsNameTheConstructAndLine) {
  EXPECT_NE(error_of("a\n{{ x | frobnicate }}").find("test:2:8: unsupported filter 'frobnicate'"), std::string::npos)
      << error_of("a\n{{ x | frobnicate }}");
  EXPECT_NE(error_of("\n\n  {% call foo() %}{% endcall %}").find("test:3:6: unsupported tag '{% call %}'"),
            std::string::npos)
      << error_of("\n\n  {% call foo() %}{% endcall %}");
  EXPECT_NE(error_of("{% if x %}").find("missing '{% elif %}'"), std::string::npos) << error_of("{% if x %}");
  EXPECT_NE(error_of("{{ 1 < 2 < 3 }}").find("test:1:10: unsupported: chained comparison"), std::string::npos);
  EXPECT_NE(error_of("{{ x is frob }}").find("unsupported test 'frob'"), std::string::npos);
  EXPECT_NE(error_of("{{ raise_exception('no system role') }}").find("no system role"), std::string::npos);
  EXPECT_NE(error_of("{{ x.y }}").find("test:1:6: 'x' is undefined"), std::string::npos) << error_of("{{ x.y }}");
  EXPECT_NE(error_of("{{ 'a' + 1 }}").find("unsupported operand"), std::string::npos);
  EXPECT_NE(error_of("{{ 'a'.format(1) }}").find("'str object' has no attribute 'format'"), std::string::npos)
      << error_of("{{ 'a'.format(1) }}");
}

}  // namespace
}  // namespace swapmoe::jinja
