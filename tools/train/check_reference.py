#!/usr/bin/python3
"""Cross-check model.py against a naive numpy re-implementation written the way llama.cpp
computes LLM_ARCH_LLAMA (ggml_rope "normal" mode, GQA broadcast i02 = i12 / (n_head/n_head_kv),
MoE gating: softmax over all experts -> top-k -> renormalise) and LLM_ARCH_QWEN3MOE (the same,
plus an RMSNorm of every q and k head before ggml_rope in NEOX mode, heads of key_length).
Usage:
  /usr/bin/python3 tools/train/check_reference.py [model.gguf]   (default: tiny random models
                                                                  of both architectures)
"""
import os
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import Config, MoELM   # noqa: E402


def ref_forward(m, ids):
    c = m.c
    P = lambda t: t.detach().double().numpy()
    hd, nh, nkv = c.head_dim, c.n_head, c.n_head_kv
    T = len(ids)
    x = P(m.tok_embd)[ids]

    def norm(v, w):
        return v / np.sqrt((v * v).mean(-1, keepdims=True) + c.norm_eps) * P(w)

    neox = c.arch == "qwen3moe"

    def rope(v, pos):   # v: (heads, hd)
        out = v.copy()
        theta_scale = c.rope_base ** (-2.0 / hd)
        for i0 in range(0, hd, 2):
            th = pos * theta_scale ** (i0 // 2)
            # ggml_rope: mode 0 pairs (i0, i0+1); NEOX pairs (i0/2, i0/2 + n_rot/2)
            a, b_ = (i0 // 2, i0 // 2 + hd // 2) if neox else (i0, i0 + 1)
            x0, x1 = v[:, a], v[:, b_]
            out[:, a] = x0 * np.cos(th) - x1 * np.sin(th)
            out[:, b_] = x0 * np.sin(th) + x1 * np.cos(th)
        return out

    def head_norm(v, w):   # v: (heads, hd); qwen3moe's attn_q_norm / attn_k_norm, per head
        return norm(v, w) if neox else v

    for b in m.blocks:
        h = norm(x, b.attn_norm)
        qn = b.q_norm if neox else None
        kn = b.k_norm if neox else None
        q = np.stack([rope(head_norm((P(b.wq) @ h[t]).reshape(nh, hd), qn), t) for t in range(T)])
        k = np.stack([rope(head_norm((P(b.wk) @ h[t]).reshape(nkv, hd), kn), t) for t in range(T)])
        v = np.stack([(P(b.wv) @ h[t]).reshape(nkv, hd) for t in range(T)])
        att = np.zeros((T, nh, hd))
        for t in range(T):
            for hh in range(nh):
                kvh = hh // (nh // nkv)
                s = k[:t + 1, kvh] @ q[t, hh] / np.sqrt(hd)
                p = np.exp(s - s.max())
                p /= p.sum()
                att[t, hh] = p @ v[:t + 1, kvh]
        x = x + att.reshape(T, -1) @ P(b.wo).T
        h = norm(x, b.ffn_norm)
        out = np.zeros_like(x)
        for t in range(T):
            lg = P(b.router) @ h[t]
            pr = np.exp(lg - lg.max())
            pr /= pr.sum()
            sel = np.argsort(-pr, kind="stable")[:c.n_expert_used]
            wts = pr[sel] / pr[sel].sum()
            for e, w in zip(sel, wts):
                g = P(b.gate)[e] @ h[t]
                u = P(b.up)[e] @ h[t]
                out[t] += w * (P(b.down)[e] @ (g / (1 + np.exp(-g)) * u))
        x = x + out
    return norm(x, m.out_norm) @ P(m.output).T


def check(m, ids, what):
    m.eval()
    with torch.no_grad():
        got = m(torch.tensor(ids)[None])[0][0].double().numpy()
    ref = ref_forward(m, ids)
    err = np.abs(got - ref).max()
    print("%s: max |torch - reference| = %.3g (max |logit| %.3g)" % (what, err, np.abs(ref).max()))
    assert err < 1e-3 * max(1.0, np.abs(ref).max()), "MISMATCH"


def tiny(**kw):
    shape = dict(vocab_size=300, n_embd=64, n_layer=2, n_head=4, n_head_kv=2, n_ff=32,
                 n_expert=8, n_expert_used=2, n_ctx=32)
    m = MoELM(Config(**{**shape, **kw}))
    m.init_weights(0)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(5)      # make routing/attention non-trivial
            if p.dim() == 1:   # norms: not all equal, so a misplaced weight shows
                p.mul_(torch.rand(p.shape, generator=g) + 0.5)
    return m


def main():
    torch.set_num_threads(1)
    if len(sys.argv) > 1:
        from common import load_gguf
        m, tok, _ = load_gguf(sys.argv[1])
        check(m, tok.encode("ROMEO:\nWhat say you, my lord?")[:24], sys.argv[1])
    else:
        ids = list(np.random.RandomState(0).randint(0, 300, 20))
        check(tiny(), ids, "llama")
        # heads wider than n_embd / n_head (24 x 4 > 64), 16 experts, top-4
        check(tiny(arch="qwen3moe", n_embd_head=24, n_expert=16, n_expert_used=4), ids, "qwen3moe")
    print("OK")


if __name__ == "__main__":
    main()
