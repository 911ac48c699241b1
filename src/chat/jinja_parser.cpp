#include "chat/jinja_parser.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <initializer_list>
#include <string>

#include "chat/jinja_builtins.h"

namespace swapmoe::jinja {

namespace {

// Blocks in blocks and expressions in expressions: real templates nest a dozen deep; the limit
// keeps parsing, evaluating and freeing a hostile one off the end of the stack.
constexpr int k_max_nesting = 256;

class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : t_(tokens) {}

  Body parse_template() {
    std::string end;
    Body body = parse_body({}, end);
    return body;
  }

 private:
  // ---- statements ----

  // Statements up to a block tag named in `ends` (consumed up to its name, which goes in
  // `found`), or to the end of the template when `ends` is empty.
  Body parse_body(std::initializer_list<const char*> ends, std::string& found) {
    const Nesting guard(*this, peek());
    Body body;
    while (true) {
      const Token& tok = peek();
      if (tok.type == TokenType::END) {
        if (ends.size() == 0) return body;
        error(tok, "missing '{% " + std::string(*ends.begin()) + " %}': the template ended inside a block");
      }
      if (tok.type == TokenType::TEXT) {
        auto s = stmt(Stmt::Kind::TEXT, tok);
        s->text = tok.text;
        body.push_back(std::move(s));
        ++pos_;
      } else if (tok.type == TokenType::VAR_BEGIN) {
        ++pos_;
        auto s = stmt(Stmt::Kind::OUTPUT, tok);
        s->expr = parse_tuple(true);
        expect(TokenType::VAR_END, "'}}'");
        body.push_back(std::move(s));
      } else if (tok.type == TokenType::BLOCK_BEGIN) {
        const Token& name = t_[pos_ + 1];
        if (name.type != TokenType::NAME) error(name, "expected a tag name after '{%'");
        for (const char* end : ends) {
          if (name.text == end) {
            pos_ += 2;
            found = name.text;
            return body;
          }
        }
        pos_ += 2;
        body.push_back(parse_statement(name));
      } else {
        error(tok, "unexpected '" + tok.text + "'");
      }
    }
  }

  StmtPtr parse_statement(const Token& name) {
    const std::string& tag = name.text;
    if (tag == "if") return parse_if(name);
    if (tag == "for") return parse_for(name);
    if (tag == "set") return parse_set(name);
    if (tag == "macro") return parse_macro(name);
    if (tag == "break" || tag == "continue") {
      expect(TokenType::BLOCK_END, "'%}'");
      return stmt(tag == "break" ? Stmt::Kind::BREAK : Stmt::Kind::CONTINUE, name);
    }
    if (tag.rfind("end", 0) == 0 || tag == "else" || tag == "elif")
      error(name, "unexpected '{% " + tag + " %}' without a matching opening tag");
    error(name, "unsupported tag '{% " + tag + " %}'");
  }

  StmtPtr parse_if(const Token& at) {
    auto s = stmt(Stmt::Kind::IF, at);
    std::string found = "elif";
    while (found == "elif") {
      s->conditions.push_back(parse_tuple(true));
      expect(TokenType::BLOCK_END, "'%}'");
      s->bodies.push_back(parse_body({"elif", "else", "endif"}, found));
    }
    if (found == "else") {
      expect(TokenType::BLOCK_END, "'%}'");
      s->else_body = parse_body({"endif"}, found);
    }
    expect(TokenType::BLOCK_END, "'%}'");
    return s;
  }

  StmtPtr parse_for(const Token& at) {
    auto s = stmt(Stmt::Kind::FOR, at);
    s->targets = parse_targets();
    expect_name("in");
    s->expr = parse_tuple(false);
    if (accept_name("if")) s->filter = parse_tuple(true);
    if (peek().type == TokenType::NAME && peek().text == "recursive") error(peek(), "unsupported: recursive for loops");
    expect(TokenType::BLOCK_END, "'%}'");
    std::string found;
    s->bodies.push_back(parse_body({"else", "endfor"}, found));
    if (found == "else") {
      expect(TokenType::BLOCK_END, "'%}'");
      s->else_body = parse_body({"endfor"}, found);
    }
    expect(TokenType::BLOCK_END, "'%}'");
    return s;
  }

