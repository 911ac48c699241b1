#!/usr/bin/python3
"""Train a shakespeare-moe model on Tiny Shakespeare and export it as GGUF: the default
Mixtral-style one (llama.cpp llama-arch semantics) or, with --arch qwen3moe, the fine-grained
Qwen3-MoE-style one (64 experts, top-8). Run with Debian's /usr/bin/python3 (torch + numpy).

  /usr/bin/python3 tools/train/train.py --out models/shakespeare-moe.gguf
  /usr/bin/python3 tools/train/train.py --arch qwen3moe --out models/shakespeare-moe-64x8.gguf
"""
import os
# OpenMP threads must not spin-wait: the machine is shared with compilers, and with active
# waiting a descheduled thread stalls its partner (measured 3.7x slower under contention).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import DEFAULT_DATA, load_split, export_gguf, keep_freed_memory   # noqa: E402
from model import Config, MoELM, param_counts              # noqa: E402
from spm_tokenizer import train_bpe, SPMTokenizer, BOS_ID  # noqa: E402


def router_losses(router, c, load=None):
    """Switch-style load-balancing loss (E * sum_i f_i P_i, top-k assignments counted) and router
    z-loss, averaged over layers; adds each layer's assignment counts to load (L, E) if given."""
    aux = 0.0
    z = 0.0
    for l, (logits, topi) in enumerate(router):
        probs = logits.float().softmax(-1)
        counts = torch.bincount(topi.reshape(-1), minlength=c.n_expert)
        if load is not None:
            load[l] += counts
        f = counts.float() / topi.numel()
        aux = aux + c.n_expert * (f * probs.mean(0)).sum()
        z = z + torch.logsumexp(logits.float(), -1).pow(2).mean()
    return aux / len(router), z / len(router)


