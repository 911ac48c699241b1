// SPM segmentation: greedy bigram merges by score over UTF-8 symbols, then byte fallback.
#include "tokenizer/spm_tokenizer.h"

#include <algorithm>
#include <queue>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace swapmoe {

namespace {

// A symbol is a byte range of the text; merged symbols grow to the right and the absorbed
// right neighbour is left with n == 0. prev/next link the live symbols.
struct Symbol {
  int prev;
  int next;
  size_t offset;
  size_t n;
};

struct Bigram {
  int left;
  int right;
  float score;
  size_t size;  // bytes of left + right when queued; a later mismatch means it went stale
};

// Highest score first; on equal scores the leftmost pair, which is what makes the result
// independent of queue internals and equal to llama.cpp's.
struct BigramOrder {
  bool operator()(const Bigram& l, const Bigram& r) const {
    return l.score < r.score || (l.score == r.score && l.left > r.left);
  }
};

class SpmSession {
 public:
  SpmSession(const Vocab& vocab, std::string_view text) : vocab_(vocab), text_(text) {}

  void run(std::vector<int32_t>& out) {
    split_symbols();
    for (int i = 1; i < static_cast<int>(symbols_.size()); ++i) try_add_bigram(i - 1, i);

    while (!queue_.empty()) {
      const Bigram b = queue_.top();
      queue_.pop();
      Symbol& left = symbols_[b.left];
      Symbol& right = symbols_[b.right];
      // Either side already merged elsewhere: this entry is stale.
      if (left.n == 0 || right.n == 0 || left.n + right.n != b.size) continue;

      left.n += right.n;
      right.n = 0;
      left.next = right.next;
      if (right.next >= 0) symbols_[right.next].prev = b.left;

      try_add_bigram(left.prev, b.left);
      try_add_bigram(b.left, left.next);
    }

    if (symbols_.empty()) return;
    for (int i = 0; i != -1; i = symbols_[i].next) emit(symbols_[i], out);
  }

 private:
  // One symbol per UTF-8 character, judged by the lead byte only; a truncated final sequence
  // becomes a shorter symbol rather than an error.
  void split_symbols() {
    symbols_.reserve(text_.size());
    size_t offset = 0;
    int index = 0;
    while (offset < text_.size()) {
      const size_t n = std::min(utf8_len_from_lead(static_cast<uint8_t>(text_[offset])), text_.size() - offset);
      symbols_.push_back({index - 1, offset + n == text_.size() ? -1 : index + 1, offset, n});
      offset += n;
      ++index;
    }
  }

  void try_add_bigram(int left, int right) {
    if (left == -1 || right == -1) return;
    const size_t size = symbols_[left].n + symbols_[right].n;
    const int32_t id = vocab_.text_to_token(text_.substr(symbols_[left].offset, size));
    if (id == TOKEN_NULL) return;
    queue_.push({left, right, vocab_.token(id).score, size});
  }

  // Every merge produced a vocabulary piece, so a final symbol is either a token or a single
  // character that is not one. SentencePiece proper would resegment a merged piece marked
  // unused back into its parts; llama.cpp never does (its rev_merge lookup can only succeed
  // for texts that are tokens), so neither does this. Unmatched characters fall back to one
  // token per byte, or to the unknown token when the vocabulary has no byte tokens.
  void emit(const Symbol& s, std::vector<int32_t>& out) const {
    const std::string_view piece = text_.substr(s.offset, s.n);
    const int32_t id = vocab_.text_to_token(piece);
    if (id != TOKEN_NULL) {
      out.push_back(id);
      return;
    }
    for (char c : piece) {
      int32_t byte_id = vocab_.byte_to_token(static_cast<uint8_t>(c));
      if (byte_id == TOKEN_NULL) byte_id = vocab_.config().unk_id;
      if (byte_id == TOKEN_NULL) {
        fail("spm_tokenize", "no byte token and no unknown token for a character outside the vocabulary",
             "the vocabulary needs <0xXX> byte tokens or an unknown_token_id");
      }
      out.push_back(byte_id);
    }
  }

  const Vocab& vocab_;
  std::string_view text_;
  std::vector<Symbol> symbols_;
  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue_;
};

}  // namespace

void spm_tokenize(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) {
  SpmSession(vocab, text).run(out);
}

}  // namespace swapmoe