  StmtPtr parse_set(const Token& at) {
    auto s = stmt(Stmt::Kind::SET, at);
    const Token& first = expect(TokenType::NAME, "a variable name");
    if (accept_op(".")) {
      s->targets = {first.text};
      s->attribute = expect(TokenType::NAME, "an attribute name").text;
    } else {
      s->targets = {first.text};
      while (accept_op(",")) s->targets.push_back(expect(TokenType::NAME, "a variable name").text);
    }
    if (accept_op("=")) {
      s->expr = parse_tuple(true);
      expect(TokenType::BLOCK_END, "'%}'");
      return s;
    }
    if (!s->attribute.empty() || s->targets.size() != 1) error(peek(), "expected '=' in '{% set %}'");
    if (peek().type == TokenType::OP && peek().text == "|") error(peek(), "unsupported: filters on a block set");
    expect(TokenType::BLOCK_END, "'=' or '%}'");
    s->kind = Stmt::Kind::SET_BLOCK;
    std::string found;
    s->bodies.push_back(parse_body({"endset"}, found));
    expect(TokenType::BLOCK_END, "'%}'");
    return s;
  }

  StmtPtr parse_macro(const Token& at) {
    auto s = stmt(Stmt::Kind::MACRO, at);
    s->text = expect(TokenType::NAME, "the macro's name").text;
    expect_op("(");
    while (!accept_op(")")) {
      if (!s->params.empty()) expect_op(",");
      MacroParam p;
      p.name = expect(TokenType::NAME, "a parameter name").text;
      if (accept_op("=")) p.default_value = parse_expression();
      s->params.push_back(std::move(p));
    }
    expect(TokenType::BLOCK_END, "'%}'");
    std::string found;
    s->bodies.push_back(parse_body({"endmacro"}, found));
    if (peek().type == TokenType::NAME) ++pos_;  // {% endmacro name %}
    expect(TokenType::BLOCK_END, "'%}'");
    return s;
  }

  std::vector<std::string> parse_targets() {
    std::vector<std::string> names;
    const bool paren = accept_op("(");
    do {
      names.push_back(expect(TokenType::NAME, "a loop variable").text);
    } while (accept_op(","));
    if (paren) expect_op(")");
    return names;
  }

  // ---- expressions, loosest binding first ----

  // `a, b` without parentheses is a tuple where jinja2 allows it ({{ }}, set, for ... in).
  ExprPtr parse_tuple(bool with_condition) {
    const Token& at = peek();
    ExprPtr first = with_condition ? parse_expression() : parse_or();
    if (!(peek().type == TokenType::OP && peek().text == ",")) return first;
    auto tuple = expr(Expr::Kind::TUPLE, at);
    add(*tuple, std::move(first));
    while (accept_op(",")) {
      if (at_expression_end()) break;
      add(*tuple, with_condition ? parse_expression() : parse_or());
    }
    return tuple;
  }

  bool at_expression_end() const {
    const Token& t = peek();
    return t.type == TokenType::VAR_END || t.type == TokenType::BLOCK_END ||
           (t.type == TokenType::OP && (t.text == ")" || t.text == "]" || t.text == "}"));
  }

  ExprPtr parse_expression() {
    ExprPtr e = parse_or();
    while (peek().type == TokenType::NAME && peek().text == "if") {
      const Token& at = next();
      auto cond = expr(Expr::Kind::CONDITION, at);
      add(*cond, parse_or());
      add(*cond, std::move(e));
      add(*cond, accept_name("else") ? parse_expression() : nullptr);
      e = std::move(cond);
    }
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (peek().type == TokenType::NAME && peek().text == "or") {
      const Token& op = next();  // taken before parsing the right side: argument order is unspecified
      e = binary("or", std::move(e), op, parse_and());
    }
    return e;
  }

  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (peek().type == TokenType::NAME && peek().text == "and") {
      const Token& op = next();
      e = binary("and", std::move(e), op, parse_not());
    }
    return e;
  }

