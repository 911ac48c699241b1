// The files the HTTP server serves from inside the binary (src/server/web/, cmake/embed_text.cmake).
#pragma once

#include <string_view>

namespace swapmoe::server {

// The chat page served at `/`: src/server/web/index.html, byte for byte (UTF-8 HTML).
std::string_view index_html();

}  // namespace swapmoe::server
