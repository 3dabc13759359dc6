// GraphModule: lowering of every op of the op table to ATen with ONNX semantics.
//
// The graph is compiled once into a plan: every value gets a slot, every node a step with the
// slots it reads and writes, and every slot the step after which nobody reads it (so
// intermediate tensors are released as soon as possible; autograd keeps what backward needs).
// Nodes whose inputs are all integer or boolean run the reference kernel: they are shape and
// index arithmetic without gradients, and running the ground truth keeps their semantics exact.

#include "shrink/torch/graph_module.h"

#include "shrink/core/error.h"
#include "shrink/ir/op_table.h"
#include "shrink/ir/verifier.h"

#include <ATen/ATen.h>
#include <ATen/ExpandUtils.h>
#include <torch/nn/module.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <set>
#include <unordered_map>

namespace shrink {

namespace {

// ---- conversions --------------------------------------------------------------------------

at::ScalarType scalar_type(DType d) {
  switch (d) {
  case DType::f32:
    return at::kFloat;
  case DType::f16:
    return at::kHalf;
  case DType::bf16:
    return at::kBFloat16;
  case DType::i8:
    return at::kChar;
  case DType::u8:
    return at::kByte;
  case DType::i32:
    return at::kInt;
  case DType::i64:
    return at::kLong;
  case DType::boolean:
    return at::kBool;
  }
  throw Error("unknown dtype");
}

DType dtype_of(at::ScalarType s) {
  switch (s) {
  case at::kFloat:
    return DType::f32;
  case at::kHalf:
    return DType::f16;
  case at::kBFloat16:
    return DType::bf16;
  case at::kChar:
    return DType::i8;
  case at::kByte:
    return DType::u8;
  case at::kInt:
    return DType::i32;
  case at::kLong:
    return DType::i64;
  case at::kBool:
    return DType::boolean;
  default:
    throw UnsupportedError("torch tensors of this dtype have no shrink equivalent",
                           {std::string(c10::toString(s))});
  }
}

std::string label(const Node& n) {
  return "node '" + n.name() + "' (" + n.op() + ")";
}

[[noreturn]] void fail(const Node& n, const std::string& msg) {
  throw Error(label(n) + ": " + msg);
}

[[noreturn]] void unsupported(const Node& n, const std::string& what) {
  throw UnsupportedError("the LibTorch bridge cannot lower " + label(n), {what});
}

std::vector<int64_t> ints_of(const at::Tensor& t) {
  at::Tensor c = t.to(at::kLong).contiguous().cpu();
  const int64_t* p = c.data_ptr<int64_t>();
  return std::vector<int64_t>(p, p + c.numel());
}

double scalar_of(const at::Tensor& t) {
  return t.to(at::kDouble).reshape({-1})[0].item<double>();
}

bool present(const std::vector<at::Tensor>& in, size_t i) {
  return i < in.size() && in[i].defined() && in[i].numel() > 0;
}

int norm_axis(const Node& n, int64_t axis, int64_t rank, const char* what = "axis") {
  if (axis < -rank || axis >= rank)
    fail(n, std::string(what) + " " + std::to_string(axis) + " is outside [-" +
                std::to_string(rank) + ", " + std::to_string(rank) + ")");
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

// Integer list operand given as input `i` (newer opsets) or attribute `attr` (older ones).
bool ints_operand(const Node& n, const std::vector<at::Tensor>& in, size_t i, const char* attr,
                  std::vector<int64_t>& out) {
  if (i < in.size() && in[i].defined()) {
    out = ints_of(in[i]);
    return true;
  }
  if (n.has_attr(attr)) {
    out = n.attr_ints(attr);
    return true;
  }
  return false;
}

std::vector<int64_t> sizes_of(const at::Tensor& t) {
  return t.sizes().vec();
}

// ---- shared pieces of convolution and pooling ---------------------------------------------

struct Window {
  std::vector<int64_t> kernel, strides, dilations, begin, end;
  bool symmetric() const { return begin == end; }
};

Window window_of(const Node& n, const at::Tensor& x, std::vector<int64_t> kernel) {
  const size_t k = kernel.size();
  Window w;
  w.kernel = kernel;
  w.strides = n.attr_ints("strides", std::vector<int64_t>(k, 1));
  w.dilations = n.attr_ints("dilations", std::vector<int64_t>(k, 1));
  if (w.strides.size() != k || w.dilations.size() != k)
    fail(n, "strides and dilations need " + std::to_string(k) + " values");
  w.begin.assign(k, 0);
  w.end.assign(k, 0);
  const std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
  if (auto_pad == "NOTSET") {
    std::vector<int64_t> pads = n.attr_ints("pads", std::vector<int64_t>(2 * k, 0));
    if (pads.size() != 2 * k) fail(n, "pads needs " + std::to_string(2 * k) + " values");
    for (size_t i = 0; i < k; ++i) {
      w.begin[i] = pads[i];
      w.end[i] = pads[i + k];
    }
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (size_t i = 0; i < k; ++i) {
      const int64_t in = x.size(static_cast<int64_t>(i) + 2);
      const int64_t out = (in + w.strides[i] - 1) / w.strides[i];
      const int64_t extent = (kernel[i] - 1) * w.dilations[i] + 1;
      const int64_t total = std::max<int64_t>(0, (out - 1) * w.strides[i] + extent - in);
      w.begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      w.end[i] = total - w.begin[i];
    }
  } else if (auto_pad != "VALID") {
    fail(n, "auto_pad '" + auto_pad + "' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID");
  }
  return w;
}

// Explicit padding of the spatial dimensions (torch's pad list runs from the last dimension).
at::Tensor pad_spatial(const at::Tensor& x, const Window& w, double value) {
  std::vector<int64_t> pad;
  for (size_t i = w.begin.size(); i-- > 0;) {
    pad.push_back(w.begin[i]);
    pad.push_back(w.end[i]);
  }
  return at::constant_pad_nd(x, pad, value);
}

// ---- lowering of each op ------------------------------------------------------------------

struct Ctx {
  bool training = false;
};

using Outs = std::vector<at::Tensor>;
using In = std::vector<at::Tensor>;
using LowerFn = std::function<Outs(const Node&, const In&, const Ctx&)>;

Outs unary(const In& in, at::Tensor (*f)(const at::Tensor&)) {
  return {f(in[0])};
}

at::Tensor same_type(const at::Tensor& y, const at::Tensor& like) {
  return y.scalar_type() == like.scalar_type() ? y : y.to(like.scalar_type());
}

Outs lower_conv(const Node& n, const In& in, const Ctx&) {
  const at::Tensor& x = in[0];
  const at::Tensor& w = in[1];
  const int64_t dims = x.dim() - 2;
  if (dims < 1 || w.dim() != x.dim()) fail(n, "X and W must have the same rank >= 3");
  std::vector<int64_t> kernel(w.sizes().begin() + 2, w.sizes().end());
  Window win = window_of(n, x, kernel);
  at::Tensor b = in.size() > 2 && in[2].defined() ? in[2] : at::Tensor();
  at::Tensor xp = x;
  std::vector<int64_t> pad = win.begin;
  if (!win.symmetric()) {
    xp = pad_spatial(x, win, 0.0);
    pad.assign(dims, 0);
  }
  return {at::convolution(xp, w, b, win.strides, pad, win.dilations, false,
                          std::vector<int64_t>(dims, 0), n.attr_int("group", 1))};
}

Outs lower_conv_transpose(const Node& n, const In& in, const Ctx&) {
  const at::Tensor& x = in[0];
  const at::Tensor& w = in[1];
  const int64_t dims = x.dim() - 2;
  if (dims < 1 || w.dim() != x.dim()) fail(n, "X and W must have the same rank >= 3");
  const size_t k = static_cast<size_t>(dims);
  const int64_t group = n.attr_int("group", 1);
  std::vector<int64_t> kernel(w.sizes().begin() + 2, w.sizes().end());
  std::vector<int64_t> strides = n.attr_ints("strides", std::vector<int64_t>(k, 1));
  std::vector<int64_t> dil = n.attr_ints("dilations", std::vector<int64_t>(k, 1));
  std::vector<int64_t> opad = n.attr_ints("output_padding", std::vector<int64_t>(k, 0));
  std::vector<int64_t> target = n.attr_ints("output_shape");
  if (target.size() > k) target.erase(target.begin(), target.end() - static_cast<int64_t>(k));
  std::vector<int64_t> begin(k, 0), end(k, 0);
  const std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
  std::vector<int64_t> full(k);
  for (size_t i = 0; i < k; ++i)
    full[i] = (x.size(static_cast<int64_t>(i) + 2) - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1;
  if (!target.empty() || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (size_t i = 0; i < k; ++i) {
      const int64_t out =
          target.empty() ? x.size(static_cast<int64_t>(i) + 2) * strides[i] : target[i];
      const int64_t total = full[i] + opad[i] - out;
      if (total < 0) {
        // A larger requested output than the full one grows at the end (zeros + bias).
        begin[i] = 0;
        end[i] = total;
      } else if (auto_pad == "SAME_UPPER") {
        begin[i] = total / 2;
        end[i] = total - total / 2;
      } else {
        begin[i] = total - total / 2;
        end[i] = total / 2;
      }
    }
  } else {
    std::vector<int64_t> pads = n.attr_ints("pads", std::vector<int64_t>(2 * k, 0));
    if (pads.size() != 2 * k) fail(n, "pads needs " + std::to_string(2 * k) + " values");
    for (size_t i = 0; i < k; ++i) {
      begin[i] = pads[i];
      end[i] = pads[i + k];
    }
  }
  // The full transposed convolution, then a crop (or growth) to ONNX's output.
  at::Tensor y = at::convolution(x, w, at::Tensor(), strides, std::vector<int64_t>(k, 0), dil, true,
                                 std::vector<int64_t>(k, 0), group);
  std::vector<int64_t> pad;
  for (size_t i = k; i-- > 0;) {
    pad.push_back(-begin[i]);
    pad.push_back(opad[i] - end[i]);
  }
  y = at::constant_pad_nd(y, pad, 0.0);
  if (in.size() > 2 && in[2].defined()) {
    std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
    shape[1] = -1;
    y = y + in[2].reshape(shape);
  }
  return {y};
}

at::Tensor max_pool(const at::Tensor& x, const Window& w, const std::vector<int64_t>& pad,
                    bool ceil, at::Tensor* indices) {
  const int64_t dims = x.dim() - 2;
  if (indices) {
    if (dims == 1) {
      auto r = at::max_pool2d_with_indices(x.unsqueeze(2), {1, w.kernel[0]}, {1, w.strides[0]},
                                           {0, pad[0]}, {1, w.dilations[0]}, ceil);
      *indices = std::get<1>(r).squeeze(2);
      return std::get<0>(r).squeeze(2);
    }
    auto r = dims == 2
                 ? at::max_pool2d_with_indices(x, w.kernel, w.strides, pad, w.dilations, ceil)
                 : at::max_pool3d_with_indices(x, w.kernel, w.strides, pad, w.dilations, ceil);
    *indices = std::get<1>(r);
    return std::get<0>(r);
  }
  if (dims == 1) return at::max_pool1d(x, w.kernel, w.strides, pad, w.dilations, ceil);
  if (dims == 2) return at::max_pool2d(x, w.kernel, w.strides, pad, w.dilations, ceil);
  return at::max_pool3d(x, w.kernel, w.strides, pad, w.dilations, ceil);
}

bool pads_fit_torch(const Window& w) {
  // torch pools accept symmetric pads of at most half the kernel.
  if (!w.symmetric()) return false;
  for (size_t i = 0; i < w.begin.size(); ++i)
    if (w.begin[i] * 2 > w.kernel[i]) return false;
  return true;
}

Outs lower_max_pool(const Node& n, const In& in, const Ctx&) {
  const at::Tensor& x = in[0];
  const int64_t dims = x.dim() - 2;
  if (dims < 1 || dims > 3) unsupported(n, "MaxPool over " + std::to_string(dims) + " dimensions");
  Window w = window_of(n, x, n.attr_ints("kernel_shape"));
  if (static_cast<int64_t>(w.kernel.size()) != dims) fail(n, "kernel_shape has the wrong length");
  const bool ceil = n.attr_int("ceil_mode", 0) != 0;
  const bool want_indices = n.num_outputs() > 1;
  if (want_indices && n.attr_int("storage_order", 0) != 0)
    unsupported(n, "MaxPool indices with storage_order=1");
  at::Tensor xp = x;
  std::vector<int64_t> pad = w.begin;
  if (!pads_fit_torch(w)) {
    if (want_indices) unsupported(n, "MaxPool indices with asymmetric or large pads");
    xp = pad_spatial(x, w, -std::numeric_limits<double>::infinity());
    pad.assign(static_cast<size_t>(dims), 0);
  }
  at::Tensor idx;
  at::Tensor y = max_pool(xp, w, pad, ceil, want_indices ? &idx : nullptr);
  if (!want_indices) return {y};
  // torch counts indices within each (n, c) plane; ONNX over the whole tensor.
  const int64_t plane = x[0][0].numel();
  at::Tensor base = at::arange(x.size(0) * x.size(1), idx.options()).mul_(plane);
  std::vector<int64_t> shape = {x.size(0), x.size(1)};
  shape.resize(static_cast<size_t>(x.dim()), 1);
  return {y, idx + base.reshape(shape)};
}

at::Tensor avg_pool(const at::Tensor& x, const Window& w, const std::vector<int64_t>& pad,
                    bool ceil, bool include_pad) {
  const int64_t dims = x.dim() - 2;
  if (dims == 1)
    return at::avg_pool2d(x.unsqueeze(2), {1, w.kernel[0]}, {1, w.strides[0]}, {0, pad[0]}, ceil,
                          include_pad)
        .squeeze(2);
  if (dims == 2) return at::avg_pool2d(x, w.kernel, w.strides, pad, ceil, include_pad);
  return at::avg_pool3d(x, w.kernel, w.strides, pad, ceil, include_pad);
}

Outs lower_average_pool(const Node& n, const In& in, const Ctx&) {
  const at::Tensor& x = in[0];
  const int64_t dims = x.dim() - 2;
  if (dims < 1 || dims > 3)
    unsupported(n, "AveragePool over " + std::to_string(dims) + " dimensions");
  Window w = window_of(n, x, n.attr_ints("kernel_shape"));
  for (int64_t d : w.dilations)
    if (d != 1) unsupported(n, "AveragePool with dilations");
  const bool ceil = n.attr_int("ceil_mode", 0) != 0;
  const bool include_pad = n.attr_int("count_include_pad", 0) != 0;
  if (pads_fit_torch(w)) return {avg_pool(x, w, w.begin, ceil, include_pad)};
  const std::vector<int64_t> zero(static_cast<size_t>(dims), 0);
  at::Tensor sum = avg_pool(pad_spatial(x, w, 0.0), w, zero, ceil, true);
  if (include_pad) return {sum};
  // Without the padding in the count: divide by the number of real elements per window.
  at::Tensor ones = at::ones({1, 1}, x.options()).expand({1, 1});
  std::vector<int64_t> shape = {1, 1};
  for (int64_t d = 2; d < x.dim(); ++d)
    shape.push_back(x.size(d));
  at::Tensor count =
      avg_pool(pad_spatial(at::ones(shape, x.options()), w, 0.0), w, zero, ceil, true);
  return {sum / count};
}

Outs lower_batch_norm(const Node& n, const In& in, const Ctx& ctx) {
  if (n.num_outputs() > 1) unsupported(n, "BatchNormalization with running-statistics outputs");
  const double eps = n.attr_float("epsilon", 1e-5f);
  const double momentum = n.attr_float("momentum", 0.9f);
  // In training mode at::batch_norm updates the running statistics (module buffers) in place;
  // ONNX's momentum weighs the old value, torch's the new one.
  return {
      at::batch_norm(in[0], in[1], in[2], in[3], in[4], ctx.training, 1.0 - momentum, eps, false)};
}

Outs lower_layer_norm(const Node& n, const In& in, const Ctx&) {
  if (n.num_outputs() > 1) unsupported(n, "LayerNormalization with mean / inv-std-dev outputs");
  const at::Tensor& x = in[0];
  const int axis = norm_axis(n, n.attr_int("axis", -1), x.dim());
  const double eps = n.attr_float("epsilon", 1e-5f);
  std::vector<int64_t> shape(x.sizes().begin() + axis, x.sizes().end());
  at::Tensor bias = in.size() > 2 && in[2].defined() ? in[2] : at::Tensor();
  if (sizes_of(in[1]) == shape && (!bias.defined() || sizes_of(bias) == shape))
    return {at::layer_norm(x, shape, in[1], bias, eps)};
  std::vector<int64_t> axes;
  for (int64_t d = axis; d < x.dim(); ++d)
    axes.push_back(d);
  at::Tensor mean = x.mean(axes, true);
  at::Tensor var = (x - mean).pow(2).mean(axes, true);
  at::Tensor y = (x - mean) * at::rsqrt(var + eps) * in[1];
  return {bias.defined() ? y + bias : y};
}

Outs lower_gemm(const Node& n, const In& in, const Ctx&) {
  at::Tensor a = n.attr_int("transA", 0) ? in[0].t() : in[0];
  at::Tensor b = n.attr_int("transB", 0) ? in[1].t() : in[1];
  const double alpha = n.attr_float("alpha", 1.0f);
  const double beta = n.attr_float("beta", 1.0f);
  if (in.size() > 2 && in[2].defined() && beta != 0.0) return {at::addmm(in[2], a, b, beta, alpha)};
  at::Tensor y = at::mm(a, b);
  return {alpha == 1.0 ? y : y * alpha};
}

Outs lower_cast(const Node& n, const In& in, const Ctx&) {
  const DType to = dtype_from_onnx(static_cast<int>(n.attr_int("to", 1)));
  const at::Tensor& x = in[0];
  if (to == DType::boolean) return {x != 0};
  if (is_float(to)) return {x.to(scalar_type(to))};
  // Float to integer truncates toward zero and saturates; NaN becomes 0 (as the reference).
  double lo = 0, hi = 0;
  switch (to) {
  case DType::i8:
    lo = -128, hi = 127;
    break;
  case DType::u8:
    lo = 0, hi = 255;
    break;
  case DType::i32:
    lo = -2147483648.0, hi = 2147483647.0;
    break;
  default:
    lo = -9.2233720368547758e18, hi = 9.2233720368547748e18;
    break;
  }
  at::Tensor t = at::nan_to_num(at::trunc(x.to(at::kDouble)), 0.0).clamp(lo, hi);
  return {t.to(scalar_type(to))};
}

Outs lower_clip(const Node& n, const In& in, const Ctx&) {
  c10::optional<at::Scalar> lo, hi;
  if (present(in, 1))
    lo = scalar_of(in[1]);
  else if (n.has_attr("min"))
    lo = n.attr_float("min", 0.0f);
  if (present(in, 2))
    hi = scalar_of(in[2]);
  else if (n.has_attr("max"))
    hi = n.attr_float("max", 0.0f);
  if (!lo && !hi) return {in[0]};
  return {at::clamp(in[0], lo, hi)};
}

Outs lower_concat(const Node& n, const In& in, const Ctx&) {
  std::vector<at::Tensor> parts;
  for (const at::Tensor& t : in)
    if (t.defined()) parts.push_back(t);
  const int axis = norm_axis(n, n.attr_int("axis", 0), parts.at(0).dim());
  return {at::cat(parts, axis)};
}

Outs lower_dropout(const Node& n, const In& in, const Ctx& ctx) {
  double ratio = n.attr_float("ratio", 0.5f);
  if (present(in, 1)) ratio = scalar_of(in[1]);
  bool train = ctx.training;
  if (present(in, 2)) train = train && scalar_of(in[2]) != 0.0;
  at::Tensor y, mask;
  if (train && ratio > 0.0) {
    mask = at::rand_like(in[0]) >= ratio;
    y = in[0] * mask / (1.0 - ratio);
  } else {
    y = in[0];
    mask = at::ones(in[0].sizes(), in[0].options().dtype(at::kBool));
  }
  if (n.num_outputs() > 1) return {y, mask};
  return {y};
}

Outs lower_flatten(const Node& n, const In& in, const Ctx&) {
  const at::Tensor& x = in[0];
  int64_t axis = n.attr_int("axis", 1);
  if (axis < 0) axis += x.dim();
  if (axis < 0 || axis > x.dim()) fail(n, "axis out of range");
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d)
    outer *= x.size(d);
  return {x.reshape({outer, outer == 0 ? 0 : x.numel() / std::max<int64_t>(outer, 1)})};
}

Outs lower_gather(const Node& n, const In& in, const Ctx&) {
  const at::Tensor& x = in[0];
  const int axis = norm_axis(n, n.attr_int("axis", 0), x.dim());
  at::Tensor idx = in[1].to(at::kLong);
  const int64_t dim = x.size(axis);
  if (idx.numel() > 0 && ((idx < -dim).any().item<bool>() || (idx >= dim).any().item<bool>()))
    fail(n, "an index is outside [-" + std::to_string(dim) + ", " + std::to_string(dim) + ")");
  idx = at::where(idx < 0, idx + dim, idx);
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().begin() + axis);
  for (int64_t s : idx.sizes())
    shape.push_back(s);
  shape.insert(shape.end(), x.sizes().begin() + axis + 1, x.sizes().end());
  return {x.index_select(axis, idx.reshape({-1})).reshape(shape)};
}

Outs lower_variadic(const In& in, at::Tensor (*f)(const at::Tensor&, const at::Tensor&)) {
  at::Tensor acc;
  for (const at::Tensor& t : in) {
    if (!t.defined()) continue;
    acc = acc.defined() ? f(acc, t) : t;
  }
  return {acc};
}

Outs lower_pad(const Node& n, const In& in, const Ctx&) {
  const at::Tensor& x = in[0];
  const int64_t rank = x.dim();
  std::vector<int64_t> pads;
  if (!ints_operand(n, in, 1, "pads", pads)) fail(n, "pads is missing");
  std::vector<int64_t> axes;
  if (in.size() > 3 && in[3].defined()) {
    for (int64_t a : ints_of(in[3]))
      axes.push_back(norm_axis(n, a, rank));
  } else {
    for (int64_t d = 0; d < rank; ++d)
      axes.push_back(d);
  }
  if (pads.size() != 2 * axes.size())
    fail(n, "pads has " + std::to_string(pads.size()) + " values, expected " +
                std::to_string(2 * axes.size()));
  std::vector<int64_t> begin(static_cast<size_t>(rank), 0), end(static_cast<size_t>(rank), 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    begin[static_cast<size_t>(axes[i])] = pads[i];
    end[static_cast<size_t>(axes[i])] = pads[i + axes.size()];
  }
  double value = n.attr_float("value", 0.0f);
  if (present(in, 2)) value = scalar_of(in[2]);
  const std::string mode = n.attr_string("mode", "constant");
  // torch's pad list starts at the last dimension; leading unpadded dimensions are left out.
  int64_t first = 0;
  while (first < rank && begin[static_cast<size_t>(first)] == 0 &&
         end[static_cast<size_t>(first)] == 0)
    ++first;
  std::vector<int64_t> list;
  for (int64_t d = rank; d-- > first;) {
    list.push_back(begin[static_cast<size_t>(d)]);
    list.push_back(end[static_cast<size_t>(d)]);
  }
  if (list.empty()) return {x};
  if (mode == "constant") return {at::constant_pad_nd(x, list, value)};
  const char* tmode = mode == "reflect" ? "reflect"
                      : mode == "edge"  ? "replicate"
                      : mode == "wrap"  ? "circular"
                                        : nullptr;
  if (!tmode) fail(n, "mode must be constant, reflect, edge or wrap, got '" + mode + "'");
  for (int64_t v : list)
    if (v < 0) unsupported(n, "negative pads with mode " + mode);
  const int64_t padded_dims = static_cast<int64_t>(list.size()) / 2;
  if (padded_dims > 3) unsupported(n, "mode " + mode + " on more than 3 trailing dimensions");
  // torch wants one or two leading unpadded dimensions (batch, channel) for these modes.
  at::Tensor y = x;
  int64_t added = 0;
  while (y.dim() < padded_dims + 2) {
    y = y.unsqueeze(0);
    ++added;
  }
  std::vector<int64_t> lead(y.sizes().begin(), y.sizes().end() - padded_dims);
  if (lead.size() > 2) {
    std::vector<int64_t> flat = {-1};
    flat.insert(flat.end(), y.sizes().end() - padded_dims - 1, y.sizes().end());
    y = y.reshape(flat);
  }
  y = at::pad(y, list, tmode);
  if (lead.size() > 2) {
    std::vector<int64_t> back = lead;
    back.insert(back.end(), y.sizes().end() - padded_dims, y.sizes().end());
    y = y.reshape(back);
  }
  for (int64_t i = 0; i < added; ++i)
    y = y.squeeze(0);
  return {y};
}

// Quantization parameters broadcast along `axis` of x.
at::Tensor along_axis(const Node& n, const at::Tensor& p, const at::Tensor& x) {
  if (p.numel() == 1 && p.dim() <= 1) return p.reshape({});
  if (n.attr_int("block_size", 0) != 0) unsupported(n, "blocked quantization (block_size)");
  const int axis = norm_axis(n, n.attr_int("axis", 1), x.dim());
  if (p.dim() != 1 || p.size(0) != x.size(axis))
    fail(n, "per-axis parameters need " + std::to_string(x.size(axis)) + " values");
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[static_cast<size_t>(axis)] = -1;
  return p.reshape(shape);
}

std::pair<double, double> quant_range(const Node& n, DType t) {
  if (t == DType::u8) return {0, 255};
  if (t == DType::i8) return {-128, 127};
  if (t == DType::i32) return {-2147483648.0, 2147483647.0};
  unsupported(n, std::string("quantization to ") + dtype_name(t));
}

Outs lower_quantize(const Node& n, const In& in, const Ctx&) {
  const at::Tensor& x = in[0];
  const at::Tensor scale = along_axis(n, in[1], x);
  at::Tensor r = x / scale;
  // Straight-through estimator: the forward pass rounds (half to even, as the reference), the
  // backward pass sees the identity.
  at::Tensor q = r + (at::round(r) - r).detach();
  DType qt = DType::u8;
  if (present(in, 2)) {
    qt = dtype_of(in[2].scalar_type());
    q = q + along_axis(n, in[2].to(x.scalar_type()), x);
  }
  auto range = quant_range(n, qt);
  return {at::clamp(q, range.first, range.second)};
}

Outs lower_dequantize(const Node& n, const In& in, const Ctx&) {
  const at::Tensor& x = in[0];
  const at::Tensor& s = in[1];
  at::Tensor xf = x.is_floating_point() ? x.to(s.scalar_type()) : x.to(s.scalar_type());
  if (present(in, 2)) xf = xf - along_axis(n, in[2].to(s.scalar_type()), x);
  return {xf * along_axis(n, s, x)};
}

Outs lower_range(const Node& n, const In& in, const Ctx&) {
  const double start = scalar_of(in[0]), limit = scalar_of(in[1]), delta = scalar_of(in[2]);
  if (delta == 0) fail(n, "delta must not be zero");
  const int64_t count =
      std::max<int64_t>(0, static_cast<int64_t>(std::ceil((limit - start) / delta)));
  at::Tensor i = at::arange(count, in[0].options());
  return {in[0].reshape({}) + i * in[2].reshape({})};
}

Outs lower_reduce(const Node& n, const In& in, int kind) {
  const at::Tensor& x = in[0];
  std::vector<int64_t> axes;
  ints_operand(n, in, 1, "axes", axes);
  const bool keep = n.attr_int("keepdims", 1) != 0;
  if (axes.empty()) {
    if (n.attr_int("noop_with_empty_axes", 0) != 0) return {x};
    for (int64_t d = 0; d < x.dim(); ++d)
      axes.push_back(d);
  }
  for (int64_t& a : axes)
    a = norm_axis(n, a, x.dim(), "axes");
  if (x.dim() == 0) return {x};
  switch (kind) {
  case 0:
    return {at::amax(x, axes, keep)};
  case 1:
    return {at::amin(x, axes, keep)};
  case 2:
    return {at::mean(x, axes, keep)};
  default:
    return {at::sum(x, axes, keep)};
  }
}

Outs lower_reshape(const Node& n, const In& in, const Ctx&) {
  const at::Tensor& x = in[0];
  std::vector<int64_t> shape = ints_of(in[1]);
  const bool allowzero = n.attr_int("allowzero", 0) != 0;
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] == 0 && !allowzero) {
      if (static_cast<int64_t>(i) >= x.dim()) fail(n, "shape copies a dimension X lacks");
      shape[i] = x.size(static_cast<int64_t>(i));
    }
  return {x.reshape(shape)};
}

