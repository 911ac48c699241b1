#!/usr/bin/python3
"""Train fashion-vmoe, a V-MoE-style vision transformer (docs/vmoe-format.md), on Fashion-MNIST
and export it as GGUF (`general.architecture = vmoe`). Run with Debian's /usr/bin/python3.

  nice -n 10 /usr/bin/python3 tools/train/vision/train.py --out models/fashion-vmoe.gguf \
      --out-f32 /work/vision/fashion-vmoe-f32.gguf --ckpt /work/vision/fashion-vmoe.pt

  # re-export from a checkpoint without training:
  /usr/bin/python3 tools/train/vision/train.py --export-only /work/vision/fashion-vmoe.pt \
      --out models/fashion-vmoe.gguf --out-f32 /work/vision/fashion-vmoe-f32.gguf

Training uses the 60,000 training images only (the last --val of them held out for validation);
the 10,000 test images are never trained on and are evaluated once at the end.
"""
import os
# OpenMP threads must not spin-wait: the machine is shared with compilers.
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
from model import (VConfig, VMoE, export_gguf, load_fashion, param_counts,   # noqa: E402
                   keep_freed_memory, G)


def router_losses(router, E, load=None):
    """V-MoE/Switch load-balancing loss E * sum_e f_e P_e (f_e: share of the top-k assignments,
    P_e: mean router probability), and router z-loss, averaged over MoE layers; adds each layer's
    assignment counts to load (L, E) if given."""
    aux = 0.0
    z = 0.0
    for l, (logits, topi) in enumerate(router):
        probs = logits.softmax(-1)
        counts = torch.bincount(topi.reshape(-1), minlength=E)
        if load is not None:
            load[l] += counts
        f = counts.float() / topi.numel()
        aux = aux + E * (f * probs.mean(0)).sum()
        z = z + torch.logsumexp(logits, -1).pow(2).mean()
    return aux / len(router), z / len(router)


def normalise(u8, c):
    """uint8 (B, S, S) -> float32 (B, 1, S, S): (p / 255 - mean) / std."""
    return ((u8.float() / 255.0 - c.image_mean) / c.image_std).unsqueeze(1)


def augment(u8, gen, pad=2, flip=True):
    """Random crop with zero padding `pad` and random horizontal flip, on a uint8 batch (B, S, S)."""
    B, S, _ = u8.shape
    if pad:
        padded = F.pad(u8, (pad, pad, pad, pad))
        oy = torch.randint(0, 2 * pad + 1, (B,), generator=gen)
        ox = torch.randint(0, 2 * pad + 1, (B,), generator=gen)
        ar = torch.arange(S)
        rows = (oy[:, None] + ar)[:, :, None]
        cols = (ox[:, None] + ar)[:, None, :]
        u8 = padded[torch.arange(B)[:, None, None], rows, cols]
    if flip:
        f = torch.rand(B, generator=gen) < 0.5
        u8 = torch.where(f[:, None, None], u8.flip(-1), u8)
    return u8


@torch.no_grad()
def evaluate(model, x_u8, y, batch=500, E=None):
    """Accuracy and per-MoE-layer assignment counts over a uint8 image set."""
    was = model.training
    model.eval()
    c = model.c
    correct = 0
    load = torch.zeros(sum(c.moe_pattern()), c.experts, dtype=torch.long)
    for i in range(0, len(x_u8), batch):
        logits, router = model(normalise(x_u8[i:i + batch], c))
        correct += int((logits.argmax(-1) == y[i:i + batch]).sum())
        for l, (_, topi) in enumerate(router):
            load[l] += torch.bincount(topi.reshape(-1), minlength=c.experts)
    model.train(was)
    return correct / len(x_u8), load


def load_str(load):
    share = load.double() / load.sum(1, keepdim=True) * load.shape[1]   # 1 = uniform
    return " ".join("%.2f-%.2f" % (r.min(), r.max()) for r in share)


