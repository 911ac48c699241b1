// Lookups, iteration and jinja2's tests: what the evaluator and the filters share.
#include "chat/jinja_builtins.h"

#include <algorithm>
#include <stdexcept>

#include "chat/jinja_unicode.h"

namespace swapmoe::jinja {

const Value& argument(const CallArgs& args, size_t position, const char* name) {
  if (position < args.positional.size()) return args.positional[position];
  for (const auto& [k, v] : args.keywords)
    if (k == name) return v;
  static const Value kMissing;
  return kMissing;
}

Value get_attribute(const Value& object, const std::string& name) {
  if (object.is_undefined()) throw std::runtime_error(object.as_string().empty() ? "undefined value" : object.as_string());
  if (object.is_namespace()) {
    if (const Value* v = object.entries().find(Value::string(name))) return *v;
  } else {
    Value m = method_of(object, name);
    if (!m.is_undefined()) return m;
    if (object.is_dict())
      if (const Value* v = object.entries().find(Value::string(name))) return *v;
  }
  return Value::undefined("'" + object.type_name() + "' has no attribute '" + name + "'");
}

Value get_item(const Value& object, const Value& key) {
  if (object.is_undefined()) throw std::runtime_error(object.as_string().empty() ? "undefined value" : object.as_string());
  if (object.is_dict()) {
    if (const Value* v = object.entries().find(key)) return *v;
  } else if ((object.is_list() || object.is_string()) && (key.is_int() || key.is_bool())) {
    const bool is_string = object.is_string();
    std::vector<char32_t> cps;
    if (is_string) cps = decode_utf8(object.as_string());
    const auto n = static_cast<int64_t>(is_string ? cps.size() : object.items().size());
    int64_t i = key.as_int();
    if (i < 0) i += n;
    if (i >= 0 && i < n) {
      if (!is_string) return object.items()[static_cast<size_t>(i)];
      std::string ch;
      append_utf8(ch, cps[static_cast<size_t>(i)]);
      return Value::string(ch);
    }
  }
  // A namespace is not subscriptable in Python; its attributes only come through getattr.
  if (key.is_string()) return get_attribute(object, key.as_string());
  return Value::undefined("'" + object.type_name() + "' has no item " + key.repr());
}

List iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::UNDEFINED: return {};
    case Value::Kind::LIST: return v.items();
    case Value::Kind::DICT: {
      List keys;
      for (const auto& [k, e] : v.entries().entries) keys.push_back(k);
      return keys;
    }
    case Value::Kind::STRING: {
      List chars;
      for (char32_t cp : decode_utf8(v.as_string())) {
        std::string s;
        append_utf8(s, cp);
        chars.push_back(Value::string(std::move(s)));
      }
      return chars;
    }
    default: throw std::runtime_error("'" + v.type_name() + "' is not iterable");
  }
}

int64_t length_of(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::UNDEFINED: return 0;
    case Value::Kind::STRING: return static_cast<int64_t>(decode_utf8(v.as_string()).size());
    case Value::Kind::LIST: return static_cast<int64_t>(v.items().size());
    case Value::Kind::DICT: return static_cast<int64_t>(v.entries().entries.size());
    default: throw std::runtime_error("object of type '" + v.type_name() + "' has no len()");
  }
}

bool contains(const Value& haystack, const Value& needle) {
  switch (haystack.kind()) {
    case Value::Kind::UNDEFINED: return false;
    case Value::Kind::STRING:
      if (!needle.is_string()) throw std::runtime_error("'in <string>' requires string as left operand, not " + needle.type_name());
      return haystack.as_string().find(needle.as_string()) != std::string::npos;
    case Value::Kind::LIST:
      return std::any_of(haystack.items().begin(), haystack.items().end(), [&](const Value& v) { return equals(v, needle); });
    case Value::Kind::DICT: return haystack.entries().find(needle) != nullptr;
    default: throw std::runtime_error("argument of type '" + haystack.type_name() + "' is not iterable");
  }
}

namespace {

const Value& test_arg(const CallArgs& a, const std::string& test) {
  if (a.positional.empty()) throw std::runtime_error("test '" + test + "' needs an argument");
  return a.positional[0];
}

bool is_lower_or_upper(const Value& v, bool upper) {
  if (!v.is_string()) return false;
  bool cased = false;
  for (char c : v.as_string()) {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      cased = true;
      if ((std::isupper(static_cast<unsigned char>(c)) != 0) != upper) return false;
    }
  }
  return cased;
}

}  // namespace

bool has_test(const std::string& name) {
  static const char* const kTests[] = {"defined", "undefined", "none", "boolean", "true", "false", "integer", "float",
                                       "number", "string", "mapping", "iterable", "sequence", "callable", "sameas",
                                       "equalto", "eq", "==", "ne", "!=", "lt", "<", "le", "<=", "gt", ">", "ge",
                                       ">=", "in", "odd", "even", "divisibleby", "lower", "upper"};
  return std::find(std::begin(kTests), std::end(kTests), name) != std::end(kTests);
}

bool apply_test(const std::string& name, const Value& v, const CallArgs& a) {
  using K = Value::Kind;
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  // Undefined iterates as empty and has a length, so jinja2 calls it iterable and a sequence.
  if (name == "iterable" || name == "sequence")
    return v.kind() == K::UNDEFINED || v.is_string() || v.is_list() || v.is_dict();
  if (name == "callable") return v.is_callable();
  if (name == "sameas") {
    const Value& o = test_arg(a, name);
    if (v.kind() != o.kind()) return false;
    if (v.is_none() || v.is_undefined()) return true;
    if (v.is_bool()) return v.as_bool() == o.as_bool();
    return equals(v, o) && (v.is_int() || v.is_string());
  }
  if (name == "equalto" || name == "eq" || name == "==") return equals(v, test_arg(a, name));
  if (name == "ne" || name == "!=") return !equals(v, test_arg(a, name));
  if (name == "in") return contains(test_arg(a, name), v);
  if (name == "odd" || name == "even" || name == "divisibleby") {
    if (!v.is_int()) throw std::runtime_error("test '" + name + "' needs an integer");
    const int64_t d = name == "divisibleby" ? test_arg(a, name).as_int() : 2;
    if (d == 0) throw std::runtime_error("integer division or modulo by zero");
    const bool divisible = v.as_int() % d == 0;
    return name == "odd" ? !divisible : divisible;
  }
  if (name == "lower" || name == "upper") return is_lower_or_upper(v, name == "upper");
  const Value& o = test_arg(a, name);
  if (!((v.is_number() && o.is_number()) || (v.is_string() && o.is_string())))
    throw std::runtime_error("test '" + name + "' compares numbers or strings");
  const int c = v.is_string() ? v.as_string().compare(o.as_string())
                              : (v.as_double() < o.as_double() ? -1 : v.as_double() > o.as_double() ? 1 : 0);
  if (name == "lt" || name == "<") return c < 0;
  if (name == "le" || name == "<=") return c <= 0;
  if (name == "gt" || name == ">") return c > 0;
  return c >= 0;
}

}  // namespace swapmoe::jinja
