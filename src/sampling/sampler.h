// Token sampling from logits: repetition/frequency/presence penalties, top-k, top-p, min-p,
// temperature, then a seeded draw, in llama.cpp's default order; temperature <= 0 means greedy.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace swapmoe {

struct SamplerParams {
  float temperature = 0.8f;        // <= 0: greedy (argmax after the penalties)
  int top_k = 40;                  // keep the k most likely tokens; <= 0: off
  float top_p = 0.95f;             // keep the smallest prefix with probability mass >= p; >= 1: off
  float min_p = 0.05f;             // drop tokens below min_p * (top probability); <= 0: off
  float repeat_penalty = 1.0f;     // > 0; 1: off
  int repeat_last_n = 64;          // how many accepted tokens the penalties look back on; 0: off
  float frequency_penalty = 0.0f;  // [-2, 2] (OpenAI); subtracted once per occurrence; 0: off
  float presence_penalty = 0.0f;   // [-2, 2] (OpenAI); subtracted once from any seen token; 0: off
  uint64_t seed = 0;               // seeds std::mt19937_64; equal seeds give equal draws
};

// The repetition penalty on one logit, as llama.cpp applies it (CTRL, Keskar et al. 2019):
// dividing a negative logit would make the token more likely, so those are multiplied.
inline float repeat_penalized(float logit, float penalty) {
  return logit <= 0.0f ? logit * penalty : logit / penalty;
}

// Order of the chain, per sample() call (llama.cpp's default chain):
//   1. penalties on each token seen in the last repeat_last_n accepted tokens, count times
//      (llama.cpp's penalties sampler): first the repetition penalty, once however often the
//      token appeared, then logit -= count * frequency_penalty + presence_penalty
//   2. temperature <= 0: return the argmax (lowest id on ties); no random number is used
//   3. top-k, 4. top-p (on probabilities at temperature 1), 5. min-p
//   6. temperature: logits / T, softmax over the survivors
//   7. draw: u = (next mt19937_64 output >> 11) * 2^-53, a double in [0, 1); the token is the
//      first, in order of decreasing probability (ties: lower id first), whose cumulative
//      probability exceeds u. One engine output per non-greedy call.
// (min-p is evaluated before sorting, which gives the same tokens as running it after top-p
// but sorts only its survivors; sampler_test checks this against the plain chain.)
// sample() never allocates: it works in a buffer sized n_vocab at construction.
class Sampler {
 public:
  // Throws swapmoe::Error for n_vocab <= 0 or parameters out of range (NaN, repeat_penalty <= 0,
  // repeat_last_n < 0, frequency or presence penalty outside [-2, 2]).
  Sampler(const SamplerParams& params, int32_t n_vocab);

  // `logits` must hold n_vocab values; throws swapmoe::Error otherwise, on a NaN or +infinity
  // logit, or when every logit is -infinity (-infinity alone is fine: a mask).
  int32_t sample(std::span<const float> logits);

  // Records a token (prompt or generated) for the penalties.
  void accept(int32_t token);

  // Forgets the history and restarts the random sequence from the seed.
  void reset();

  const SamplerParams& params() const { return params_; }
  int32_t n_vocab() const { return n_vocab_; }

 private:
  struct Candidate {
    int32_t id;
    float logit;
    float p;
  };

  size_t truncate(size_t n);  // top-k, top-p, min-p on candidates_[0, n); returns the new n
  int32_t draw(size_t n);     // temperature, softmax and the seeded draw

  SamplerParams params_;
  int32_t n_vocab_;
  std::mt19937_64 rng_;
  std::vector<Candidate> candidates_;   // (n_vocab) working buffer, reused by every call
  std::vector<Candidate> chunk_maxima_;  // top-k's bound (select_most_likely in sampler.cpp)
  std::vector<int32_t> history_;        // ring buffer of the last repeat_last_n accepted tokens
  size_t history_next_ = 0;             // slot the next accepted token goes to
  size_t history_size_ = 0;
  std::vector<uint32_t> history_count_;  // (n_vocab) occurrences of each token in history_
};

}  // namespace swapmoe
