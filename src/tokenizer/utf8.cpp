// UTF-8 validation for the streaming detokenizer.
#include "tokenizer/utf8.h"

namespace swapmoe {

int utf8_check_prefix(std::string_view s) {
  if (s.empty()) return 0;
  const auto b0 = static_cast<uint8_t>(s[0]);
  if (b0 < 0x80) return 1;

  // Expected length and the allowed range of the second byte; the narrow ranges after
  // E0/ED/F0/F4 are what exclude overlongs, surrogates and code points above U+10FFFF.
  int len = 0;
  uint8_t lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return -1;  // a stray continuation byte, C0, C1 or F5..FF
  }

  for (int i = 1; i < len; ++i) {
    if (static_cast<size_t>(i) >= s.size()) return 0;  // valid so far, but cut short
    const auto b = static_cast<uint8_t>(s[i]);
    const uint8_t min = i == 1 ? lo : 0x80;
    const uint8_t max = i == 1 ? hi : 0xBF;
    if (b < min || b > max) return -i;  // the bytes before this one form the ill-formed part
  }
  return len;
}

}  // namespace swapmoe
