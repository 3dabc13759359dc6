#pragma once
// Helpers shared by onnx_import.cpp and onnx_export.cpp: tensor conversion between the IR and
// ONNX's TensorProto. Private to lib/io.

#include "shrink/core/tensor.h"

#include <onnx/onnx_pb.h>

#include <optional>
#include <string>

namespace shrink {
namespace onnx_detail {

/// The ONNX name of an element type number ("FLOAT", "DOUBLE", ...), or the number.
std::string onnx_type_name(int onnx_type);

/// The DType for an ONNX element type, or nullopt when shrink does not support it.
std::optional<DType> supported_dtype(int onnx_type);

/// Converts a TensorProto into a Tensor. `what` names the tensor in errors ("initializer 'w'"),
/// `source` the model file; external data is read relative to `external_dir`. The element type
/// must be supported (check with `supported_dtype` first). Throws `Error` for corrupt data or a
/// missing external data file.
Tensor tensor_from_proto(const onnx::TensorProto& proto, const std::string& what,
                         const std::string& source, const std::string& external_dir);

/// Fills `proto` with `tensor` (dims, type, raw data) under `name`.
void tensor_to_proto(const Tensor& tensor, const std::string& name, onnx::TensorProto* proto);

} // namespace onnx_detail
} // namespace shrink
