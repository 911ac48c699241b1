// UTF-8 helpers shared by the tokenizers and the streaming detokenizer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace swapmoe {

// Length of the UTF-8 sequence that `lead` starts, judged by its top four bits only, as
// llama.cpp's unicode_len_utf8 does: continuation and invalid bytes count as one byte, so a
// malformed string still splits into symbols instead of failing.
inline size_t utf8_len_from_lead(uint8_t lead) {
  static constexpr uint8_t k_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return k_len[lead >> 4];
}

// Strict validation (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
// Looks at the start of `s` and returns:
//   n > 0  : a complete, valid sequence of n bytes starts here;
//   0      : `s` is a valid but incomplete prefix (more bytes may complete it);
//   -n < 0 : the first n bytes are a maximal ill-formed subpart, to be replaced by one U+FFFD
//            (the Unicode "maximal subpart" practice, which is what most decoders emit).
int utf8_check_prefix(std::string_view s);

// The replacement character U+FFFD in UTF-8.
inline constexpr std::string_view UTF8_REPLACEMENT = "\xEF\xBF\xBD";

}  // namespace swapmoe
