// Tokenizer: special-token splitting, per-type encoding, pieces and decoding.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <unordered_map>

#include "core/error.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/spm_tokenizer.h"
#include "tokenizer/unicode_classes.h"

namespace swapmoe {

namespace {

constexpr std::string_view k_space_marker = "\xE2\x96\x81";  // U+2581, SentencePiece's space

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

// Byte-level text back to bytes. A code point outside GPT-2's byte map (a hand-added token)
// is kept as its UTF-8.
std::string bpe_decode_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const uint32_t cp : decode_utf8_lenient(text)) {
    const int byte = unicode_to_byte(cp);
    if (byte >= 0) {
      out += static_cast<char>(byte);
    } else {
      append_utf8(out, cp);
    }
  }
  return out;
}

// SentencePiece's U+2581 back to spaces.
std::string spm_decode_text(std::string_view text) {
  std::string piece;
  piece.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, k_space_marker.size(), k_space_marker) == 0) {
      piece += ' ';
      i += k_space_marker.size();
    } else {
      piece += text[i++];
    }
  }
  return piece;
}

// The text of one token with special = false in llama.cpp's terms.
std::string token_piece(const Vocab& vocab, int32_t id) {
  const TokenData& t = vocab.token(id);
  switch (t.type) {
    case TokenType::NORMAL: return vocab.type() == VocabType::BPE ? bpe_decode_text(t.text) : spm_decode_text(t.text);
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

bool is_special_type(TokenType t) { return t == TokenType::CONTROL || t == TokenType::UNKNOWN; }

}  // namespace

Tokenizer::Tokenizer(Vocab vocab) : vocab_(std::move(vocab)) {
  if (vocab_.type() == VocabType::BPE) {
    pre_tokenizer_ = std::make_shared<const PreTokenizer>(vocab_.config().pre);
    merges_ = std::make_shared<const BpeMerges>(vocab_.merges());
  }
  pieces_.reserve(vocab_.n_tokens());
  for (int32_t id = 0; id < vocab_.n_tokens(); ++id) {
    pieces_.push_back(token_piece(vocab_, id));
    // A special token's text (parse_special) or its piece, whichever is longer: the encoded form
    // (U+2581, byte-level code points) is never shorter than the bytes it stands for.
    max_token_bytes_ = std::max({max_token_bytes_, pieces_.back().size(), vocab_.token(id).text.size()});
  }
}

int64_t Tokenizer::min_tokens(size_t n_bytes) const {
  return static_cast<int64_t>((n_bytes + max_token_bytes_ - 1) / max_token_bytes_);
}

Tokenizer Tokenizer::from_gguf(const GgufFile& file) { return Tokenizer(Vocab::from_gguf(file)); }

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
  std::vector<int32_t> out;
  if (add_bos) {
    if (bos_id() == TOKEN_NULL) fail("tokenizer", "add_bos requested but the vocabulary has no BOS token");
    out.push_back(bos_id());
  }
  switch (vocab_.type()) {
    case VocabType::SPM: encode_spm(text, parse_special, out); break;
    case VocabType::BPE: encode_bpe(text, parse_special, out); break;
  }
  return out;
}

void Tokenizer::encode_spm(std::string_view text, bool parse_special, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  // SentencePiece adds a space before the text (dummy prefix) so that a word at the start
  // tokenizes like the same word after a space; llama.cpp repeats this after every special
  // token, treating each raw fragment as the start of a text.
  bool prev_special = true;
  for (const TextFragment& f : split_special_tokens(vocab_, text, parse_special)) {
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

void Tokenizer::encode_bpe(std::string_view text, bool parse_special, std::vector<int32_t>& out) const {
  std::vector<std::string> words;
  // Natural text repeats its words: merging each distinct word once per call more than halves
  // the time on prose. Local to the call, so concurrent encodes share nothing.
  std::unordered_map<std::string, std::pair<uint32_t, uint32_t>> seen;  // word -> span of `out`
  for (const TextFragment& f : split_special_tokens(vocab_, text, parse_special)) {
    if (f.id != TOKEN_NULL) {
      out.push_back(f.id);
      continue;
    }
    pre_tokenizer_->split(text.substr(f.offset, f.length), words);
    for (std::string& word : words) {
      const auto it = seen.find(word);
      if (it != seen.end()) {
        const auto [first, count] = it->second;
        for (uint32_t i = 0; i < count; ++i) out.push_back(out[first + i]);
        continue;
      }
      const size_t first = out.size();
      bpe_encode_word(vocab_, *merges_, pre_tokenizer_->ignore_merges(), word, out);
      seen.emplace(std::move(word), std::make_pair(static_cast<uint32_t>(first), static_cast<uint32_t>(out.size() - first)));
    }
  }
}

const std::string& Tokenizer::token_to_piece(int32_t id, bool render_special) const {
  if (!vocab_.is_valid(id)) {
    fail("tokenizer", "token id " + std::to_string(id) + " is outside the vocabulary of " +
                          std::to_string(n_vocab()) + " tokens",
         "the id did not come from this model's tokenizer or sampler");
  }
  if (render_special && is_special_type(vocab_.token(id).type)) return vocab_.token(id).text;
  return pieces_[id];
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool render_special) const {
  std::string out;
  // Only the very first token may lose its space, even when that token is BOS and prints
  // nothing: llama.cpp's rule, so text decoded after BOS keeps the space encode added.
  bool strip_space = vocab_.config().add_space_prefix;
  for (const int32_t id : ids) {
    std::string_view piece = token_to_piece(id, render_special);
    if (strip_space && !piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
    strip_space = false;
    out += piece;
  }
  return out;
}

}  // namespace swapmoe
