// PNG decode/encode with libpng's simplified API. It reports failures through png_image::message
// (it catches libpng's longjmp internally), so no setjmp is needed here.
#include "vision/png_image.h"

#include <png.h>

#include "core/error.h"
#include "vision/file_bytes.h"

namespace swapmoe {
namespace {

constexpr const char* kPngWhere = "png";
constexpr const char* kNotPngHint = "give PNG images, or an IDX file (X-images-idx3-ubyte[.gz]) for a data set";
// Far above any image a classifier takes; it only keeps a wrong path from filling the memory.
constexpr uint64_t kMaxPngFileBytes = uint64_t{256} << 20;
constexpr int64_t kMaxImageBytes = int64_t{1} << 31;

// Frees libpng's state on every path out; png_image_free does nothing once it is freed.
struct PngImageFree {
  png_image* image;
  ~PngImageFree() { png_image_free(image); }
};

void check_shape(const std::string& name, int64_t rows, int64_t cols, int64_t channels) {
  if (channels != 1 && channels != 3)
    fail(kPngWhere, name + ": " + std::to_string(channels) + " channels asked for", "use 1 (grey) or 3 (RGB)");
  if (rows <= 0 || cols <= 0 || rows > kMaxImageBytes / cols / channels)
    fail(kPngWhere, name + ": image size " + std::to_string(rows) + " x " + std::to_string(cols) + " (rows x cols) is not possible",
         "rows and cols must be at least 1, and the image at most 2 GiB");
}

uint32_t png_format(int64_t channels) { return channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB; }

std::string libpng_says(const png_image& image) {
  return image.message[0] ? std::string(" (libpng: ") + image.message + ")" : std::string();
}

}  // namespace

ImageSet decode_png(std::span<const uint8_t> bytes, const std::string& name, int64_t rows, int64_t cols,
                    int64_t channels) {
  check_shape(name, rows, cols, channels);
  // libpng's own message for a non-PNG is terse; the signature check lets us say it plainly.
  if (bytes.size() < 8 || png_sig_cmp(bytes.data(), 0, 8) != 0)
    fail(kPngWhere, name + ": is not a PNG file (it does not start with the PNG signature)", kNotPngHint);

  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  PngImageFree free_image{&image};
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()))
    fail(kPngWhere, name + ": cannot read the PNG header" + libpng_says(image), "the file is damaged: export it again");
  // Checked before decoding: no resizing here, and a huge image is never decoded.
  if (image.height != static_cast<uint64_t>(rows) || image.width != static_cast<uint64_t>(cols))
    fail(kPngWhere,
         name + ": is " + std::to_string(image.height) + " x " + std::to_string(image.width) +
             " pixels (rows x cols), but the model takes " + std::to_string(rows) + " x " + std::to_string(cols),
         "resize the image to " + std::to_string(cols) + " pixels wide and " + std::to_string(rows) + " high first");

  image.format = png_format(channels);
  std::vector<uint8_t> interleaved(PNG_IMAGE_SIZE(image));
  const png_color black{0, 0, 0};  // alpha is composited over this: see png_image.h
  if (!png_image_finish_read(&image, &black, interleaved.data(), 0, nullptr))
    fail(kPngWhere, name + ": cannot decode the PNG data" + libpng_says(image), "the file is damaged: export it again");

  ImageSet set;
  set.n = 1;
  set.rows = rows;
  set.cols = cols;
  set.channels = channels;
  set.pixels.resize(interleaved.size());
  // libpng gives RGB interleaved per pixel; ImageSet keeps one plane per channel.
  const int64_t plane = rows * cols;
  for (int64_t p = 0; p < plane; ++p)
    for (int64_t c = 0; c < channels; ++c) set.pixels[c * plane + p] = interleaved[p * channels + c];
  set.names.push_back(name);
  return set;
}

ImageSet read_png_images(const std::vector<std::string>& paths, int64_t rows, int64_t cols, int64_t channels) {
  check_shape("images", rows, cols, channels);
  ImageSet set;
  set.rows = rows;
  set.cols = cols;
  set.channels = channels;
  set.pixels.reserve(paths.size() * static_cast<size_t>(set.image_bytes()));
  for (const std::string& path : paths) {
    const std::vector<uint8_t> bytes = read_file_bytes(path, kMaxPngFileBytes, kPngWhere);
    ImageSet one = decode_png(bytes, path, rows, cols, channels);
    set.pixels.insert(set.pixels.end(), one.pixels.begin(), one.pixels.end());
    set.names.push_back(path);
    ++set.n;
  }
  return set;
}

std::vector<uint8_t> encode_png(const uint8_t* pixels, int64_t rows, int64_t cols, int64_t channels) {
  check_shape("encode_png", rows, cols, channels);
  const int64_t plane = rows * cols;
  std::vector<uint8_t> interleaved(static_cast<size_t>(plane * channels));
  for (int64_t p = 0; p < plane; ++p)
    for (int64_t c = 0; c < channels; ++c) interleaved[p * channels + c] = pixels[c * plane + p];

  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(cols);
  image.height = static_cast<png_uint_32>(rows);
  image.format = png_format(channels);
  PngImageFree free_image{&image};
  png_alloc_size_t size = 0;
  if (!png_image_write_get_memory_size(image, size, 0, interleaved.data(), 0, nullptr))
    fail(kPngWhere, "cannot encode a " + std::to_string(rows) + " x " + std::to_string(cols) + " image" + libpng_says(image));
  std::vector<uint8_t> out(size);
  if (!png_image_write_to_memory(&image, out.data(), &size, 0, interleaved.data(), 0, nullptr))
    fail(kPngWhere, "cannot encode a " + std::to_string(rows) + " x " + std::to_string(cols) + " image" + libpng_says(image));
  out.resize(size);
  return out;
}

void write_png(const std::string& path, const uint8_t* pixels, int64_t rows, int64_t cols, int64_t channels) {
  write_file_bytes(path, encode_png(pixels, rows, cols, channels), kPngWhere);
}

}  // namespace swapmoe
