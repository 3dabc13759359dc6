#pragma once
/// \file
/// Node attributes: a small ordered map from name to a variant value (ONNX attribute kinds).

#include "shrink/core/tensor.h"

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace shrink {

/// One attribute value. The alternatives mirror ONNX's INT, FLOAT, STRING, INTS, FLOATS,
/// STRINGS and TENSOR attribute types.
using Attribute = std::variant<int64_t, float, std::string, std::vector<int64_t>,
                               std::vector<float>, std::vector<std::string>, Tensor>;

/// Attribute kinds in the order of the variant, used by the op table and the verifier.
enum class AttrKind { Int, Float, String, Ints, Floats, Strings, Tensor };

/// The kind of an attribute value.
inline AttrKind attr_kind(const Attribute& a) {
  return static_cast<AttrKind>(a.index());
}

/// "int", "float", "string", "ints", "floats", "strings", "tensor".
const char* attr_kind_name(AttrKind kind);

/// Attributes of a node, ordered by name so that printing is deterministic.
using Attributes = std::map<std::string, Attribute>;

} // namespace shrink