  ExprPtr parse_not() {
    const Nesting guard(*this, peek());
    if (peek().type == TokenType::NAME && peek().text == "not") {
      auto e = expr(Expr::Kind::UNARY, next());
      e->name = "not";
      add(*e, parse_not());
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    ExprPtr e = parse_math1();
    for (int n = 0;; ++n) {
      const Token& t = peek();
      // Python reads a < b < c as a < b and b < c; refused rather than evaluated another way.
      if (n == 1 && ((t.type == TokenType::OP && (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == ">" ||
                                                  t.text == "<=" || t.text == ">=")) ||
                     (t.type == TokenType::NAME && (t.text == "in" || t.text == "not") && t_[pos_ + 1].text != "if")))
        if (!(t.type == TokenType::NAME && t.text == "not" && t_[pos_ + 1].text != "in"))
          error(t, "unsupported: chained comparison (a < b < c)");
      if (t.type == TokenType::OP &&
          (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == ">" || t.text == "<=" || t.text == ">=")) {
        ++pos_;
        e = binary(t.text, std::move(e), t, parse_math1());
      } else if (t.type == TokenType::NAME && t.text == "in") {
        ++pos_;
        e = binary("in", std::move(e), t, parse_math1());
      } else if (t.type == TokenType::NAME && t.text == "not" && t_[pos_ + 1].type == TokenType::NAME &&
                 t_[pos_ + 1].text == "in") {
        pos_ += 2;
        e = binary("not in", std::move(e), t, parse_math1());
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (peek().type == TokenType::OP && (peek().text == "+" || peek().text == "-")) {
      const Token& op = next();
      e = binary(op.text, std::move(e), op, parse_concat());
    }
    return e;
  }

  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (peek().type == TokenType::OP && peek().text == "~") {
      const Token& op = next();
      e = binary("~", std::move(e), op, parse_math2());
    }
    return e;
  }

  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (peek().type == TokenType::OP &&
           (peek().text == "*" || peek().text == "/" || peek().text == "//" || peek().text == "%")) {
      const Token& op = next();
      e = binary(op.text, std::move(e), op, parse_pow());
    }
    return e;
  }

  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (peek().type == TokenType::OP && peek().text == "**") {
      const Token& op = next();
      e = binary("**", std::move(e), op, parse_unary(true));
    }
    return e;
  }

