#pragma once
/// \file
/// Reading and writing NumPy `.npy` files (format versions 1.0, 2.0 and 3.0, C order,
/// little-endian), the exchange format for tensors between shrink, Python and ONNX Runtime.
///
/// Supported element types: f32 (`<f4`), f16 (`<f2`), i64 (`<i8`), i32 (`<i4`), u8 (`|u1`),
/// i8 (`|i1`) and bool (`|b1`). Anything else (Fortran order, big-endian data, other types,
/// a corrupt header) is an `Error` that names the file and the problem.

#include "shrink/core/tensor.h"

#include <string>

namespace shrink {

/// Reads a `.npy` file into a tensor. Throws `Error` naming the file when it is missing,
/// truncated, has a corrupt header, or holds a type shrink does not support.
Tensor load_npy(const std::string& path);

/// Parses the bytes of a `.npy` file; `source_name` names it in errors.
Tensor parse_npy(const std::string& bytes, const std::string& source_name = "<string>");

/// Writes `tensor` as a version 1.0 `.npy` file (version 2.0 when the header needs it). The file
/// is written to a temporary name and renamed, so a failure leaves no partial file. Throws
/// `Error` naming the path on failure.
void save_npy(const std::string& path, const Tensor& tensor);

/// The bytes of `tensor` as a `.npy` file.
std::string to_npy(const Tensor& tensor);

} // namespace shrink