// Resize is a tensor product of 1-D resamplings. The matrix of each axis comes from the
// reference kernel applied to an identity matrix with the same attributes, so every mode,
// coordinate transformation and rounding rule is the reference's; the product is then a chain
// of matrix multiplications, which autograd differentiates exactly.
Outs lower_resize(const Node& n, const In& in, const Ctx&) {
  const at::Tensor& x = in[0];
  const int64_t rank = x.dim();
  const std::string coord = n.attr_string("coordinate_transformation_mode", "half_pixel");
  if (coord == "tf_crop_and_resize")
    unsupported(n, "coordinate_transformation_mode tf_crop_and_resize");
  const bool opset10 = in.size() == 2;
  at::Tensor scales_t = opset10 ? in[1] : (present(in, 2) ? in[2] : at::Tensor());
  at::Tensor sizes_t = !opset10 && present(in, 3) ? in[3] : at::Tensor();
  if (scales_t.defined() == sizes_t.defined())
    fail(n, "exactly one of scales and sizes must be given");
  std::vector<int64_t> axes;
  if (n.has_attr("axes")) {
    for (int64_t a : n.attr_ints("axes"))
      axes.push_back(norm_axis(n, a, rank, "axes"));
  } else {
    for (int64_t d = 0; d < rank; ++d)
      axes.push_back(d);
  }
  std::vector<float> scale(static_cast<size_t>(rank), 1.0f);
  std::vector<int64_t> out = sizes_of(x);
  if (scales_t.defined()) {
    at::Tensor s = scales_t.to(at::kFloat).contiguous();
    if (s.numel() != static_cast<int64_t>(axes.size())) fail(n, "scales has the wrong length");
    for (size_t i = 0; i < axes.size(); ++i) {
      const size_t a = static_cast<size_t>(axes[i]);
      scale[a] = s.data_ptr<float>()[i];
      out[a] = static_cast<int64_t>(std::floor(static_cast<float>(x.size(axes[i])) * scale[a]));
    }
  } else {
    std::vector<int64_t> sizes = ints_of(sizes_t);
    if (sizes.size() != axes.size()) fail(n, "sizes has the wrong length");
    if (n.attr_string("keep_aspect_ratio_policy", "stretch") != "stretch")
      unsupported(n, "keep_aspect_ratio_policy other than stretch");
    for (size_t i = 0; i < axes.size(); ++i) {
      const size_t a = static_cast<size_t>(axes[i]);
      out[a] = sizes[i];
      scale[a] = static_cast<float>(sizes[i]) / static_cast<float>(x.size(axes[i]));
    }
  }
  at::Tensor y = x;
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t in_len = x.size(d), out_len = out[static_cast<size_t>(d)];
    if (in_len == out_len && scale[static_cast<size_t>(d)] == 1.0f) continue;
    // Probe: Resize(I[in_len, in_len]) along axis 1 gives column i = the weights of input i.
    Graph probe("resize_probe");
    Value* px = probe.add_input("x", TensorType::of(DType::f32, {in_len, in_len}));
    Value* roi = probe.add_initializer("roi", Tensor(DType::f32, {0}));
    Attributes attrs = n.attrs();
    attrs.erase("axes");
    Value* py;
    Tensor ident = Tensor(DType::f32, {in_len, in_len});
    for (int64_t i = 0; i < in_len; ++i)
      ident.data_mutable<float>()[i * in_len + i] = 1.0f;
    if (sizes_t.defined()) {
      Value* sz =
          probe.add_initializer("sizes", Tensor::from_vector<int64_t>({2}, {in_len, out_len}));
      Value* sc = probe.add_initializer("scales", Tensor(DType::f32, {0}));
      py = probe.add_op("Resize", {px, roi, sc, sz}, attrs, "probe");
    } else {
      Value* sc = probe.add_initializer(
          "scales", Tensor::from_vector<float>({2}, {1.0f, scale[static_cast<size_t>(d)]}));
      py = probe.add_op("Resize", {px, roi, sc}, attrs, "probe");
    }
    std::vector<Tensor> r;
    try {
      std::vector<const Tensor*> args = {&ident, constant_value(roi),
                                         constant_value(py->producer()->input(2))};
      if (sizes_t.defined()) args.push_back(constant_value(py->producer()->input(3)));
      r = evaluate_node(*py->producer(), args);
    } catch (const Error& e) {
      fail(n, e.what());
    }
    if (r.at(0).dim(1) != out_len)
      unsupported(n, "resize sizes that the reference rounds differently");
    // m: in_len x out_len; y <- y moved so that axis d is last, times m.
    at::Tensor m = to_torch(r[0]).to(x.scalar_type());
    y = at::matmul(y.movedim(d, -1), m).movedim(-1, d);
  }
  if (n.attr_string("mode", "nearest") == "nearest" && !x.is_floating_point())
    return {y.to(x.scalar_type())};
  return {y};
}

