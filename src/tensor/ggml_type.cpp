// The traits table: one row per type (layout and conversions; the dot products are in kernels).
#include "tensor/ggml_type.h"

#include <array>

#include "tensor/quantize.h"

namespace swapmoe {

namespace {

using Table = std::array<TypeTraits, static_cast<size_t>(GgmlType::TABLE_END)>;

Table make_table() {
  Table t{};
  auto row = [&](GgmlType type, const char* name, int64_t block, size_t bytes) {
    TypeTraits& r = t[static_cast<size_t>(type)];
    r.name = name;
    r.block_size = block;
    r.type_size = bytes;
  };
  row(GgmlType::F32, "f32", 1, 4);
  row(GgmlType::F16, "f16", 1, 2);
  row(GgmlType::Q4_0, "q4_0", 32, 18);
  row(GgmlType::Q4_1, "q4_1", 32, 20);
  row(GgmlType::Q5_0, "q5_0", 32, 22);
  row(GgmlType::Q5_1, "q5_1", 32, 24);
  row(GgmlType::Q8_0, "q8_0", 32, 34);
  row(GgmlType::Q8_1, "q8_1", 32, 36);
  row(GgmlType::Q2_K, "q2_K", 256, 84);
  row(GgmlType::Q3_K, "q3_K", 256, 110);
  row(GgmlType::Q4_K, "q4_K", 256, 144);
  row(GgmlType::Q5_K, "q5_K", 256, 176);
  row(GgmlType::Q6_K, "q6_K", 256, 210);
  row(GgmlType::Q8_K, "q8_K", 256, 292);
  row(GgmlType::IQ4_NL, "iq4_nl", 32, 18);
  row(GgmlType::IQ4_XS, "iq4_xs", 256, 136);
  row(GgmlType::I8, "i8", 1, 1);
  row(GgmlType::I16, "i16", 1, 2);
  row(GgmlType::I32, "i32", 1, 4);
  row(GgmlType::I64, "i64", 1, 8);
  row(GgmlType::F64, "f64", 1, 8);
  row(GgmlType::BF16, "bf16", 1, 2);
  row(GgmlType::MXFP4, "mxfp4", 32, 17);
  row(GgmlType::Q4_0_X8, "q4_0x8", 32, 18);  // same bytes per block as the file type, rows interleaved
  row(GgmlType::Q4_K_X8, "q4_Kx8", 256, 144);
  row(GgmlType::Q6_K_X8, "q6_Kx8", 256, 210);
  row(GgmlType::Q8_0_X8, "q8_0x8", 32, 34);

  // Conversions. vec_dot_type is decided here because it is part of the data format; the dot
  // products themselves are chosen by swapmoe_kernels, which sits above this library.
  auto conv = [&](GgmlType type, ToFloatFn to, FromFloatFn from, GgmlType dot_type, bool supported) {
    TypeTraits& r = t[static_cast<size_t>(type)];
    r.to_float = to;
    r.from_float = from;
    r.vec_dot_type = dot_type;
    r.supported = supported;
  };
  conv(GgmlType::F32, dequantize_row_f32, quantize_row_f32_ref, GgmlType::F32, true);
  conv(GgmlType::F16, dequantize_row_f16, quantize_row_f16_ref, GgmlType::F32, true);
  conv(GgmlType::BF16, dequantize_row_bf16, quantize_row_bf16_ref, GgmlType::F32, true);
  conv(GgmlType::Q4_0, dequantize_row_q4_0, quantize_row_q4_0_ref, GgmlType::Q8_0, true);
  conv(GgmlType::Q4_1, dequantize_row_q4_1, quantize_row_q4_1_ref, GgmlType::Q8_1, true);
  conv(GgmlType::Q5_0, dequantize_row_q5_0, quantize_row_q5_0_ref, GgmlType::Q8_0, true);
  conv(GgmlType::Q5_1, dequantize_row_q5_1, quantize_row_q5_1_ref, GgmlType::Q8_1, true);
  conv(GgmlType::Q8_0, dequantize_row_q8_0, quantize_row_q8_0_ref, GgmlType::Q8_0, true);
  conv(GgmlType::IQ4_NL, dequantize_row_iq4_nl, quantize_row_iq4_nl, GgmlType::Q8_0, true);
  conv(GgmlType::MXFP4, dequantize_row_mxfp4, quantize_row_mxfp4_ref, GgmlType::Q8_0, true);
  conv(GgmlType::Q2_K, dequantize_row_q2_K, quantize_row_q2_K_ref, GgmlType::Q8_K, true);
  conv(GgmlType::Q3_K, dequantize_row_q3_K, quantize_row_q3_K_ref, GgmlType::Q8_K, true);
  conv(GgmlType::Q4_K, dequantize_row_q4_K, quantize_row_q4_K_ref, GgmlType::Q8_K, true);
  conv(GgmlType::Q5_K, dequantize_row_q5_K, quantize_row_q5_K_ref, GgmlType::Q8_K, true);
  conv(GgmlType::Q6_K, dequantize_row_q6_K, quantize_row_q6_K_ref, GgmlType::Q8_K, true);
  conv(GgmlType::IQ4_XS, dequantize_row_iq4_xs, quantize_row_iq4_xs_ref, GgmlType::Q8_K, true);
  // Q8_1 only ever holds activations, like Q8_K below.
  conv(GgmlType::Q8_1, dequantize_row_q8_1, quantize_row_q8_1_ref, GgmlType::Q8_1, false);
  // Interleaved rows are not rows: no row conversions, and not a file type (supported: false).
  conv(GgmlType::Q4_0_X8, nullptr, nullptr, GgmlType::Q8_0, false);
  conv(GgmlType::Q4_K_X8, nullptr, nullptr, GgmlType::Q8_K, false);
  conv(GgmlType::Q6_K_X8, nullptr, nullptr, GgmlType::Q8_K, false);
  conv(GgmlType::Q8_0_X8, nullptr, nullptr, GgmlType::Q8_0, false);
  // Q8_K only ever holds activations: convertible, but not a weight type we compute with.
  conv(GgmlType::Q8_K, dequantize_row_q8_K, quantize_row_q8_K_ref, GgmlType::Q8_K, false);
  return t;
}

const TypeTraits kUnknown{};

const Table& table() {
  static const Table t = make_table();
  return t;
}

}  // namespace

const TypeTraits& type_traits(GgmlType type) {
  auto i = static_cast<size_t>(type);
  return i < table().size() ? table()[i] : kUnknown;
}

bool type_is_known(uint32_t raw) {
  return raw < static_cast<uint32_t>(GgmlType::COUNT) && type_traits(static_cast<GgmlType>(raw)).name != nullptr;
}

const char* type_name(GgmlType type) {
  const char* n = type_traits(type).name;
  return n ? n : "unknown";
}

}  // namespace swapmoe
