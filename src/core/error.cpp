#include "core/error.h"

namespace swapmoe {

void fail(std::string_view where, std::string_view what, std::string_view hint) {
  std::string msg;
  msg.reserve(where.size() + what.size() + hint.size() + 8);
  msg += '[';
  msg += where;
  msg += "] ";
  msg += what;
  if (!hint.empty()) {
    msg += "; ";
    msg += hint;
  }
  throw Error(msg);
}

}  // namespace swapmoe