Outs lower_shape(const Node& n, const In& in, const Ctx&) {
  const int64_t rank = in[0].dim();
  int64_t start = n.attr_int("start", 0), end = n.attr_int("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  std::vector<int64_t> dims;
  for (int64_t d = start; d < end; ++d)
    dims.push_back(in[0].size(d));
  return {at::tensor(dims, at::kLong)};
}

Outs lower_slice(const Node& n, const In& in, const Ctx&) {
  const at::Tensor& x = in[0];
  const int64_t rank = x.dim();
  std::vector<int64_t> starts, ends, axes, steps;
  if (!ints_operand(n, in, 1, "starts", starts) || !ints_operand(n, in, 2, "ends", ends))
    fail(n, "starts and ends are required");
  if (!ints_operand(n, in, 3, "axes", axes))
    for (size_t i = 0; i < starts.size(); ++i)
      axes.push_back(static_cast<int64_t>(i));
  if (!(in.size() > 4 && in[4].defined()))
    steps.assign(starts.size(), 1);
  else
    steps = ints_of(in[4]);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    fail(n, "starts, ends, axes and steps must have the same length");
  at::Tensor y = x;
  for (size_t i = 0; i < starts.size(); ++i) {
    const int a = norm_axis(n, axes[i], rank, "axes");
    const int64_t dim = x.size(a);
    const int64_t step = steps[i];
    if (step == 0) fail(n, "steps must not be zero");
    int64_t s = starts[i], e = ends[i];
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      y = y.slice(a, s, std::max(s, e), step);
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      std::vector<int64_t> idx;
      for (int64_t k = s; k > e; k += step)
        idx.push_back(k);
      y = y.index_select(a, at::tensor(idx, at::kLong));
    }
  }
  return {y};
}

