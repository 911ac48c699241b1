// jinja2's filters and tests, and the methods of str, dict and list that templates call, with
// the behaviour of Python and of transformers' overrides (tojson without HTML escaping).
// Failures throw std::runtime_error; the evaluator adds where in the template it happened.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "chat/jinja_value.h"

namespace swapmoe::jinja {

// The argument at `position`, else the keyword `name`, else undefined: how Python binds a
// parameter that may be passed either way.
const Value& argument(const CallArgs& args, size_t position, const char* name);

bool has_filter(const std::string& name);
Value apply_filter(const std::string& name, const Value& input, const CallArgs& args);

bool has_test(const std::string& name);
bool apply_test(const std::string& name, const Value& input, const CallArgs& args);

// jinja2's getattr (`a.b`): the object's attribute, methods included, then its item.
Value get_attribute(const Value& object, const std::string& name);
// jinja2's getitem (`a[b]`): the item, then for a string key the attribute.
Value get_item(const Value& object, const Value& key);

// `object.name` as a bound method when the object's type has that method; undefined otherwise.
Value method_of(const Value& object, const std::string& name);

// Python's `needle in haystack` (undefined holds nothing).
bool contains(const Value& haystack, const Value& needle);

// Items a for loop visits: list items, dict keys, string characters; undefined gives none.
List iterate(const Value& v);

// len(); throws for values without a length.
int64_t length_of(const Value& v);

// Integer arithmetic. Python's ints have no bound; swapmoe's are 64-bit, and a result outside
// them is an error rather than a wrapped number (or undefined behaviour).
inline int64_t int_op(char op, int64_t a, int64_t b) {
  int64_t r = 0;
  const bool overflow = op == '+'   ? __builtin_add_overflow(a, b, &r)
                        : op == '-' ? __builtin_sub_overflow(a, b, &r)
                                    : __builtin_mul_overflow(a, b, &r);
  if (overflow)
    throw std::runtime_error(std::to_string(a) + " " + op + " " + std::to_string(b) +
                             " overflows swapmoe's 64-bit integers");
  return r;
}

}  // namespace swapmoe::jinja
