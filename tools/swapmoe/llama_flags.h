// llama.cpp's command-line habits, translated before CLI11 parses: multi-letter short flags
// (-ctk, -cnv, -sys, -ub) become their long names; GPU flags that mean nothing on a CPU engine
// (-ngl 99, -fa on) are dropped with a one-line note; any other multi-letter single-dash flag
// is refused by name instead of being split into one-letter flags (CLI11 would read `-ngl 99`
// as `-n gl`). Unknown subcommands are named with the list of the known ones.
#pragma once

#include <string>
#include <vector>

namespace swapmoe::cli {

struct TranslatedArgs {
  std::vector<std::string> args;   // without the program name, in order
  std::vector<std::string> notes;  // one line per flag dropped because it has no meaning here
};

// Throws swapmoe::Error naming the offending flag or subcommand. `subcommands` are the names
// the program registers; the first argument that is not a flag must be one of them.
TranslatedArgs translate_llama_flags(const std::vector<std::string>& argv,
                                     const std::vector<std::string>& subcommands);

}  // namespace swapmoe::cli