Outs lower_split(const Node& n, const In& in, const Ctx&) {
  const at::Tensor& x = in[0];
  const int axis = norm_axis(n, n.attr_int("axis", 0), x.dim());
  const int64_t dim = x.size(axis);
  std::vector<int64_t> split;
  if (!ints_operand(n, in, 1, "split", split)) {
    const int64_t parts = n.attr_int("num_outputs", n.num_outputs());
    const int64_t chunk = (dim + parts - 1) / parts;
    for (int64_t done = 0; done < dim; done += chunk)
      split.push_back(std::min(chunk, dim - done));
  }
  std::vector<at::Tensor> ys = at::split_with_sizes(x, split, axis);
  return Outs(ys.begin(), ys.end());
}

Outs lower_squeeze(const Node& n, const In& in, const Ctx&) {
  const at::Tensor& x = in[0];
  std::vector<int64_t> axes;
  if (!ints_operand(n, in, 1, "axes", axes)) {
    std::vector<int64_t> shape;
    for (int64_t s : x.sizes())
      if (s != 1) shape.push_back(s);
    return {x.reshape(shape)};
  }
  std::set<int64_t> drop;
  for (int64_t a : axes) {
    const int d = norm_axis(n, a, x.dim(), "axes");
    if (x.size(d) != 1)
      fail(n, "cannot squeeze axis " + std::to_string(a) + " of size " + std::to_string(x.size(d)));
    drop.insert(d);
  }
  std::vector<int64_t> shape;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (!drop.count(d)) shape.push_back(x.size(d));
  return {x.reshape(shape)};
}

