#include "chat_commands.h"

#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "core/memory_stats.h"
#include "runtime/metrics.h"

namespace swapmoe::cli {

namespace {

void print_stats(Session& session, const GenerationResult& last) {
  std::cerr << fmt::format("context {}/{} tokens | last turn: {} tokens evaluated, {} generated ({})\n",
                           session.pos(), session.n_ctx(), last.prompt_tokens.size(), last.tokens.size(),
                           last.stop_reason.empty() ? "none yet" : last.stop_reason)
            << format_metrics_line(collect_metrics(session.engine())) << "\n";
}

void change_budget(Session& session, const std::string& size) {
  Engine& engine = session.engine();
  try {
    engine.set_memory_budget(Budget::parse(size));
  } catch (const Error& e) {
    std::cerr << "budget unchanged: " << e.what() << "\n";
    return;
  }
  std::cerr << fmt::format("budget now {}: expert slots per layer [{}], accounted {}\n",
                           format_bytes(engine.memory_budget()), fmt::join(engine.memory_plan().slots, ","),
                           format_bytes(engine.memory_account().total()));
}

}  // namespace

bool run_chat_command(const std::string& line, Session& session, const GenerationResult& last_turn) {
  if (line.empty() || line[0] != '/') return false;
  const size_t space = line.find(' ');
  const std::string name = line.substr(0, space);
  const std::string arg = space == std::string::npos ? "" : line.substr(line.find_first_not_of(' ', space));
  if (name == "/budget" && !arg.empty()) {
    change_budget(session, arg);
  } else if (name == "/stats") {
    print_stats(session, last_turn);
  } else if (name == "/help") {
    std::cerr << "/budget SIZE   change the memory budget (512M, 3G, 40%) before the next reply\n"
                 "/stats         context used, the last turn's token counts, expert figures\n"
                 "Ctrl-C         stop a reply (at the prompt: quit)   Ctrl-D: quit\n";
  } else {
    std::cerr << fmt::format("unknown command '{}' (/help lists them)\n", line);
  }
  return true;
}

}  // namespace swapmoe::cli
