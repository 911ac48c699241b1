// Python strings index code points, not bytes: length, slicing and strip() of template
// strings go through these helpers on UTF-8 text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/utf8_append.h"

namespace swapmoe::jinja {

// Code points of UTF-8 text; a malformed byte becomes U+FFFD so that nothing throws mid-render.
std::vector<char32_t> decode_utf8(std::string_view text);
std::string encode_utf8(const std::vector<char32_t>& cps, size_t begin, size_t end);

// str.isspace() for one code point, as Python's str.strip() uses it.
bool is_python_space(char32_t cp);

// Python's str.strip/lstrip/rstrip: `chars` null strips whitespace.
std::string strip_python(std::string_view text, const std::string* chars, bool left, bool right);

}  // namespace swapmoe::jinja
