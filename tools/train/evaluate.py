#!/usr/bin/python3
"""Evaluate an exported shakespeare-moe GGUF (llama or qwen3moe) exactly as shipped
(dequantised weights).

  /usr/bin/python3 tools/train/evaluate.py models/shakespeare-moe.gguf [--ctx 128] [--text PATH]
      [--json stats.json] [--golden models/shakespeare-moe.golden.json]

* perplexity the way llama.cpp's `llama-perplexity -f FILE -c CTX` computes it: tokenize the
  whole text with BOS, n_chunks = n_tokens / CTX, each chunk's first token replaced by BOS, each
  chunk evaluated from scratch, only positions CTX/2 .. CTX-2 scored (predicting the tokens at
  CTX/2+1 .. CTX-1), ppl = exp(mean NLL).
* bits per character: every token of the text (after BOS) is scored exactly once with sliding
  windows of the model's context length (stride half of it, each window starting with BOS);
  total NLL in bits / number of characters of the text.
* per-layer expert load (top-k counted) over the same pass.
Without --text the validation split (last 10% of the bytes of Tiny Shakespeare) is used.
"""
import os
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train.py

import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import DEFAULT_DATA, load_split, load_gguf, keep_freed_memory   # noqa: E402
from spm_tokenizer import BOS_ID                          # noqa: E402
from model import param_counts                             # noqa: E402


@torch.no_grad()
def llama_perplexity(model, ids, ctx, batch=16):
    n_chunks = len(ids) // ctx
    first = ctx // 2
    chunks = torch.tensor(ids[:n_chunks * ctx]).view(n_chunks, ctx).clone()
    targets = chunks[:, first + 1:].clone()
    chunks[:, 0] = BOS_ID
    nll, count = 0.0, 0
    for i in range(0, n_chunks, batch):
        logits, _ = model(chunks[i:i + batch])
        lp = logits[:, first:ctx - 1].double().log_softmax(-1)
        nll -= lp.gather(-1, targets[i:i + batch, :, None]).sum().item()
        count += targets[i:i + batch].numel()
    return math.exp(nll / count), n_chunks, count


@torch.no_grad()
def bits_per_char(model, ids, n_chars, win):
    c = model.c
    half = win // 2
    ids = torch.tensor(ids)
    n = len(ids)
    nll = 0.0
    load = torch.zeros(c.n_layer, c.n_expert, dtype=torch.long)
    n_routed = 0
    ent_sum = torch.zeros(c.n_layer, dtype=torch.float64)
    s = 0
    while True:
        x = ids[s:s + win].clone()
        lo = 0 if s == 0 else half - 1        # first input position whose prediction is new
        x[0] = BOS_ID
        logits, router = model(x[None])
        lp = logits[0, lo:len(x) - 1].double().log_softmax(-1)
        tgt = ids[s + lo + 1:s + len(x)]
        nll -= lp.gather(-1, tgt[:, None]).sum().item()
        for l, (rl, topi) in enumerate(router):
            load[l] += torch.bincount(topi[lo:len(x) - 1].reshape(-1), minlength=c.n_expert)
            p = rl[lo:len(x) - 1].double().softmax(-1)
            ent_sum[l] += -(p * p.clamp_min(1e-30).log()).sum()
        n_routed += len(tgt)
        if s + win >= n:
            break
        s += half
    return nll / math.log(2) / n_chars, load, n_routed, ent_sum / n_routed


@torch.no_grad()
def greedy(model, ids, n_new):
    ids = list(ids)
    out, margins, first_logits, top5 = [], [], None, None
    for i in range(n_new):
        logits, _ = model(torch.tensor(ids[-model.c.n_ctx:])[None])
        last = logits[0, -1]
        if i == 0:
            first_logits = [round(float(v), 5) for v in last[:16]]
            top5 = [int(t) for t in last.topk(5).indices]
        v, t = last.topk(2)
        margins.append(round(float(v[0] - v[1]), 5))
        ids.append(int(t[0]))
        out.append(int(t[0]))
    return out, first_logits, top5, margins


