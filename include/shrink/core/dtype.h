#pragma once
/// \file
/// Element types of tensors.

#include <cstddef>
#include <cstdint>
#include <string>

namespace shrink {

/// The element type of a tensor. The names follow the IR text form (`f32`, `i64`, ...).
enum class DType : uint8_t { f32, f16, bf16, i8, u8, i32, i64, boolean };

/// Size of one element in bytes.
size_t dtype_size(DType dtype);

/// The IR text name: "f32", "f16", "bf16", "i8", "u8", "i32", "i64", "bool".
const char* dtype_name(DType dtype);

/// Parses an IR text name; throws `Error` naming the known types for anything else.
DType parse_dtype(const std::string& name);

/// True for f32, f16 and bf16.
bool is_float(DType dtype);

/// Maps a C++ element type to its DType (float, uint16_t is not mapped: f16/bf16 are raw bits).
template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::f32; };
template <> struct DTypeOf<int8_t> { static constexpr DType value = DType::i8; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::u8; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::i32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::i64; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::boolean; };

/// The ONNX TensorProto element type number (FLOAT = 1, UINT8 = 2, ...), as used by `Cast.to`.
int onnx_dtype(DType dtype);

/// The DType for an ONNX TensorProto element type number; throws `Error` for unsupported ones.
DType dtype_from_onnx(int onnx_type);

/// Converts IEEE half bits to float.
float half_to_float(uint16_t bits);
/// Converts float to IEEE half bits (round to nearest even).
uint16_t float_to_half(float value);
/// Converts bfloat16 bits to float.
float bf16_to_float(uint16_t bits);
/// Converts float to bfloat16 bits (round to nearest even).
uint16_t float_to_bf16(float value);

} // namespace shrink
