// PNG images through libpng's simplified API (png_image): decoding to the model's channels and
// size, and encoding (for tests, and for users who want to look at an image).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "vision/image_set.h"

namespace swapmoe {

// Decodes PNG files to `channels` (1: grey, 3: RGB), rows x cols each (the model's size: any
// other size is an error naming the file and both sizes; nothing is resized). Conversions, all
// done by libpng:
//  - colour to grey: luminance Y = 0.2126 R + 0.7152 G + 0.0722 B computed on linear light (libpng
//    decodes sRGB, mixes, and re-encodes), so a grey pixel (v, v, v) stays v;
//  - grey to RGB: the grey value in all three channels;
//  - 16-bit samples reduced to 8, palettes expanded;
//  - alpha composited over black: MNIST-style models see bright strokes on a black background,
//    so a transparent background must become black, not white.
// Names are the paths.
ImageSet read_png_images(const std::vector<std::string>& paths, int64_t rows, int64_t cols, int64_t channels);
// The same for one PNG held in memory (an HTTP body); `name` stands for the path.
ImageSet decode_png(std::span<const uint8_t> bytes, const std::string& name, int64_t rows, int64_t cols,
                    int64_t channels);

// One image laid out as in ImageSet ([channels][rows][cols], channels 1 or 3), as an 8-bit grey
// or RGB PNG.
void write_png(const std::string& path, const uint8_t* pixels, int64_t rows, int64_t cols, int64_t channels);
std::vector<uint8_t> encode_png(const uint8_t* pixels, int64_t rows, int64_t cols, int64_t channels);

}  // namespace swapmoe