def do_export(model, args, meta):
    for path, qt in ((args.out, G.GGML_Q8_0), (args.out_f32, G.GGML_F32)):
        if not path:
            continue
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        export_gguf(model, path, qtype=qt, name=args.name, extra_meta=meta)
        print("exported %s (%s, %d bytes)" % (path, "Q8_0" if qt == G.GGML_Q8_0 else "F32",
                                              os.path.getsize(path)), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="models/fashion-vmoe.gguf", help="Q8_0 GGUF (shipped)")
    ap.add_argument("--out-f32", default="/work/vision/fashion-vmoe-f32.gguf",
                    help="the same weights all-F32 (parity tests); '' to skip")
    ap.add_argument("--ckpt", default="/work/vision/fashion-vmoe.pt", help="torch checkpoint")
    ap.add_argument("--export-only", default=None, metavar="CKPT",
                    help="load this checkpoint, evaluate on the test set and export; no training")
    ap.add_argument("--name", default="fashion-vmoe")
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ff", type=int, default=128, help="dense blocks' MLP width")
    ap.add_argument("--experts", type=int, default=16)
    ap.add_argument("--topk", type=int, default=2)
    ap.add_argument("--ff-exp", type=int, default=64, help="width of one expert")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.01)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--aux-coef", type=float, default=0.01)
    ap.add_argument("--z-coef", type=float, default=1e-3)
    ap.add_argument("--pad", type=int, default=2, help="random-crop padding (0: no crop)")
    ap.add_argument("--no-flip", action="store_true")
    ap.add_argument("--n-train", type=int, default=0, help="use only the first N training images")
    ap.add_argument("--val", type=int, default=5000, help="hold out the last N training images")
    ap.add_argument("--time-budget", type=float, default=0,
                    help="seconds for the training loop (0: none); the cosine schedule advances by "
                         "max(step / steps, elapsed / budget) and training stops when it ends, so a "
                         "run slowed by a shared machine still finishes its schedule in time")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--eval-every", type=int, default=500)
    args = ap.parse_args()

    keep_freed_memory()
    t_start = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    xtr, ytr = load_fashion("train")
    xte, yte = load_fashion("t10k")
    xtr, ytr = torch.from_numpy(xtr.copy()), torch.from_numpy(ytr)
    xte, yte = torch.from_numpy(xte.copy()), torch.from_numpy(yte)
    xval, yval = xtr[len(xtr) - args.val:], ytr[len(ytr) - args.val:]
    xtr, ytr = xtr[:len(xtr) - args.val], ytr[:len(ytr) - args.val]
    if args.n_train:
        xtr, ytr = xtr[:args.n_train], ytr[:args.n_train]
    meta = {"general.description": "V-MoE-style vision transformer trained on Fashion-MNIST "
                                   "(swapmoe tools/train/vision)"}

    if args.export_only:
        ck = torch.load(args.export_only, map_location="cpu")
        c = VConfig(**ck["config"])
        model = VMoE(c)
        model.load_state_dict(ck["model"])
        acc, load = evaluate(model, xte, yte)
        print("checkpoint %s: test accuracy %.4f; expert load / uniform per MoE layer: %s"
              % (args.export_only, acc, load_str(load)), flush=True)
        do_export(model, args, meta)
        return

    c = VConfig(d=args.d, layers=args.layers, heads=args.heads, ff=args.ff, experts=args.experts,
                topk=args.topk, ff_exp=args.ff_exp)
    model = VMoE(c)
    model.init_weights(args.seed)
    print("config", json.dumps(c.to_dict()), "params", json.dumps(param_counts(c)), flush=True)
    print("train %d images, validation %d (held out), test %d" % (len(xtr), len(xval), len(xte)),
          flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and n not in ("pos",)]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and n not in ("pos",))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.999), eps=1e-8)

    def progress(s):
        p = (s - args.warmup) / max(1, args.steps - args.warmup)
        if args.time_budget:
            p = max(p, (time.time() - t0) / args.time_budget)
        return min(1.0, p)

    def lr_at(s, p=None):
        if s < args.warmup:
            return args.lr * (s + 1) / args.warmup
        p = progress(s) if p is None else p
        return args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * p)))

    gen = torch.Generator().manual_seed(args.seed + 1)
    n = len(xtr)
    perm, pos = torch.randperm(n, generator=gen), 0
    n_moe = sum(c.moe_pattern())
    load = torch.zeros(n_moe, c.experts, dtype=torch.long)
    run_loss = run_aux = 0.0
    run_correct = run_seen = 0
    model.train()
    t0 = time.time()
    last = False
    for step in range(args.steps):
        prog = progress(step) if step >= args.warmup else 0.0
        last = step == args.steps - 1 or prog >= 1.0
        lr = lr_at(step, prog)
        for g in opt.param_groups:
            g["lr"] = lr
        if pos + args.batch > n:
            perm, pos = torch.randperm(n, generator=gen), 0
        idx = perm[pos:pos + args.batch]
        pos += args.batch
        xb = normalise(augment(xtr[idx], gen, args.pad, not args.no_flip), c)
        yb = ytr[idx]
        logits, router = model(xb)
        ce = F.cross_entropy(logits, yb, label_smoothing=args.label_smoothing)
        aux, z = router_losses(router, c.experts, load)
        loss = ce + args.aux_coef * aux + args.z_coef * z
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        run_loss += ce.item()
        run_aux += aux.item()
        run_correct += int((logits.argmax(-1) == yb).sum())
        run_seen += len(yb)
        if (step + 1) % args.log_every == 0 or last:
            el = time.time() - t0
            k = args.log_every if (step + 1) % args.log_every == 0 else (step + 1) % args.log_every
            print("step %5d ce %.4f aux %.4f train-acc %.4f lr %.2e progress %.3f | %.3f s/step, %.0fs elapsed, "
                  "epoch %.2f | expert load/uniform min-max per MoE layer: %s"
                  % (step + 1, run_loss / k, run_aux / k, run_correct / run_seen, lr, prog,
                     el / (step + 1), el, (step + 1) * args.batch / n, load_str(load)), flush=True)
            load.zero_()
            run_loss = run_aux = 0.0
            run_correct = run_seen = 0
        if len(xval) and ((args.eval_every and (step + 1) % args.eval_every == 0)
                          or last):
            acc, vl = evaluate(model, xval, yval)
            print("  validation accuracy %.4f (%d images); load %s" % (acc, len(xval), load_str(vl)),
                  flush=True)
        if last:
            if step < args.steps - 1:
                print("time budget reached: stopping after %d of %d steps" % (step + 1, args.steps),
                      flush=True)
            break

    train_s = time.time() - t0
    steps_done = step + 1
    acc, tl = evaluate(model, xte, yte)
    print("TEST accuracy (torch f32, %d images): %.4f; expert load / uniform per MoE layer: %s"
          % (len(xte), acc, load_str(tl)), flush=True)
    if args.ckpt:
        os.makedirs(os.path.dirname(os.path.abspath(args.ckpt)), exist_ok=True)
        torch.save({"config": c.to_dict(), "model": model.state_dict(), "args": vars(args),
                    "test_acc": acc, "train_seconds": train_s,
                    "steps_done": steps_done}, args.ckpt)
        print("saved checkpoint %s" % args.ckpt, flush=True)
    do_export(model, args, meta)
    print("training %.1f s; total wall time %.1f s" % (train_s, time.time() - t_start), flush=True)


if __name__ == "__main__":
    main()
