// Rendering: statements write into a string, expressions evaluate to Values. Scoping follows
// jinja2: each for-loop iteration and each macro call gets its own scope, `if` does not, so a
// `set` inside a loop is gone after it (the reason templates use namespace()).
#include <cmath>
#include <iterator>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "chat/jinja_builtins.h"
#include "chat/jinja_lexer.h"
#include "chat/jinja_parser.h"
#include "chat/jinja_template.h"
#include "chat/jinja_unicode.h"
#include "core/error.h"

namespace swapmoe::jinja {

namespace {

// Limits of one rendering besides those on values (jinja_value.h).
constexpr int64_t k_max_range = 100000;     // items of range(): jinja2's sandbox MAX_RANGE
constexpr int64_t k_max_steps = 1 << 18;    // loop iterations and macro calls
constexpr int k_max_call_depth = 100;       // macro calls inside macro calls

struct Scope {
  explicit Scope(Scope* parent) : parent(parent) {}
  const Value* find(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent) {
      auto it = s->vars.find(name);
      if (it != s->vars.end()) return &it->second;
    }
    return nullptr;
  }
  std::unordered_map<std::string, Value> vars;
  Scope* parent;
};

enum class Flow { NORMAL, BREAK, CONTINUE };

// raise_exception() from the template: reported as the template's message.
struct RaisedByTemplate : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void error_at(const Expr& e, const std::string& what) { throw TemplateError(e.line, e.column, what); }

std::string undefined_message(const Value& v) { return v.as_string().empty() ? "a value is undefined" : v.as_string(); }

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

Value arithmetic(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) throw std::runtime_error(undefined_message(a));
  if (b.is_undefined()) throw std::runtime_error(undefined_message(b));
  const auto unsupported = [&] {
    return std::runtime_error(fmt::format("unsupported operand type(s) for {}: '{}' and '{}'", op,
                                          a.type_name().substr(0, a.type_name().find(' ')),
                                          b.type_name().substr(0, b.type_name().find(' '))));
  };
  if (op == "+") {
    if (a.is_string() && b.is_string()) return Value::string(a.as_string() + b.as_string());
    if (a.is_list() && b.is_list()) {
      List items = a.items();
      items.insert(items.end(), b.items().begin(), b.items().end());
      return Value::list(std::move(items));
    }
  }
  if (op == "*" && ((a.is_string() && b.is_int()) || (a.is_int() && b.is_string()))) {
    const std::string& s = a.is_string() ? a.as_string() : b.as_string();
    const int64_t n = std::max<int64_t>(a.is_string() ? b.as_int() : a.as_int(), 0);
    if (!s.empty()) check_string_size(n > static_cast<int64_t>(k_max_string_bytes / s.size()) ? k_max_string_bytes + 1 : n * s.size());
    std::string out;
    out.reserve(n * s.size());
    for (int64_t i = 0; i < n && !s.empty(); ++i) out += s;
    return Value::string(std::move(out));
  }
  if (!a.is_number() || !b.is_number()) throw unsupported();
  const bool floats = a.is_float() || b.is_float();
  if (op == "/") {
    if (b.as_double() == 0) throw std::runtime_error("division by zero");
    return Value::number(a.as_double() / b.as_double());
  }
  if (op == "**") {
    if (!floats && b.as_int() >= 0) {  // by squaring: 2 ** 63 is refused at once, 1 ** 10**18 is quick
      int64_t r = 1, base = a.as_int();
      for (int64_t e = b.as_int(); e > 0; e >>= 1) {
        if (e & 1) r = int_op('*', r, base);
        if (e > 1) base = int_op('*', base, base);
      }
      return Value::integer(r);
    }
    return Value::number(std::pow(a.as_double(), b.as_double()));
  }
  if (floats) {
    const double x = a.as_double(), y = b.as_double();
    if (op == "+") return Value::number(x + y);
    if (op == "-") return Value::number(x - y);
    if (op == "*") return Value::number(x * y);
    if (y == 0) throw std::runtime_error("float division by zero");
    if (op == "//") return Value::number(std::floor(x / y));
    const double m = std::fmod(x, y);
    return Value::number(m != 0 && ((m < 0) != (y < 0)) ? m + y : m);
  }
  const int64_t x = a.as_int(), y = b.as_int();
  if (op == "+" || op == "-" || op == "*") return Value::integer(int_op(op[0], x, y));
  if (y == 0) throw std::runtime_error("integer division or modulo by zero");
  if (y == -1) return Value::integer(op == "//" ? int_op('-', 0, x) : 0);  // INT64_MIN / -1 overflows
  if (op == "//") return Value::integer(floor_div(x, y));
  return Value::integer(x - floor_div(x, y) * y);
}

