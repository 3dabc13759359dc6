#include "onnx_internal.h"

#include "shrink/core/error.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>

namespace shrink {
namespace onnx_detail {

namespace {

[[noreturn]] void corrupt(const std::string& what, const std::string& source,
                          const std::string& problem) {
  throw Error(what + " of ONNX model '" + source + "': " + problem +
              "; the model is corrupt or truncated, re-export it");
}

template <typename Field, typename Convert>
void fill_from_field(Tensor& t, const Field& field, Convert convert) {
  for (int64_t i = 0; i < t.numel(); ++i)
    convert(i, field.Get(static_cast<int>(i)));
}

// Reads [offset, offset + length) of an external data file, checking every step so that a
// missing or short file is a clear error rather than garbage weights.
std::string read_external(const onnx::TensorProto& proto, const std::string& what,
                          const std::string& source, const std::string& dir, size_t expected) {
  std::string location;
  int64_t offset = 0;
  int64_t length = -1;
  for (const auto& kv : proto.external_data()) {
    try {
      if (kv.key() == "location")
        location = kv.value();
      else if (kv.key() == "offset")
        offset = std::stoll(kv.value());
      else if (kv.key() == "length")
        length = std::stoll(kv.value());
    } catch (const std::exception&) {
      corrupt(what, source, "external data " + kv.key() + " '" + kv.value() + "' is not a number");
    }
  }
  if (location.empty()) corrupt(what, source, "external data without a 'location'");
  if (offset < 0 || length < -1) corrupt(what, source, "negative external data offset or length");
  // Like onnx.checker, only files at or below the model's directory are read: a model must not
  // be able to make shrink read arbitrary files.
  if (location[0] == '/' || location == ".." || location.rfind("../", 0) == 0 ||
      location.find("/../") != std::string::npos ||
      (location.size() >= 3 && location.compare(location.size() - 3, 3, "/..") == 0))
    throw Error(what + " of ONNX model '" + source + "': external data location '" + location +
                "' points outside the model's directory; only relative paths below it are "
                "allowed");
  if (dir.empty())
    throw Error(what + " of ONNX model '" + source + "' is stored in external data file '" +
                location +
                "', but no directory to find it in was given: load the model with "
                "load_onnx(path), or pass external_data_dir");
  std::string path = dir + "/" + location;
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(what + " of ONNX model '" + source + "' is stored in external data file '" + path +
                "', which cannot be opened (" + std::strerror(errno) +
                "): copy the data file next to the model");
  in.seekg(0, std::ios::end);
  int64_t file_size = static_cast<int64_t>(in.tellg());
  if (length < 0) length = static_cast<int64_t>(expected);
  if (static_cast<size_t>(length) != expected)
    corrupt(what, source,
            "external data length " + std::to_string(length) + " does not match the " +
                std::to_string(expected) + " bytes its type and shape need");
  if (offset > file_size || length > file_size - offset)
    throw Error(what + " of ONNX model '" + source + "': external data file '" + path + "' has " +
                std::to_string(file_size) + " bytes, but the tensor needs bytes " +
                std::to_string(offset) + " to " + std::to_string(offset + length) +
                ": the data file is truncated or belongs to another model");
  std::string bytes(static_cast<size_t>(length), '\0');
  in.seekg(offset);
  in.read(&bytes[0], length);
  if (!in)
    throw Error(what + " of ONNX model '" + source + "': reading external data file '" + path +
                "' failed");
  return bytes;
}

} // namespace

std::string onnx_type_name(int t) {
  static const char* names[] = {
      "UNDEFINED",      "FLOAT",      "UINT8",          "INT8",       "UINT16",   "INT16",
      "INT32",          "INT64",      "STRING",         "BOOL",       "FLOAT16",  "DOUBLE",
      "UINT32",         "UINT64",     "COMPLEX64",      "COMPLEX128", "BFLOAT16", "FLOAT8E4M3FN",
      "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4",      "INT4"};
  if (t >= 0 && t < static_cast<int>(sizeof(names) / sizeof(names[0]))) return names[t];
  return "type " + std::to_string(t);
}

std::optional<DType> supported_dtype(int t) {
  switch (t) {
  case onnx::TensorProto::FLOAT:
    return DType::f32;
  case onnx::TensorProto::UINT8:
    return DType::u8;
  case onnx::TensorProto::INT8:
    return DType::i8;
  case onnx::TensorProto::INT32:
    return DType::i32;
  case onnx::TensorProto::INT64:
    return DType::i64;
  case onnx::TensorProto::BOOL:
    return DType::boolean;
  case onnx::TensorProto::FLOAT16:
    return DType::f16;
  case onnx::TensorProto::BFLOAT16:
    return DType::bf16;
  default:
    return std::nullopt;
  }
}

Tensor tensor_from_proto(const onnx::TensorProto& proto, const std::string& what,
                         const std::string& source, const std::string& external_dir) {
  DType dtype = *supported_dtype(proto.data_type());
  if (proto.has_segment())
    throw Error(what + " of ONNX model '" + source +
                "' is a segmented tensor, which shrink does not read; re-save the model with "
                "onnx.save");
  Shape shape(proto.dims().begin(), proto.dims().end());
  // The element count is bounded before any allocation, so corrupt dims cannot ask for an
  // absurd amount of memory: every tensor must fit in the (at most 2 GiB) protobuf or its file.
  const int64_t kMaxElements = std::numeric_limits<int64_t>::max() / 16;
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0) corrupt(what, source, "negative dimension in shape " + shape_str(shape));
    if (d != 0 && numel > kMaxElements / d)
      corrupt(what, source, "shape " + shape_str(shape) + " is too large");
    numel *= d;
  }
  const size_t nbytes = static_cast<size_t>(numel) * dtype_size(dtype);

  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    std::string bytes = read_external(proto, what, source, external_dir, nbytes);
    Tensor t(dtype, shape);
    if (nbytes) std::memcpy(t.raw_mutable(), bytes.data(), nbytes);
    return t;
  }
  if (proto.has_raw_data()) {
    if (proto.raw_data().size() != nbytes)
      corrupt(what, source,
              "raw_data has " + std::to_string(proto.raw_data().size()) + " bytes, but " +
                  dtype_name(dtype) + shape_str(shape) + " needs " + std::to_string(nbytes));
    Tensor t(dtype, shape);
    if (nbytes) std::memcpy(t.raw_mutable(), proto.raw_data().data(), nbytes);
    return t;
  }

  auto check_count = [&](int count, const char* field) {
    if (count != numel)
      corrupt(what, source,
              std::string(field) + " has " + std::to_string(count) + " values, but shape " +
                  shape_str(shape) + " needs " + std::to_string(numel));
  };
  Tensor t(dtype, shape);
  switch (dtype) {
  case DType::f32: {
    check_count(proto.float_data_size(), "float_data");
    float* out = t.data_mutable<float>();
    fill_from_field(t, proto.float_data(), [&](int64_t i, float v) { out[i] = v; });
    break;
  }
  case DType::i64: {
    check_count(proto.int64_data_size(), "int64_data");
    int64_t* out = t.data_mutable<int64_t>();
    fill_from_field(t, proto.int64_data(), [&](int64_t i, int64_t v) { out[i] = v; });
    break;
  }
  case DType::i32: {
    check_count(proto.int32_data_size(), "int32_data");
    int32_t* out = t.data_mutable<int32_t>();
    fill_from_field(t, proto.int32_data(), [&](int64_t i, int32_t v) { out[i] = v; });
    break;
  }
  case DType::i8: {
    check_count(proto.int32_data_size(), "int32_data");
    int8_t* out = t.data_mutable<int8_t>();
    fill_from_field(t, proto.int32_data(),
                    [&](int64_t i, int32_t v) { out[i] = static_cast<int8_t>(v); });
    break;
  }
  case DType::u8: {
    check_count(proto.int32_data_size(), "int32_data");
    uint8_t* out = t.data_mutable<uint8_t>();
    fill_from_field(t, proto.int32_data(),
                    [&](int64_t i, int32_t v) { out[i] = static_cast<uint8_t>(v); });
    break;
  }
  case DType::boolean: {
    check_count(proto.int32_data_size(), "int32_data");
    bool* out = t.data_mutable<bool>();
    fill_from_field(t, proto.int32_data(), [&](int64_t i, int32_t v) { out[i] = v != 0; });
    break;
  }
  case DType::f16:
  case DType::bf16: {
    // The spec stores the 16 bits of each half in the low bits of an int32_data entry.
    check_count(proto.int32_data_size(), "int32_data");
    auto* out = static_cast<uint16_t*>(t.raw_mutable());
    fill_from_field(t, proto.int32_data(),
                    [&](int64_t i, int32_t v) { out[i] = static_cast<uint16_t>(v & 0xffff); });
    break;
  }
  }
  return t;
}

void tensor_to_proto(const Tensor& tensor, const std::string& name, onnx::TensorProto* proto) {
  proto->set_name(name);
  proto->set_data_type(onnx_dtype(tensor.dtype()));
  for (int64_t d : tensor.shape())
    proto->add_dims(d);
  proto->set_raw_data(
      std::string(static_cast<const char*>(tensor.nbytes() ? tensor.raw() : ""), tensor.nbytes()));
}

} // namespace onnx_detail
} // namespace shrink
