// Tokenizer: special-token splitting, per-type encoding, pieces and decoding.
#include "tokenizer/tokenizer.h"

#include "core/error.h"
#include "tokenizer/spm_tokenizer.h"

namespace swapmoe {

namespace {

constexpr std::string_view k_space_marker = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// A stretch of input: raw text still to be tokenized, or a token already matched verbatim.
struct Fragment {
  int32_t id;  // TOKEN_NULL for raw text
  size_t offset;
  size_t length;
};

// Splits raw fragments around every occurrence of each USER_DEFINED token, longest token
// first, leftmost occurrences first: llama.cpp's order, so overlapping matches resolve alike.
std::vector<Fragment> split_user_defined(const Vocab& vocab, std::string_view text) {
  std::vector<Fragment> fragments{{TOKEN_NULL, 0, text.size()}};
  std::vector<Fragment> next;
  for (const int32_t id : vocab.user_defined_ids()) {
    const std::string& needle = vocab.token(id).text;
    next.clear();
    for (const Fragment& f : fragments) {
      if (f.id != TOKEN_NULL) {
        next.push_back(f);
        continue;
      }
      const std::string_view raw = text.substr(f.offset, f.length);
      size_t pos = 0;
      for (size_t match; (match = raw.find(needle, pos)) != std::string_view::npos; pos = match + needle.size()) {
        if (match > pos) next.push_back({TOKEN_NULL, f.offset + pos, match - pos});
        next.push_back({id, f.offset + match, needle.size()});
      }
      if (pos < raw.size()) next.push_back({TOKEN_NULL, f.offset + pos, raw.size() - pos});
    }
    fragments.swap(next);
  }
  return fragments;
}

std::string escape_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 2);
  for (char c : text) {
    if (c == ' ') {
      out += k_space_marker;
    } else {
      out += c;
    }
  }
  return out;
}

std::string spm_piece(const Vocab& vocab, int32_t id) {
  const TokenData& t = vocab.token(id);
  switch (t.type) {
    case TokenType::NORMAL: {
      std::string piece;
      piece.reserve(t.text.size());
      for (size_t i = 0; i < t.text.size();) {
        if (t.text.compare(i, k_space_marker.size(), k_space_marker) == 0) {
          piece += ' ';
          i += k_space_marker.size();
        } else {
          piece += t.text[i++];
        }
      }
      return piece;
    }
    case TokenType::USER_DEFINED: return t.text;
    case TokenType::BYTE: return std::string(1, static_cast<char>(vocab.token_to_byte(id)));
    // Control and unknown tokens are not text; unused and undefined ones are suppressed
    // like them (llama.cpp, special = false).
    case TokenType::UNDEFINED:
    case TokenType::UNKNOWN:
    case TokenType::CONTROL:
    case TokenType::UNUSED: return {};
  }
  return {};
}

}  // namespace

Tokenizer::Tokenizer(Vocab vocab) : vocab_(std::move(vocab)) {
  switch (vocab_.type()) {
    case VocabType::SPM: break;
    default: fail("tokenizer", std::string("no tokenizer for vocabulary type ") + vocab_type_name(vocab_.type()));
  }
  pieces_.reserve(vocab_.n_tokens());
  for (int32_t id = 0; id < vocab_.n_tokens(); ++id) pieces_.push_back(spm_piece(vocab_, id));
}

Tokenizer Tokenizer::from_gguf(const GgufFile& file) { return Tokenizer(Vocab::from_gguf(file)); }

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> out;
  if (add_bos) {
    if (bos_id() == TOKEN_NULL) fail("tokenizer", "add_bos requested but the vocabulary has no BOS token");
    out.push_back(bos_id());
  }
  switch (vocab_.type()) {
    case VocabType::SPM: encode_spm(text, out); break;
  }
  return out;
}

void Tokenizer::encode_spm(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  // SentencePiece adds a space before the text (dummy prefix) so that a word at the start
  // tokenizes like the same word after a space; llama.cpp repeats this after every special
  // token, treating each raw fragment as the start of a text.
  bool prev_special = true;
  for (const Fragment& f : split_user_defined(vocab_, text)) {
    if (f.id != TOKEN_NULL) {
      out.push_back(f.id);
      prev_special = true;
      continue;
    }
    std::string_view raw = text.substr(f.offset, f.length);
    std::string escaped;
    if (vocab_.config().add_space_prefix && prev_special) escaped = k_space_marker;
    escaped += escape_spaces(raw);
    spm_tokenize(vocab_, escaped, out);
    prev_special = false;
  }
}

const std::string& Tokenizer::token_to_piece(int32_t id) const {
  if (!vocab_.is_valid(id)) {
    fail("tokenizer", "token id " + std::to_string(id) + " is outside the vocabulary of " +
                          std::to_string(n_vocab()) + " tokens",
         "the id did not come from this model's tokenizer or sampler");
  }
  return pieces_[id];
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  // Only the very first token may lose its space, even when that token is BOS and prints
  // nothing: llama.cpp's rule, so text decoded after BOS keeps the space encode added.
  bool strip_space = vocab_.config().add_space_prefix;
  for (const int32_t id : ids) {
    std::string_view piece = token_to_piece(id);
    if (strip_space && !piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
    strip_space = false;
    out += piece;
  }
  return out;
}

}  // namespace swapmoe
