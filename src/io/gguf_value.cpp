// GgufValue: checked accessors and constructors for metadata values.
#include <limits>
#include <string>

#include "core/error.h"
#include "io/gguf.h"
#include "io/gguf_format.h"

namespace swapmoe {

using namespace gguf_format;

const char* gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::UINT8: return "uint8";
    case GgufType::INT8: return "int8";
    case GgufType::UINT16: return "uint16";
    case GgufType::INT16: return "int16";
    case GgufType::UINT32: return "uint32";
    case GgufType::INT32: return "int32";
    case GgufType::FLOAT32: return "float32";
    case GgufType::BOOL: return "bool";
    case GgufType::STRING: return "string";
    case GgufType::ARRAY: return "array";
    case GgufType::UINT64: return "uint64";
    case GgufType::INT64: return "int64";
    case GgufType::FLOAT64: return "float64";
  }
  return "unknown";
}

namespace {

[[noreturn]] void wrong_type(const char* wanted, GgufType actual) {
  fail("gguf_value", std::string("expected ") + wanted + " but the value is " + gguf_type_name(actual),
       "check the key's type in the model file (e.g. with gguf-dump)");
}

}  // namespace

uint64_t GgufValue::as_u64() const {
  if (is_unsigned_int(type)) return std::get<uint64_t>(value);
  if (is_signed_int(type)) {
    int64_t v = std::get<int64_t>(value);
    if (v < 0) fail("gguf_value", "expected a non-negative integer, got " + std::to_string(v), "the model file holds a negative count or size");
    return static_cast<uint64_t>(v);
  }
  wrong_type("an integer", type);
}

int64_t GgufValue::as_i64() const {
  if (is_signed_int(type)) return std::get<int64_t>(value);
  if (is_unsigned_int(type)) {
    uint64_t v = std::get<uint64_t>(value);
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail("gguf_value", "integer " + std::to_string(v) + " does not fit in int64", "the model file holds an absurd value");
    return static_cast<int64_t>(v);
  }
  wrong_type("an integer", type);
}

double GgufValue::as_f64() const {
  if (is_float(type)) return std::get<double>(value);
  if (is_unsigned_int(type)) return static_cast<double>(std::get<uint64_t>(value));
  if (is_signed_int(type)) return static_cast<double>(std::get<int64_t>(value));
  wrong_type("a number", type);
}

bool GgufValue::as_bool() const {
  if (type != GgufType::BOOL) wrong_type("a bool", type);
  return std::get<bool>(value);
}

const std::string& GgufValue::as_string() const {
  if (type != GgufType::STRING) wrong_type("a string", type);
  return std::get<std::string>(value);
}

const GgufArray& GgufValue::as_array() const {
  if (type != GgufType::ARRAY) wrong_type("an array", type);
  return std::get<GgufArray>(value);
}

GgufValue GgufValue::u8(uint8_t v) { return {GgufType::UINT8, uint64_t{v}}; }
GgufValue GgufValue::i8(int8_t v) { return {GgufType::INT8, int64_t{v}}; }
GgufValue GgufValue::u16(uint16_t v) { return {GgufType::UINT16, uint64_t{v}}; }
GgufValue GgufValue::i16(int16_t v) { return {GgufType::INT16, int64_t{v}}; }
GgufValue GgufValue::u32(uint32_t v) { return {GgufType::UINT32, uint64_t{v}}; }
GgufValue GgufValue::i32(int32_t v) { return {GgufType::INT32, int64_t{v}}; }
GgufValue GgufValue::u64(uint64_t v) { return {GgufType::UINT64, v}; }
GgufValue GgufValue::i64(int64_t v) { return {GgufType::INT64, v}; }
GgufValue GgufValue::f32(float v) { return {GgufType::FLOAT32, double{v}}; }
GgufValue GgufValue::f64(double v) { return {GgufType::FLOAT64, v}; }
GgufValue GgufValue::boolean(bool v) { return {GgufType::BOOL, v}; }
GgufValue GgufValue::string(std::string v) { return {GgufType::STRING, std::move(v)}; }

GgufValue GgufValue::array(GgufType elem_type, std::vector<GgufValue> values) {
  for (const GgufValue& v : values)
    if (v.type != elem_type)
      fail("gguf_value", std::string("array of ") + gguf_type_name(elem_type) + " given an element of type " + gguf_type_name(v.type),
           "all elements of a GGUF array share one type");
  return {GgufType::ARRAY, GgufArray{elem_type, std::move(values)}};
}

GgufValue GgufValue::string_array(const std::vector<std::string>& v) {
  std::vector<GgufValue> out;
  out.reserve(v.size());
  for (const std::string& s : v) out.push_back(string(s));
  return {GgufType::ARRAY, GgufArray{GgufType::STRING, std::move(out)}};
}

GgufValue GgufValue::f32_array(const std::vector<float>& v) {
  std::vector<GgufValue> out;
  out.reserve(v.size());
  for (float x : v) out.push_back(f32(x));
  return {GgufType::ARRAY, GgufArray{GgufType::FLOAT32, std::move(out)}};
}

GgufValue GgufValue::i32_array(const std::vector<int32_t>& v) {
  std::vector<GgufValue> out;
  out.reserve(v.size());
  for (int32_t x : v) out.push_back(i32(x));
  return {GgufType::ARRAY, GgufArray{GgufType::INT32, std::move(out)}};
}

}  // namespace swapmoe
