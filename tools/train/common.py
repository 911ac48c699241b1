"""Shared helpers: data split, tokenizer <-> GGUF metadata, model export/import."""
import ctypes
import hashlib
import os

import numpy as np
import torch

import gguf_io as G
from model import Config, MoELM
from spm_tokenizer import SPMTokenizer, BOS_ID, EOS_ID, UNK_ID

DEFAULT_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "../../../shared/data/tinyshakespeare/input.txt")


def keep_freed_memory():
    """glibc returns freed blocks of more than ~128 KiB to the kernel at once (mmap/munmap), so
    every step's large activations were page-faulted in again: a third of a 64-expert step was
    system time. Keep them in the heap instead (changes no arithmetic)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
        libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)   # glibc's largest allowed threshold
        libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
        libc.mallopt(M_TOP_PAD, 64 << 20)
    except OSError:
        pass   # not glibc: only slower


def load_split(path):
    """Tiny Shakespeare convention: first 90% of the BYTES = train, last 10% = validation."""
    with open(path, "rb") as f:
        raw = f.read()
    cut = int(len(raw) * 0.9)
    return raw[:cut].decode("utf-8"), raw[cut:].decode("utf-8"), hashlib.sha256(raw).hexdigest()


def export_gguf(model: MoELM, tok: SPMTokenizer, path, name="shakespeare-moe", qtype=G.GGML_Q8_0,
                extra_meta=None):
    c = model.c
    w = G.GGUFWriter(alignment=32)
    a = c.arch   # "llama" or "qwen3moe": the prefix of the hyper-parameter keys
    w.add("general.architecture", G.T_STRING, a)
    w.add("general.name", G.T_STRING, name)
    w.add("general.alignment", G.T_UINT32, 32)
    w.add("general.file_type", G.T_UINT32, 7 if qtype == G.GGML_Q8_0 else 1)  # MOSTLY_Q8_0 / F16
    w.add("general.quantization_version", G.T_UINT32, 2)
    for k, v in (extra_meta or {}).items():
        w.add(k, G.T_STRING, v)
    w.add(a + ".vocab_size", G.T_UINT32, c.vocab_size)
    w.add(a + ".context_length", G.T_UINT32, c.n_ctx)
    w.add(a + ".embedding_length", G.T_UINT32, c.n_embd)
    w.add(a + ".block_count", G.T_UINT32, c.n_layer)
    if a == "llama":
        w.add(a + ".feed_forward_length", G.T_UINT32, c.n_ff)   # Mixtral: experts of the dense width
    else:
        # no dense FFN: the routed experts' width is its own key (llama.cpp's n_ff_exp)
        w.add(a + ".expert_feed_forward_length", G.T_UINT32, c.n_ff)
    w.add(a + ".attention.head_count", G.T_UINT32, c.n_head)
    w.add(a + ".attention.head_count_kv", G.T_UINT32, c.n_head_kv)
    if a == "qwen3moe":
        # heads may be wider than n_embd / n_head; llama.cpp defaults BOTH to n_embd / n_head
        w.add(a + ".attention.key_length", G.T_UINT32, c.head_dim)
        w.add(a + ".attention.value_length", G.T_UINT32, c.head_dim)
    w.add(a + ".rope.freq_base", G.T_FLOAT32, float(c.rope_base))
    w.add(a + ".rope.dimension_count", G.T_UINT32, c.head_dim)
    w.add(a + ".attention.layer_norm_rms_epsilon", G.T_FLOAT32, float(c.norm_eps))
    w.add(a + ".expert_count", G.T_UINT32, c.n_expert)
    w.add(a + ".expert_used_count", G.T_UINT32, c.n_expert_used)
    w.add("tokenizer.ggml.model", G.T_STRING, "llama")
    w.add("tokenizer.ggml.tokens", G.T_ARRAY, tok.tokens, G.T_STRING)
    w.add("tokenizer.ggml.scores", G.T_ARRAY, tok.scores, G.T_FLOAT32)
    w.add("tokenizer.ggml.token_type", G.T_ARRAY, tok.types, G.T_INT32)
    w.add("tokenizer.ggml.bos_token_id", G.T_UINT32, BOS_ID)
    w.add("tokenizer.ggml.eos_token_id", G.T_UINT32, EOS_ID)
    w.add("tokenizer.ggml.unknown_token_id", G.T_UINT32, UNK_ID)
    w.add("tokenizer.ggml.add_bos_token", G.T_BOOL, True)
    w.add("tokenizer.ggml.add_eos_token", G.T_BOOL, False)
    w.add("tokenizer.ggml.add_space_prefix", G.T_BOOL, True)

    def np_(p):
        return p.detach().float().cpu().numpy()

    w.add_tensor("token_embd.weight", np_(model.tok_embd), qtype)
    for i, b in enumerate(model.blocks):
        p = "blk.%d." % i
        w.add_tensor(p + "attn_norm.weight", np_(b.attn_norm), G.GGML_F32)
        w.add_tensor(p + "attn_q.weight", np_(b.wq), qtype)
        w.add_tensor(p + "attn_k.weight", np_(b.wk), qtype)
        w.add_tensor(p + "attn_v.weight", np_(b.wv), qtype)
        w.add_tensor(p + "attn_output.weight", np_(b.wo), qtype)
        if b.qk_norm:
            w.add_tensor(p + "attn_q_norm.weight", np_(b.q_norm), G.GGML_F32)
            w.add_tensor(p + "attn_k_norm.weight", np_(b.k_norm), G.GGML_F32)
        w.add_tensor(p + "ffn_norm.weight", np_(b.ffn_norm), G.GGML_F32)
        w.add_tensor(p + "ffn_gate_inp.weight", np_(b.router), G.GGML_F32)
        w.add_tensor(p + "ffn_gate_exps.weight", np_(b.gate), qtype)
        w.add_tensor(p + "ffn_down_exps.weight", np_(b.down), qtype)
        w.add_tensor(p + "ffn_up_exps.weight", np_(b.up), qtype)
    w.add_tensor("output_norm.weight", np_(model.out_norm), G.GGML_F32)
    w.add_tensor("output.weight", np_(model.output), qtype)
    w.write(path)


def load_gguf(path):
    """Returns (model with dequantised weights, tokenizer, reader)."""
    r = G.GGUFReader(path)
    m = r.meta
    a = m["general.architecture"]
    assert a in ("llama", "qwen3moe"), "unsupported architecture %r" % a
    k = lambda key: m[a + "." + key]
    c = Config(vocab_size=len(m["tokenizer.ggml.tokens"]), n_embd=k("embedding_length"),
               n_layer=k("block_count"), n_head=k("attention.head_count"),
               n_head_kv=k("attention.head_count_kv"),
               n_ff=k("feed_forward_length") if a == "llama" else k("expert_feed_forward_length"),
               n_expert=k("expert_count"), n_expert_used=k("expert_used_count"),
               n_ctx=k("context_length"), rope_base=float(k("rope.freq_base")),
               norm_eps=float(k("attention.layer_norm_rms_epsilon")), arch=a,
               n_embd_head=m.get(a + ".attention.key_length", 0) if a == "qwen3moe" else 0)
    if a == "qwen3moe":
        assert m.get(a + ".attention.value_length", c.n_embd // c.n_head) == c.head_dim
    assert m.get(a + ".rope.dimension_count", c.head_dim) == c.head_dim
    model = MoELM(c)
    t = lambda n: torch.from_numpy(np.ascontiguousarray(r.array(n)))
    with torch.no_grad():
        model.tok_embd.copy_(t("token_embd.weight"))
        for i, b in enumerate(model.blocks):
            p = "blk.%d." % i
            b.attn_norm.copy_(t(p + "attn_norm.weight"))
            b.wq.copy_(t(p + "attn_q.weight"))
            b.wk.copy_(t(p + "attn_k.weight"))
            b.wv.copy_(t(p + "attn_v.weight"))
            b.wo.copy_(t(p + "attn_output.weight"))
            if b.qk_norm:
                b.q_norm.copy_(t(p + "attn_q_norm.weight"))
                b.k_norm.copy_(t(p + "attn_k_norm.weight"))
            b.ffn_norm.copy_(t(p + "ffn_norm.weight"))
            b.router.copy_(t(p + "ffn_gate_inp.weight"))
            b.gate.copy_(t(p + "ffn_gate_exps.weight"))
            b.up.copy_(t(p + "ffn_up_exps.weight"))
            b.down.copy_(t(p + "ffn_down_exps.weight"))
        model.out_norm.copy_(t("output_norm.weight"))
        if "output.weight" in r.tensors:
            model.output.copy_(t("output.weight"))
        else:
            model.output.copy_(model.tok_embd)
    model.eval()
    tok = SPMTokenizer(m["tokenizer.ggml.tokens"], m["tokenizer.ggml.scores"],
                       m["tokenizer.ggml.token_type"],
                       add_space_prefix=bool(m.get("tokenizer.ggml.add_space_prefix", True)),
                       add_bos=bool(m.get("tokenizer.ggml.add_bos_token", True)))
    return model, tok, r
