#include "shrink/ir/type.h"

#include "shrink/core/error.h"
#include "shrink/ir/attribute.h"

namespace shrink {

std::string Dim::str() const {
  if (is_known()) return std::to_string(value);
  if (is_symbolic()) return symbol;
  return "?";
}

TensorType TensorType::of(DType d, const Shape& shape) {
  std::vector<Dim> dims;
  dims.reserve(shape.size());
  for (int64_t s : shape)
    dims.push_back(Dim::known(s));
  return TensorType{d, std::move(dims)};
}

bool TensorType::fully_known() const {
  if (!dims) return false;
  for (const Dim& d : *dims)
    if (!d.is_known()) return false;
  return true;
}

Shape TensorType::concrete() const {
  if (!fully_known()) throw Error("type " + str() + " has no concrete shape");
  Shape s;
  for (const Dim& d : *dims)
    s.push_back(d.value);
  return s;
}

std::string TensorType::str() const {
  std::string s = dtype_name(dtype);
  if (!dims) return s;
  s += "[";
  for (size_t i = 0; i < dims->size(); ++i)
    s += (i ? "," : "") + (*dims)[i].str();
  return s + "]";
}

const char* attr_kind_name(AttrKind kind) {
  switch (kind) {
  case AttrKind::Int:
    return "int";
  case AttrKind::Float:
    return "float";
  case AttrKind::String:
    return "string";
  case AttrKind::Ints:
    return "ints";
  case AttrKind::Floats:
    return "floats";
  case AttrKind::Strings:
    return "strings";
  case AttrKind::Tensor:
    return "tensor";
  }
  return "?";
}

} // namespace shrink
