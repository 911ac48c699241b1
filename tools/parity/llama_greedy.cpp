// Greedy token ids from llama.cpp through its C API (non-flash attention, the given KV type, no
// weight repacking): the oracle scripts/llama-parity compiles against a llama.cpp build beside
// the project. Usage: llama_greedy MODEL PROMPT N_TOKENS KV(f32|f16)
// Prints the ids on stdout and, one line per step on stderr, llama.cpp's own margin between its
// two best logits: where another engine picks differently, a small margin says it was a near-tie.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#include "llama.h"
int main(int argc, char** argv) {
  llama_backend_init();
  llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
  auto mp = llama_model_default_params();
  mp.use_extra_bufts = std::getenv("REPACK") != nullptr;  // --no-repack unless asked
  llama_model* model = llama_model_load_from_file(argv[1], mp);
  auto cp = llama_context_default_params();
  cp.n_ctx = 512; cp.n_batch = 512; cp.n_threads = 1; cp.n_threads_batch = 1;
  cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  const ggml_type kv = std::strcmp(argv[4], "f32") == 0 ? GGML_TYPE_F32 : GGML_TYPE_F16;
  cp.type_k = kv; cp.type_v = kv;
  llama_context* ctx = llama_init_from_model(model, cp);
  const llama_vocab* vocab = llama_model_get_vocab(model);
  std::string prompt = argv[2];
  std::vector<llama_token> toks(prompt.size() + 8);
  int n = llama_tokenize(vocab, prompt.c_str(), prompt.size(), toks.data(), toks.size(), true, false);
  toks.resize(n);
  const int n_vocab = llama_vocab_n_tokens(vocab);
  llama_decode(ctx, llama_batch_get_one(toks.data(), n));
  for (int i = 0; i < std::atoi(argv[3]); ++i) {
    const float* l = llama_get_logits_ith(ctx, -1);
    llama_token best = 0;
    for (int v = 1; v < n_vocab; ++v) if (l[v] > l[best]) best = v;
    float second = -1e30f;
    for (int v = 0; v < n_vocab; ++v) if (v != best && l[v] > second) second = l[v];
    std::fprintf(stderr, "%.5f\n", l[best] - second);
    if (llama_vocab_is_eog(vocab, best)) break;
    std::printf("%d ", best);
    llama_decode(ctx, llama_batch_get_one(&best, 1));
  }
  std::printf("\n");
}
