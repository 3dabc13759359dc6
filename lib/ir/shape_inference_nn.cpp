// Shape inference for convolutions, pooling, normalization, Gemm and MatMul.
#include "shape_inference_detail.h"

#include <algorithm>

namespace shrink {
namespace ops {

using namespace shape_detail;

namespace {

enum class AutoPad { not_set, same_upper, same_lower, valid };

AutoPad auto_pad(const Node& node) {
  std::string s = node.attr_string("auto_pad", "NOTSET");
  if (s == "NOTSET" || s.empty()) return AutoPad::not_set;
  if (s == "SAME_UPPER") return AutoPad::same_upper;
  if (s == "SAME_LOWER") return AutoPad::same_lower;
  if (s == "VALID") return AutoPad::valid;
  fail(node, "auto_pad '" + s + "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
}

// The spatial attributes shared by Conv, ConvTranspose and the pools, validated and with ONNX
// defaults filled in for `n` spatial axes.
struct Window {
  std::vector<int64_t> kernel; // -1 where the kernel size is not known yet
  std::vector<int64_t> strides, dilations, pads;
  AutoPad pad = AutoPad::not_set;
};

Window read_window(const Node& node, int n, const Dims* weight_spatial) {
  Window w;
  w.pad = auto_pad(node);
  if (node.has_attr("kernel_shape")) {
    w.kernel = node.attr_ints("kernel_shape");
    if (static_cast<int>(w.kernel.size()) != n)
      fail(node, "kernel_shape " + ints_str(w.kernel) + " must have " + std::to_string(n) +
                     " entries, one per spatial axis");
    for (int i = 0; weight_spatial && i < n; ++i) {
      const Dim& d = (*weight_spatial)[i];
      if (d.is_known() && d.value != w.kernel[i])
        fail(node, "kernel_shape " + ints_str(w.kernel) +
                       " does not match the weight's spatial "
                       "size on axis " +
                       std::to_string(i) + " (" + std::to_string(d.value) + ")");
    }
  } else if (weight_spatial) {
    for (const Dim& d : *weight_spatial)
      w.kernel.push_back(d.is_known() ? d.value : -1);
  } else {
    w.kernel.assign(static_cast<size_t>(n), -1);
  }
  for (int64_t k : w.kernel)
    if (k == 0 || k < -1) fail(node, "kernel_shape " + ints_str(w.kernel) + " must be positive");
  w.strides = node.attr_ints("strides", std::vector<int64_t>(static_cast<size_t>(n), 1));
  w.dilations = node.attr_ints("dilations", std::vector<int64_t>(static_cast<size_t>(n), 1));
  w.pads = node.attr_ints("pads", std::vector<int64_t>(static_cast<size_t>(2 * n), 0));
  if (static_cast<int>(w.strides.size()) != n)
    fail(node, "strides " + ints_str(w.strides) + " must have " + std::to_string(n) + " entries");
  if (static_cast<int>(w.dilations.size()) != n)
    fail(node,
         "dilations " + ints_str(w.dilations) + " must have " + std::to_string(n) + " entries");
  if (static_cast<int>(w.pads.size()) != 2 * n)
    fail(node, "pads " + ints_str(w.pads) + " must have " + std::to_string(2 * n) +
                   " entries (begins then ends)");
  for (int64_t s : w.strides)
    if (s < 1) fail(node, "strides " + ints_str(w.strides) + " must be >= 1");
  for (int64_t d : w.dilations)
    if (d < 1) fail(node, "dilations " + ints_str(w.dilations) + " must be >= 1");
  for (int64_t p : w.pads)
    if (p < 0) fail(node, "pads " + ints_str(w.pads) + " must be >= 0");
  return w;
}

// Output size of a convolution or pooling window along spatial axis `i`.
Dim window_out(const Node& node, const Window& w, int i, const Dim& in, bool ceil_mode) {
  if (!in.is_known()) return Dim::unknown();
  int64_t x = in.value, s = w.strides[i];
  if (w.pad == AutoPad::same_upper || w.pad == AutoPad::same_lower)
    return Dim::known((x + s - 1) / s);
  if (w.kernel[i] < 0) return Dim::unknown();
  int64_t pb = w.pad == AutoPad::valid ? 0 : w.pads[i];
  int64_t pe = w.pad == AutoPad::valid ? 0 : w.pads[i + w.strides.size()];
  int64_t extent = (w.kernel[i] - 1) * w.dilations[i] + 1;
  int64_t span = x + pb + pe - extent;
  if (span < 0)
    fail(node, "the window (" + std::to_string(extent) + " with dilation) is larger than the " +
                   "padded input (" + std::to_string(x + pb + pe) + ") on spatial axis " +
                   std::to_string(i));
  int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  // With ceil_mode the last window must start inside the input or its left padding (as in
  // PyTorch and ONNX Runtime); otherwise it would cover only right padding.
  if (ceil_mode && (out - 1) * s >= x + pb) --out;
  return Dim::known(out);
}

// Rank check for NCHW-style inputs; returns the dims or nullptr when unranked.
const Dims* spatial_input(const Node& node, int i, const char* role) {
  const Dims* d = ranked_dims(node, i);
  if (d && d->size() < 3)
    fail(node, std::string(role) + " must have rank >= 3 (N, C, spatial...), got " +
                   input_type(node, i).str());
  return d;
}

std::vector<TensorType> pool(const Node& node) {
  const TensorType& x = input_type(node, 0);
  const Dims* xd = spatial_input(node, 0, "input");
  if (!node.has_attr("kernel_shape")) fail(node, "attribute 'kernel_shape' is required");
  TensorType y = TensorType::unranked(x.dtype);
  if (xd) {
    int n = static_cast<int>(xd->size()) - 2;
    Window w = read_window(node, n, nullptr);
    bool ceil_mode = node.attr_int("ceil_mode", 0) != 0;
    Dims out{(*xd)[0], (*xd)[1]};
    for (int i = 0; i < n; ++i)
      out.push_back(window_out(node, w, i, (*xd)[i + 2], ceil_mode));
    y = ranked(x.dtype, std::move(out));
  }
  std::vector<TensorType> result{y};
  if (node.num_outputs() > 1) result.push_back(TensorType{DType::i64, y.dims});
  return result;
}

// A per-channel parameter (bias, scale, mean, var) must be 1-D with `channels` entries.
void check_channel_param(const Node& node, int i, const Dim& channels, const char* role) {
  if (!has_input(node, i)) return;
  const TensorType& t = input_type(node, i);
  if (!t.ranked()) return;
  if (t.rank() != 1) fail(node, std::string(role) + " must be 1-D, got " + t.str());
  merge_dim(node, (*t.dims)[0], channels,
            std::string(role) + " length does not match the channel count");
}

} // namespace

std::vector<TensorType> infer_Conv(const Node& node) {
  const TensorType& x = input_type(node, 0);
  const Dims* xd = spatial_input(node, 0, "input");
  const Dims* wd = spatial_input(node, 1, "weight");
  require_same_dtype(node, {0, 1});
  if (xd && wd && xd->size() != wd->size())
    fail(node, "input " + x.str() + " and weight " + input_type(node, 1).str() +
                   " must have the same rank");
  int64_t group = node.attr_int("group", 1);
  if (group < 1) fail(node, "group must be >= 1, got " + std::to_string(group));
  Dim out_channels = wd ? (*wd)[0] : Dim::unknown();
  if (wd) {
    const Dim& cin_per_group = (*wd)[1];
    if (xd && (*xd)[1].is_known() && cin_per_group.is_known() &&
        (*xd)[1].value != cin_per_group.value * group)
      fail(node,
           "input has " + std::to_string((*xd)[1].value) + " channels but the weight expects " +
               std::to_string(cin_per_group.value * group) + " (weight dim 1 = " +
               std::to_string(cin_per_group.value) + " x group " + std::to_string(group) + ")");
    if (out_channels.is_known() && out_channels.value % group != 0)
      fail(node, "output channels " + std::to_string(out_channels.value) +
                     " are not divisible by group " + std::to_string(group));
  }
  check_channel_param(node, 2, out_channels, "bias");
  if (!xd && !wd) return one(TensorType::unranked(x.dtype));
  int rank = static_cast<int>((xd ? xd : wd)->size());
  int n = rank - 2;
  Dims weight_spatial;
  if (wd) weight_spatial.assign(wd->begin() + 2, wd->end());
  Window w = read_window(node, n, wd ? &weight_spatial : nullptr);
  Dims out{xd ? (*xd)[0] : Dim::unknown(), out_channels};
  for (int i = 0; i < n; ++i)
    out.push_back(xd ? window_out(node, w, i, (*xd)[i + 2], false) : Dim::unknown());
  return one(ranked(x.dtype, std::move(out)));
}

std::vector<TensorType> infer_ConvTranspose(const Node& node) {
  const TensorType& x = input_type(node, 0);
  const Dims* xd = spatial_input(node, 0, "input");
  const Dims* wd = spatial_input(node, 1, "weight");
  require_same_dtype(node, {0, 1});
  if (xd && wd && xd->size() != wd->size())
    fail(node, "input " + x.str() + " and weight " + input_type(node, 1).str() +
                   " must have the same rank");
  int64_t group = node.attr_int("group", 1);
  if (group < 1) fail(node, "group must be >= 1, got " + std::to_string(group));
  // The weight is [C_in, C_out / group, k...].
  Dim out_channels = wd ? dim_mul((*wd)[1], group) : Dim::unknown();
  if (wd && xd && (*xd)[1].is_known() && (*wd)[0].is_known() && (*xd)[1].value != (*wd)[0].value)
    fail(node, "input has " + std::to_string((*xd)[1].value) +
                   " channels but the weight's dim 0 is " + std::to_string((*wd)[0].value));
  check_channel_param(node, 2, out_channels, "bias");
  if (!xd && !wd) return one(TensorType::unranked(x.dtype));
  int rank = static_cast<int>((xd ? xd : wd)->size());
  int n = rank - 2;
  Dims weight_spatial;
  if (wd) weight_spatial.assign(wd->begin() + 2, wd->end());
  Window w = read_window(node, n, wd ? &weight_spatial : nullptr);
  std::vector<int64_t> output_padding =
      node.attr_ints("output_padding", std::vector<int64_t>(static_cast<size_t>(n), 0));
  if (static_cast<int>(output_padding.size()) != n)
    fail(node, "output_padding " + ints_str(output_padding) + " must have " + std::to_string(n) +
                   " entries");
  Dims out{xd ? (*xd)[0] : Dim::unknown(), out_channels};
  if (node.has_attr("output_shape")) {
    std::vector<int64_t> shape = node.attr_ints("output_shape");
    // Some exporters write the full shape (N, C, spatial...) instead of the spatial part.
    if (static_cast<int>(shape.size()) == rank) shape.erase(shape.begin(), shape.begin() + 2);
    if (static_cast<int>(shape.size()) != n)
      fail(node,
           "output_shape " + ints_str(shape) + " must have " + std::to_string(n) + " entries");
    for (int64_t s : shape)
      out.push_back(Dim::known(s));
    return one(ranked(x.dtype, std::move(out)));
  }
  for (int i = 0; i < n; ++i) {
    const Dim in = xd ? (*xd)[i + 2] : Dim::unknown();
    if (!in.is_known()) {
      out.push_back(Dim::unknown());
    } else if (w.pad == AutoPad::same_upper || w.pad == AutoPad::same_lower) {
      out.push_back(Dim::known(in.value * w.strides[i]));
    } else if (w.kernel[i] < 0) {
      out.push_back(Dim::unknown());
    } else {
      int64_t pads = w.pad == AutoPad::valid ? 0 : w.pads[i] + w.pads[i + n];
      int64_t size = w.strides[i] * (in.value - 1) + output_padding[i] +
                     (w.kernel[i] - 1) * w.dilations[i] + 1 - pads;
      if (size < 1)
        fail(node, "output size on spatial axis " + std::to_string(i) + " would be " +
                       std::to_string(size) + "; the pads are larger than the output");
      out.push_back(Dim::known(size));
    }
  }
  return one(ranked(x.dtype, std::move(out)));
}

std::vector<TensorType> infer_AveragePool(const Node& node) {
  return pool(node);
}
std::vector<TensorType> infer_MaxPool(const Node& node) {
  return pool(node);
}

std::vector<TensorType> infer_GlobalAveragePool(const Node& node) {
  const TensorType& x = input_type(node, 0);
  const Dims* xd = spatial_input(node, 0, "input");
  if (!xd) return one(x);
  Dims out{(*xd)[0], (*xd)[1]};
  out.resize(xd->size(), Dim::known(1));
  return one(ranked(x.dtype, std::move(out)));
}

std::vector<TensorType> infer_BatchNormalization(const Node& node) {
  const TensorType& x = input_type(node, 0);
  const Dims* xd = ranked_dims(node, 0);
  if (xd && xd->size() < 2) fail(node, "input must have rank >= 2 (N, C, ...), got " + x.str());
  Dim channels = xd ? (*xd)[1] : Dim::unknown();
  static const char* kRoles[] = {"", "scale", "bias", "mean", "var"};
  for (int i = 1; i <= 4; ++i) {
    check_channel_param(node, i, channels, kRoles[i]);
    const TensorType& t = input_type(node, i);
    if (t.ranked() && t.rank() == 1) channels = merge_dim(node, channels, (*t.dims)[0], "channels");
  }
  std::vector<TensorType> out{x};
  // Training mode (opset 14+) also returns the running mean and variance, each [C].
  DType stat = input_type(node, 3).dtype;
  for (int i = 1; i < node.num_outputs(); ++i)
    out.push_back(ranked(stat, Dims{channels}));
  return out;
}

std::vector<TensorType> infer_LayerNormalization(const Node& node) {
  const TensorType& x = input_type(node, 0);
  const TensorType& scale = input_type(node, 1);
  int64_t stash = node.attr_int("stash_type", 1);
  DType stat;
  try {
    stat = dtype_from_onnx(static_cast<int>(stash));
  } catch (const Error& e) {
    fail(node, std::string("stash_type: ") + e.what());
  }
  std::vector<TensorType> out{x};
  if (!x.ranked()) {
    for (int i = 1; i < node.num_outputs(); ++i)
      out.push_back(TensorType::unranked(stat));
    return out;
  }
  int r = x.rank();
  int axis = normalize_axis(node, node.attr_int("axis", -1), r);
  Dims normalized(x.dims->begin() + axis, x.dims->end());
  for (int i : {1, 2}) {
    if (!has_input(node, i)) continue;
    const TensorType& p = i == 1 ? scale : input_type(node, 2);
    if (p.ranked() && !broadcast_dims(normalized, *p.dims))
      fail(node, std::string(i == 1 ? "scale " : "bias ") + p.str() +
                     " does not broadcast to the normalized dims of " + x.str() + " (axis " +
                     std::to_string(axis) + ")");
  }
  // Mean and InvStdDev keep the leading dims and have 1 for each normalized one.
  Dims stats(x.dims->begin(), x.dims->begin() + axis);
  stats.resize(static_cast<size_t>(r), Dim::known(1));
  for (int i = 1; i < node.num_outputs(); ++i)
    out.push_back(ranked(stat, stats));
  return out;
}

std::vector<TensorType> infer_Gemm(const Node& node) {
  const TensorType& a = input_type(node, 0);
  const TensorType& b = input_type(node, 1);
  require_same_dtype(node, {0, 1, 2});
  for (int i : {0, 1}) {
    const TensorType& t = input_type(node, i);
    if (t.ranked() && t.rank() != 2)
      fail(node, std::string(i ? "B" : "A") + " must be 2-D, got " + t.str());
  }
  bool ta = node.attr_int("transA", 0) != 0, tb = node.attr_int("transB", 0) != 0;
  Dim m = a.ranked() ? (*a.dims)[ta ? 1 : 0] : Dim::unknown();
  Dim ka = a.ranked() ? (*a.dims)[ta ? 0 : 1] : Dim::unknown();
  Dim kb = b.ranked() ? (*b.dims)[tb ? 1 : 0] : Dim::unknown();
  Dim n = b.ranked() ? (*b.dims)[tb ? 0 : 1] : Dim::unknown();
  if (ka.is_known() && kb.is_known() && ka.value != kb.value)
    fail(node, "inner dimensions differ: A " + a.str() + (ta ? " (transposed)" : "") + " and B " +
                   b.str() + (tb ? " (transposed)" : ""));
  Dims out{m, n};
  if (has_input(node, 2)) {
    const TensorType& c = input_type(node, 2);
    // C broadcasts one way: to [M, N], never the other way round.
    if (c.ranked()) {
      std::optional<Dims> bc = broadcast_dims(out, *c.dims);
      if (!bc || c.rank() > 2)
        fail(node, "C " + c.str() + " does not broadcast to [" + m.str() + "," + n.str() + "]");
      for (int i = 0; i < 2; ++i)
        if (out[i].is_known() && (*bc)[i] != out[i])
          fail(node, "C " + c.str() + " does not broadcast to [" + m.str() + "," + n.str() + "]");
    }
  }
  if (!a.ranked() && !b.ranked()) return one(TensorType::unranked(a.dtype));
  return one(ranked(a.dtype, std::move(out)));
}

std::vector<TensorType> infer_MatMul(const Node& node) {
  const TensorType& a = input_type(node, 0);
  const TensorType& b = input_type(node, 1);
  require_same_dtype(node, {0, 1});
  for (int i : {0, 1}) {
    const TensorType& t = input_type(node, i);
    if (t.ranked() && t.rank() == 0)
      fail(node, std::string(i ? "B" : "A") + " must have rank >= 1, got a scalar " + t.str());
  }
  if (!a.ranked() || !b.ranked()) return one(TensorType::unranked(a.dtype));
  // numpy matmul: a 1-D A is a row vector and a 1-D B a column vector, removed afterwards.
  Dims ad = *a.dims, bd = *b.dims;
  bool a_vec = ad.size() == 1, b_vec = bd.size() == 1;
  if (a_vec) ad.insert(ad.begin(), Dim::known(1));
  if (b_vec) bd.push_back(Dim::known(1));
  const Dim& ka = ad.back();
  const Dim& kb = bd[bd.size() - 2];
  if (ka.is_known() && kb.is_known() && ka.value != kb.value)
    fail(node, "inner dimensions differ: A " + a.str() + " has " + std::to_string(ka.value) +
                   " columns, B " + b.str() + " has " + std::to_string(kb.value) + " rows");
  Dims a_batch(ad.begin(), ad.end() - 2), b_batch(bd.begin(), bd.end() - 2);
  std::optional<Dims> batch = broadcast_dims(a_batch, b_batch);
  if (!batch)
    fail(node, "batch dimensions of A " + a.str() + " and B " + b.str() + " do not broadcast");
  Dims out = *batch;
  if (!a_vec) out.push_back(ad[ad.size() - 2]);
  if (!b_vec) out.push_back(bd.back());
  return one(ranked(a.dtype, std::move(out)));
}

} // namespace ops
} // namespace shrink
