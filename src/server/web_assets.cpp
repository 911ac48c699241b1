// The embedded files as string views; the bytes come from the build's generated index_html.cpp.
#include "server/web_assets.h"

#include <cstddef>

namespace swapmoe::server {

extern const char index_html_bytes[];
extern const std::size_t index_html_bytes_size;

std::string_view index_html() { return {index_html_bytes, index_html_bytes_size}; }

}  // namespace swapmoe::server
