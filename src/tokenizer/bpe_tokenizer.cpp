// BpeMerges and the merge loop: a priority queue of adjacent pairs over a linked list of
// symbols, the same order llama.cpp's llm_tokenizer_bpe_session uses (rank, then position).
#include "tokenizer/bpe_tokenizer.h"

#include <queue>

#include "tokenizer/utf8.h"

namespace swapmoe {

namespace {

struct Symbol {
  uint32_t start;
  uint32_t length;  // 0 once merged into its left neighbour
  int32_t prev;
  int32_t next;
};

struct Pair {
  int rank;
  int32_t left;
  int32_t right;
  uint32_t left_length;   // lengths when queued: a pair whose symbols changed since is stale
  uint32_t right_length;
};

struct PairAfter {
  bool operator()(const Pair& a, const Pair& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

BpeMerges::BpeMerges(const std::vector<std::string>& lines) {
  ranks_.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.find(' ', 1) == std::string::npos) continue;
    ranks_.emplace(line, static_cast<int>(i));  // the first line wins, as with emplace in llama.cpp
  }
}

int BpeMerges::rank(std::string_view left, std::string_view right) const {
  thread_local std::string key;
  key.assign(left);
  key += ' ';
  key.append(right);
  const auto it = ranks_.find(key);
  return it == ranks_.end() ? -1 : it->second;
}

void bpe_encode_word(const Vocab& vocab, const BpeMerges& merges, bool ignore_merges, std::string_view word,
                     std::vector<int32_t>& out) {
  if (word.empty()) return;
  if (ignore_merges) {
    const int32_t id = vocab.text_to_token(word);
    if (id != TOKEN_NULL) {
      out.push_back(id);
      return;
    }
  }

  // One symbol per UTF-8 character (of the byte-level text).
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (size_t offset = 0; offset < word.size();) {
    const size_t n = std::min(word.size() - offset, utf8_len_from_lead(static_cast<uint8_t>(word[offset])));
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({static_cast<uint32_t>(offset), static_cast<uint32_t>(n), index - 1,
                       offset + n == word.size() ? -1 : index + 1});
    offset += n;
  }

  std::priority_queue<Pair, std::vector<Pair>, PairAfter> queue;
  auto text_of = [&](const Symbol& s) { return word.substr(s.start, s.length); };
  auto push_pair = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const int rank = merges.rank(text_of(symbols[left]), text_of(symbols[right]));
    if (rank >= 0) queue.push({rank, left, right, symbols[left].length, symbols[right].length});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) push_pair(i - 1, i);

  while (!queue.empty()) {
    const Pair pair = queue.top();
    queue.pop();
    Symbol& left = symbols[pair.left];
    Symbol& right = symbols[pair.right];
    if (left.length != pair.left_length || right.length != pair.right_length || left.next != pair.right) continue;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = pair.left;
    push_pair(left.prev, pair.left);
    push_pair(pair.left, left.next);
  }

  for (int32_t i = 0; i != -1; i = symbols[i].next) {
    const std::string_view text = text_of(symbols[i]);
    const int32_t id = vocab.text_to_token(text);
    if (id != TOKEN_NULL) {
      out.push_back(id);
      continue;
    }
    for (const char byte : text) {
      const int32_t byte_id = vocab.text_to_token(std::string_view(&byte, 1));
      if (byte_id != TOKEN_NULL) out.push_back(byte_id);
    }
  }
}

}  // namespace swapmoe
