"""Mixtral-style MoE decoder in PyTorch with llama.cpp's LLM_ARCH_LLAMA semantics.

- RMSNorm: x * rsqrt(mean(x^2) + eps) * w
- RoPE, llama.cpp "normal" mode: rotates ADJACENT pairs (x[2i], x[2i+1]) of each head by
  pos * base^(-2i/head_dim)
- grouped-query attention: query head h uses kv head h // (n_head / n_head_kv); scale 1/sqrt(hd)
- MoE FFN: logits = router(x); top-k logits; weights = softmax over the selected k logits;
  expert e: down(silu(gate x) * up x); output = weighted sum
- pre-norm residual blocks, final RMSNorm, untied output head, no biases.

Parameter tensors are stored in the GGUF (numpy, outermost-first) layout so export is a copy:
  wq (n_head*hd, d), wk/wv (n_kv*hd, d), wo (d, n_head*hd), router (E, d),
  gate/up (E, ff, d), down (E, d, ff).
"""
import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    vocab_size: int = 1024
    n_embd: int = 256
    n_layer: int = 4
    n_head: int = 8
    n_head_kv: int = 4
    n_ff: int = 192
    n_expert: int = 16
    n_expert_used: int = 2
    n_ctx: int = 256
    rope_base: float = 10000.0
    norm_eps: float = 1e-5

    @property
    def head_dim(self):
        return self.n_embd // self.n_head

    def to_dict(self):
        return asdict(self)


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope_tables(n_pos, hd, base):
    inv = base ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)       # (hd/2,)
    ang = torch.arange(n_pos, dtype=torch.float64)[:, None] * inv[None, :]  # (T, hd/2)
    return torch.cos(ang).float(), torch.sin(ang).float()


def apply_rope(x, cos, sin):
    # x: (B, H, T, hd); adjacent pairs
    x2 = x.unflatten(-1, (-1, 2))
    x0, x1 = x2[..., 0], x2[..., 1]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        d, hd, E, ff = c.n_embd, c.head_dim, c.n_expert, c.n_ff
        self.c = c
        self.attn_norm = nn.Parameter(torch.ones(d))
        self.wq = nn.Parameter(torch.empty(c.n_head * hd, d))
        self.wk = nn.Parameter(torch.empty(c.n_head_kv * hd, d))
        self.wv = nn.Parameter(torch.empty(c.n_head_kv * hd, d))
        self.wo = nn.Parameter(torch.empty(d, c.n_head * hd))
        self.ffn_norm = nn.Parameter(torch.ones(d))
        self.router = nn.Parameter(torch.empty(E, d))
        self.gate = nn.Parameter(torch.empty(E, ff, d))
        self.up = nn.Parameter(torch.empty(E, ff, d))
        self.down = nn.Parameter(torch.empty(E, d, ff))

    def attention(self, h, cos, sin, mask):
        c = self.c
        B, T, _ = h.shape
        hd = c.head_dim
        q = F.linear(h, self.wq).view(B, T, c.n_head, hd).transpose(1, 2)
        k = F.linear(h, self.wk).view(B, T, c.n_head_kv, hd).transpose(1, 2)
        v = F.linear(h, self.wv).view(B, T, c.n_head_kv, hd).transpose(1, 2)
        q = apply_rope(q, cos, sin)
        k = apply_rope(k, cos, sin)
        g = c.n_head // c.n_head_kv
        q = q.view(B, c.n_head_kv, g * T, hd)        # heads of one group share a kv head
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(hd))
        att = att.view(B, c.n_head_kv, g, T, T) + mask
        att = att.softmax(-1).view(B, c.n_head_kv, g * T, T)
        y = (att @ v).view(B, c.n_head, T, hd).transpose(1, 2).reshape(B, T, c.n_head * hd)
        return F.linear(y, self.wo)

    def moe(self, h):
        c = self.c
        shp = h.shape
        x = h.reshape(-1, shp[-1])
        N, E, k = x.shape[0], c.n_expert, c.n_expert_used
        logits = F.linear(x, self.router)                   # (N, E)
        topv, topi = logits.topk(k, dim=-1)                 # (N, k)
        w = topv.softmax(-1)
        flat_e = topi.reshape(-1)
        order = torch.argsort(flat_e, stable=True)
        counts = torch.bincount(flat_e, minlength=E)
        C = int(counts.max())
        starts = torch.cumsum(counts, 0) - counts
        e_sorted = flat_e[order]
        slot = e_sorted * C + (torch.arange(N * k) - starts[e_sorted])
        tok = order // k
        X = x.new_zeros(E * C, shp[-1]).index_copy(0, slot, x[tok]).view(E, C, -1)
        a = torch.bmm(X, self.gate.transpose(1, 2))
        b = torch.bmm(X, self.up.transpose(1, 2))
        Y = torch.bmm(F.silu(a) * b, self.down.transpose(1, 2)).view(E * C, -1)
        Y = Y[slot] * w.reshape(-1)[order, None]
        out = x.new_zeros(N, shp[-1]).index_add(0, tok, Y)
        return out.view(shp), logits, topi

    def forward(self, x, cos, sin, mask):
        x = x + self.attention(rms_norm(x, self.attn_norm, self.c.norm_eps), cos, sin, mask)
        m, logits, topi = self.moe(rms_norm(x, self.ffn_norm, self.c.norm_eps))
        return x + m, logits, topi


class MoELM(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.c = c
        self.tok_embd = nn.Parameter(torch.empty(c.vocab_size, c.n_embd))
        self.blocks = nn.ModuleList([Block(c) for _ in range(c.n_layer)])
        self.out_norm = nn.Parameter(torch.ones(c.n_embd))
        self.output = nn.Parameter(torch.empty(c.vocab_size, c.n_embd))
        cos, sin = rope_tables(c.n_ctx * 4, c.head_dim, c.rope_base)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def init_weights(self, seed):
        g = torch.Generator().manual_seed(seed)
        c = self.c
        std = 0.02
        proj_std = std / math.sqrt(2 * c.n_layer)
        with torch.no_grad():
            self.tok_embd.normal_(0, std, generator=g)
            self.output.normal_(0, std, generator=g)
            for b in self.blocks:
                for p in (b.wq, b.wk, b.wv, b.gate, b.up, b.router):
                    p.normal_(0, std, generator=g)
                for p in (b.wo, b.down):
                    p.normal_(0, proj_std, generator=g)

    def forward(self, idx):
        B, T = idx.shape
        x = self.tok_embd[idx]
        cos, sin = self.cos[:T], self.sin[:T]
        mask = torch.full((T, T), float("-inf")).triu(1)
        router = []
        for b in self.blocks:
            x, logits, topi = b(x, cos, sin, mask)
            router.append((logits, topi))
        x = rms_norm(x, self.out_norm, self.c.norm_eps)
        return F.linear(x, self.output), router


def param_counts(c: Config):
    d, hd, E, ff, L, V = c.n_embd, c.head_dim, c.n_expert, c.n_ff, c.n_layer, c.vocab_size
    attn = d * c.n_head * hd * 2 + d * c.n_head_kv * hd * 2
    expert = 3 * d * ff
    per_layer_total = attn + 2 * d + E * d + E * expert
    per_layer_active = attn + 2 * d + E * d + c.n_expert_used * expert
    emb = V * d * 2 + d
    return {"total": L * per_layer_total + emb, "active_per_token": L * per_layer_active + emb,
            "experts_total": L * E * expert, "per_expert": expert}