// Python's ordering for <, >, <=, >=: numbers with numbers, strings with strings, lists item by item.
int compare(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    const double x = a.as_double(), y = b.as_double();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) return a.as_string().compare(b.as_string()) < 0 ? -1 : a.as_string() == b.as_string() ? 0 : 1;
  if (a.is_list() && b.is_list()) {
    for (size_t i = 0; i < a.items().size() && i < b.items().size(); ++i)
      if (!equals(a.items()[i], b.items()[i])) return compare(a.items()[i], b.items()[i]);
    return a.items().size() < b.items().size() ? -1 : a.items().size() > b.items().size() ? 1 : 0;
  }
  if (a.is_undefined()) throw std::runtime_error(undefined_message(a));
  if (b.is_undefined()) throw std::runtime_error(undefined_message(b));
  throw std::runtime_error("'<' not supported between instances of '" + a.type_name() + "' and '" + b.type_name() + "'");
}

// Python slicing of a list or string by code points.
Value slice(const Value& object, const Value& start, const Value& stop, const Value& step) {
  const bool is_string = object.is_string();
  std::vector<char32_t> cps;
  if (is_string) cps = decode_utf8(object.as_string());
  else if (!object.is_list()) throw std::runtime_error("'" + object.type_name() + "' is not subscriptable");
  const int64_t n = is_string ? static_cast<int64_t>(cps.size()) : static_cast<int64_t>(object.items().size());
  auto index_of = [](const Value& v, const char* what) {
    if (!v.is_int() && !v.is_bool()) throw std::runtime_error(std::string("slice ") + what + " must be an integer or None");
    return v.as_int();
  };
  const int64_t st = step.is_none() || step.is_undefined() ? 1 : index_of(step, "step");
  if (st == 0) throw std::runtime_error("slice step cannot be zero");
  auto clamp = [&](const Value& v, int64_t fallback) {
    if (v.is_none() || v.is_undefined()) return fallback;
    int64_t i = index_of(v, "index");
    if (i < 0) i += n;
    if (st > 0) return std::clamp<int64_t>(i, 0, n);
    return std::clamp<int64_t>(i, -1, n - 1);
  };
  const int64_t begin = clamp(start, st > 0 ? 0 : n - 1), end = clamp(stop, st > 0 ? n : -1);
  List items;
  std::string text;
  for (int64_t i = begin; st > 0 ? i < end : i > end; i += st) {
    if (is_string) append_utf8(text, cps[static_cast<size_t>(i)]);
    else items.push_back(object.items()[static_cast<size_t>(i)]);
  }
  return is_string ? Value::string(std::move(text)) : Value::list(std::move(items), object.is_tuple());
}

std::string strftime_text(const std::string& format, std::time_t now) {
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[512];
  const size_t n = std::strftime(buf, sizeof buf, format.c_str(), &tm);
  return std::string(buf, n);
}

class Renderer {
 public:
  Renderer(const RenderOptions& options) : options_(options), globals_(nullptr), root_(&globals_) {
    define_globals();
  }

  std::string render(const Body& body, const Value& context) {
    if (!context.is_dict()) throw std::runtime_error("the context must be a dict");
    for (const auto& [k, v] : context.entries().entries) root_.vars[k.str()] = v;
    std::string out;
    exec(body, root_, out);
    return out;
  }