Outs lower_unsqueeze(const Node& n, const In& in, const Ctx&) {
  const at::Tensor& x = in[0];
  std::vector<int64_t> axes;
  if (!ints_operand(n, in, 1, "axes", axes)) fail(n, "axes is required");
  const int64_t out_rank = x.dim() + static_cast<int64_t>(axes.size());
  std::vector<int64_t> norm;
  for (int64_t a : axes)
    norm.push_back(norm_axis(n, a, out_rank, "axes"));
  std::sort(norm.begin(), norm.end());
  at::Tensor y = x;
  for (int64_t a : norm)
    y = y.unsqueeze(a);
  return {y};
}

Outs lower_transpose(const Node& n, const In& in, const Ctx&) {
  std::vector<int64_t> perm = n.attr_ints("perm");
  if (perm.empty())
    for (int64_t d = in[0].dim(); d-- > 0;)
      perm.push_back(d);
  return {in[0].permute(perm)};
}

Outs lower_argmax(const Node& n, const In& in, const Ctx&) {
  const at::Tensor& x = in[0];
  const int axis = norm_axis(n, n.attr_int("axis", 0), x.dim());
  const bool keep = n.attr_int("keepdims", 1) != 0;
  if (n.attr_int("select_last_index", 0) != 0) {
    at::Tensor i = at::argmax(x.flip(axis), axis, keep);
    return {(x.size(axis) - 1) - i};
  }
  return {at::argmax(x, axis, keep)};
}

