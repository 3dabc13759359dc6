#include "kernel_util.h"

#include <algorithm>
#include <cstring>
#include <sstream>

namespace shrink {
namespace kernels {

std::string node_label(const Node& node) {
  return "node '" + node.name() + "' (" + node.op() + ")";
}

void fail(const Node& node, const std::string& message) {
  throw Error(node_label(node) + ": " + message);
}

void unsupported_dtype(const Node& node, const std::string& have, const std::string& supported) {
  throw UnsupportedError("unsupported dtype combination in the reference kernel:",
                         {node_label(node) + ": " + have + " (supported: " + supported + ")"});
}

void unsupported_feature(const Node& node, const std::string& feature) {
  throw UnsupportedError("unsupported feature in the reference kernel:",
                         {node_label(node) + ": " + feature});
}

const Tensor& required_input(const Node& node, const std::vector<const Tensor*>& inputs, size_t i,
                             const char* what) {
  const Tensor* t = optional_input(inputs, i);
  if (!t) fail(node, "input " + std::to_string(i) + " (" + what + ") is required but absent");
  return *t;
}

const Tensor* nonempty_input(const std::vector<const Tensor*>& inputs, size_t i) {
  const Tensor* t = optional_input(inputs, i);
  return t && t->numel() > 0 ? t : nullptr;
}

int normalize_axis(const Node& node, int64_t axis, int rank, const char* what) {
  if (axis < -rank || axis >= std::max(rank, 0) || (rank == 0))
    fail(node, std::string(what) + " " + std::to_string(axis) + " is out of range for rank " +
                   std::to_string(rank) + " (valid: [" + std::to_string(-rank) + ", " +
                   std::to_string(rank - 1) + "])");
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

std::vector<int> normalize_axes(const Node& node, const std::vector<int64_t>& axes, int rank,
                                const char* what) {
  std::vector<int> out;
  for (int64_t a : axes) {
    int n = normalize_axis(node, a, rank, what);
    if (std::find(out.begin(), out.end(), n) != out.end())
      fail(node, std::string(what) + " lists axis " + std::to_string(n) + " twice");
    out.push_back(n);
  }
  return out;
}

std::vector<int64_t> read_ints(const Node& node, const Tensor& t, const char* what) {
  std::vector<int64_t> out(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::i64) {
    const int64_t* p = t.data<int64_t>();
    std::copy(p, p + t.numel(), out.begin());
  } else if (t.dtype() == DType::i32) {
    const int32_t* p = t.data<int32_t>();
    std::copy(p, p + t.numel(), out.begin());
  } else {
    fail(node, std::string(what) + " must be i64 or i32, got " + dtype_name(t.dtype()));
  }
  return out;
}

double read_scalar(const Node& node, const Tensor& t, const char* what) {
  if (t.numel() != 1)
    fail(node,
         std::string(what) + " must hold exactly one value, got shape " + shape_str(t.shape()));
  if (t.dtype() == DType::f16 || t.dtype() == DType::bf16)
    unsupported_dtype(node, std::string(what) + " of dtype " + dtype_name(t.dtype()),
                      "f32, i32, i64, i8, u8, bool");
  return t.at(0);
}

bool ints_from_input_or_attr(const Node& node, const std::vector<const Tensor*>& inputs,
                             size_t input_index, const char* attr, std::vector<int64_t>& out) {
  if (const Tensor* t = optional_input(inputs, input_index)) {
    if (node.has_attr(attr))
      fail(node, std::string(attr) + " is given both as input " + std::to_string(input_index) +
                     " and as an attribute; keep one (the input in current opsets)");
    out = read_ints(node, *t, attr);
    return true;
  }
  if (node.has_attr(attr)) {
    out = node.attr_ints(attr);
    return true;
  }
  return false;
}

Shape strides_of(const Shape& shape) {
  Shape s(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i)
    s[i] = s[i + 1] * shape[i + 1];
  return s;
}

Shape broadcast_shapes(const Node& node, const std::vector<Shape>& shapes) {
  size_t rank = 0;
  for (const Shape& s : shapes)
    rank = std::max(rank, s.size());
  Shape out(rank, 1);
  for (size_t d = 0; d < rank; ++d) {
    bool set = false;
    for (const Shape& s : shapes) {
      if (d + s.size() < rank) continue;
      int64_t v = s[d + s.size() - rank];
      if (v == 1) continue;
      if (!set || out[d] == v) {
        out[d] = v;
        set = true;
        continue;
      }
      std::ostringstream msg;
      msg << "shapes";
      for (const Shape& t : shapes)
        msg << " " << shape_str(t);
      msg << " do not broadcast (dimension " << d << " of the result: " << out[d] << " vs " << v
          << ")";
      fail(node, msg.str());
    }
  }
  return out;
}

Shape broadcast_strides(const Shape& in, const Shape& out) {
  Shape st(out.size(), 0);
  Shape in_st = strides_of(in);
  const size_t lead = out.size() - in.size();
  for (size_t d = 0; d < in.size(); ++d)
    st[lead + d] = in[d] == 1 ? 0 : in_st[d];
  return st;
}

void set_outputs(const Node& node, std::vector<Tensor>& outputs, std::vector<Tensor> values) {
  const size_t n = static_cast<size_t>(node.num_outputs());
  if (n > values.size())
    fail(node, "has " + std::to_string(n) + " outputs but the op produces at most " +
                   std::to_string(values.size()));
  values.resize(n);
  outputs = std::move(values);
}

void require_dtype(const Node& node, const Tensor& t, DType want, const char* what) {
  if (t.dtype() != want)
    unsupported_dtype(node, std::string(what) + " of dtype " + dtype_name(t.dtype()),
                      dtype_name(want));
}

Tensor copy_reshaped(const Tensor& t, const Shape& shape) {
  Tensor out(t.dtype(), shape);
  if (out.numel() != t.numel())
    throw Error("copy_reshaped: element count mismatch " + shape_str(t.shape()) + " -> " +
                shape_str(shape));
  if (t.nbytes() > 0) std::memcpy(out.raw_mutable(), t.raw(), t.nbytes());
  return out;
}

Tensor strided_copy(const Tensor& x, const Shape& out, const Shape& in_steps, int64_t base) {
  Tensor y(x.dtype(), out);
  const int64_t total = y.numel();
  if (total == 0) return y;
  const size_t es = dtype_size(x.dtype());
  const char* src = static_cast<const char*>(x.raw());
  char* dst = static_cast<char*>(y.raw_mutable());
  const int rank = static_cast<int>(out.size());
  if (rank == 0) {
    std::memcpy(dst, src + base * es, es);
    return y;
  }
  const int64_t inner = out[rank - 1];
  const int64_t step = in_steps[rank - 1];
  std::vector<int64_t> idx(rank, 0);
  int64_t off = base;
  for (int64_t o = 0; o < total; o += inner) {
    if (step == 1) {
      std::memcpy(dst + o * es, src + off * es, static_cast<size_t>(inner) * es);
    } else {
      for (int64_t i = 0; i < inner; ++i)
        std::memcpy(dst + (o + i) * es, src + (off + i * step) * es, es);
    }
    for (int d = rank - 2; d >= 0; --d) {
      if (++idx[d] < out[d]) {
        off += in_steps[d];
        break;
      }
      off -= in_steps[d] * (out[d] - 1);
      idx[d] = 0;
    }
  }
  return y;
}

Tensor gather_by_maps(const Tensor& x, const Shape& out,
                      const std::vector<std::vector<int64_t>>& maps, const void* fill) {
  Tensor y(x.dtype(), out);
  const int64_t total = y.numel();
  if (total == 0) return y;
  const size_t es = dtype_size(x.dtype());
  const char* src = static_cast<const char*>(x.raw());
  char* dst = static_cast<char*>(y.raw_mutable());
  const int rank = static_cast<int>(out.size());
  std::vector<char> fill_bytes(es, 0);
  if (fill) std::memcpy(fill_bytes.data(), fill, es);
  if (rank == 0) {
    std::memcpy(dst, src, es);
    return y;
  }
  const Shape in_strides = strides_of(x.shape());
  const int64_t inner = out[rank - 1];
  const std::vector<int64_t>& last = maps[rank - 1];
  std::vector<int64_t> idx(rank, 0);
  for (int64_t o = 0; o < total; o += inner) {
    int64_t off = 0;
    bool inside = true;
    for (int d = 0; d < rank - 1; ++d) {
      const int64_t m = maps[d][idx[d]];
      if (m < 0) {
        inside = false;
        break;
      }
      off += m * in_strides[d];
    }
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t m = inside ? last[i] : -1;
      std::memcpy(dst + (o + i) * es, m < 0 ? fill_bytes.data() : src + (off + m) * es, es);
    }
    for (int d = rank - 2; d >= 0; --d) {
      if (++idx[d] < out[d]) break;
      idx[d] = 0;
    }
  }
  return y;
}

void resolve_pads(const Node& node, const Shape& in_spatial, const std::vector<int64_t>& kernel,
                  const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations,
                  std::vector<int64_t>& pad_begin, std::vector<int64_t>& pad_end) {
  const size_t k = in_spatial.size();
  pad_begin.assign(k, 0);
  pad_end.assign(k, 0);
  std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  if (auto_pad == "NOTSET") {
    std::vector<int64_t> pads = node.attr_ints("pads", std::vector<int64_t>(2 * k, 0));
    if (pads.size() != 2 * k)
      fail(node, "pads has " + std::to_string(pads.size()) + " values, expected " +
                     std::to_string(2 * k) + " (begin and end for each spatial dimension)");
    for (size_t i = 0; i < k; ++i) {
      pad_begin[i] = pads[i];
      pad_end[i] = pads[i + k];
      if (pad_begin[i] < 0 || pad_end[i] < 0) fail(node, "pads must not be negative");
    }
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (size_t i = 0; i < k; ++i) {
      int64_t out = (in_spatial[i] + strides[i] - 1) / strides[i];
      int64_t extent = (kernel[i] - 1) * dilations[i] + 1;
      int64_t total = std::max<int64_t>(0, (out - 1) * strides[i] + extent - in_spatial[i]);
      // The odd pixel goes to the end for SAME_UPPER and to the beginning for SAME_LOWER.
      pad_begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pad_end[i] = total - pad_begin[i];
    }
  } else if (auto_pad != "VALID") {
    fail(node, "auto_pad '" + auto_pad + "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
  }
}

} // namespace kernels
} // namespace shrink
