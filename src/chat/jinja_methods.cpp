// Methods templates call on values: str (split, strip, startswith...), dict (get, items...).
// Lists get none: transformers renders in an immutable sandbox where append() is refused.
#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "chat/jinja_builtins.h"
#include "chat/jinja_unicode.h"

namespace swapmoe::jinja {

namespace {


std::string string_arg(const CallArgs& a, size_t i, const char* name, const char* method) {
  const Value& v = argument(a, i, name);
  if (!v.is_string()) throw std::runtime_error(std::string(method) + "() argument '" + name + "' must be a string");
  return v.as_string();
}

List split_whitespace(const std::string& s, int64_t maxsplit, bool from_right) {
  const std::vector<char32_t> cps = decode_utf8(s);
  std::vector<std::pair<size_t, size_t>> words;
  for (size_t i = 0; i < cps.size();) {
    while (i < cps.size() && is_python_space(cps[i])) ++i;
    if (i == cps.size()) break;
    size_t j = i;
    while (j < cps.size() && !is_python_space(cps[j])) ++j;
    words.emplace_back(i, j);
    i = j;
  }
  List out;
  if (maxsplit < 0 || static_cast<size_t>(maxsplit) + 1 >= words.size()) {
    for (auto [b, e] : words) out.push_back(Value::string(encode_utf8(cps, b, e)));
    return out;
  }
  const auto m = static_cast<size_t>(maxsplit);
  if (!from_right) {
    for (size_t k = 0; k < m; ++k) out.push_back(Value::string(encode_utf8(cps, words[k].first, words[k].second)));
    out.push_back(Value::string(encode_utf8(cps, words[m].first, cps.size())));  // the tail as it is
    return out;
  }
  const size_t keep = words.size() - m;
  out.push_back(Value::string(encode_utf8(cps, 0, words[keep - 1].second)));
  for (size_t k = keep; k < words.size(); ++k)
    out.push_back(Value::string(encode_utf8(cps, words[k].first, words[k].second)));
  return out;
}

List split_on(const std::string& s, const std::string& sep, int64_t maxsplit, bool from_right) {
  if (sep.empty()) throw std::runtime_error("empty separator");
  std::vector<std::string> parts;
  if (!from_right) {
    size_t start = 0;
    for (int64_t n = 0; maxsplit < 0 || n < maxsplit; ++n) {
      const size_t at = s.find(sep, start);
      if (at == std::string::npos) break;
      parts.push_back(s.substr(start, at - start));
      start = at + sep.size();
    }
    parts.push_back(s.substr(start));
  } else {
    size_t end = s.size();
    for (int64_t n = 0; maxsplit < 0 || n < maxsplit; ++n) {
      if (end < sep.size()) break;
      const size_t at = s.rfind(sep, end - sep.size());
      if (at == std::string::npos) break;
      parts.push_back(s.substr(at + sep.size(), end - at - sep.size()));
      end = at;
    }
    parts.push_back(s.substr(0, end));
    std::reverse(parts.begin(), parts.end());
  }
  List out;
  for (std::string& p : parts) out.push_back(Value::string(std::move(p)));
  return out;
}

std::string ascii_case(std::string s, bool upper) {
  for (char& c : s) c = static_cast<char>(upper ? std::toupper(static_cast<unsigned char>(c)) : std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// str.title(): a letter after a non-letter is upper case, other letters lower case.
std::string title_case(const std::string& s) {
  std::string out = s;
  bool prev_letter = false;
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    c = static_cast<char>(prev_letter ? std::tolower(u) : std::toupper(u));
    prev_letter = std::isalpha(u) != 0;
  }
  return out;
}

bool affix_matches(const std::string& s, const Value& affix, bool prefix, const char* method) {
  auto one = [&](const Value& a) {
    if (!a.is_string()) throw std::runtime_error(std::string(method) + "() takes a string or a tuple of strings");
    const std::string& t = a.as_string();
    if (t.size() > s.size()) return false;
    return prefix ? s.compare(0, t.size(), t) == 0 : s.compare(s.size() - t.size(), t.size(), t) == 0;
  };
  if (affix.is_list()) return std::any_of(affix.items().begin(), affix.items().end(), one);
  return one(affix);
}

int64_t int_arg(const CallArgs& a, size_t i, const char* name, int64_t fallback) {
  const Value& v = argument(a, i, name);
  if (v.is_undefined() || v.is_none()) return fallback;
  if (!v.is_int()) throw std::runtime_error(std::string("argument '") + name + "' must be an integer");
  return v.as_int();
}

Value string_method(const std::string& s, const std::string& name, const CallArgs& a) {
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const Value& chars = argument(a, 0, "chars");
    const std::string* set = chars.is_string() ? &chars.as_string() : nullptr;
    return Value::string(strip_python(s, set, name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    const Value& sep = argument(a, 0, "sep");
    const int64_t maxsplit = int_arg(a, 1, "maxsplit", -1);
    if (sep.is_undefined() || sep.is_none()) return Value::list(split_whitespace(s, maxsplit, name == "rsplit"));
    return Value::list(split_on(s, string_arg(a, 0, "sep", name.c_str()), maxsplit, name == "rsplit"));
  }
  if (name == "startswith" || name == "endswith") return Value::boolean(affix_matches(s, argument(a, 0, "prefix"), name == "startswith", name.c_str()));
  if (name == "upper" || name == "lower") return Value::string(ascii_case(s, name == "upper"));
  if (name == "title") return Value::string(title_case(s));
  if (name == "capitalize") {
    std::string out = ascii_case(s, false);
    if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
    return Value::string(out);
  }
  if (name == "replace") {
    const std::string from = string_arg(a, 0, "old", "replace"), to = string_arg(a, 1, "new", "replace");
    int64_t count = int_arg(a, 2, "count", -1);
    std::string out;
    size_t pos = 0;
    if (from.empty()) throw std::runtime_error("replace() with an empty string is not supported");
    while (count != 0) {
      const size_t at = s.find(from, pos);
      if (at == std::string::npos) break;
      out += s.substr(pos, at - pos) + to;
      check_string_size(out.size());
      pos = at + from.size();
      --count;
    }
    return Value::string(out + s.substr(pos));
  }
  if (name == "find" || name == "rfind" || name == "count") {
    const std::string sub = string_arg(a, 0, "sub", name.c_str());
    if (name == "count") {
      int64_t n = 0;
      for (size_t at = s.find(sub); at != std::string::npos && !sub.empty(); at = s.find(sub, at + sub.size())) ++n;
      return Value::integer(sub.empty() ? static_cast<int64_t>(decode_utf8(s).size()) + 1 : n);
    }
    const size_t at = name == "find" ? s.find(sub) : s.rfind(sub);
    return Value::integer(at == std::string::npos ? -1 : static_cast<int64_t>(decode_utf8(s.substr(0, at)).size()));
  }
  if (name == "join") {
    std::string out;
    bool first = true;
    for (const Value& v : iterate(argument(a, 0, "iterable"))) {
      if (!v.is_string()) throw std::runtime_error("join() expects strings, found " + v.type_name());
      out += (first ? "" : s) + v.as_string();
      check_string_size(out.size());
      first = false;
    }
    return Value::string(out);
  }
  auto all_of = [&](auto pred) {
    return Value::boolean(!s.empty() && std::all_of(s.begin(), s.end(), [&](char c) { return pred(static_cast<unsigned char>(c)); }));
  };
  if (name == "isdigit") return all_of([](unsigned char c) { return std::isdigit(c) != 0; });
  if (name == "isalpha") return all_of([](unsigned char c) { return std::isalpha(c) != 0; });
  if (name == "isalnum") return all_of([](unsigned char c) { return std::isalnum(c) != 0; });
  if (name == "isspace") return all_of([](unsigned char c) { return std::isspace(c) != 0; });
  if (name == "islower") return Value::boolean(ascii_case(s, false) == s && ascii_case(s, true) != s);
  if (name == "isupper") return Value::boolean(ascii_case(s, true) == s && ascii_case(s, false) != s);
  throw std::runtime_error("str has no method '" + name + "'");
}

Value dict_method(const Value& d, const std::string& name, const CallArgs& a) {
  if (name == "get") {
    const Value* v = d.entries().find(argument(a, 0, "key"));
    if (v) return *v;
    const Value& fallback = argument(a, 1, "default");
    return fallback.is_undefined() ? Value::none() : fallback;
  }
  List out;
  for (const auto& [k, v] : d.entries().entries) {
    if (name == "keys") out.push_back(k);
    else if (name == "values") out.push_back(v);
    else out.push_back(Value::list({k, v}, true));
  }
  return Value::list(std::move(out));
}

bool is_string_method(const std::string& n) {
  static const char* const kNames[] = {"strip", "lstrip", "rstrip", "split", "rsplit", "startswith", "endswith",
                                       "upper", "lower", "title", "capitalize", "replace", "find", "rfind", "count",
                                       "join", "isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper"};
  return std::find(std::begin(kNames), std::end(kNames), n) != std::end(kNames);
}

}  // namespace

Value method_of(const Value& object, const std::string& name) {
  if (object.is_string() && is_string_method(name)) {
    return Value::function(name, [s = object.as_string(), name](const CallArgs& a) { return string_method(s, name, a); });
  }
  if (object.is_dict() && (name == "get" || name == "items" || name == "keys" || name == "values")) {
    return Value::function(name, [object, name](const CallArgs& a) { return dict_method(object, name, a); }, &object);
  }
  return Value::undefined();
}

}  // namespace swapmoe::jinja