  ExprPtr parse_unary(bool with_filter) {
    const Nesting guard(*this, peek());
    ExprPtr e;
    if (peek().type == TokenType::OP && (peek().text == "-" || peek().text == "+")) {
      e = expr(Expr::Kind::UNARY, peek());
      e->name = next().text;
      add(*e, parse_unary(false));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filters_and_tests(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = next();
    switch (t.type) {
      case TokenType::NAME: {
        if (t.text == "true" || t.text == "True") return literal(Value::boolean(true), t);
        if (t.text == "false" || t.text == "False") return literal(Value::boolean(false), t);
        if (t.text == "none" || t.text == "None") return literal(Value::none(), t);
        auto e = expr(Expr::Kind::NAME, t);
        e->name = t.text;
        return e;
      }
      case TokenType::STRING: {
        std::string s = t.text;
        while (peek().type == TokenType::STRING) s += next().text;  // "a" "b" is "ab"
        return literal(Value::string(std::move(s)), t);
      }
      case TokenType::INT: return literal(Value::integer(integer_literal(t)), t);
      // strtod, not stod: 1e999 is inf and 1e-999 is 0.0 in Python, not an exception.
      case TokenType::FLOAT: return literal(Value::number(std::strtod(t.text.c_str(), nullptr)), t);
      case TokenType::OP:
        if (t.text == "(") {
          if (accept_op(")")) return expr(Expr::Kind::TUPLE, t);
          ExprPtr inner = parse_tuple(true);
          if (inner->kind == Expr::Kind::TUPLE) {
            expect_op(")");
            return inner;
          }
          expect_op(")");
          return inner;
        }
        if (t.text == "[") {
          auto e = expr(Expr::Kind::LIST, t);
          while (!accept_op("]")) {
            if (!e->args.empty()) {
              expect_op(",");
              if (accept_op("]")) break;
            }
            add(*e, parse_expression());
          }
          return e;
        }
        if (t.text == "{") {
          auto e = expr(Expr::Kind::DICT, t);
          while (!accept_op("}")) {
            if (!e->args.empty()) {
              expect_op(",");
              if (accept_op("}")) break;
            }
            add(*e, parse_expression());
            expect_op(":");
            add(*e, parse_expression());
          }
          return e;
        }
        break;
      default: break;
    }
    error(t, t.type == TokenType::VAR_END || t.type == TokenType::BLOCK_END ? "expected an expression"
                                                                               : "unexpected '" + t.text + "'");
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      const Token& t = peek();
      if (t.type != TokenType::OP) return e;
      if (t.text == ".") {
        ++pos_;
        const Token& name = next();
        if (name.type == TokenType::INT) {
          auto item = expr(Expr::Kind::ITEM, name);
          add(*item, std::move(e));
          add(*item, literal(Value::integer(integer_literal(name)), name));
          e = std::move(item);
        } else if (name.type == TokenType::NAME) {
          auto attr = expr(Expr::Kind::ATTRIBUTE, name);
          attr->name = name.text;
          add(*attr, std::move(e));
          e = std::move(attr);
        } else {
          error(name, "expected an attribute name after '.'");
        }
      } else if (t.text == "[") {
        ++pos_;
        e = parse_subscript(std::move(e), t);
      } else if (t.text == "(") {
        ++pos_;
        e = parse_call(std::move(e), t, Expr::Kind::CALL);
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr object, const Token& at) {
    ExprPtr parts[3];
    int n = 0;
    bool slice = false;
    while (true) {
      if (peek().type == TokenType::OP && peek().text == ":") {
        ++pos_;
        slice = true;
        if (++n > 2) error(at, "too many ':' in a slice");
        continue;
      }
      if (peek().type == TokenType::OP && peek().text == "]") break;
      if (parts[n]) error(peek(), "expected ':' or ']'");
      parts[n] = parse_expression();
    }
    expect_op("]");
    if (!slice) {
      if (!parts[0]) error(at, "empty subscript");
      auto e = expr(Expr::Kind::ITEM, at);
      add(*e, std::move(object));
      add(*e, std::move(parts[0]));
      return e;
    }
    auto e = expr(Expr::Kind::SLICE, at);
    add(*e, std::move(object));
    for (auto& p : parts) add(*e, std::move(p));
    return e;
  }

  // Arguments after '(' (already consumed), for calls, filters and tests.
  ExprPtr parse_call(ExprPtr callee, const Token& at, Expr::Kind kind) {
    auto e = expr(kind, at);
    if (callee) add(*e, std::move(callee));
    bool first = true;
    while (!accept_op(")")) {
      if (!first) {
        expect_op(",");
        if (accept_op(")")) break;
      }
      first = false;
      if (peek().type == TokenType::OP && (peek().text == "*" || peek().text == "**"))
        error(peek(), "unsupported: *args and **kwargs in calls");
      if (peek().type == TokenType::NAME && t_[pos_ + 1].type == TokenType::OP && t_[pos_ + 1].text == "=") {
        std::string name = next().text;
        ++pos_;
        ExprPtr value = parse_expression();
        grow(*e, *value);
        e->keywords.emplace_back(std::move(name), std::move(value));
      } else {
        if (!e->keywords.empty()) error(peek(), "a positional argument after a keyword argument");
        add(*e, parse_expression());
      }
    }
    return e;
  }

  ExprPtr parse_filters_and_tests(ExprPtr e) {
    while (true) {
      const Token& t = peek();
      if (t.type == TokenType::OP && t.text == "|") {
        ++pos_;
        e = parse_filter(std::move(e));
      } else if (t.type == TokenType::NAME && t.text == "is") {
        ++pos_;
        e = parse_test(std::move(e));
      } else if (t.type == TokenType::OP && t.text == "(") {
        ++pos_;
        e = parse_call(std::move(e), t, Expr::Kind::CALL);
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_filter(ExprPtr input) {
    do {
      const Token& name = expect(TokenType::NAME, "a filter name after '|'");
      std::string full = name.text;
      while (peek().type == TokenType::OP && peek().text == "." && t_[pos_ + 1].type == TokenType::NAME) {
        pos_ += 1;
        full += "." + next().text;
      }
      if (!has_filter(full)) error(name, "unsupported filter '" + full + "'");
      ExprPtr f;
      if (accept_op("(")) {
        f = parse_call(std::move(input), name, Expr::Kind::FILTER);
      } else {
        f = expr(Expr::Kind::FILTER, name);
        add(*f, std::move(input));
      }
      f->name = full;
      input = std::move(f);
    } while (accept_op("|"));
    return input;
  }

  ExprPtr parse_test(ExprPtr input) {
    const bool negated = accept_name("not");
    const Token& name = expect(TokenType::NAME, "a test name after 'is'");
    if (!has_test(name.text)) error(name, "unsupported test '" + name.text + "'");
    ExprPtr e;
    const Token& t = peek();
    if (accept_op("(")) {
      e = parse_call(std::move(input), name, Expr::Kind::TEST);
    } else {
      e = expr(Expr::Kind::TEST, name);
      add(*e, std::move(input));
      // jinja2 takes one argument without parentheses: `is divisibleby 3`, `is sameas false`.
      const bool starts_argument =
          t.type == TokenType::NAME || t.type == TokenType::STRING || t.type == TokenType::INT ||
          t.type == TokenType::FLOAT || (t.type == TokenType::OP && (t.text == "(" || t.text == "[" || t.text == "{"));
      if (starts_argument && !(t.type == TokenType::NAME && (t.text == "else" || t.text == "or" || t.text == "and")))
        add(*e, parse_postfix(parse_primary()));
    }
    e->kind = Expr::Kind::TEST;
    e->name = name.text;
    e->negated = negated;
    return e;
  }

  // ---- helpers ----

  const Token& peek() const { return t_[pos_]; }
  const Token& next() { return t_[pos_ < t_.size() - 1 ? pos_++ : pos_]; }

  bool accept_op(const char* op) {
    if (peek().type == TokenType::OP && peek().text == op) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool accept_name(const char* name) {
    if (peek().type == TokenType::NAME && peek().text == name) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect_op(const char* op) {
    if (!accept_op(op)) error(peek(), std::string("expected '") + op + "'" + found_text(peek()));
  }
  void expect_name(const char* name) {
    if (!accept_name(name)) error(peek(), std::string("expected '") + name + "'" + found_text(peek()));
  }
  const Token& expect(TokenType type, const std::string& what) {
    if (peek().type != type) error(peek(), "expected " + what + found_text(peek()));
    return next();
  }
  static std::string found_text(const Token& t) {
    switch (t.type) {
      case TokenType::VAR_END: return ", found '}}'";
      case TokenType::BLOCK_END: return ", found '%}'";
      case TokenType::END: return ", found the end of the template";
      default: return ", found '" + t.text + "'";
    }
  }

  static ExprPtr expr(Expr::Kind kind, const Token& at) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = at.line;
    e->column = at.column;
    return e;
  }
  static ExprPtr literal(Value v, const Token& at) {
    auto e = expr(Expr::Kind::LITERAL, at);
    e->value = std::move(v);
    return e;
  }
  static ExprPtr binary(const std::string& op, ExprPtr left, const Token& at, ExprPtr right) {
    auto e = expr(Expr::Kind::BINARY, at);
    e->name = op;
    add(*e, std::move(left));
    add(*e, std::move(right));
    return e;
  }
  // Every child goes in through these, so that no expression gets deeper than k_max_nesting:
  // evaluating and freeing one recurse through it. A chain like 1+1+...+1 is built by a loop,
  // not by recursion, so the parser's own guard would not see it.
  static void grow(Expr& parent, const Expr& child) {
    parent.depth = std::max(parent.depth, child.depth + 1);
    if (parent.depth > k_max_nesting)
      throw TemplateError(parent.line, parent.column,
                          "expression nested more than " + std::to_string(k_max_nesting) + " deep");
  }
  static void add(Expr& parent, ExprPtr child) {
    if (child) grow(parent, *child);
    parent.args.push_back(std::move(child));
  }
  static StmtPtr stmt(Stmt::Kind kind, const Token& at) {
    auto s = std::make_unique<Stmt>();
    s->kind = kind;
    s->line = at.line;
    s->column = at.column;
    return s;
  }
  [[noreturn]] static void error(const Token& at, const std::string& what) {
    throw TemplateError(at.line, at.column, what);
  }

  // Counts the parser's own recursion (blocks in blocks, parentheses in parentheses, `not not`),
  // which ends in the same limit as the depth of what it builds.
  struct Nesting {
    Nesting(Parser& p, const Token& at) : p(p) {
      if (++p.nesting_ > k_max_nesting)
        error(at, "blocks or expressions nested more than " + std::to_string(k_max_nesting) + " deep");
    }
    ~Nesting() { --p.nesting_; }
    Parser& p;
  };

  // Integer literals beyond int64: Python would make a big integer; swapmoe refuses.
  static int64_t integer_literal(const Token& t) {
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
    if (ec != std::errc() || end != t.text.data() + t.text.size())
      error(t, "integer literal " + t.text + " does not fit swapmoe's 64-bit integers");
    return v;
  }

  const std::vector<Token>& t_;
  size_t pos_ = 0;
  int nesting_ = 0;
};

}  // namespace

Body parse(const std::vector<Token>& tokens) { return Parser(tokens).parse_template(); }

}  // namespace swapmoe::jinja