 private:
  void define_globals() {
    globals_.vars["raise_exception"] = Value::function("raise_exception", [](const CallArgs& a) -> Value {
      throw RaisedByTemplate(a.positional.empty() ? "" : a.positional[0].str());
    });
    const std::time_t now = options_.now ? *options_.now : std::time(nullptr);
    globals_.vars["strftime_now"] = Value::function("strftime_now", [now](const CallArgs& a) {
      if (a.positional.size() != 1 || !a.positional[0].is_string())
        throw std::runtime_error("strftime_now() takes one format string");
      return Value::string(strftime_text(a.positional[0].as_string(), now));
    });
    globals_.vars["namespace"] = Value::function("namespace", [](const CallArgs& a) {
      Dict attributes;
      for (const Value& p : a.positional) {
        if (!p.is_dict()) throw std::runtime_error("namespace() takes a dict or name=value arguments");
        for (const auto& [k, v] : p.entries().entries) attributes.set(k, v);
      }
      for (const auto& [k, v] : a.keywords) attributes.set(Value::string(k), v);
      return Value::namespace_object(std::move(attributes));
    });
    globals_.vars["dict"] = Value::function("dict", [](const CallArgs& a) {
      Dict d;
      for (const auto& [k, v] : a.keywords) d.set(Value::string(k), v);
      return Value::dict(std::move(d));
    });
    globals_.vars["range"] = Value::function("range", [](const CallArgs& a) {
      int64_t start = 0, stop = 0, step = 1;
      for (const Value& v : a.positional)
        if (!v.is_int()) throw std::runtime_error("range() takes integers");
      if (a.positional.size() == 1) stop = a.positional[0].as_int();
      else if (a.positional.size() >= 2) start = a.positional[0].as_int(), stop = a.positional[1].as_int();
      if (a.positional.size() == 3) step = a.positional[2].as_int();
      if (a.positional.empty() || a.positional.size() > 3 || step == 0)
        throw std::runtime_error("range() takes 1 to 3 integers, the step not zero");
      // Counted in 128 bits: start + n * step never leaves int64, whatever the arguments.
      const __int128 span = step > 0 ? static_cast<__int128>(stop) - start : static_cast<__int128>(start) - stop;
      const __int128 magnitude = step > 0 ? static_cast<__int128>(step) : -static_cast<__int128>(step);
      const __int128 n = span <= 0 ? 0 : (span + magnitude - 1) / magnitude;
      if (n > k_max_range)
        throw std::runtime_error(fmt::format("range too big: at most {} items (jinja2's sandbox MAX_RANGE)", k_max_range));
      List items;
      items.reserve(static_cast<size_t>(n));
      for (int64_t i = 0; i < static_cast<int64_t>(n); ++i)
        items.push_back(Value::integer(static_cast<int64_t>(start + static_cast<__int128>(i) * step)));
      return Value::list(std::move(items));
    });
  }

  // ---- statements ----

  Flow exec(const Body& body, Scope& scope, std::string& out) {
    for (const StmtPtr& s : body) {
      const Flow f = exec(*s, scope, out);
      if (f != Flow::NORMAL) return f;
    }
    return Flow::NORMAL;
  }

