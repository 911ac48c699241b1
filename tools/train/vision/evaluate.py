#!/usr/bin/python3
"""Reference evaluator for `vmoe` GGUF files (docs/vmoe-format.md): loads the file (Q8_0
dequantised exactly as tools/train/gguf_io.py does, i.e. the weights that ship), runs the
spec's forward pass in PyTorch written from the spec (independently of model.py), and reports
test accuracy on Fashion-MNIST and each MoE layer's expert load.

  /usr/bin/python3 tools/train/vision/evaluate.py models/fashion-vmoe.gguf \
      --golden models/fashion-vmoe.golden.json
  /usr/bin/python3 tools/train/vision/evaluate.py /work/vision/fashion-vmoe-f32.gguf \
      --dump-logits /work/vision/logits-f32.bin
  /usr/bin/python3 tools/train/vision/evaluate.py /work/vision/fashion-vmoe-f32.gguf \
      --check-model /work/vision/fashion-vmoe.pt

Options:
  --limit N           only the first N test images
  --f64               compute in float64 (default float32)
  --dump-logits FILE  raw little-endian float32 logits, [n_images][n_classes], row i = test image i
  --golden FILE       JSON for the C++ engine's test, format:
        {"model": <general.name>, "file": <gguf basename>, "dtype": "float32"|"float64",
         "image_mean": m, "image_std": s, "n_classes": 10, "class_labels": [...],
         "data": "fashion-mnist t10k (first 64 test images, IDX order)",
         "images": [{"index": i, "label": y, "logits": [10 floats], "top1": argmax,
                     "margin": top1 logit - top2 logit,
                     "experts": [[[e1, e2] per token (51... n_pos rows)] per MoE layer]}, ...],
         "accuracy_first_64": a}
      `experts` are the top-k expert ids per token (token 0 = class token), ordered by
      descending probability, one list per MoE block in block order; tokens whose top-k
      probabilities nearly tie may legitimately differ under another engine's arithmetic.
  --json FILE         accuracy, per-class accuracy, expert load per MoE layer
  --check-model CKPT  also run model.py's VMoE from the torch checkpoint and print the max
                      |difference| of the logits (use the F32 export: ~1e-6 expected)
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import math
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import FASHION_DIR, load_fashion, G   # noqa: E402


class VMoEFile:
    """Hyper-parameters and dequantised tensors of a vmoe GGUF."""

    def __init__(self, path, dtype=torch.float32):
        r = G.GGUFReader(path)
        m = r.meta
        assert m["general.architecture"] == "vmoe", "not a vmoe file: %r" % m["general.architecture"]
        k = lambda key, *d: m.get("vmoe." + key, *d)
        self.meta = m
        self.name = m.get("general.name", os.path.basename(path))
        self.S, self.P, self.C = k("image_size"), k("patch_size"), k("num_channels")
        self.mean, self.std = float(k("image_mean")), float(k("image_std"))
        self.n_pos, self.d, self.L = k("context_length"), k("embedding_length"), k("block_count")
        self.H = k("attention.head_count")
        assert k("attention.head_count_kv", self.H) == self.H
        self.eps = float(k("attention.layer_norm_rms_epsilon"))
        self.E, self.K = k("expert_count"), k("expert_used_count")
        self.pattern = [bool(b) for b in k("moe_layer_pattern")]
        self.norm_w = bool(k("expert_weights_norm", False))
        self.labels = list(k("class_labels"))
        assert self.S % self.P == 0 and self.n_pos == (self.S // self.P) ** 2 + 1
        assert len(self.pattern) == self.L and self.d % self.H == 0
        self.types = {n: r.tensors[n][1] for n in r.tensors}
        self.t = {n: torch.from_numpy(np.ascontiguousarray(r.array(n))).to(dtype) for n in r.tensors}
        assert self.t["output.weight"].shape[0] == len(self.labels)
        assert self.t["patch_embd.weight"].shape == (self.d, self.C * self.P * self.P)
        assert self.t["pos_embd.weight"].shape == (self.n_pos, self.d)


def rmsnorm(x, w, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w


@torch.no_grad()
def forward(f: VMoEFile, pixels, experts_out=None):
    """pixels: uint8 (B, S, S) or (B, C, S, S). Returns logits (B, n_classes); if experts_out is a
    list, appends each MoE block's top-k expert ids (B, n_pos, k)."""
    t = f.t
    dt = t["output.weight"].dtype
    if pixels.dim() == 3:
        pixels = pixels.unsqueeze(1)
    B, C, S, _ = pixels.shape
    P, n, d, H = f.P, (f.S // f.P) ** 2, f.d, f.H
    p = (pixels.to(dt) / 255.0 - f.mean) / f.std
    g = S // P
    # patch i = (py, px) in raster order; inside it, input index (c P + y) P + x
    patches = p.reshape(B, C, g, P, g, P).permute(0, 2, 4, 1, 3, 5).reshape(B, n, C * P * P)
    x = torch.empty(B, n + 1, d, dtype=dt)
    x[:, 0] = t["cls_embd.weight"] + t["pos_embd.weight"][0]
    x[:, 1:] = patches @ t["patch_embd.weight"].T + t["patch_embd.bias"] + t["pos_embd.weight"][1:]
    T, hd = n + 1, d // H
    for l in range(f.L):
        b = "blk.%d." % l
        lin = lambda h, name: h @ t[b + name + ".weight"].T + t[b + name + ".bias"]
        h = rmsnorm(x, t[b + "attn_norm.weight"], f.eps)
        q = lin(h, "attn_q").reshape(B, T, H, hd).permute(0, 2, 1, 3)
        k = lin(h, "attn_k").reshape(B, T, H, hd).permute(0, 2, 1, 3)
        v = lin(h, "attn_v").reshape(B, T, H, hd).permute(0, 2, 1, 3)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), dim=-1)
        y = (att @ v).permute(0, 2, 1, 3).reshape(B, T, d)
        x = x + lin(y, "attn_output")
        h = rmsnorm(x, t[b + "ffn_norm.weight"], f.eps)
        if not f.pattern[l]:
            a = h @ t[b + "ffn_gate.weight"].T
            u = h @ t[b + "ffn_up.weight"].T
            x = x + (torch.nn.functional.silu(a) * u) @ t[b + "ffn_down.weight"].T
            continue
        hf = h.reshape(B * T, d)
        probs = torch.softmax(hf @ t[b + "ffn_gate_inp.weight"].T, dim=-1)   # (N, E)
        w, e = probs.topk(f.K, dim=-1)                                      # descending
        if f.norm_w:
            w = w / w.sum(-1, keepdim=True)
        if experts_out is not None:
            experts_out.append(e.reshape(B, T, f.K))
        out = torch.zeros_like(hf)
        G_, U_, D_ = t[b + "ffn_gate_exps.weight"], t[b + "ffn_up_exps.weight"], t[b + "ffn_down_exps.weight"]
        for ex in range(f.E):
            rows, slot = (e == ex).nonzero(as_tuple=True)
            if len(rows) == 0:
                continue
            xe = hf[rows]
            ye = (torch.nn.functional.silu(xe @ G_[ex].T) * (xe @ U_[ex].T)) @ D_[ex].T
            out.index_add_(0, rows, ye * w[rows, slot, None])
        x = x + out.reshape(B, T, d)
    h = rmsnorm(x[:, 0], t["output_norm.weight"], f.eps)
    return h @ t["output.weight"].T + t["output.bias"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("gguf")
    ap.add_argument("--data-dir", default=FASHION_DIR)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--f64", action="store_true")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dump-logits", default=None)
    ap.add_argument("--golden", default=None)
    ap.add_argument("--golden-n", type=int, default=64)
    ap.add_argument("--json", default=None)
    ap.add_argument("--check-model", default=None, metavar="CKPT")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dt = torch.float64 if args.f64 else torch.float32

    t0 = time.time()
    f = VMoEFile(args.gguf, dt)
    x, y = load_fashion("t10k", args.data_dir)
    if args.limit:
        x, y = x[:args.limit], y[:args.limit]
    x, y = torch.from_numpy(x.copy()), torch.from_numpy(y)
    qtypes = sorted({{0: "F32", 1: "F16", 8: "Q8_0"}.get(v, str(v)) for v in f.types.values()})
    moe_layers = [l for l in range(f.L) if f.pattern[l]]
    print("%s: %s, d %d, %d blocks (MoE: %s), %d heads, %d experts top-%d, tensor types %s, %s"
          % (args.gguf, f.name, f.d, f.L, moe_layers, f.H, f.E, f.K, qtypes, dt), flush=True)

    logits, experts = [], []
    load = torch.zeros(len(moe_layers), f.E, dtype=torch.long)
    for i in range(0, len(x), args.batch):
        ex = []
        logits.append(forward(f, x[i:i + args.batch], ex))
        for l, e in enumerate(ex):
            load[l] += torch.bincount(e.reshape(-1), minlength=f.E)
        if args.golden and i == 0:
            experts = ex
    logits = torch.cat(logits)
    pred = logits.argmax(-1)
    acc = float((pred == y).double().mean())
    print("accuracy %.4f (%d / %d test images)" % (acc, int((pred == y).sum()), len(y)))
    share = load.double() / load.sum(1, keepdim=True) * 100
    print("expert load (%% of top-%d assignments, all tokens; uniform %.2f%%):" % (f.K, 100 / f.E))
    for l, r in zip(moe_layers, share):
        print("  blk %d: %s  (min %.1f max %.1f)" % (l, " ".join("%.1f" % v for v in r), r.min(), r.max()))
    per_class = [float((pred[y == c] == c).double().mean()) for c in range(len(f.labels))]
    print("per-class accuracy: " + ", ".join("%s %.3f" % (n, a) for n, a in zip(f.labels, per_class)))

    if args.dump_logits:
        logits.to(torch.float32).numpy().astype("<f4").tofile(args.dump_logits)
        print("wrote %s (%d x %d float32)" % (args.dump_logits, logits.shape[0], logits.shape[1]))
    if args.golden:
        n = min(args.golden_n, len(x))
        assert n <= args.batch
        imgs = []
        for i in range(n):
            lg = logits[i].double()
            top2 = lg.topk(2).values
            imgs.append({"index": i, "label": int(y[i]), "logits": [float(v) for v in lg],
                         "top1": int(lg.argmax()), "margin": float(top2[0] - top2[1]),
                         "experts": [e[i].tolist() for e in experts]})
        g = {"model": f.name, "file": os.path.basename(args.gguf),
             "dtype": "float64" if args.f64 else "float32",
             "image_mean": f.mean, "image_std": f.std, "n_classes": len(f.labels),
             "class_labels": f.labels, "moe_layers": moe_layers, "expert_used_count": f.K,
             "data": "fashion-mnist t10k (first %d test images, IDX order)" % n, "images": imgs,
             "accuracy_first_%d" % n: float((pred[:n] == y[:n]).double().mean())}
        with open(args.golden, "w") as fh:   # one line per image
            head = json.dumps({k: v for k, v in g.items() if k != "images"})[:-1]
            fh.write(head + ', "images": [\n' + ",\n".join(json.dumps(i) for i in imgs) + "]}\n")
        print("wrote %s (%d images)" % (args.golden, n))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"file": args.gguf, "accuracy": acc, "n_images": len(y),
                       "per_class_accuracy": dict(zip(f.labels, per_class)),
                       "expert_load_percent": {str(l): [float(v) for v in r]
                                               for l, r in zip(moe_layers, share)}}, fh, indent=1)
    if args.check_model:
        from model import VConfig, VMoE
        ck = torch.load(args.check_model, map_location="cpu")
        model = VMoE(VConfig(**ck["config"]))
        model.load_state_dict(ck["model"])
        model.eval().to(dt)
        c = model.c
        diffs, agree = [], 0
        with torch.no_grad():
            for i in range(0, len(x), args.batch):
                xb = ((x[i:i + args.batch].to(dt) / 255.0 - c.image_mean) / c.image_std).unsqueeze(1)
                ml, _ = model(xb)
                diffs.append((ml - logits[i:i + args.batch]).abs().max().item())
                agree += int((ml.argmax(-1) == pred[i:i + args.batch]).sum())
        print("check-model %s: max |logit difference| vs this file's forward %.3g; top-1 agrees on "
              "%d / %d" % (args.check_model, max(diffs), agree, len(x)))
    print("%.1f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
