// Errors: one exception type whose message reads "[where] what happened; hint".
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace swapmoe {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Builds "[where] what; hint" (the hint is optional) and throws swapmoe::Error.
[[noreturn]] void fail(std::string_view where, std::string_view what, std::string_view hint = {});

}  // namespace swapmoe