  Flow exec(const Stmt& s, Scope& scope, std::string& out) {
    switch (s.kind) {
      case Stmt::Kind::TEXT:
        out += s.text;
        check_output(out, s);
        return Flow::NORMAL;
      case Stmt::Kind::OUTPUT:
        out += eval(*s.expr, scope).str();
        check_output(out, s);
        return Flow::NORMAL;
      case Stmt::Kind::IF:
        for (size_t i = 0; i < s.conditions.size(); ++i)
          if (eval(*s.conditions[i], scope).truthy()) return exec(s.bodies[i], scope, out);
        return exec(s.else_body, scope, out);
      case Stmt::Kind::FOR: return exec_for(s, scope, out);
      case Stmt::Kind::SET: {
        Value v = eval(*s.expr, scope);
        if (!s.attribute.empty()) {
          const Value* ns = scope.find(s.targets[0]);
          if (!ns || !ns->is_namespace())
            throw TemplateError(s.line, s.column, "cannot assign attribute on non-namespace object '" + s.targets[0] + "'");
          // What Value::namespace_object checks for the attributes it starts with.
          if (v.is_namespace() || v.holds_namespace())
            throw TemplateError(s.line, s.column, "a namespace cannot hold another namespace in swapmoe");
          if (v.depth() + 1 > k_max_value_depth)
            throw TemplateError(s.line, s.column,
                                fmt::format("the template nests lists and dicts more than {} deep", k_max_value_depth));
          ns->entries().set(Value::string(s.attribute), std::move(v));
        } else {
          assign(s.targets, v, scope, s);
        }
        return Flow::NORMAL;
      }
      case Stmt::Kind::SET_BLOCK: {
        std::string text;
        exec(s.bodies[0], scope, text);
        scope.vars[s.targets[0]] = Value::string(std::move(text));
        return Flow::NORMAL;
      }
      case Stmt::Kind::MACRO: scope.vars[s.text] = make_macro(s); return Flow::NORMAL;
      case Stmt::Kind::BREAK: return Flow::BREAK;
      case Stmt::Kind::CONTINUE: return Flow::CONTINUE;
    }
    return Flow::NORMAL;
  }

  void assign(const std::vector<std::string>& targets, const Value& v, Scope& scope, const Stmt& s) {
    if (targets.size() == 1) {
      scope.vars[targets[0]] = v;
      return;
    }
    const List items = iterate(v);
    if (items.size() != targets.size())
      throw TemplateError(s.line, s.column,
                          fmt::format("cannot unpack {} values into {} names", items.size(), targets.size()));
    for (size_t i = 0; i < targets.size(); ++i) scope.vars[targets[i]] = items[i];
  }

  Flow exec_for(const Stmt& s, Scope& scope, std::string& out) {
    const Value iterable = eval(*s.expr, scope);
    if (!(iterable.is_undefined() || iterable.is_list() || iterable.is_dict() || iterable.is_string()))
      throw TemplateError(s.expr->line, s.expr->column, "'" + iterable.type_name() + "' is not iterable");
    List items = iterate(iterable);
    if (s.filter) {
      List kept;
      for (const Value& item : items) {
        Scope probe(&scope);
        assign(s.targets, item, probe, s);
        if (eval(*s.filter, probe).truthy()) kept.push_back(item);
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      Scope inner(&scope);
      exec(s.else_body, inner, out);
      return Flow::NORMAL;
    }
    const auto n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      count_step(s);
      Scope inner(&scope);
      assign(s.targets, items[i], inner, s);
      // The keys are made once per rendering (appended, not set: they are distinct).
      static const char* const k_loop_keys[] = {"index", "index0", "revindex", "revindex0", "first", "last",
                                                "length", "depth", "depth0", "previtem", "nextitem", "cycle"};
      if (loop_keys_.empty())
        for (const char* k : k_loop_keys) loop_keys_.push_back(Value::string(k));
      const Value values[] = {
          Value::integer(i + 1), Value::integer(i), Value::integer(n - i), Value::integer(n - i - 1),
          Value::boolean(i == 0), Value::boolean(i == n - 1), Value::integer(n), Value::integer(1), Value::integer(0),
          i > 0 ? items[i - 1] : Value::undefined("there is no previous item"),
          i + 1 < n ? items[i + 1] : Value::undefined("there is no next item"),
          Value::function("cycle", [i](const CallArgs& a) {
            if (a.positional.empty()) throw std::runtime_error("no items for cycling given");
            return a.positional[static_cast<size_t>(i) % a.positional.size()];
          })};
      Dict loop;
      loop.entries.reserve(std::size(values));
      for (size_t k = 0; k < std::size(values); ++k) loop.entries.emplace_back(loop_keys_[k], values[k]);
      inner.vars["loop"] = Value::dict(std::move(loop));
      if (exec(s.bodies[0], inner, out) == Flow::BREAK) break;
    }
    return Flow::NORMAL;
  }

