"""MoE decoder in PyTorch with the semantics of two llama.cpp architectures.

arch "llama" (LLM_ARCH_LLAMA with experts, Mixtral-style; the default):
- RMSNorm: x * rsqrt(mean(x^2) + eps) * w
- RoPE, llama.cpp "normal" mode: rotates ADJACENT pairs (x[2i], x[2i+1]) of each head by
  pos * base^(-2i/head_dim)
- grouped-query attention: query head h uses kv head h // (n_head / n_head_kv); scale 1/sqrt(hd)
- MoE FFN: logits = router(x); top-k logits; weights = softmax over the selected k logits;
  expert e: down(silu(gate x) * up x); output = weighted sum
- pre-norm residual blocks, final RMSNorm, untied output head, no biases.

arch "qwen3moe" (LLM_ARCH_QWEN3MOE, Qwen3-30B-A3B's shape) differs in three places only:
- heads may be wider than n_embd / n_head (head_dim = attention.key_length = value_length);
- q and k are RMS-normalised per head (weights attn_q_norm / attn_k_norm of head_dim, the
  model's eps) after their projections and before RoPE;
- RoPE in NEOX mode: rotates the HALVES (x[i], x[i + hd/2]) of each head by pos * base^(-2i/hd).
Its routing (softmax over all experts, top-k, renormalised: norm_topk_prob) is the same function
as llama's softmax over the selected logits, so the MoE code is shared.

Parameter tensors are stored in the GGUF (numpy, outermost-first) layout so export is a copy:
  wq (n_head*hd, d), wk/wv (n_kv*hd, d), wo (d, n_head*hd), q_norm/k_norm (hd,), router (E, d),
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
    arch: str = "llama"       # "llama" or "qwen3moe" (see the module docstring)
    n_embd_head: int = 0      # qwen3moe's attention.key_length; 0: n_embd // n_head

    @property
    def head_dim(self):
        return self.n_embd_head or self.n_embd // self.n_head

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


def apply_rope_neox(x, cos, sin):
    # x: (B, H, T, hd); pair i is (x[i], x[i + hd/2])
    x0, x1 = x.chunk(2, dim=-1)
    return torch.cat((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1)


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
        self.qk_norm = c.arch == "qwen3moe"
        if self.qk_norm:
            self.q_norm = nn.Parameter(torch.ones(hd))   # (hd,) shared by every query head
            self.k_norm = nn.Parameter(torch.ones(hd))   # (hd,) shared by every kv head
        self.rope = apply_rope_neox if c.arch == "qwen3moe" else apply_rope
        # the MoE's expert batches (see moe): llama keeps the single one the default model was
        # trained with, so its arithmetic is unchanged
        self.expert_buckets = 1 if c.arch == "llama" else max(1, E // 8)
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
        if self.qk_norm:
            q = rms_norm(q, self.q_norm, c.norm_eps)
            k = rms_norm(k, self.k_norm, c.norm_eps)
        q = self.rope(q, cos, sin)
        k = self.rope(k, cos, sin)
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
        starts = torch.cumsum(counts, 0) - counts
        e_sorted = flat_e[order]
        rank = torch.arange(N * k) - starts[e_sorted]       # place of each assignment in its expert
        tok = order // k
        if self.expert_buckets == 1:
            # every expert padded to the busiest one's count: one bmm per matrix
            C = int(counts.max())
            slot = e_sorted * C + rank
            X = x.new_zeros(E * C, shp[-1]).index_copy(0, slot, x[tok]).view(E, C, -1)
            a = torch.bmm(X, self.gate.transpose(1, 2))
            b = torch.bmm(X, self.up.transpose(1, 2))
            Y = torch.bmm(F.silu(a) * b, self.down.transpose(1, 2)).view(E * C, -1)
        else:
            # experts sorted by count into equal buckets, each padded to its own busiest expert:
            # with 64 experts the busiest can get 3-5x the mean, and one bucket made the layer 4x slower
            G = E // self.expert_buckets
            perm = torch.argsort(counts, descending=True, stable=True)
            pos = torch.empty_like(perm)
            pos[perm] = torch.arange(E)
            caps = counts[perm[::G]]                          # (buckets,) rows per expert
            offs = torch.cumsum(G * caps, 0) - G * caps
            p = pos[e_sorted]
            slot = offs[p // G] + (p % G) * caps[p // G] + rank
            X = x.new_zeros(int((G * caps).sum()), shp[-1]).index_copy(0, slot, x[tok])
            Ys = []
            for g, (cap, off) in enumerate(zip(caps.tolist(), offs.tolist())):
                if cap == 0:
                    continue
                ids = perm[g * G:(g + 1) * G]
                Xg = X[off:off + G * cap].view(G, cap, -1)
                a = torch.bmm(Xg, self.gate[ids].transpose(1, 2))
                b = torch.bmm(Xg, self.up[ids].transpose(1, 2))
                Ys.append(torch.bmm(F.silu(a) * b, self.down[ids].transpose(1, 2)).view(G * cap, -1))
            Y = torch.cat(Ys)
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
    attn = d * c.n_head * hd * 2 + d * c.n_head_kv * hd * 2 + (2 * hd if c.arch == "qwen3moe" else 0)
    expert = 3 * d * ff
    per_layer_total = attn + 2 * d + E * d + E * expert
    per_layer_active = attn + 2 * d + E * d + c.n_expert_used * expert
    emb = V * d * 2 + d
    return {"total": L * per_layer_total + emb, "active_per_token": L * per_layer_active + emb,
            "experts_total": L * E * expert, "per_expert": expert}
