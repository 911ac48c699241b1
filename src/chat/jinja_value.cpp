#include "chat/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "chat/jinja_unicode.h"

namespace swapmoe::jinja {

// ---- limits ----------------------------------------------------------------------------------

void check_string_size(size_t n_bytes) {
  if (n_bytes > k_max_string_bytes)
    throw std::runtime_error(fmt::format("the template built a string of more than {} MiB", k_max_string_bytes >> 20));
}

namespace {

// The meter of the rendering running on this thread; null outside one.
thread_local std::shared_ptr<ValueMeter::Counts> t_meter;

// `object` on the heap, its bytes counted by the thread's meter until it is freed.
template <class T>
std::shared_ptr<T> counted(T object, size_t n_bytes) {
  std::shared_ptr<ValueMeter::Counts> m = t_meter;
  if (!m) return std::make_shared<T>(std::move(object));
  if (n_bytes > k_max_live_bytes - m->live)
    throw std::runtime_error(fmt::format("the template holds more than {} MiB of values", k_max_live_bytes >> 20));
  if (n_bytes > k_max_created_bytes - m->created)
    throw std::runtime_error(fmt::format("the template built more than {} MiB of values: it grows or loops without end",
                                         k_max_created_bytes >> 20));
  m->live += n_bytes;
  m->created += n_bytes;
  return std::shared_ptr<T>(new T(std::move(object)), [m, n_bytes](T* p) {
    m->live -= n_bytes;
    delete p;
  });
}

// Depth and namespaces of a container from its direct members, which carry theirs.
void add_member(int& depth, bool& holds_namespace, const Value& member) {
  depth = std::max(depth, member.depth() + 1);
  holds_namespace = holds_namespace || member.holds_namespace() || member.is_namespace();
}

void check_depth(int depth) {
  if (depth > k_max_value_depth)
    throw std::runtime_error(fmt::format("the template nests lists and dicts more than {} deep", k_max_value_depth));
}

const std::string k_empty;

}  // namespace

ValueMeter::ValueMeter() : counts_(std::make_shared<Counts>()), previous_(std::move(t_meter)) { t_meter = counts_; }
ValueMeter::~ValueMeter() { t_meter = std::move(previous_); }

// ---- values ----------------------------------------------------------------------------------

const Value* Dict::find(const Value& key) const {
  for (const auto& [k, v] : entries)
    if (equals(k, key)) return &v;
  return nullptr;
}

Value* Dict::find(const Value& key) {
  for (auto& [k, v] : entries)
    if (equals(k, key)) return &v;
  return nullptr;
}

void Dict::set(const Value& key, Value value) {
  if (Value* v = find(key))
    *v = std::move(value);
  else
    entries.emplace_back(key, std::move(value));
}

Value Value::undefined(std::string name) {
  Value v;
  if (!name.empty()) v.s_ = std::make_shared<const std::string>(std::move(name));
  return v;
}

Value Value::none() {
  Value v;
  v.kind_ = Kind::NONE;
  return v;
}

Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::BOOL;
  v.b_ = b;
  return v;
}

Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::INT;
  v.i_ = i;
  return v;
}

Value Value::number(double d) {
  Value v;
  v.kind_ = Kind::FLOAT;
  v.f_ = d;
  return v;
}

Value Value::string(std::string s) {
  check_string_size(s.size());
  Value v;
  v.kind_ = Kind::STRING;
  const size_t n = s.size();
  v.s_ = counted<const std::string>(std::move(s), n);
  return v;
}

Value Value::list(List items, bool tuple) {
  Value v;
  v.kind_ = Kind::LIST;
  v.tuple_ = tuple;
  v.depth_ = 1;
  for (const Value& item : items) add_member(v.depth_, v.holds_namespace_, item);
  check_depth(v.depth_);
  const size_t n = items.size() * sizeof(Value);
  v.list_ = counted<List>(std::move(items), n);
  return v;
}

Value Value::dict(Dict d) {
  Value v;
  v.kind_ = Kind::DICT;
  v.depth_ = 1;
  for (const auto& [key, value] : d.entries) {
    add_member(v.depth_, v.holds_namespace_, key);
    add_member(v.depth_, v.holds_namespace_, value);
  }
  check_depth(v.depth_);
  const size_t n = d.entries.size() * 2 * sizeof(Value);
  v.dict_ = counted<Dict>(std::move(d), n);
  return v;
}

