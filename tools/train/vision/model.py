"""PyTorch V-MoE-style vision transformer with exactly the forward pass of docs/vmoe-format.md
(`general.architecture = vmoe`), plus its GGUF export.

- patches: P x P pixels flattened as (c P + y) P + x (Conv2d weight order), linear with bias;
- a learned class token (row 0) and learned absolute position embeddings (no RoPE);
- pre-norm blocks: RMSNorm (no mean subtraction, no bias) -> bidirectional multi-head attention
  with q/k/v/output biases -> residual; RMSNorm -> SwiGLU MLP (no biases) -> residual;
- the MLP of blocks 1, 3, 5, ... is a mixture of experts: probs = softmax(router h) over all E
  experts, the top-k experts by probability, weights = those probabilities (NOT renormalised,
  `vmoe.expert_weights_norm = false`), each expert a SwiGLU MLP;
- logits = classifier(RMSNorm(class token) * output_norm) + bias.
"""
import math
import os
import sys
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# gguf_io lives in tools/train; appended (not prepended): tools/train/model.py is the language model
sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import gguf_io as G   # noqa: E402

FASHION_LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                  "Sneaker", "Bag", "Ankle boot"]


@dataclass
class VConfig:
    image_size: int = 28
    patch_size: int = 4
    channels: int = 1
    d: int = 64              # embedding_length
    layers: int = 6          # block_count
    heads: int = 4
    ff: int = 128            # dense blocks' SwiGLU width
    experts: int = 16
    topk: int = 2
    ff_exp: int = 64         # one expert's SwiGLU width
    n_classes: int = 10
    eps: float = 1e-6
    image_mean: float = 0.2860
    image_std: float = 0.3530

    @property
    def n_patches(self):
        return (self.image_size // self.patch_size) ** 2

    @property
    def n_pos(self):
        return self.n_patches + 1

    @property
    def head_dim(self):
        return self.d // self.heads

    def moe_pattern(self):
        return [i % 2 == 1 for i in range(self.layers)]

    def to_dict(self):
        return asdict(self)

    def check(self):
        assert self.image_size % self.patch_size == 0
        assert self.d % self.heads == 0 and self.head_dim >= 16
        for v in (self.d, self.ff, self.ff_exp):
            assert v % 32 == 0, "Q8_0 rows need multiples of 32"


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def patchify(img, P):
    """(B, C, S, S) -> (B, n, C P P): patches in raster order, each flattened as (c P + y) P + x."""
    B, C, S, _ = img.shape
    n = S // P
    return img.reshape(B, C, n, P, n, P).permute(0, 2, 4, 1, 3, 5).reshape(B, n * n, C * P * P)


class Block(nn.Module):
    def __init__(self, c: VConfig, moe: bool):
        super().__init__()
        self.c, self.is_moe = c, moe
        d = c.d
        self.attn_norm = nn.Parameter(torch.ones(d))
        self.wq, self.wk, self.wv, self.wo = (nn.Parameter(torch.empty(d, d)) for _ in range(4))
        self.bq, self.bk, self.bv, self.bo = (nn.Parameter(torch.zeros(d)) for _ in range(4))
        self.ffn_norm = nn.Parameter(torch.ones(d))
        if moe:
            E, fe = c.experts, c.ff_exp
            self.router = nn.Parameter(torch.empty(E, d))
            self.gate = nn.Parameter(torch.empty(E, fe, d))
            self.up = nn.Parameter(torch.empty(E, fe, d))
            self.down = nn.Parameter(torch.empty(E, d, fe))
        else:
            self.gate = nn.Parameter(torch.empty(c.ff, d))
            self.up = nn.Parameter(torch.empty(c.ff, d))
            self.down = nn.Parameter(torch.empty(d, c.ff))

    def attention(self, h):
        c = self.c
        B, T, d = h.shape
        H, hd = c.heads, c.head_dim
        q = F.linear(h, self.wq, self.bq).view(B, T, H, hd).transpose(1, 2)
        k = F.linear(h, self.wk, self.bk).view(B, T, H, hd).transpose(1, 2)
        v = F.linear(h, self.wv, self.bv).view(B, T, H, hd).transpose(1, 2)
        att = ((q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(hd))).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, d)
        return F.linear(y, self.wo, self.bo)

    def moe(self, h):
        """Returns (output, router logits (N, E), top-k expert ids (N, k)). Assignments sorted by
        expert, every expert padded to the busiest one's count: one bmm per matrix."""
        c = self.c
        shp = h.shape
        x = h.reshape(-1, shp[-1])
        N, E, k = x.shape[0], c.experts, c.topk
        logits = F.linear(x, self.router)                   # (N, E)
        probs = logits.softmax(-1)
        topv, topi = probs.topk(k, dim=-1)                  # weights = probabilities, no renorm
        flat_e = topi.reshape(-1)
        order = torch.argsort(flat_e, stable=True)
        counts = torch.bincount(flat_e, minlength=E)
        starts = torch.cumsum(counts, 0) - counts
        e_sorted = flat_e[order]
        rank = torch.arange(N * k) - starts[e_sorted]
        tok = order // k
        C = int(counts.max())
        slot = e_sorted * C + rank
        X = x.new_zeros(E * C, shp[-1]).index_copy(0, slot, x[tok]).view(E, C, -1)
        a = torch.bmm(X, self.gate.transpose(1, 2))
        b = torch.bmm(X, self.up.transpose(1, 2))
        Y = torch.bmm(F.silu(a) * b, self.down.transpose(1, 2)).view(E * C, -1)
        Y = Y[slot] * topv.reshape(-1)[order, None]
        out = x.new_zeros(N, shp[-1]).index_add(0, tok, Y)
        return out.view(shp), logits, topi

    def forward(self, x):
        c = self.c
        x = x + self.attention(rms_norm(x, self.attn_norm, c.eps))
        h = rms_norm(x, self.ffn_norm, c.eps)
        if self.is_moe:
            m, logits, topi = self.moe(h)
            return x + m, (logits, topi)
        return x + F.linear(F.silu(F.linear(h, self.gate)) * F.linear(h, self.up), self.down), None


