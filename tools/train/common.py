"""Shared helpers: data split, tokenizer <-> GGUF metadata, model export/import."""
import hashlib
import os

import numpy as np
import torch

import gguf_io as G
from model import Config, MoELM
from spm_tokenizer import SPMTokenizer, BOS_ID, EOS_ID, UNK_ID

DEFAULT_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "../../../shared/data/tinyshakespeare/input.txt")


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
    w.add("general.architecture", G.T_STRING, "llama")
    w.add("general.name", G.T_STRING, name)
    w.add("general.alignment", G.T_UINT32, 32)
    w.add("general.file_type", G.T_UINT32, 7 if qtype == G.GGML_Q8_0 else 1)  # MOSTLY_Q8_0 / F16
    w.add("general.quantization_version", G.T_UINT32, 2)
    for k, v in (extra_meta or {}).items():
        w.add(k, G.T_STRING, v)
    w.add("llama.vocab_size", G.T_UINT32, c.vocab_size)
    w.add("llama.context_length", G.T_UINT32, c.n_ctx)
    w.add("llama.embedding_length", G.T_UINT32, c.n_embd)
    w.add("llama.block_count", G.T_UINT32, c.n_layer)
    w.add("llama.feed_forward_length", G.T_UINT32, c.n_ff)
    w.add("llama.attention.head_count", G.T_UINT32, c.n_head)
    w.add("llama.attention.head_count_kv", G.T_UINT32, c.n_head_kv)
    w.add("llama.rope.freq_base", G.T_FLOAT32, float(c.rope_base))
    w.add("llama.rope.dimension_count", G.T_UINT32, c.head_dim)
    w.add("llama.attention.layer_norm_rms_epsilon", G.T_FLOAT32, float(c.norm_eps))
    w.add("llama.expert_count", G.T_UINT32, c.n_expert)
    w.add("llama.expert_used_count", G.T_UINT32, c.n_expert_used)
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
    assert m["general.architecture"] == "llama"
    c = Config(vocab_size=len(m["tokenizer.ggml.tokens"]), n_embd=m["llama.embedding_length"],
               n_layer=m["llama.block_count"], n_head=m["llama.attention.head_count"],
               n_head_kv=m["llama.attention.head_count_kv"], n_ff=m["llama.feed_forward_length"],
               n_expert=m["llama.expert_count"], n_expert_used=m["llama.expert_used_count"],
               n_ctx=m["llama.context_length"], rope_base=float(m["llama.rope.freq_base"]),
               norm_eps=float(m["llama.attention.layer_norm_rms_epsilon"]))
    assert m["llama.rope.dimension_count"] == c.head_dim
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