  // A macro is a function rendering its body in a fresh scope above the template's variables.
  Value make_macro(const Stmt& s) {
    return Value::function(s.text, [this, &s](const CallArgs& a) {
      count_step(s);
      if (call_depth_ >= k_max_call_depth)
        throw std::runtime_error(fmt::format("macro '{}': calls nested more than {} deep", s.text, k_max_call_depth));
      ++call_depth_;
      struct Leave {
        int& depth;
        ~Leave() { --depth; }
      } leave{call_depth_};
      Scope local(&root_);
      if (a.positional.size() > s.params.size())
        throw std::runtime_error(fmt::format("macro '{}' takes {} arguments, {} given", s.text, s.params.size(),
                                             a.positional.size()));
      for (size_t i = 0; i < s.params.size(); ++i) {
        const MacroParam& p = s.params[i];
        if (i < a.positional.size()) {
          local.vars[p.name] = a.positional[i];
          continue;
        }
        auto kw = std::find_if(a.keywords.begin(), a.keywords.end(), [&](const auto& k) { return k.first == p.name; });
        if (kw != a.keywords.end()) local.vars[p.name] = kw->second;
        else if (p.default_value) local.vars[p.name] = eval(*p.default_value, local);
        else local.vars[p.name] = Value::undefined("'" + p.name + "' is undefined");
      }
      for (const auto& keyword : a.keywords)  // not a structured binding: clang 14 cannot capture one
        if (std::none_of(s.params.begin(), s.params.end(), [&](const MacroParam& p) { return p.name == keyword.first; }))
          throw std::runtime_error(fmt::format("macro '{}' has no parameter '{}'", s.text, keyword.first));
      std::string text;
      exec(s.bodies[0], local, text);
      return Value::string(std::move(text));
    });
  }

  // ---- expressions ----

  Value eval(const Expr& e, Scope& scope) {
    try {
      return eval_unchecked(e, scope);
    } catch (const TemplateError&) {
      throw;
    } catch (const RaisedByTemplate&) {
      throw;
    } catch (const std::runtime_error& err) {
      error_at(e, err.what());
    }
  }

