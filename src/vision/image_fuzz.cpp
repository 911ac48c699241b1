// libFuzzer entry for the images a client or a file may hand swapmoe (POST /v1/classify, swapmoe
// classify): any bytes are either decoded (IDX, gzip or not; PNG of the model's 28x28 grey or an
// RGB size) or refused with swapmoe::Error. Any other exception, a crash, a hang or a huge
// allocation is a bug. The first byte picks the decoder.
#include <cstdint>
#include <span>

#include "core/error.h"
#include "vision/idx_file.h"
#include "vision/png_image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace swapmoe;
  if (size == 0) return 0;
  const std::span<const uint8_t> body(data + 1, size - 1);
  try {
    switch (data[0] % 4) {
      case 0: (void)parse_idx_images(body, "fuzz"); break;
      case 1: (void)parse_idx_labels(body, "fuzz"); break;
      case 2: (void)decode_png(body, "fuzz", 28, 28, 1); break;
      case 3: (void)decode_png(body, "fuzz", 8, 8, 3); break;
    }
  } catch (const Error&) {
  }
  return 0;
}