Outs lower_hard_sigmoid(const Node& n, const In& in, const Ctx&) {
  const double alpha = n.attr_float("alpha", 0.2f), beta = n.attr_float("beta", 0.5f);
  return {at::clamp(in[0] * alpha + beta, 0.0, 1.0)};
}

const std::unordered_map<std::string, LowerFn>& lowerings() {
  static const std::unordered_map<std::string, LowerFn> table = [] {
    std::unordered_map<std::string, LowerFn> t;
    auto un = [&](const char* op, at::Tensor (*f)(const at::Tensor&)) {
      t[op] = [f](const Node&, const In& in, const Ctx&) { return unary(in, f); };
    };
    un("Abs", at::abs);
    un("Ceil", at::ceil);
    un("Floor", at::floor);
    un("Cos", at::cos);
    un("Sin", at::sin);
    un("Exp", at::exp);
    un("Log", at::log);
    un("Neg", at::neg);
    un("Reciprocal", at::reciprocal);
    un("Sqrt", at::sqrt);
    un("Tanh", at::tanh);
    un("Sigmoid", at::sigmoid);
    un("Erf", at::erf);
    un("Relu", at::relu);
    un("HardSwish", at::hardswish);
    un("Not", at::logical_not);
    t["Identity"] = [](const Node&, const In& in, const Ctx&) { return Outs{in[0]}; };
    auto bin = [&](const char* op, at::Tensor (*f)(const at::Tensor&, const at::Tensor&)) {
      t[op] = [f](const Node&, const In& in, const Ctx&) { return Outs{f(in[0], in[1])}; };
    };
    t["Add"] = [](const Node&, const In& in, const Ctx&) { return Outs{in[0] + in[1]}; };
    t["Sub"] = [](const Node&, const In& in, const Ctx&) { return Outs{in[0] - in[1]}; };
    t["Mul"] = [](const Node&, const In& in, const Ctx&) { return Outs{in[0] * in[1]}; };
    t["Div"] = [](const Node&, const In& in, const Ctx&) { return Outs{in[0] / in[1]}; };
    t["Pow"] = [](const Node&, const In& in, const Ctx&) {
      return Outs{same_type(at::pow(in[0], in[1].to(in[0].scalar_type())), in[0])};
    };
    bin("Equal", at::eq);
    bin("Greater", at::gt);
    bin("Less", at::lt);
    bin("And", at::logical_and);
    bin("Or", at::logical_or);
    bin("MatMul", at::matmul);
    t["Max"] = [](const Node&, const In& in, const Ctx&) {
      return lower_variadic(in, at::maximum);
    };
    t["Min"] = [](const Node&, const In& in, const Ctx&) {
      return lower_variadic(in, at::minimum);
    };
    t["Sum"] = [](const Node&, const In& in, const Ctx&) {
      return lower_variadic(in, [](const at::Tensor& a, const at::Tensor& b) { return a + b; });
    };
    t["Where"] = [](const Node&, const In& in, const Ctx&) {
      return Outs{at::where(in[0].to(at::kBool), in[1], in[2])};
    };
    t["ArgMax"] = lower_argmax;
    t["AveragePool"] = lower_average_pool;
    t["BatchNormalization"] = lower_batch_norm;
    t["Cast"] = lower_cast;
    t["Clip"] = lower_clip;
    t["Concat"] = lower_concat;
    t["Conv"] = lower_conv;
    t["ConvTranspose"] = lower_conv_transpose;
    t["DequantizeLinear"] = lower_dequantize;
    t["Dropout"] = lower_dropout;
    t["Expand"] = [](const Node&, const In& in, const Ctx&) {
      std::vector<int64_t> shape = ints_of(in[1]);
      return Outs{in[0].expand(at::infer_size(in[0].sizes(), shape))};
    };
    t["Flatten"] = lower_flatten;
    t["Gather"] = lower_gather;
    t["Gelu"] = [](const Node& n, const In& in, const Ctx&) {
      return Outs{at::gelu(in[0], n.attr_string("approximate", "none"))};
    };
    t["Gemm"] = lower_gemm;
    t["GlobalAveragePool"] = [](const Node&, const In& in, const Ctx&) {
      std::vector<int64_t> axes;
      for (int64_t d = 2; d < in[0].dim(); ++d)
        axes.push_back(d);
      return Outs{in[0].mean(axes, true)};
    };
    t["HardSigmoid"] = lower_hard_sigmoid;
    t["LayerNormalization"] = lower_layer_norm;
    t["LeakyRelu"] = [](const Node& n, const In& in, const Ctx&) {
      return Outs{at::leaky_relu(in[0], n.attr_float("alpha", 0.01f))};
    };
    t["LogSoftmax"] = [](const Node& n, const In& in, const Ctx&) {
      return Outs{at::log_softmax(in[0], norm_axis(n, n.attr_int("axis", -1), in[0].dim()))};
    };
    t["Softmax"] = [](const Node& n, const In& in, const Ctx&) {
      return Outs{at::softmax(in[0], norm_axis(n, n.attr_int("axis", -1), in[0].dim()))};
    };
    t["MaxPool"] = lower_max_pool;
    t["Pad"] = lower_pad;
    t["QuantizeLinear"] = lower_quantize;
    t["Range"] = lower_range;
    t["ReduceMax"] = [](const Node& n, const In& in, const Ctx&) { return lower_reduce(n, in, 0); };
    t["ReduceMin"] = [](const Node& n, const In& in, const Ctx&) { return lower_reduce(n, in, 1); };
    t["ReduceMean"] = [](const Node& n, const In& in, const Ctx&) {
      return lower_reduce(n, in, 2);
    };
    t["ReduceSum"] = [](const Node& n, const In& in, const Ctx&) { return lower_reduce(n, in, 3); };
    t["Reshape"] = lower_reshape;
    t["Resize"] = lower_resize;
    t["Shape"] = lower_shape;
    t["Slice"] = lower_slice;
    t["Split"] = lower_split;
    t["Squeeze"] = lower_squeeze;
    t["Unsqueeze"] = lower_unsqueeze;
    t["Tile"] = [](const Node&, const In& in, const Ctx&) {
      return Outs{in[0].repeat(ints_of(in[1]))};
    };
    t["Transpose"] = lower_transpose;
    t["Trilu"] = [](const Node& n, const In& in, const Ctx&) {
      const int64_t k = present(in, 1) ? static_cast<int64_t>(scalar_of(in[1])) : 0;
      return Outs{n.attr_int("upper", 1) ? at::triu(in[0], k) : at::tril(in[0], k)};
    };
    // These always take integer or boolean inputs, or none, so the reference kernel runs them;
    // the entries only mark them as handled.
    auto by_reference = [](const Node& n, const In&, const Ctx&) -> Outs {
      fail(n, "internal: expected to run on the reference kernel");
    };
    t["Constant"] = by_reference;
    t["ConstantOfShape"] = by_reference;
    return t;
  }();
  return table;
}

