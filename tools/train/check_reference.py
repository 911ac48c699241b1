#!/usr/bin/python3
"""Cross-check model.py against a naive numpy re-implementation written the way llama.cpp
computes LLM_ARCH_LLAMA (ggml_rope "normal" mode, GQA broadcast i02 = i12 / (n_head/n_head_kv),
MoE gating: softmax over all experts -> top-k -> renormalise). Usage:
  /usr/bin/python3 tools/train/check_reference.py [model.gguf]   (default: a tiny random model)
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

    def rope(v, pos):   # v: (heads, hd)
        out = v.copy()
        theta_scale = c.rope_base ** (-2.0 / hd)
        for i0 in range(0, hd, 2):
            th = pos * theta_scale ** (i0 // 2)
            x0, x1 = v[:, i0], v[:, i0 + 1]
            out[:, i0] = x0 * np.cos(th) - x1 * np.sin(th)
            out[:, i0 + 1] = x0 * np.sin(th) + x1 * np.cos(th)
        return out

    for b in m.blocks:
        h = norm(x, b.attn_norm)
        q = np.stack([rope((P(b.wq) @ h[t]).reshape(nh, hd), t) for t in range(T)])
        k = np.stack([rope((P(b.wk) @ h[t]).reshape(nkv, hd), t) for t in range(T)])
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


def main():
    torch.set_num_threads(1)
    if len(sys.argv) > 1:
        from common import load_gguf
        m, tok, _ = load_gguf(sys.argv[1])
        ids = tok.encode("ROMEO:\nWhat say you, my lord?")[:24]
    else:
        c = Config(vocab_size=300, n_embd=64, n_layer=2, n_head=4, n_head_kv=2, n_ff=32,
                   n_expert=8, n_expert_used=2, n_ctx=32)
        m = MoELM(c)
        m.init_weights(0)
        with torch.no_grad():
            for p in m.parameters():
                p.mul_(5)      # make routing/attention non-trivial
        ids = list(np.random.RandomState(0).randint(0, 300, 20))
    m.eval()
    with torch.no_grad():
        got = m(torch.tensor(ids)[None])[0][0].double().numpy()
    ref = ref_forward(m, ids)
    err = np.abs(got - ref).max()
    print("max |torch - reference| = %.3g (max |logit| %.3g)" % (err, np.abs(ref).max()))
    assert err < 1e-3 * max(1.0, np.abs(ref).max()), "MISMATCH"
    print("OK")


if __name__ == "__main__":
    main()
