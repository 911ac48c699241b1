// Unicode facts the byte-level BPE pre-tokenizers need: a code point's major general category
// and whether it counts as whitespace, UTF-8 decoding as llama.cpp does it, and GPT-2's
// byte <-> code point mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/utf8_append.h"

namespace swapmoe {

// Major general category; the numbers are those written by scripts/gen-unicode-classes.py.
enum class CpClass : uint8_t {
  UNASSIGNED = 0,  // Cn
  OTHER = 1,       // Cc, Cf, Co, Cs
  LETTER = 2,      // \p{L}
  NUMBER = 3,      // \p{N}
  PUNCTUATION = 4, // \p{P}
  SYMBOL = 5,      // \p{S}
  MARK = 6,        // \p{M}
  SEPARATOR = 7,   // \p{Z}
};
inline constexpr uint8_t CP_WHITESPACE_BIT = 0x80;  // or-ed into the class byte

struct UnicodeClassRange {
  uint32_t first;  // the range runs to the next entry's first - 1
  uint8_t class_byte;
};
extern const UnicodeClassRange k_unicode_class_ranges[];
extern const size_t k_unicode_class_range_count;

// Class byte (CpClass | CP_WHITESPACE_BIT) of a code point; UNASSIGNED above U+10FFFF.
uint8_t cp_class_byte(uint32_t cp);
inline CpClass cp_class(uint32_t cp) { return static_cast<CpClass>(cp_class_byte(cp) & 0x7F); }
inline bool cp_is_whitespace(uint32_t cp) { return (cp_class_byte(cp) & CP_WHITESPACE_BIT) != 0; }

// Code points of `text`, decoded as llama.cpp does: lead and continuation bits are checked but
// not overlongs or surrogates, and each byte that starts no valid sequence becomes U+FFFD.
// Tokenizers that follow llama.cpp therefore turn invalid UTF-8 into U+FFFD, byte by byte.
std::vector<uint32_t> decode_utf8_lenient(std::string_view text);


// GPT-2's reversible byte -> printable code point map: printable Latin-1 bytes map to
// themselves, the other 68 to U+0100.. in byte order.
uint32_t byte_to_unicode(uint8_t byte);
// The byte a code point stands for; -1 if it is not in the map.
int unicode_to_byte(uint32_t cp);

}  // namespace swapmoe