// Operand slots that are not weights: float initializers seen only there become buffers.
bool frozen_operand(const std::string& op, int index) {
  if (op == "BatchNormalization") return index >= 3;
  if (op == "QuantizeLinear" || op == "DequantizeLinear") return index >= 1;
  if (op == "Resize" || op == "Pad" || op == "Clip" || op == "Dropout" || op == "Range")
    return index >= 1;
  if (op == "Trilu" || op == "Reshape" || op == "Expand" || op == "Tile" || op == "Slice")
    return index >= 1;
  return false;
}

std::string param_name(const std::string& init, std::set<std::string>& taken) {
  std::string s = init.empty() ? "param" : init;
  for (char& c : s)
    if (c == '.') c = '_';
  std::string out = s;
  for (int i = 1; taken.count(out); ++i)
    out = s + "_" + std::to_string(i);
  taken.insert(out);
  return out;
}

} // namespace

torch::Tensor to_torch(const Tensor& t) {
  at::Tensor out = at::empty(t.shape(), at::TensorOptions().dtype(scalar_type(t.dtype())));
  if (t.nbytes() > 0) std::memcpy(out.data_ptr(), t.raw(), t.nbytes());
  return out;
}

Tensor from_torch(const torch::Tensor& t) {
  at::Tensor c = t.detach().cpu().contiguous();
  Tensor out(dtype_of(c.scalar_type()), c.sizes().vec());
  if (out.nbytes() > 0) std::memcpy(out.raw_mutable(), c.data_ptr(), out.nbytes());
  return out;
}

// ---- the plan -------------------------------------------------------------------------------

struct GraphModuleImpl::Plan {
  struct Step {
    const Node* node = nullptr;
    const LowerFn* fn = nullptr;
    std::vector<int> in, out;
    std::vector<int> release; // slots nobody reads after this step
    bool quantize = false;    // output holds integer codes as float
  };
  int slots = 0;
  std::unordered_map<std::string, int> slot_of;
  std::vector<int> inputs, outputs;
  std::vector<std::pair<int, std::string>> params, buffers; // slot, module name
  std::vector<std::pair<int, at::Tensor>> constants;        // Constant nodes, evaluated once
  std::vector<Step> steps;
  std::vector<DType> code_type; // per slot: the integer type of a fake-quantized value
  std::vector<char> coded;      // per slot: holds fake-quantized codes
};

GraphModuleImpl::~GraphModuleImpl() = default;

GraphModuleImpl::GraphModuleImpl(const Graph& graph)
    : graph_(std::make_unique<Graph>(graph.clone())), plan_(std::make_unique<Plan>()) {
  verify_or_throw(*graph_);
  Plan& p = *plan_;
  auto slot = [&](const Value* v) {
    auto it = p.slot_of.find(v->name());
    if (it != p.slot_of.end()) return it->second;
    p.slot_of[v->name()] = p.slots;
    return p.slots++;
  };
  for (const Value* v : graph_->inputs())
    p.inputs.push_back(slot(v));

  // Initializers: parameters unless every use is a non-weight operand or they are not float.
  std::set<std::string> taken;
  for (const Value* v : graph_->initializers()) {
    const Tensor& t = v->initializer();
    bool weight = is_float(t.dtype()) && !v->uses().empty();
    for (const Use& u : v->uses())
      if (frozen_operand(u.node->op(), u.index)) weight = false;
    const std::string name = param_name(v->name(), taken);
    param_to_init_[name] = v->name();
    if (weight) {
      register_parameter(name, to_torch(t), true);
      p.params.emplace_back(slot(v), name);
    } else {
      register_buffer(name, to_torch(t));
      p.buffers.emplace_back(slot(v), name);
    }
  }

  std::vector<std::string> problems;
  const auto& table = lowerings();
  for (const Node* n : graph_->nodes()) {
    Plan::Step s;
    s.node = n;
    auto it = table.find(n->op());
    if (it == table.end()) {
      problems.push_back("op '" + n->op() + "' (node '" + n->name() + "')");
      continue;
    }
    s.fn = &it->second;
    for (const Value* v : n->inputs())
      s.in.push_back(v ? slot(v) : -1);
    for (const Value* v : n->outputs())
      s.out.push_back(slot(v));
    s.quantize = n->op() == "QuantizeLinear";
    if (n->num_inputs() == 0) {
      // Constants: evaluated once with the reference kernel.
      std::vector<Tensor> r = evaluate_node(*n, {});
      for (size_t i = 0; i < r.size() && i < s.out.size(); ++i)
        p.constants.emplace_back(s.out[i], to_torch(r[i]));
      continue;
    }
    p.steps.push_back(std::move(s));
  }
  if (!problems.empty())
    throw UnsupportedError("the LibTorch bridge has no lowering for", problems);
  for (const Value* v : graph_->outputs())
    p.outputs.push_back(slot(v));
  p.coded.assign(static_cast<size_t>(p.slots), 0);
  p.code_type.assign(static_cast<size_t>(p.slots), DType::u8);

  // Release each intermediate slot after its last reader; inputs, weights and outputs stay.
  std::vector<int> last(static_cast<size_t>(p.slots), -1);
  for (size_t i = 0; i < p.steps.size(); ++i)
    for (int s : p.steps[i].in)
      if (s >= 0) last[static_cast<size_t>(s)] = static_cast<int>(i);
  std::set<int> keep(p.outputs.begin(), p.outputs.end());
  keep.insert(p.inputs.begin(), p.inputs.end());
  for (auto& pr : p.params)
    keep.insert(pr.first);
  for (auto& pr : p.buffers)
    keep.insert(pr.first);
  for (auto& pr : p.constants)
    keep.insert(pr.first);
  for (int s = 0; s < p.slots; ++s)
    if (last[static_cast<size_t>(s)] >= 0 && !keep.count(s))
      p.steps[static_cast<size_t>(last[static_cast<size_t>(s)])].release.push_back(s);
}