Value Value::namespace_object(Dict attributes) {
  Value v = dict(std::move(attributes));
  if (v.holds_namespace_) throw std::runtime_error("a namespace cannot hold another namespace in swapmoe");
  v.kind_ = Kind::NAMESPACE;
  return v;
}

Value Value::function(std::string name, Function f, const Value* bound) {
  Value v;
  v.kind_ = Kind::CALLABLE;
  v.s_ = std::make_shared<const std::string>(std::move(name));
  v.fn_ = std::make_shared<Function>(std::move(f));
  if (bound) {
    add_member(v.depth_, v.holds_namespace_, *bound);
    check_depth(v.depth_);
  }
  return v;
}

const std::string& Value::as_string() const { return s_ ? *s_ : k_empty; }

Value Value::from_json(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return none();
    case nlohmann::ordered_json::value_t::boolean: return boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: return integer(static_cast<int64_t>(j.get<uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float: return number(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      List items;
      for (const auto& e : j) items.push_back(from_json(e));
      return list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Dict d;
      for (const auto& [k, e] : j.items()) d.entries.emplace_back(string(k), from_json(e));
      return dict(std::move(d));
    }
    default: return undefined();
  }
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::UNDEFINED:
    case Kind::NONE: return false;
    case Kind::BOOL: return b_;
    case Kind::INT: return i_ != 0;
    case Kind::FLOAT: return f_ != 0;
    case Kind::STRING: return !as_string().empty();
    case Kind::LIST: return !list_->empty();
    case Kind::DICT: return !dict_->entries.empty();
    default: return true;
  }
}

std::string python_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  const std::string sci(buf, res.ptr);  // "-1.2345e+05": shortest round-trip digits
  const size_t e_pos = sci.find('e');
  const int exponent = std::stoi(sci.substr(e_pos + 1));
  std::string mantissa = sci.substr(0, e_pos);
  const bool negative = mantissa[0] == '-';
  if (negative) mantissa.erase(0, 1);
  std::string digits;
  for (char c : mantissa)
    if (c != '.') digits += c;
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out += "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    } else if (static_cast<size_t>(exponent) + 1 >= digits.size()) {
      out += digits + std::string(exponent + 1 - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, exponent + 1) + "." + digits.substr(exponent + 1);
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  return out + fmt::format("e{}{:02d}", exponent < 0 ? '-' : '+', std::abs(exponent));
}

namespace {

std::string repr_string(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos, has_double = s.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (char32_t cp : decode_utf8(s)) {
    if (cp == static_cast<char32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp < 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0xAD) {
      out += fmt::format("\\x{:02x}", static_cast<uint32_t>(cp));
    } else if (cp == 0x2028 || cp == 0x2029) {
      out += fmt::format("\\u{:04x}", static_cast<uint32_t>(cp));
    } else {
      append_utf8(out, cp);
    }
  }
  return out + quote;
}

}  // namespace

std::string Value::repr() const {
  switch (kind_) {
    case Kind::STRING: return repr_string(as_string());
    case Kind::LIST: {
      std::string out = tuple_ ? "(" : "[";
      for (size_t i = 0; i < list_->size(); ++i) {
        out += (i ? ", " : "") + (*list_)[i].repr();
        check_string_size(out.size());
      }
      if (tuple_ && list_->size() == 1) out += ",";
      return out + (tuple_ ? ")" : "]");
    }
    case Kind::DICT: {
      std::string out = "{";
      for (size_t i = 0; i < dict_->entries.size(); ++i) {
        out += (i ? ", " : "") + dict_->entries[i].first.repr() + ": " + dict_->entries[i].second.repr();
        check_string_size(out.size());
      }
      return out + "}";
    }
    default: return str();
  }
}

std::string Value::str() const {
  switch (kind_) {
    case Kind::UNDEFINED: return "";
    case Kind::NONE: return "None";
    case Kind::BOOL: return b_ ? "True" : "False";
    case Kind::INT: return std::to_string(i_);
    case Kind::FLOAT: return python_float_repr(f_);
    case Kind::STRING: return as_string();
    case Kind::NAMESPACE: return "<Namespace>";
    case Kind::CALLABLE: return "<function " + as_string() + ">";
    default: return repr();
  }
}

