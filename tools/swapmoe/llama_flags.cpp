#include "llama_flags.h"

#include <algorithm>
#include <cctype>
#include <string_view>

#include <fmt/format.h>

#include "core/error.h"

namespace swapmoe::cli {

namespace {

// llama.cpp's multi-letter short names for flags swapmoe has under their long names.
constexpr std::pair<std::string_view, std::string_view> kAliases[] = {
    {"-ctk", "--cache-type-k"}, {"-ctv", "--cache-type-v"},   {"-cnv", "--conversation"},
    {"-sys", "--system-prompt"}, {"-ub", "--ubatch-size"},    {"-no-cnv", "--no-conversation"},
    {"-st", "--single-turn"},   {"-np", "--parallel"},      {"-nr", "--no-repack"},
};

// Flags about GPUs and offloading: accepted so that llama.cpp command lines run unchanged.
struct IgnoredFlag {
  std::string_view name;
  enum { NO_VALUE, VALUE, OPTIONAL_SWITCH } takes;  // OPTIONAL_SWITCH: on/off/auto may follow
  std::string_view why;
};
constexpr std::string_view kNoGpu = "swapmoe computes on the CPU";
constexpr IgnoredFlag kIgnored[] = {
    {"-ngl", IgnoredFlag::VALUE, kNoGpu},
    {"--n-gpu-layers", IgnoredFlag::VALUE, kNoGpu},
    {"--gpu-layers", IgnoredFlag::VALUE, kNoGpu},
    {"-sm", IgnoredFlag::VALUE, kNoGpu},
    {"--split-mode", IgnoredFlag::VALUE, kNoGpu},
    {"-mg", IgnoredFlag::VALUE, kNoGpu},
    {"--main-gpu", IgnoredFlag::VALUE, kNoGpu},
    {"-ts", IgnoredFlag::VALUE, kNoGpu},
    {"--tensor-split", IgnoredFlag::VALUE, kNoGpu},
    {"-dev", IgnoredFlag::VALUE, kNoGpu},
    {"--device", IgnoredFlag::VALUE, kNoGpu},
    {"-nkvo", IgnoredFlag::NO_VALUE, kNoGpu},
    {"--no-kv-offload", IgnoredFlag::NO_VALUE, kNoGpu},
};

// A multi-letter flag after a single dash (-ngl, -xyz), not a number (-1, -0.5) and not a
// one-letter flag with its value attached (-n128, -t2).
bool is_multi_letter_short_flag(const std::string& a) {
  return a.size() >= 3 && a[0] == '-' && a[1] != '-' && std::isalpha(static_cast<unsigned char>(a[1])) &&
         std::isalpha(static_cast<unsigned char>(a[2]));
}

// Options whose value is free text, which may itself start with a dash.
bool takes_free_text(const std::string& a) {
  static constexpr std::string_view kText[] = {"-p", "--prompt", "-r", "--reverse-prompt", "--stop",
                                               "--system-prompt", "-sys", "--in-prefix", "--in-suffix"};
  return std::find(std::begin(kText), std::end(kText), a) != std::end(kText);
}

bool is_switch_value(const std::string& v) {
  return v == "on" || v == "off" || v == "auto" || v == "0" || v == "1" || v == "true" || v == "false";
}

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

TranslatedArgs translate_llama_flags(const std::vector<std::string>& argv, const std::vector<std::string>& subcommands) {
  TranslatedArgs out;
  bool seen_subcommand = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    std::string a = argv[i];
    if (a == "--") {  // everything after is positional
      out.args.insert(out.args.end(), argv.begin() + static_cast<std::ptrdiff_t>(i), argv.end());
      break;
    }
    if (!seen_subcommand && !a.empty() && a[0] != '-') {
      if (std::find(subcommands.begin(), subcommands.end(), a) == subcommands.end())
        fail("swapmoe", fmt::format("unknown subcommand '{}'", a),
             fmt::format("the subcommands are: {} (swapmoe --help lists what each does)", joined(subcommands)));
      seen_subcommand = true;
      out.args.push_back(a);
      continue;
    }
    const auto ignored = std::find_if(std::begin(kIgnored), std::end(kIgnored),
                                      [&](const IgnoredFlag& f) { return f.name == a; });
    if (ignored != std::end(kIgnored)) {
      std::string shown = a;
      if (ignored->takes == IgnoredFlag::VALUE) {
        if (i + 1 >= argv.size())
          fail("swapmoe", fmt::format("{} needs a value", a), "it is accepted for llama.cpp compatibility and ignored");
        shown += " " + argv[++i];
      } else if (ignored->takes == IgnoredFlag::OPTIONAL_SWITCH && i + 1 < argv.size() && is_switch_value(argv[i + 1])) {
        shown += " " + argv[++i];
      }
      out.notes.push_back(fmt::format("note: {} ignored: {}", shown, ignored->why));
      continue;
    }
    // -fa takes on|off|auto today; older llama.cpp had it as a bare switch meaning on.
    if (a == "-fa" || a == "--flash-attn") {
      out.args.push_back("--flash-attn");
      out.args.push_back(i + 1 < argv.size() && is_switch_value(argv[i + 1]) ? argv[++i] : "on");
      continue;
    }
    for (const auto& [short_name, long_name] : kAliases)
      if (a == short_name) a = long_name;
    if (is_multi_letter_short_flag(a))
      fail("swapmoe", fmt::format("unknown flag '{}'", a),
           fmt::format("single-dash flags have one letter here; did you mean -{}? (see --help)", a));
    out.args.push_back(a);
    // Keep free text (a prompt such as "-x marks the spot") away from the checks above.
    if (takes_free_text(a) && i + 1 < argv.size()) out.args.push_back(argv[++i]);
  }
  return out;
}

}  // namespace swapmoe::cli
