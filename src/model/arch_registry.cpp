// The registry of architectures: a lookup table over the entries, and the pieces they share.
#include <array>

#include "model/arch.h"

namespace swapmoe {

namespace {
// One line per architecture.
constexpr std::array<const ArchEntry*, 1> kEntries = {&kArchLlama};
}  // namespace

const ArchEntry* find_arch(std::string_view name) {
  for (const ArchEntry* a : kEntries)
    if (name == a->name) return a;
  return nullptr;
}

std::vector<std::string> supported_architectures() {
  std::vector<std::string> names;
  for (const ArchEntry* a : kEntries) names.emplace_back(a->name);
  return names;
}

TensorSpec common_global_tensor(const ModelConfig& c, std::string_view name) {
  if (name == "token_embd.weight") return TensorSpec::required({c.n_embd, c.n_vocab});
  if (name == "output_norm.weight") return TensorSpec::required({c.n_embd});
  if (name == "output.weight") return TensorSpec::optional({c.n_embd, c.n_vocab});
  return {};
}

}  // namespace swapmoe
