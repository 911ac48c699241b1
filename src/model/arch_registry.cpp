// The registry of architectures: a lookup table over the entries.
#include <array>

#include "model/arch.h"

namespace swapmoe {

namespace {
// One line per architecture.
constexpr std::array<const ArchEntry*, 7> kEntries = {&kArchLlama, &kArchQwen3Moe, &kArchOlmoe, &kArchQwen2Moe,
                                                      &kArchGptOss, &kArchDeepseek2, &kArchVmoe};
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

}  // namespace swapmoe
