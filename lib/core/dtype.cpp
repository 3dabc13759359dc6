#include "shrink/core/dtype.h"

#include "shrink/core/error.h"

#include <cmath>
#include <cstring>

namespace shrink {

size_t dtype_size(DType d) {
  switch (d) {
  case DType::f32:
    return 4;
  case DType::f16:
    return 2;
  case DType::bf16:
    return 2;
  case DType::i8:
    return 1;
  case DType::u8:
    return 1;
  case DType::i32:
    return 4;
  case DType::i64:
    return 8;
  case DType::boolean:
    return 1;
  }
  return 0;
}

const char* dtype_name(DType d) {
  switch (d) {
  case DType::f32:
    return "f32";
  case DType::f16:
    return "f16";
  case DType::bf16:
    return "bf16";
  case DType::i8:
    return "i8";
  case DType::u8:
    return "u8";
  case DType::i32:
    return "i32";
  case DType::i64:
    return "i64";
  case DType::boolean:
    return "bool";
  }
  return "?";
}

DType parse_dtype(const std::string& name) {
  for (DType d : {DType::f32, DType::f16, DType::bf16, DType::i8, DType::u8, DType::i32, DType::i64,
                  DType::boolean})
    if (name == dtype_name(d)) return d;
  throw Error("unknown dtype '" + name + "' (known: f32, f16, bf16, i8, u8, i32, i64, bool)");
}

bool is_float(DType d) {
  return d == DType::f32 || d == DType::f16 || d == DType::bf16;
}

int onnx_dtype(DType d) {
  switch (d) {
  case DType::f32:
    return 1;
  case DType::u8:
    return 2;
  case DType::i8:
    return 3;
  case DType::i32:
    return 6;
  case DType::i64:
    return 7;
  case DType::boolean:
    return 9;
  case DType::f16:
    return 10;
  case DType::bf16:
    return 16;
  }
  return 0;
}

DType dtype_from_onnx(int t) {
  switch (t) {
  case 1:
    return DType::f32;
  case 2:
    return DType::u8;
  case 3:
    return DType::i8;
  case 6:
    return DType::i32;
  case 7:
    return DType::i64;
  case 9:
    return DType::boolean;
  case 10:
    return DType::f16;
  case 16:
    return DType::bf16;
  }
  static const char* names[] = {"UNDEFINED",  "FLOAT",   "UINT8",  "INT8",   "UINT16",
                                "INT16",      "INT32",   "INT64",  "STRING", "BOOL",
                                "FLOAT16",    "DOUBLE",  "UINT32", "UINT64", "COMPLEX64",
                                "COMPLEX128", "BFLOAT16"};
  std::string name = (t >= 0 && t <= 16) ? names[t] : std::to_string(t);
  throw Error("ONNX element type " + name +
              " is not supported (supported: FLOAT, FLOAT16, BFLOAT16, INT8, UINT8, INT32, INT64, "
              "BOOL)");
}

float half_to_float(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else { // subnormal: renormalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ffu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_half(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) // inf or nan
    return static_cast<uint16_t>(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
  if (absx >= 0x477ff000u) // rounds to inf
    return static_cast<uint16_t>(sign | 0x7c00u);
  if (absx < 0x38800000u) { // subnormal or zero in half
    float a;
    std::memcpy(&a, &absx, 4);
    // Scale so that the half subnormal step (2^-24) becomes 1, then round to nearest even.
    float scaled = a * 16777216.0f;
    auto m = static_cast<uint32_t>(std::nearbyint(scaled));
    return static_cast<uint16_t>(sign | m);
  }
  uint32_t mant = absx & 0x7fffffu;
  uint32_t exp = (absx >> 23) - 127 + 15;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float bf16_to_float(uint16_t bits) {
  uint32_t x = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

uint16_t float_to_bf16(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u); // quiet NaN
  uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

} // namespace shrink