std::string Value::type_name() const {
  switch (kind_) {
    case Kind::UNDEFINED: return "Undefined";
    case Kind::NONE: return "NoneType object";
    case Kind::BOOL: return "bool object";
    case Kind::INT: return "int object";
    case Kind::FLOAT: return "float object";
    case Kind::STRING: return "str object";
    case Kind::LIST: return tuple_ ? "tuple object" : "list object";
    case Kind::DICT: return "dict object";
    case Kind::NAMESPACE: return "Namespace object";
    default: return "function object";
  }
}

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::UNDEFINED:
    case Value::Kind::NONE: return true;
    case Value::Kind::STRING: return a.as_string() == b.as_string();
    case Value::Kind::LIST: {
      if (a.items().size() != b.items().size()) return false;
      for (size_t i = 0; i < a.items().size(); ++i)
        if (!equals(a.items()[i], b.items()[i])) return false;
      return true;
    }
    case Value::Kind::DICT: {
      if (a.entries().entries.size() != b.entries().entries.size()) return false;
      for (const auto& [k, v] : a.entries().entries) {
        const Value* other = b.entries().find(k);
        if (!other || !equals(v, *other)) return false;
      }
      return true;
    }
    default: return &a.entries() == &b.entries();
  }
}

namespace {

void dump_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  for (char32_t cp : decode_utf8(s)) {
    switch (cp) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (cp < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<uint32_t>(cp));
        } else if (ensure_ascii && cp > 0x7F) {
          if (cp > 0xFFFF) {  // a surrogate pair, as Python writes it
            const char32_t v = cp - 0x10000;
            out += fmt::format("\\u{:04x}\\u{:04x}", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
          } else {
            out += fmt::format("\\u{:04x}", static_cast<uint32_t>(cp));
          }
        } else {
          append_utf8(out, cp);
        }
    }
  }
  out += '"';
}

std::string json_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return python_float_repr(d);
}

// The text json.dumps uses for a dict key: strings as they are, other scalars converted.
std::string json_key(const Value& key) {
  switch (key.kind()) {
    case Value::Kind::STRING: return key.as_string();
    case Value::Kind::BOOL: return key.as_bool() ? "true" : "false";
    case Value::Kind::NONE: return "null";
    case Value::Kind::INT: return std::to_string(key.as_int());
    case Value::Kind::FLOAT: return json_float(key.as_double());
    default: throw std::runtime_error("keys must be str, int, float, bool or None, not " + key.type_name());
  }
}

void dump(std::string& out, const Value& v, const JsonDumpOptions& o, int depth) {
  const bool pretty = o.indent >= 0 || !o.indent_text.empty();
  const std::string unit = !o.indent_text.empty() ? o.indent_text : std::string(std::max(o.indent, 0), ' ');
  auto newline = [&](int level) {
    out += '\n';
    for (int i = 0; i < level; ++i) {
      out += unit;
      check_string_size(out.size());
    }
  };
  switch (v.kind()) {
    case Value::Kind::NONE: out += "null"; return;
    case Value::Kind::BOOL: out += v.as_bool() ? "true" : "false"; return;
    case Value::Kind::INT: out += std::to_string(v.as_int()); return;
    case Value::Kind::FLOAT: out += json_float(v.as_double()); return;
    case Value::Kind::STRING: dump_string(out, v.as_string(), o.ensure_ascii); return;
    case Value::Kind::LIST: {
      if (v.items().empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < v.items().size(); ++i) {
        if (i) out += o.item_separator;
        if (pretty) newline(depth + 1);
        dump(out, v.items()[i], o, depth + 1);
        check_string_size(out.size());
      }
      if (pretty) newline(depth);
      out += ']';
      return;
    }
    case Value::Kind::DICT: {
      if (v.entries().entries.empty()) {
        out += "{}";
        return;
      }
      std::vector<std::pair<std::string, const Value*>> items;
      for (const auto& [k, e] : v.entries().entries) items.emplace_back(json_key(k), &e);
      if (o.sort_keys)
        std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      out += '{';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += o.item_separator;
        if (pretty) newline(depth + 1);
        dump_string(out, items[i].first, o.ensure_ascii);
        out += o.key_separator;
        dump(out, *items[i].second, o, depth + 1);
        check_string_size(out.size());
      }
      if (pretty) newline(depth);
      out += '}';
      return;
    }
    default:
      throw std::runtime_error("Object of type " + v.type_name() + " is not JSON serializable");
  }
}

}  // namespace

std::string dump_json(const Value& value, const JsonDumpOptions& options) {
  std::string out;
  dump(out, value, options, 0);
  return out;
}

}  // namespace swapmoe::jinja
