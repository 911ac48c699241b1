// jinja2's filters, with transformers' tojson (json.dumps with ensure_ascii=False by default
// and indent/separators/sort_keys passed through, no HTML escaping).
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <stdexcept>

#include "chat/jinja_builtins.h"
#include "chat/jinja_unicode.h"

namespace swapmoe::jinja {

namespace {

using Filter = Value (*)(const Value& input, const CallArgs& args);


bool given(const Value& v) { return !v.is_undefined(); }

// An attribute path as make_attrgetter reads it: "a.b", integer parts index lists.
Value attribute_path(const Value& item, const std::string& path) {
  Value v = item;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    int64_t index = 0;
    if (numeric && std::from_chars(part.data(), part.data() + part.size(), index).ec != std::errc())
      throw std::runtime_error("attribute index '" + part + "' is too large");
    v = get_item(v, numeric ? Value::integer(index) : Value::string(part));
    if (dot == std::string::npos) return v;
    start = dot + 1;
  }
}

Value tojson(const Value& v, const CallArgs& a) {
  JsonDumpOptions o;
  const Value& ensure_ascii = argument(a, 0, "ensure_ascii");
  if (given(ensure_ascii)) o.ensure_ascii = ensure_ascii.truthy();
  const Value& indent = argument(a, 1, "indent");
  if (indent.is_int()) {
    check_string_size(static_cast<size_t>(std::max<int64_t>(indent.as_int(), 0)));
    o.indent = static_cast<int>(std::max<int64_t>(indent.as_int(), -1));
  }
  else if (indent.is_string()) o.indent_text = indent.as_string(), o.indent = 0;
  if (o.indent >= 0) o.item_separator = ",";  // json.dumps' default separators with an indent
  const Value& separators = argument(a, 2, "separators");
  if (separators.is_list() && separators.items().size() == 2) {
    o.item_separator = separators.items()[0].str();
    o.key_separator = separators.items()[1].str();
  }
  o.sort_keys = argument(a, 3, "sort_keys").truthy();
  return Value::string(dump_json(v, o));
}

Value identity(const Value& v, const CallArgs&) { return v; }
Value to_string(const Value& v, const CallArgs&) { return Value::string(v.str()); }
Value length(const Value& v, const CallArgs&) { return Value::integer(length_of(v)); }

Value trim(const Value& v, const CallArgs& a) {
  const Value& chars = argument(a, 0, "chars");
  return Value::string(strip_python(v.str(), chars.is_string() ? &chars.as_string() : nullptr, true, true));
}

Value default_value(const Value& v, const CallArgs& a) {
  const bool boolean = argument(a, 1, "boolean").truthy();
  if (v.is_undefined() || (boolean && !v.truthy())) {
    const Value& d = argument(a, 0, "default_value");
    return given(d) ? d : Value::string("");
  }
  return v;
}

Value join(const Value& v, const CallArgs& a) {
  const std::string sep = given(argument(a, 0, "d")) ? argument(a, 0, "d").str() : "";
  const Value& attribute = argument(a, 1, "attribute");
  std::string out;
  bool first = true;
  for (const Value& item : iterate(v)) {
    out += (first ? "" : sep) + (given(attribute) ? attribute_path(item, attribute.str()) : item).str();
    check_string_size(out.size());
    first = false;
  }
  return Value::string(out);
}

Value to_list(const Value& v, const CallArgs&) { return Value::list(iterate(v)); }

Value items(const Value& v, const CallArgs&) {
  if (v.is_undefined()) return Value::list();
  if (!v.is_dict()) throw std::runtime_error("Can only get item pairs from a mapping.");
  List out;
  for (const auto& [k, e] : v.entries().entries) out.push_back(Value::list({k, e}, true));
  return Value::list(std::move(out));
}

// select/reject/selectattr/rejectattr: keep items whose test (or truthiness) gives `keep`.
Value filter_items(const Value& v, const CallArgs& a, bool by_attribute, bool keep) {
  const size_t test_at = by_attribute ? 1 : 0;
  if (by_attribute && a.positional.empty()) throw std::runtime_error("selectattr/rejectattr need an attribute name");
  const std::string test = a.positional.size() > test_at ? a.positional[test_at].str() : "";
  if (!test.empty() && !has_test(test)) throw std::runtime_error("no test named '" + test + "'");
  CallArgs test_args;
  for (size_t i = test_at + 1; i < a.positional.size(); ++i) test_args.positional.push_back(a.positional[i]);
  List out;
  for (const Value& item : iterate(v)) {
    const Value subject = by_attribute ? attribute_path(item, a.positional[0].str()) : item;
    const bool passed = test.empty() ? subject.truthy() : apply_test(test, subject, test_args);
    if (passed == keep) out.push_back(item);
  }
  return Value::list(std::move(out));
}
Value select(const Value& v, const CallArgs& a) { return filter_items(v, a, false, true); }
Value reject(const Value& v, const CallArgs& a) { return filter_items(v, a, false, false); }
Value selectattr(const Value& v, const CallArgs& a) { return filter_items(v, a, true, true); }
Value rejectattr(const Value& v, const CallArgs& a) { return filter_items(v, a, true, false); }

Value map_items(const Value& v, const CallArgs& a) {
  List out;
  const Value& attribute = argument(a, 99, "attribute");
  if (given(attribute)) {
    const Value& fallback = argument(a, 99, "default");
    for (const Value& item : iterate(v)) {
      Value x = attribute_path(item, attribute.str());
      out.push_back(x.is_undefined() && given(fallback) ? fallback : x);
    }
    return Value::list(std::move(out));
  }
  if (a.positional.empty()) throw std::runtime_error("map() needs a filter name or attribute=");
  const std::string filter = a.positional[0].str();
  if (!has_filter(filter)) throw std::runtime_error("no filter named '" + filter + "'");
  CallArgs rest;
  rest.positional.assign(a.positional.begin() + 1, a.positional.end());
  rest.keywords = a.keywords;
  for (const Value& item : iterate(v)) out.push_back(apply_filter(filter, item, rest));
  return Value::list(std::move(out));
}

Value first(const Value& v, const CallArgs&) {
  const List l = iterate(v);
  return l.empty() ? Value::undefined("No first item, sequence was empty.") : l.front();
}
Value last(const Value& v, const CallArgs&) {
  const List l = iterate(v);
  return l.empty() ? Value::undefined("No last item, sequence was empty.") : l.back();
}

Value upper(const Value& v, const CallArgs&) { return method_of(Value::string(v.str()), "upper").call({}); }
Value lower(const Value& v, const CallArgs&) { return method_of(Value::string(v.str()), "lower").call({}); }
Value capitalize(const Value& v, const CallArgs&) { return method_of(Value::string(v.str()), "capitalize").call({}); }
Value title(const Value& v, const CallArgs&) { return method_of(Value::string(v.str()), "title").call({}); }

Value replace(const Value& v, const CallArgs& a) {
  CallArgs m;
  m.positional = {Value::string(argument(a, 0, "old").str()), Value::string(argument(a, 1, "new").str())};
  if (given(argument(a, 2, "count"))) m.positional.push_back(argument(a, 2, "count"));
  return method_of(Value::string(v.str()), "replace").call(m);
}

Value unique(const Value& v, const CallArgs&) {
  List out;
  for (const Value& item : iterate(v))
    if (std::none_of(out.begin(), out.end(), [&](const Value& o) { return equals(o, item); })) out.push_back(item);
  return Value::list(std::move(out));
}

bool less(const Value& x, const Value& y) {
  if (x.is_number() && y.is_number()) return x.as_double() < y.as_double();
  if (x.is_string() && y.is_string()) return x.as_string() < y.as_string();
  throw std::runtime_error("cannot order " + x.type_name() + " and " + y.type_name());
}

Value sort(const Value& v, const CallArgs& a) {
  List l = iterate(v);
  const bool reverse = argument(a, 0, "reverse").truthy();
  const Value& attribute = argument(a, 2, "attribute");
  auto key = [&](const Value& x) { return given(attribute) ? attribute_path(x, attribute.str()) : x; };
  std::stable_sort(l.begin(), l.end(), [&](const Value& x, const Value& y) { return reverse ? less(key(y), key(x)) : less(key(x), key(y)); });
  return Value::list(std::move(l));
}

Value dictsort(const Value& v, const CallArgs& a) {
  Value pairs = items(v, {});
  List l = pairs.items();
  const bool by_value = argument(a, 1, "by").str() == "value";
  const bool reverse = argument(a, 2, "reverse").truthy();
  std::stable_sort(l.begin(), l.end(), [&](const Value& x, const Value& y) {
    const Value& kx = x.items()[by_value ? 1 : 0];
    const Value& ky = y.items()[by_value ? 1 : 0];
    return reverse ? less(ky, kx) : less(kx, ky);
  });
  return Value::list(std::move(l));
}

Value reverse(const Value& v, const CallArgs&) {
  if (v.is_string()) {
    std::vector<char32_t> cps = decode_utf8(v.as_string());
    std::reverse(cps.begin(), cps.end());
    return Value::string(encode_utf8(cps, 0, cps.size()));
  }
  List l = iterate(v);
  std::reverse(l.begin(), l.end());
  return Value::list(std::move(l));
}

Value indent(const Value& v, const CallArgs& a) {
  const Value& width = argument(a, 0, "width");
  const int64_t n_spaces = width.is_string() ? 0 : given(width) ? std::max<int64_t>(width.as_int(), 0) : 4;
  check_string_size(static_cast<size_t>(n_spaces));
  const std::string pad = width.is_string() ? width.as_string() : std::string(static_cast<size_t>(n_spaces), ' ');
  const bool indent_first = argument(a, 1, "first").truthy(), blank = argument(a, 2, "blank").truthy();
  const std::string s = v.str();
  std::string out;
  size_t start = 0;
  bool first_line = true;
  while (start <= s.size()) {
    const size_t nl = s.find('\n', start);
    const std::string line = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    if ((!first_line || indent_first) && (blank || !line.empty())) out += pad;
    out += line;
    check_string_size(out.size());
    if (nl == std::string::npos) break;
    out += '\n';
    start = nl + 1;
    first_line = false;
  }
  return Value::string(out);
}

// int(d) for a float: Python's ints have no bound, swapmoe's are 64-bit.
Value float_to_int(double d) {
  if (!std::isfinite(d)) throw std::runtime_error("cannot convert float " + python_float_repr(d) + " to integer");
  if (!(d > -0x1p63 && d < 0x1p63)) throw std::runtime_error("integer overflow: int() of " + python_float_repr(d));
  return Value::integer(static_cast<int64_t>(d));
}

Value to_int(const Value& v, const CallArgs& a) {
  const Value& fallback = argument(a, 0, "default");
  if (v.is_int() || v.is_bool()) return Value::integer(v.as_int());
  if (v.is_float()) return float_to_int(v.as_double());
  if (v.is_string()) {
    try {
      size_t used = 0;
      const std::string s = strip_python(v.as_string(), nullptr, true, true);
      const int64_t i = std::stoll(s, &used);
      if (used == s.size()) return Value::integer(i);
      const double d = std::stod(s, &used);
      if (used == s.size() && !std::isnan(d)) return float_to_int(d);
    } catch (const std::logic_error&) {  // std::stoll and std::stod: no number, or out of range
    }
  }
  return given(fallback) ? fallback : Value::integer(0);
}

Value to_float(const Value& v, const CallArgs& a) {
  if (v.is_number()) return Value::number(v.as_double());
  if (v.is_string()) {
    try {
      size_t used = 0;
      const std::string s = strip_python(v.as_string(), nullptr, true, true);
      const double d = std::stod(s, &used);
      if (used == s.size()) return Value::number(d);
    } catch (const std::exception&) {
    }
  }
  const Value& fallback = argument(a, 0, "default");
  return given(fallback) ? fallback : Value::number(0.0);
}

Value absolute(const Value& v, const CallArgs&) {
  if (v.is_float()) return Value::number(std::fabs(v.as_double()));
  if (v.is_number()) {
    if (v.as_int() == INT64_MIN) throw std::runtime_error("integer overflow in abs()");
    return Value::integer(std::llabs(v.as_int()));
  }
  throw std::runtime_error("bad operand type for abs(): '" + v.type_name() + "'");
}

Value sum(const Value& v, const CallArgs& a) {
  const Value& attribute = argument(a, 0, "attribute");
  Value total = given(argument(a, 1, "start")) ? argument(a, 1, "start") : Value::integer(0);
  for (const Value& item : iterate(v)) {
    const Value x = given(attribute) ? attribute_path(item, attribute.str()) : item;
    if (!x.is_number() || !total.is_number()) throw std::runtime_error("sum() adds numbers");
    total = x.is_float() || total.is_float() ? Value::number(total.as_double() + x.as_double())
                                              : Value::integer(int_op('+', total.as_int(), x.as_int()));
  }
  return total;
}

Value extreme(const Value& v, bool want_max) {
  const List l = iterate(v);
  if (l.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  Value best = l[0];
  for (const Value& x : l)
    if (want_max ? less(best, x) : less(x, best)) best = x;
  return best;
}
Value max_of(const Value& v, const CallArgs&) { return extreme(v, true); }
Value min_of(const Value& v, const CallArgs&) { return extreme(v, false); }

Value escape(const Value& v, const CallArgs&) {
  std::string out;
  for (char c : v.str()) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return Value::string(out);
}

Value attr(const Value& v, const CallArgs& a) { return get_attribute(v, argument(a, 0, "name").str()); }

const std::map<std::string, Filter>& filters() {
  static const std::map<std::string, Filter> kFilters = {
      {"tojson", tojson},       {"safe", identity},         {"string", to_string},   {"length", length},
      {"count", length},        {"trim", trim},             {"default", default_value}, {"d", default_value},
      {"join", join},           {"list", to_list},          {"items", items},        {"select", select},
      {"reject", reject},       {"selectattr", selectattr}, {"rejectattr", rejectattr}, {"map", map_items},
      {"first", first},         {"last", last},             {"upper", upper},        {"lower", lower},
      {"capitalize", capitalize}, {"title", title},         {"replace", replace},    {"unique", unique},
      {"sort", sort},           {"dictsort", dictsort},     {"reverse", reverse},    {"indent", indent},
      {"int", to_int},          {"float", to_float},        {"abs", absolute},       {"sum", sum},
      {"max", max_of},          {"min", min_of},            {"escape", escape},      {"e", escape},
      {"attr", attr},
  };
  return kFilters;
}

}  // namespace

bool has_filter(const std::string& name) { return filters().count(name) != 0; }

Value apply_filter(const std::string& name, const Value& input, const CallArgs& args) {
  return filters().at(name)(input, args);
}

}  // namespace swapmoe::jinja