class VMoE(nn.Module):
    def __init__(self, c: VConfig):
        super().__init__()
        c.check()
        self.c = c
        cpp = c.channels * c.patch_size ** 2
        self.patch_w = nn.Parameter(torch.empty(c.d, cpp))
        self.patch_b = nn.Parameter(torch.zeros(c.d))
        self.cls = nn.Parameter(torch.empty(c.d))
        self.pos = nn.Parameter(torch.empty(c.n_pos, c.d))
        self.blocks = nn.ModuleList([Block(c, m) for m in c.moe_pattern()])
        self.out_norm = nn.Parameter(torch.ones(c.d))
        self.out_w = nn.Parameter(torch.empty(c.n_classes, c.d))
        self.out_b = nn.Parameter(torch.zeros(c.n_classes))

    def init_weights(self, seed):
        g = torch.Generator().manual_seed(seed)
        c = self.c
        std = 0.02
        proj_std = std / math.sqrt(2 * c.layers)
        with torch.no_grad():
            cpp = self.patch_w.shape[1]
            self.patch_w.normal_(0, 1.0 / math.sqrt(cpp), generator=g)
            self.cls.normal_(0, std, generator=g)
            self.pos.normal_(0, std, generator=g)
            for b in self.blocks:
                for p in (b.wq, b.wk, b.wv, b.gate, b.up):
                    p.normal_(0, std, generator=g)
                for p in (b.wo, b.down):
                    p.normal_(0, proj_std, generator=g)
                if b.is_moe:
                    b.router.normal_(0, std, generator=g)
            self.out_w.normal_(0, std, generator=g)

    def forward(self, img):
        """img: (B, C, S, S) normalised pixels. Returns (logits (B, n_classes), router list of
        (logits, topi) per MoE block)."""
        c = self.c
        B = img.shape[0]
        p = F.linear(patchify(img, c.patch_size), self.patch_w, self.patch_b) + self.pos[1:]
        cls = (self.cls + self.pos[0]).expand(B, 1, c.d)
        x = torch.cat([cls, p], 1)
        router = []
        for b in self.blocks:
            x, r = b(x)
            if r is not None:
                router.append(r)
        h = rms_norm(x[:, 0], self.out_norm, c.eps)
        return F.linear(h, self.out_w, self.out_b), router


def param_counts(c: VConfig):
    d, E = c.d, c.experts
    attn = 4 * d * d + 4 * d
    dense = 3 * d * c.ff
    expert = 3 * d * c.ff_exp
    n_moe = sum(c.moe_pattern())
    n_dense = c.layers - n_moe
    common = (c.channels * c.patch_size ** 2 + 1) * d + d + c.n_pos * d + d \
        + c.n_classes * d + c.n_classes + c.layers * (attn + 2 * d)
    total = common + n_dense * dense + n_moe * (E * d + E * expert)
    active = common + n_dense * dense + n_moe * (E * d + c.topk * expert)
    return {"total": total, "active_per_token": active, "experts_total": n_moe * E * expert,
            "per_expert": expert}


