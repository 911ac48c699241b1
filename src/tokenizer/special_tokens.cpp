// split_special_tokens: one pass per special token over the raw fragments left so far.
#include "tokenizer/special_tokens.h"

#include <cctype>

namespace swapmoe {

namespace {

bool is_ascii_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// Cuts one raw fragment around every occurrence of `needle`, appending the pieces to `out`.
void cut_fragment(const TextFragment& f, std::string_view text, int32_t id, const TokenData& token,
                  std::vector<TextFragment>& out) {
  const std::string_view needle = token.text;
  size_t begin = f.offset;
  size_t end = f.offset + f.length;
  while (begin < end) {
    const size_t match = text.substr(0, end).find(needle, begin);
    if (match == std::string_view::npos) break;
    size_t left_end = match;
    if (token.lstrip) {
      while (left_end > begin && is_ascii_space(text[left_end - 1])) --left_end;
    }
    if (left_end > begin) out.push_back({TOKEN_NULL, begin, left_end - begin});
    out.push_back({id, match, needle.size()});
    begin = match + needle.size();
    if (token.rstrip) {
      while (begin < end && is_ascii_space(text[begin])) ++begin;
    }
  }
  if (begin < end) out.push_back({TOKEN_NULL, begin, end - begin});
}

}  // namespace

std::vector<TextFragment> split_special_tokens(const Vocab& vocab, std::string_view text, bool parse_special) {
  std::vector<TextFragment> fragments;
  if (text.empty()) return fragments;
  fragments.push_back({TOKEN_NULL, 0, text.size()});
  std::vector<TextFragment> next;
  for (const int32_t id : vocab.special_ids()) {
    const TokenData& token = vocab.token(id);
    if (!parse_special && token.type != TokenType::USER_DEFINED) continue;
    next.clear();
    for (const TextFragment& f : fragments) {
      if (f.id != TOKEN_NULL) {
        next.push_back(f);
      } else {
        cut_fragment(f, text, id, token, next);
      }
    }
    fragments.swap(next);
  }
  return fragments;
}

}  // namespace swapmoe