GOLDEN_PROMPTS = [
    "ROMEO:",
    "First Citizen:\nBefore we proceed any further, hear me speak.",
    "To be, or not to be, that is the question:",
    "KING RICHARD III:\nNow is the winter of our discontent",
]
TOKENIZER_TESTS = ["Hello world", " leading space", "Thou art\n\nmy lord.", "x",
                   "caf\u00e9 \u2014 na\u00efve", "  two  spaces", "\n", "ROMEO:\nWhat, ho!"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gguf")
    ap.add_argument("--ctx", type=int, default=128)
    ap.add_argument("--text", default=None, help="text file (default: validation split)")
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--json", default=None, help="write the statistics here")
    ap.add_argument("--golden", default=None, help="write golden outputs here")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()

    model, tok, reader = load_gguf(args.gguf)
    c = model.c
    if args.text:
        with open(args.text, "rb") as f:
            text = f.read().decode("utf-8")
    else:
        text = load_split(args.data)[1]
    ids = tok.encode(text)    # with BOS, one string (one prefix space)
    ppl, n_chunks, n_scored = llama_perplexity(model, ids, args.ctx)
    print("llama.cpp-style perplexity: ctx %d, n_tokens %d, n_chunks %d, scored %d, ppl %.4f"
          % (args.ctx, len(ids), n_chunks, n_scored, ppl))
    bpc, load, n_routed, rent = bits_per_char(model, ids, len(text), c.n_ctx)
    print("bits per char (all %d tokens scored once, window %d, stride %d): %.4f over %d chars"
          % (len(ids) - 1, c.n_ctx, c.n_ctx // 2, bpc, len(text)))
    frac = load.double() / (n_routed * c.n_expert_used)
    for l in range(c.n_layer):
        f = frac[l]
        ent = -(f * f.clamp_min(1e-30).log()).sum() / math.log(c.n_expert)
        print("layer %d load: min %.3f max %.3f norm-entropy %.3f mean routing entropy %.3f nats | %s"
              % (l, f.min(), f.max(), ent, rent[l], " ".join("%.3f" % v for v in f)))
    stats = {"gguf": os.path.basename(args.gguf), "file_bytes": os.path.getsize(args.gguf),
             "ctx": args.ctx, "n_tokens": len(ids), "n_chunks": n_chunks, "n_scored": n_scored,
             "ppl": ppl, "bits_per_char": bpc, "n_chars": len(text),
             "expert_load_fraction": [[round(float(v), 5) for v in row] for row in frac],
             "routing_entropy_nats": [round(float(v), 4) for v in rent],
             "config": c.to_dict(), "params": param_counts(c)}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(stats, f, indent=1)

    if args.golden:
        g = {"model": os.path.basename(args.gguf),
             "note": "greedy continuation and logits computed by tools/train (PyTorch, fp32) on the "
                     "dequantised GGUF weights; token ids include BOS; margins = top1-top2 logit gap "
                     "per step (small margins may flip under different arithmetic)",
             "shape": {k: v for k, v in c.to_dict().items()},
             "vocab_size": c.vocab_size, "bos_id": BOS_ID, "eos_id": 2,
             "vocab_check": {str(i): tok.tokens[i] for i in
                             [0, 1, 2, 3, 13, 258, 259, 260, 300, 500, 700, c.vocab_size - 1] if i < c.vocab_size},
             "tokenizer_tests": [{"text": s, "ids_no_bos": tok.encode(s, add_bos=False)}
                                 for s in TOKENIZER_TESTS],
             "prompts": []}
        for p in GOLDEN_PROMPTS:
            pid = tok.encode(p)
            out, fl, top5, margins = greedy(model, pid, 32)
            g["prompts"].append({"text": p, "ids": pid, "greedy_ids": out,
                                 "greedy_text": tok.decode(out), "first_logits_16": fl,
                                 "first_top5": top5, "greedy_margins": margins})
            print("PROMPT %r -> %r" % (p, tok.decode(out)))
        with open(args.golden, "w") as f:
            json.dump(g, f, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
