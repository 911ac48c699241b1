// libFuzzer entry for the server's request parsing: any body to any endpoint is either parsed or
// refused with an ApiError (whose error body must serialise as the server sends it). Any other
// exception, a crash, a hang or a huge allocation is a bug. The first byte picks the endpoint.
#include <cstdint>
#include <string_view>

#include "server/api_error.h"
#include "server/budget_json.h"
#include "server/completion_request.h"
#include "server/json_fields.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace swapmoe::server;
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  swapmoe::SamplerParams defaults;
  defaults.seed = 1;
  try {
    switch (data[0] % 4) {
      case 0: (void)parse_completion_body(body, true, defaults); break;   // POST /v1/chat/completions
      case 1: (void)parse_completion_body(body, false, defaults); break;  // POST /v1/completions
      case 2: (void)parse_memory_body(body); break;                       // POST /v1/memory
      case 3: (void)parse_json_object(body); break;                       // every other JSON route
    }
  } catch (const ApiError& e) {
    (void)error_body(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return 0;
}
