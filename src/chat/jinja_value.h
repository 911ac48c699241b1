// The values a Jinja template computes with, modelled on the Python objects jinja2 sees when
// transformers renders a chat template: None, bool, int, float, str, list, dict, jinja2's
// Undefined, namespace() objects and callables (macros, globals, bound methods). Lists, dicts
// and namespaces are shared by reference, as in Python, so `set ns.x = ...` is seen by every
// holder of `ns`.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace swapmoe::jinja {

// Limits on what a template may build. Templates arrive inside downloaded model files, so a
// broken or hostile one must end in an error, never take the memory, the stack or the time of
// the process (jinja2's sandbox caps range() for the same reason). Real chat templates stay far
// below each of them.
inline constexpr int k_max_value_depth = 128;                       // lists and dicts inside each other
inline constexpr size_t k_max_string_bytes = size_t{1} << 24;       // one string, and the rendering (16 MiB)
inline constexpr size_t k_max_live_bytes = size_t{1} << 27;         // strings, lists, dicts alive at once
inline constexpr size_t k_max_created_bytes = size_t{1} << 29;      // all of them made by one rendering

// Throws std::runtime_error when a string being built grows past k_max_string_bytes.
void check_string_size(size_t n_bytes);

// Counts the bytes of the strings, lists and dicts created on this thread while it exists
// (Template::render holds one per rendering) and throws std::runtime_error past
// k_max_live_bytes or k_max_created_bytes. Values made outside one (the template's literals,
// the conversation) are not counted.
class ValueMeter {
 public:
  ValueMeter();
  ~ValueMeter();
  ValueMeter(const ValueMeter&) = delete;
  ValueMeter& operator=(const ValueMeter&) = delete;

  struct Counts {
    size_t live = 0, created = 0;
  };

 private:
  std::shared_ptr<Counts> counts_;  // shared with the values it counted, which may outlive it
  std::shared_ptr<Counts> previous_;
};

class Value;
using List = std::vector<Value>;

// A Python dict: insertion-ordered, looked up by equality (chat data has few keys).
struct Dict {
  std::vector<std::pair<Value, Value>> entries;
  const Value* find(const Value& key) const;
  Value* find(const Value& key);
  void set(const Value& key, Value value);
};

// Arguments of a call, as written: positional then name=value.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keywords;
};

using Function = std::function<Value(const CallArgs&)>;

class Value {
 public:
  enum class Kind { UNDEFINED, NONE, BOOL, INT, FLOAT, STRING, LIST, DICT, NAMESPACE, CALLABLE };

  Value() = default;  // undefined
  static Value undefined(std::string name = {});
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value number(double d);
  static Value string(std::string s);
  static Value list(List items = {}, bool tuple = false);
  static Value dict(Dict d = {});
  static Value namespace_object(Dict attributes = {});
  // `bound`: the object a bound method keeps (d.items), counted in depth().
  static Value function(std::string name, Function f, const Value* bound = nullptr);
  static Value from_json(const nlohmann::ordered_json& j);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::UNDEFINED; }
  bool is_none() const { return kind_ == Kind::NONE; }
  bool is_bool() const { return kind_ == Kind::BOOL; }
  bool is_int() const { return kind_ == Kind::INT; }
  bool is_float() const { return kind_ == Kind::FLOAT; }
  bool is_number() const { return kind_ == Kind::INT || kind_ == Kind::FLOAT || kind_ == Kind::BOOL; }
  bool is_string() const { return kind_ == Kind::STRING; }
  bool is_list() const { return kind_ == Kind::LIST; }
  bool is_tuple() const { return kind_ == Kind::LIST && tuple_; }
  bool is_dict() const { return kind_ == Kind::DICT; }
  bool is_namespace() const { return kind_ == Kind::NAMESPACE; }
  bool is_callable() const { return kind_ == Kind::CALLABLE; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return kind_ == Kind::BOOL ? (b_ ? 1 : 0) : i_; }
  double as_double() const { return kind_ == Kind::FLOAT ? f_ : static_cast<double>(as_int()); }
  const std::string& as_string() const;  // also the name of an undefined value
  List& items() const { return *list_; }
  Dict& entries() const { return *dict_; }  // dict or namespace
  const std::string& function_name() const { return as_string(); }
  Value call(const CallArgs& args) const { return (*fn_)(args); }

  // Python's bool(x); undefined is false.
  bool truthy() const;
  // Python's str(x) as jinja2 prints it; undefined prints as "".
  std::string str() const;
  // Python's repr(x), which str() of lists and dicts uses for their items.
  std::string repr() const;
  // jinja2's name for the type in messages ("dict object", "str object", ...).
  std::string type_name() const;

  // Containers nested in this value, itself included (0 for a scalar), as they were when it was
  // made: at most k_max_value_depth, so that printing, comparing and freeing it stay off the
  // stack's end. A namespace counts as one, and no namespace may hold another, so it can never
  // come to hold itself.
  int depth() const { return depth_; }
  bool holds_namespace() const { return holds_namespace_; }

 private:
  Kind kind_ = Kind::UNDEFINED;
  bool b_ = false;
  bool tuple_ = false;
  int depth_ = 0;
  bool holds_namespace_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  std::shared_ptr<const std::string> s_;  // shared: copying a Value never copies its text
  std::shared_ptr<List> list_;
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<Function> fn_;
};

// Python ==: 1 == 1.0 == True, lists and dicts by content, undefined equals undefined.
bool equals(const Value& a, const Value& b);

// Python's repr() of a float (shortest round-trip digits, exponent outside 1e-4..1e16).
std::string python_float_repr(double d);

// json.dumps(value, ensure_ascii, indent, separators, sort_keys), as transformers' tojson filter
// calls it. indent < 0: no indent (one line).
struct JsonDumpOptions {
  bool ensure_ascii = false;
  int indent = -1;
  std::string indent_text;  // used instead of `indent` spaces when not empty
  std::string item_separator = ", ", key_separator = ": ";
  bool sort_keys = false;
};
std::string dump_json(const Value& value, const JsonDumpOptions& options);

}  // namespace swapmoe::jinja
