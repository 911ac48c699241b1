// Commands typed in an interactive session instead of a message: /budget SIZE changes the
// memory budget between turns, /stats shows the context and expert figures, /help lists them.
#pragma once

#include <string>

#include "runtime/generation.h"
#include "runtime/session.h"

namespace swapmoe::cli {

// True when `line` was a command (it has been carried out, or its error printed, on stderr);
// false when it is a message for the model.
bool run_chat_command(const std::string& line, Session& session, const GenerationResult& last_turn);

}  // namespace swapmoe::cli
