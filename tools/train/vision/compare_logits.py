"""Compares two logit dumps of the same images, [n][classes] little-endian float32 (what
`swapmoe classify --dump-logits` and `evaluate.py --dump-logits` write): the largest absolute
difference, the top-1 agreement, and with --labels (an IDX labels file, gzip or not) each one's
accuracy.

  /usr/bin/python3 tools/train/vision/compare_logits.py ENGINE.bin TORCH.bin \
      --labels /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
"""
import argparse
import gzip
import json

import numpy as np


def read_labels(path):
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    n = int.from_bytes(raw[4:8], "big")
    return np.frombuffer(raw[8:8 + n], dtype=np.uint8).astype(np.int64)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--labels")
    args = ap.parse_args()
    a = np.fromfile(args.a, dtype="<f4").reshape(-1, args.classes)
    b = np.fromfile(args.b, dtype="<f4").reshape(-1, args.classes)
    if a.shape != b.shape:
        raise SystemExit(f"compare_logits: {args.a} holds {a.shape[0]} images, {args.b} {b.shape[0]}")
    out = {"images": int(a.shape[0]), "max_abs_diff": float(np.abs(a - b).max()),
           "max_abs_logit": float(np.abs(b).max()),
           "top1_agree": int((a.argmax(1) == b.argmax(1)).sum())}
    if args.labels:
        y = read_labels(args.labels)[: a.shape[0]]
        out["accuracy_a"] = float((a.argmax(1) == y).mean())
        out["accuracy_b"] = float((b.argmax(1) == y).mean())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