def export_gguf(model: VMoE, path, qtype=G.GGML_Q8_0, name="fashion-vmoe", labels=FASHION_LABELS,
                extra_meta=None):
    """Writes the model as docs/vmoe-format.md: matrices (q/k/v/output, dense ffn, experts) in
    qtype (Q8_0 or F32), everything else (patch/class/position embeddings, norms, biases, routers,
    classifier) F32."""
    c = model.c
    assert len(labels) == c.n_classes
    w = G.GGUFWriter(alignment=32)
    a = "vmoe"
    ftype = {G.GGML_Q8_0: 7, G.GGML_F32: 0, G.GGML_F16: 1}[qtype]
    w.add("general.architecture", G.T_STRING, a)
    w.add("general.name", G.T_STRING, name)
    w.add("general.alignment", G.T_UINT32, 32)
    w.add("general.file_type", G.T_UINT32, ftype)
    w.add("general.quantization_version", G.T_UINT32, 2)
    for k, v in (extra_meta or {}).items():
        w.add(k, G.T_STRING, v)
    w.add(a + ".image_size", G.T_UINT32, c.image_size)
    w.add(a + ".patch_size", G.T_UINT32, c.patch_size)
    w.add(a + ".num_channels", G.T_UINT32, c.channels)
    w.add(a + ".image_mean", G.T_FLOAT32, float(c.image_mean))
    w.add(a + ".image_std", G.T_FLOAT32, float(c.image_std))
    w.add(a + ".context_length", G.T_UINT32, c.n_pos)
    w.add(a + ".embedding_length", G.T_UINT32, c.d)
    w.add(a + ".block_count", G.T_UINT32, c.layers)
    w.add(a + ".attention.head_count", G.T_UINT32, c.heads)
    w.add(a + ".attention.head_count_kv", G.T_UINT32, c.heads)
    w.add(a + ".attention.layer_norm_rms_epsilon", G.T_FLOAT32, float(c.eps))
    w.add(a + ".feed_forward_length", G.T_UINT32, c.ff)
    w.add(a + ".expert_count", G.T_UINT32, c.experts)
    w.add(a + ".expert_used_count", G.T_UINT32, c.topk)
    w.add(a + ".expert_feed_forward_length", G.T_UINT32, c.ff_exp)
    w.add(a + ".moe_layer_pattern", G.T_ARRAY, c.moe_pattern(), G.T_BOOL)
    w.add(a + ".expert_weights_norm", G.T_BOOL, False)
    w.add(a + ".class_labels", G.T_ARRAY, list(labels), G.T_STRING)

    def np_(p):
        return p.detach().float().cpu().numpy()

    F32 = G.GGML_F32
    w.add_tensor("patch_embd.weight", np_(model.patch_w), F32)
    w.add_tensor("patch_embd.bias", np_(model.patch_b), F32)
    w.add_tensor("cls_embd.weight", np_(model.cls), F32)
    w.add_tensor("pos_embd.weight", np_(model.pos), F32)
    for i, b in enumerate(model.blocks):
        p = "blk.%d." % i
        w.add_tensor(p + "attn_norm.weight", np_(b.attn_norm), F32)
        for nm, W, B in (("q", b.wq, b.bq), ("k", b.wk, b.bk), ("v", b.wv, b.bv),
                         ("output", b.wo, b.bo)):
            w.add_tensor(p + "attn_%s.weight" % nm, np_(W), qtype)
            w.add_tensor(p + "attn_%s.bias" % nm, np_(B), F32)
        w.add_tensor(p + "ffn_norm.weight", np_(b.ffn_norm), F32)
        if b.is_moe:
            w.add_tensor(p + "ffn_gate_inp.weight", np_(b.router), F32)
            w.add_tensor(p + "ffn_gate_exps.weight", np_(b.gate), qtype)
            w.add_tensor(p + "ffn_up_exps.weight", np_(b.up), qtype)
            w.add_tensor(p + "ffn_down_exps.weight", np_(b.down), qtype)
        else:
            w.add_tensor(p + "ffn_gate.weight", np_(b.gate), qtype)
            w.add_tensor(p + "ffn_up.weight", np_(b.up), qtype)
            w.add_tensor(p + "ffn_down.weight", np_(b.down), qtype)
    w.add_tensor("output_norm.weight", np_(model.out_norm), F32)
    w.add_tensor("output.weight", np_(model.out_w), F32)
    w.add_tensor("output.bias", np_(model.out_b), F32)
    w.write(path)


def keep_freed_memory():
    """As tools/train/common.py (which imports the language model's model.py, so it is not
    imported here): keep freed blocks in glibc's heap instead of returning each step's
    activations to the kernel and page-faulting them in again. Changes no arithmetic."""
    import ctypes
    try:
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
        libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
        libc.mallopt(M_TOP_PAD, 64 << 20)
    except OSError:
        pass


# ----------------------------------------------------------------------------- data
FASHION_DIR = "/usr/share/datasets/fashion-mnist"   # Debian package dataset-fashion-mnist


def load_idx(path):
    """IDX file (optionally gzip): uint8 images (n, rows, cols) or labels (n,)."""
    import gzip
    import struct
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rb") as f:
        raw = f.read()
    magic, = struct.unpack(">I", raw[:4])
    assert magic >> 8 == 0x08, "IDX of unsigned bytes expected"
    nd = magic & 0xFF
    dims = struct.unpack(">%dI" % nd, raw[4:4 + 4 * nd])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def load_fashion(split, data_dir=FASHION_DIR):
    """split 'train' (60,000) or 't10k' (10,000): (uint8 images (n, 28, 28), int64 labels (n,))."""
    x = load_idx(os.path.join(data_dir, "%s-images-idx3-ubyte.gz" % split))
    y = load_idx(os.path.join(data_dir, "%s-labels-idx1-ubyte.gz" % split)).astype(np.int64)
    assert len(x) == len(y)
    return x, y
