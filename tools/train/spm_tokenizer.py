"""Tokenizer for the shakespeare-moe model.

* `train_bpe`: a small BPE trainer (word-level merges over whitespace-escaped text) that learns
  the vocabulary. Merged tokens get score = -(merge rank + 1), so greedy-by-score merging
  reproduces the learned merge order.
* `SPMTokenizer`: re-implementation of llama.cpp's SentencePiece ("llama", llm_tokenizer_spm)
  tokenizer: escape ' ' -> U+2581, prepend one U+2581 at the start (add_space_prefix), split into
  UTF-8 characters, repeatedly merge the adjacent pair whose concatenation is a vocabulary token
  with the highest score (ties: leftmost), then resegment: known pieces -> their id, otherwise
  split along the recorded merge, otherwise byte-fallback tokens <0xXX>.
"""
import heapq
import re
from collections import Counter, defaultdict

SPACE = "\u2581"
TT_NORMAL, TT_UNKNOWN, TT_CONTROL, TT_USER_DEFINED, TT_UNUSED, TT_BYTE = 1, 2, 3, 4, 5, 6
UNK_ID, BOS_ID, EOS_ID = 0, 1, 2


def escape(text):
    return text.replace(" ", SPACE)


def train_bpe(text, vocab_size):
    """Returns (tokens, scores, token_types) for a vocab of exactly `vocab_size` entries."""
    esc = SPACE + escape(text)
    words = Counter(re.findall(SPACE + r"?[^" + SPACE + r"\n]+|\n+|" + SPACE + "+", esc))
    chars = sorted(set(esc))
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    types = [TT_UNKNOWN, TT_CONTROL, TT_CONTROL] + [TT_BYTE] * 256
    scores = [0.0] * len(tokens)
    for c in chars:
        tokens.append(c)
        types.append(TT_NORMAL)
        scores.append(0.0)
    n_merges = vocab_size - len(tokens)
    assert n_merges > 0
    # word-level BPE with incremental pair counts
    wlist = [list(w) for w in words]
    wcount = [words[w] for w in words]
    pair_count = Counter()
    pair_words = defaultdict(set)
    for wi, syms in enumerate(wlist):
        for a, b in zip(syms, syms[1:]):
            pair_count[(a, b)] += wcount[wi]
            pair_words[(a, b)].add(wi)
    existing = set(tokens)
    rank = 0
    while rank < n_merges:
        # most frequent pair; ties broken deterministically by the pair's text
        best = max(pair_count.items(), key=lambda kv: (kv[1], kv[0]), default=None)
        if best is None or best[1] <= 0:
            break
        (a, b), _ = best
        new = a + b
        for wi in list(pair_words[(a, b)]):
            syms = wlist[wi]
            c = wcount[wi]
            for x, y in zip(syms, syms[1:]):
                pair_count[(x, y)] -= c
                pair_words[(x, y)].discard(wi)
            out, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            wlist[wi] = out
            for x, y in zip(out, out[1:]):
                pair_count[(x, y)] += c
                pair_words[(x, y)].add(wi)
        for k in [k for k, v in pair_count.items() if v <= 0]:
            del pair_count[k]
        if new in existing:
            continue
        existing.add(new)
        tokens.append(new)
        types.append(TT_NORMAL)
        scores.append(-float(rank + 1))
        rank += 1
    assert len(tokens) == vocab_size, (len(tokens), vocab_size)
    return tokens, scores, types


class SPMTokenizer:
    def __init__(self, tokens, scores, types, add_space_prefix=True, add_bos=True):
        self.tokens = list(tokens)
        self.scores = [float(s) for s in scores]
        self.types = [int(t) for t in types]
        self.add_space_prefix = add_space_prefix
        self.add_bos = add_bos
        self.tok2id = {}
        for i, t in enumerate(self.tokens):
            self.tok2id.setdefault(t, i)
        self.byte_ids = [self.tok2id["<0x%02X>" % b] for b in range(256)]

    # llama.cpp: llm_tokenizer_spm_session::tokenize
    def _spm(self, text):
        syms = list(text)                      # UTF-8 characters
        n = len(syms)
        if n == 0:
            return []
        text_of = syms[:]                       # current text of each symbol
        prev = list(range(-1, n - 1))
        nxt = list(range(1, n + 1))
        nxt[-1] = -1
        alive = [True] * n
        heap = []
        rev_merge = {}
        tok2id, scores = self.tok2id, self.scores

        def try_add(left, right):
            if left == -1 or right == -1:
                return
            t = text_of[left] + text_of[right]
            tid = tok2id.get(t)
            if tid is None:
                return
            heapq.heappush(heap, (-scores[tid], left, right, len(t)))
            rev_merge[t] = (text_of[left], text_of[right])

        for i in range(1, n):
            try_add(i - 1, i)
        while heap:
            _, left, right, size = heapq.heappop(heap)
            if not alive[left] or not alive[right] or len(text_of[left]) + len(text_of[right]) != size:
                continue
            text_of[left] = text_of[left] + text_of[right]
            alive[right] = False
            text_of[right] = ""
            nxt[left] = nxt[right]
            if nxt[right] != -1:
                prev[nxt[right]] = left
            try_add(prev[left], left)
            try_add(left, nxt[left])
        out = []
        i = 0
        while i != -1:
            self._resegment(text_of[i], rev_merge, out)
            i = nxt[i]
        return out

    def _resegment(self, t, rev_merge, out):
        tid = self.tok2id.get(t)
        if tid is not None:
            out.append(tid)
            return
        p = rev_merge.get(t)
        if p is None:
            out.extend(self.byte_ids[b] for b in t.encode("utf-8"))
            return
        self._resegment(p[0], rev_merge, out)
        self._resegment(p[1], rev_merge, out)

    def encode(self, text, add_bos=None):
        add_bos = self.add_bos if add_bos is None else add_bos
        if self.add_space_prefix and text:   # llama.cpp: no fragment at all for empty text
            text = " " + text
        ids = self._spm(escape(text)) if text else []
        return ([BOS_ID] if add_bos else []) + ids

    def piece(self, tid):
        t = self.tokens[tid]
        ty = self.types[tid]
        if ty == TT_BYTE:
            return bytes([int(t[3:5], 16)])
        if ty in (TT_CONTROL, TT_UNKNOWN):
            return b""
        return t.replace(SPACE, " ").encode("utf-8")

    def decode(self, ids):
        return b"".join(self.piece(i) for i in ids).decode("utf-8", errors="replace")