# Shapes per architecture; a flag given on the command line overrides its entry.
ARCH_DEFAULTS = {
    # Mixtral-style: 16 experts of the dense width, top-2 (models/shakespeare-moe.md)
    "llama": dict(d=256, layers=4, heads=8, kv_heads=4, head_dim=0, ff=192, experts=16, topk=2,
                  name="shakespeare-moe"),
    # Qwen3-30B-A3B's proportions, scaled down: query heads twice as wide in total as n_embd
    # (32 x 128 over 2048 there), 64 fine-grained experts of 0.375 x n_embd (768 / 2048), top-8,
    # no shared expert
    "qwen3moe": dict(d=256, layers=4, heads=8, kv_heads=4, head_dim=64, ff=96, experts=64, topk=8,
                     name="shakespeare-moe-64x8"),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", choices=sorted(ARCH_DEFAULTS), default="llama",
                    help="llama (Mixtral-style, the default model) or qwen3moe (fine-grained experts, "
                         "per-head q/k RMSNorm, NEOX RoPE)")
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--out", default=None, help="default: models/<name>.gguf")
    ap.add_argument("--name", default=None, help="general.name (default: per --arch)")
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--d", type=int, default=None)
    ap.add_argument("--layers", type=int, default=None)
    ap.add_argument("--heads", type=int, default=None)
    ap.add_argument("--kv-heads", type=int, default=None)
    ap.add_argument("--head-dim", type=int, default=None,
                    help="qwen3moe: attention.key_length (0: d / heads); llama: always d / heads")
    ap.add_argument("--ff", type=int, default=None, help="width of one expert")
    ap.add_argument("--experts", type=int, default=None)
    ap.add_argument("--topk", type=int, default=None)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--aux-coef", type=float, default=0.01)
    ap.add_argument("--z-coef", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--log-every", type=int, default=50)
    args = ap.parse_args()
    for key, v in ARCH_DEFAULTS[args.arch].items():
        if getattr(args, key) is None:
            setattr(args, key, v)
    if args.out is None:
        args.out = "models/%s.gguf" % args.name
    if args.arch == "llama" and args.head_dim:
        ap.error("--head-dim: llama's heads are d / heads wide (the file has no key_length)")

    keep_freed_memory()
    t_start = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    train_text, val_text, sha = load_split(args.data)
    tokens, scores, types = train_bpe(train_text, args.vocab)
    tok = SPMTokenizer(tokens, scores, types)
    train_ids = torch.tensor(tok.encode(train_text, add_bos=False), dtype=torch.long)
    val_ids = torch.tensor(tok.encode(val_text, add_bos=False), dtype=torch.long)
    print("data sha256 %s; train %d chars -> %d tokens (%.3f chars/tok); val %d chars -> %d tokens"
          % (sha, len(train_text), len(train_ids), len(train_text) / len(train_ids), len(val_text),
             len(val_ids)), flush=True)

    c = Config(vocab_size=args.vocab, n_embd=args.d, n_layer=args.layers, n_head=args.heads,
               n_head_kv=args.kv_heads, n_ff=args.ff, n_expert=args.experts,
               n_expert_used=args.topk, n_ctx=args.ctx, arch=args.arch, n_embd_head=args.head_dim)
    model = MoELM(c)
    model.init_weights(args.seed)
    print("config", json.dumps(c.to_dict()), "params", json.dumps(param_counts(c)), flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)

    def lr_at(s):
        if s < args.warmup:
            return args.lr * (s + 1) / args.warmup
        p = (s - args.warmup) / max(1, args.steps - args.warmup)
        return args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * p)))

    drop = args.dropout
    if drop > 0:   # dropout on the residual branches (training only)
        for b in model.blocks:
            fa, fm = b.attention, b.moe
            b.attention = (lambda fa: lambda *a: F.dropout(fa(*a), drop, model.training))(fa)
            b.moe = (lambda fm: lambda h: (lambda r: (F.dropout(r[0], drop, model.training),) + r[1:])(fm(h)))(fm)

    gen = torch.Generator().manual_seed(args.seed + 1)
    T, B = args.ctx, args.batch

    def batch():
        ix = torch.randint(0, len(train_ids) - T - 1, (B,), generator=gen)
        x = torch.stack([train_ids[i:i + T] for i in ix])
        y = torch.stack([train_ids[i + 1:i + T + 1] for i in ix])
        x[:, 0] = BOS_ID     # like llama-perplexity: each window starts with BOS
        return x, y

    def quick_val(n_win=24):
        model.eval()
        starts = torch.linspace(0, len(val_ids) - T - 1, n_win).long()
        with torch.no_grad():
            x = torch.stack([val_ids[i:i + T] for i in starts])
            y = torch.stack([val_ids[i + 1:i + T + 1] for i in starts])
            x[:, 0] = BOS_ID
            logits, _ = model(x)
            nll = F.cross_entropy(logits[:, T // 2:].reshape(-1, c.vocab_size), y[:, T // 2:].reshape(-1))
        model.train()
        return nll.item()

    model.train()
    t0 = time.time()
    load = torch.zeros(c.n_layer, c.n_expert, dtype=torch.long)   # assignments since the last log
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        x, y = batch()
        logits, router = model(x)
        ce = F.cross_entropy(logits.view(-1, c.vocab_size), y.view(-1))
        aux, z = router_losses(router, c, load)
        loss = ce + args.aux_coef * aux + args.z_coef * z
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % args.log_every == 0 or step == args.steps - 1:
            el = time.time() - t0
            print("step %5d ce %.4f aux %.4f z %.3f lr %.2e | %.1f tok/s %.0fs elapsed"
                  % (step, ce.item(), aux.item(), z.item(), lr_at(step), (step + 1) * B * T / el, el),
                  flush=True)
            share = load.double() / load.sum(1, keepdim=True) * c.n_expert   # 1 = uniform
            print("  expert load / uniform, per layer min-max: %s"
                  % " ".join("%.2f-%.2f" % (r.min(), r.max()) for r in share), flush=True)
            load.zero_()
        if (args.eval_every and step % args.eval_every == 0 and step > 0) or step == args.steps - 1:
            v = quick_val()
            print("  val(second-half nll, 24 windows) %.4f nats/tok = %.3f bits/char (approx)"
                  % (v, v / math.log(2) * len(val_ids) / len(val_text)), flush=True)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    export_gguf(model, tok, args.out, name=args.name)
    print("exported %s (%d bytes); total wall time %.1f s" % (args.out, os.path.getsize(args.out),
                                                              time.time() - t_start), flush=True)


if __name__ == "__main__":
    main()