  Value eval_unchecked(const Expr& e, Scope& scope) {
    switch (e.kind) {
      case Expr::Kind::LITERAL: return e.value;
      case Expr::Kind::NAME: {
        const Value* v = scope.find(e.name);
        return v ? *v : Value::undefined("'" + e.name + "' is undefined");
      }
      case Expr::Kind::LIST:
      case Expr::Kind::TUPLE: {
        List items;
        for (const ExprPtr& a : e.args) items.push_back(eval(*a, scope));
        return Value::list(std::move(items), e.kind == Expr::Kind::TUPLE);
      }
      case Expr::Kind::DICT: {
        Dict d;
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) d.set(eval(*e.args[i], scope), eval(*e.args[i + 1], scope));
        return Value::dict(std::move(d));
      }
      case Expr::Kind::ATTRIBUTE: return get_attribute(eval(*e.args[0], scope), e.name);
      case Expr::Kind::ITEM: return get_item(eval(*e.args[0], scope), eval(*e.args[1], scope));
      case Expr::Kind::SLICE: {
        const Value object = eval(*e.args[0], scope);
        if (object.is_undefined()) throw std::runtime_error(undefined_message(object));
        auto part = [&](size_t i) { return e.args[i] ? eval(*e.args[i], scope) : Value::none(); };
        return slice(object, part(1), part(2), part(3));
      }
      case Expr::Kind::CALL: {
        const Value callee = eval(*e.args[0], scope);
        if (callee.is_undefined()) throw std::runtime_error(undefined_message(callee));
        if (!callee.is_callable()) throw std::runtime_error("'" + callee.type_name() + "' is not callable");
        return callee.call(arguments(e, 1, scope));
      }
      case Expr::Kind::FILTER: return apply_filter(e.name, eval(*e.args[0], scope), arguments(e, 1, scope));
      case Expr::Kind::TEST: {
        const bool r = apply_test(e.name, eval(*e.args[0], scope), arguments(e, 1, scope));
        return Value::boolean(r != e.negated);
      }
      case Expr::Kind::UNARY: {
        const Value v = eval(*e.args[0], scope);
        if (e.name == "not") return Value::boolean(!v.truthy());
        if (v.is_undefined()) throw std::runtime_error(undefined_message(v));
        if (!v.is_number()) throw std::runtime_error("bad operand type for unary " + e.name + ": '" + v.type_name() + "'");
        if (e.name == "+") return v.is_float() ? v : Value::integer(v.as_int());
        return v.is_float() ? Value::number(-v.as_double()) : Value::integer(int_op('-', 0, v.as_int()));
      }
      case Expr::Kind::BINARY: return binary(e, scope);
      case Expr::Kind::CONDITION:
        if (eval(*e.args[0], scope).truthy()) return eval(*e.args[1], scope);
        return e.args[2] ? eval(*e.args[2], scope) : Value::undefined("the condition was false and there is no else");
    }
    return Value();
  }

  CallArgs arguments(const Expr& e, size_t first, Scope& scope) {
    CallArgs a;
    for (size_t i = first; i < e.args.size(); ++i) a.positional.push_back(eval(*e.args[i], scope));
    for (const auto& [name, v] : e.keywords) a.keywords.emplace_back(name, eval(*v, scope));
    return a;
  }

  Value binary(const Expr& e, Scope& scope) {
    const std::string& op = e.name;
    const Value a = eval(*e.args[0], scope);
    if (op == "and") return a.truthy() ? eval(*e.args[1], scope) : a;
    if (op == "or") return a.truthy() ? a : eval(*e.args[1], scope);
    const Value b = eval(*e.args[1], scope);
    if (op == "==") return Value::boolean(equals(a, b));
    if (op == "!=") return Value::boolean(!equals(a, b));
    if (op == "<") return Value::boolean(compare(a, b) < 0);
    if (op == ">") return Value::boolean(compare(a, b) > 0);
    if (op == "<=") return Value::boolean(compare(a, b) <= 0);
    if (op == ">=") return Value::boolean(compare(a, b) >= 0);
    if (op == "in") return Value::boolean(contains(b, a));
    if (op == "not in") return Value::boolean(!contains(b, a));
    if (op == "~") return Value::string(a.str() + b.str());
    return arithmetic(op, a, b);
  }

  // Loop iterations and macro calls: a template that loops without end (or nearly) stops here.
  void count_step(const Stmt& s) {
    if (++steps_ > k_max_steps)
      throw TemplateError(s.line, s.column,
                          fmt::format("the template ran more than {} loop iterations and macro calls", k_max_steps));
  }

  static void check_output(const std::string& out, const Stmt& s) {
    if (out.size() > k_max_string_bytes)
      throw TemplateError(s.line, s.column, fmt::format("the template wrote more than {} MiB", k_max_string_bytes >> 20));
  }

  RenderOptions options_;
  Scope globals_;
  Scope root_;
  int64_t steps_ = 0;
  int call_depth_ = 0;
  std::vector<Value> loop_keys_;  // "index", "index0"...: the keys of every loop variable
};

std::string located(const std::string& name, int line, int column, const std::string& what) {
  if (line <= 0) return fmt::format("{}: {}", name, what);
  return fmt::format("{}:{}:{}: {}", name, line, column, what);
}

}  // namespace

Template::Template(std::string_view source, std::string name) : name_(std::move(name)) {
  try {
    body_ = parse(tokenize(source));
  } catch (const TemplateError& e) {
    fail("chat template", located(name_, e.line, e.column, e.what()),
         "swapmoe renders a subset of Jinja; pass --chat-template with a built-in name or a template file");
  }
}

std::string Template::render(const Value& context, const RenderOptions& options) const {
  try {
    const ValueMeter meter;  // before the renderer: the values it holds are freed first
    Renderer r(options);
    return r.render(body_, context);
  } catch (const TemplateError& e) {
    fail("chat template", located(name_, e.line, e.column, e.what()));
  } catch (const RaisedByTemplate& e) {
    fail("chat template", fmt::format("{}: the template refused the conversation: {}", name_, e.what()));
  } catch (const std::runtime_error& e) {
    fail("chat template", fmt::format("{}: {}", name_, e.what()));
  }
}

}  // namespace swapmoe::jinja