std::vector<torch::Tensor> GraphModuleImpl::forward(const std::vector<torch::Tensor>& inputs,
                                                    const std::vector<std::string>& fetch) {
  Plan& p = *plan_;
  if (inputs.size() != p.inputs.size())
    throw Error("graph '" + graph_->name() + "' has " + std::to_string(p.inputs.size()) +
                " inputs, got " + std::to_string(inputs.size()) + " tensors");
  std::vector<int> fetch_slots;
  for (const std::string& f : fetch) {
    auto it = p.slot_of.find(f);
    if (it == p.slot_of.end())
      throw Error("graph '" + graph_->name() + "' has no value named '" + f + "' to fetch");
    fetch_slots.push_back(it->second);
  }
  std::set<int> fetched(fetch_slots.begin(), fetch_slots.end());

  std::vector<at::Tensor> env(static_cast<size_t>(p.slots));
  std::vector<char> coded(static_cast<size_t>(p.slots), 0);
  std::vector<DType> code_type(static_cast<size_t>(p.slots), DType::u8);
  for (size_t i = 0; i < inputs.size(); ++i)
    env[static_cast<size_t>(p.inputs[i])] = inputs[i];
  {
    auto params = named_parameters(false);
    for (auto& pr : p.params)
      env[static_cast<size_t>(pr.first)] = params[pr.second];
    auto buffers = named_buffers(false);
    for (auto& pr : p.buffers)
      env[static_cast<size_t>(pr.first)] = buffers[pr.second];
  }
  for (auto& pr : p.constants)
    env[static_cast<size_t>(pr.first)] = pr.second;

  // A fake-quantized value read by anything but DequantizeLinear becomes its integer type.
  auto decode = [&](int s) {
    return coded[static_cast<size_t>(s)]
               ? env[static_cast<size_t>(s)].to(scalar_type(code_type[static_cast<size_t>(s)]))
               : env[static_cast<size_t>(s)];
  };
  Ctx ctx;
  ctx.training = is_training();
  for (const Plan::Step& s : p.steps) {
    const Node& n = *s.node;
    In in(s.in.size());
    bool any_float = false;
    for (size_t i = 0; i < s.in.size(); ++i) {
      if (s.in[i] < 0) continue;
      const bool raw = n.op() == "DequantizeLinear" && i == 0;
      in[i] = raw ? env[static_cast<size_t>(s.in[i])] : decode(s.in[i]);
      if (!in[i].defined())
        throw Error("internal: value '" + n.input(static_cast<int>(i))->name() +
                    "' is not computed before " + label(n));
      any_float = any_float || in[i].is_floating_point();
    }
    Outs out;
    try {
      if (!any_float) {
        std::vector<Tensor> args(in.size());
        std::vector<const Tensor*> ptrs(in.size(), nullptr);
        for (size_t i = 0; i < in.size(); ++i)
          if (in[i].defined()) {
            args[i] = from_torch(in[i]);
            ptrs[i] = &args[i];
          }
        for (Tensor& t : evaluate_node(n, ptrs))
          out.push_back(to_torch(t));
      } else {
        out = (*s.fn)(n, in, ctx);
      }
    } catch (const UnsupportedError&) {
      throw;
    } catch (const Error& e) {
      throw Error(std::string("while running ") + label(n) + ": " + e.what());
    } catch (const c10::Error& e) {
      throw Error(std::string("while running ") + label(n) +
                  " in LibTorch: " + e.what_without_backtrace());
    }
    if (out.size() < s.out.size())
      throw UnsupportedError("the LibTorch bridge cannot compute every output of",
                             {label(n) + " (" + std::to_string(s.out.size()) + " outputs)"});
    for (size_t i = 0; i < s.out.size(); ++i)
      env[static_cast<size_t>(s.out[i])] = out[i];
    if (s.quantize && any_float) {
      coded[static_cast<size_t>(s.out[0])] = 1;
      code_type[static_cast<size_t>(s.out[0])] =
          s.in.size() > 2 && s.in[2] >= 0 ? dtype_of(in[2].scalar_type()) : DType::u8;
    }
    for (int r : s.release)
      if (!fetched.count(r)) env[static_cast<size_t>(r)] = at::Tensor();
  }
  std::vector<torch::Tensor> result;
  for (int s : p.outputs)
    result.push_back(decode(s));
  for (int s : fetch_slots)
    result.push_back(decode(s));
  return result;
}

void GraphModuleImpl::write_back(Graph& graph) const {
  auto store = [&](const std::string& name, const at::Tensor& t) {
    const std::string& init = param_to_init_.at(name);
    Value* v = graph.find_value(init);
    if (!v || !v->is_initializer())
      throw Error("write_back: graph '" + graph.name() + "' has no initializer '" + init + "'");
    Tensor value = from_torch(t);
    if (value.shape() != v->initializer().shape())
      throw Error("write_back: initializer '" + init + "' has shape " +
                  shape_str(v->initializer().shape()) + " in graph '" + graph.name() +
                  "', the module's is " + shape_str(value.shape()));
    if (value.dtype() != v->initializer().dtype()) value = value.cast(v->initializer().dtype());
    graph.set_initializer(v, std::move(value));
  };
  for (const auto& pr : named_parameters(false))
    store(pr.key(), pr.value());
  for (const auto& pr : named_buffers(false))
    store(pr.key(), pr.value());
}

std::string GraphModuleImpl::initializer_of(const std::string& param_name) const {
  auto it = param_to_init_.find(param_name);
  return it == param_to_init_.end() ? "" : it->second;
}

std::vector<std::pair<std::string, torch::Tensor>>
GraphModuleImpl::named_initializer_parameters() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& pr : named_parameters(false))
    out.emplace_back(param_to_init_.at(pr.key()), pr.value());
  return out;
}

bool GraphModuleImpl::has_value(const std::string& name) const {
  return graph_->find_value(name) != nullptr;
}

} // namespace shrink
