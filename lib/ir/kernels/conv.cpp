// Reference kernels of Conv and ConvTranspose for any number of spatial dimensions. Conv is
// im2col followed by one GEMM per sample and group; ConvTranspose is the adjoint: one GEMM with
// the transposed weight into a column buffer, then col2im scatters it into the output.

#include "kernel_util.h"

#include "shrink/ir/op_table.h"

#include <algorithm>
#include <cstring>

namespace shrink {
namespace ops {

using namespace kernels;

namespace {

struct ConvGeometry {
  int dims = 0;          // number of spatial dimensions
  Shape in, kernel, out; // spatial sizes
  std::vector<int64_t> strides, dilations, pad_begin, pad_end;
  int64_t in_size = 1, kernel_size = 1, out_size = 1;
};

std::vector<int64_t> spatial_attr(const Node& node, const char* name, int dims, int64_t def) {
  std::vector<int64_t> v = node.attr_ints(name, std::vector<int64_t>(dims, def));
  if (static_cast<int>(v.size()) != dims)
    fail(node, std::string(name) + " has " + std::to_string(v.size()) + " values, expected " +
                   std::to_string(dims) + " (one per spatial dimension)");
  for (int64_t x : v)
    if (x < def) fail(node, std::string(name) + " must be at least " + std::to_string(def));
  return v;
}

void check_kernel_shape(const Node& node, const Shape& from_weight) {
  if (!node.has_attr("kernel_shape")) return;
  std::vector<int64_t> ks = node.attr_ints("kernel_shape");
  if (ks != std::vector<int64_t>(from_weight.begin(), from_weight.end()))
    fail(node, "kernel_shape " + shape_str(ks) + " does not match the weight's spatial shape " +
                   shape_str(from_weight));
}

// Fills col[(c * K + kk) * out_size + o] with the input element under kernel tap kk at output
// position o of channel c, or 0 in the padding.
void im2col(const float* x, int64_t channels, const ConvGeometry& g, float* col) {
  const int d = g.dims;
  const int64_t last_out = g.out[d - 1];
  const int64_t rows_out = g.out_size / last_out;
  const Shape in_strides = strides_of(g.in);
  std::vector<int64_t> kk(d, 0), oo(d, 0);
  float* dst = col;
  for (int64_t c = 0; c < channels; ++c) {
    const float* xc = x + c * g.in_size;
    std::fill(kk.begin(), kk.end(), 0);
    for (int64_t k = 0; k < g.kernel_size; ++k) {
      std::fill(oo.begin(), oo.end(), 0);
      for (int64_t r = 0; r < rows_out; ++r) {
        // Offset of the row start in the input for all but the last spatial dimension.
        int64_t off = 0;
        bool inside = true;
        for (int i = 0; i < d - 1; ++i) {
          const int64_t pos = oo[i] * g.strides[i] - g.pad_begin[i] + kk[i] * g.dilations[i];
          if (pos < 0 || pos >= g.in[i]) {
            inside = false;
            break;
          }
          off += pos * in_strides[i];
        }
        if (!inside) {
          std::fill(dst, dst + last_out, 0.0f);
        } else {
          const int64_t s = g.strides[d - 1];
          const int64_t start = kk[d - 1] * g.dilations[d - 1] - g.pad_begin[d - 1];
          const int64_t w = g.in[d - 1];
          const float* row = xc + off;
          for (int64_t o = 0; o < last_out; ++o) {
            const int64_t pos = start + o * s;
            dst[o] = (pos >= 0 && pos < w) ? row[pos] : 0.0f;
          }
        }
        dst += last_out;
        for (int i = d - 2; i >= 0; --i) {
          if (++oo[i] < g.out[i]) break;
          oo[i] = 0;
        }
      }
      for (int i = d - 1; i >= 0; --i) {
        if (++kk[i] < g.kernel[i]) break;
        kk[i] = 0;
      }
    }
  }
}

// The adjoint of im2col: adds col[(c * K + kk) * in_size + i] into the output position that input
// position i reaches through kernel tap kk (g.in is the ConvTranspose input, g.out its output).
void col2im(const float* col, int64_t channels, const ConvGeometry& g, float* y) {
  const int d = g.dims;
  const int64_t last_in = g.in[d - 1];
  const int64_t rows_in = g.in_size / last_in;
  const Shape out_strides = strides_of(g.out);
  std::vector<int64_t> kk(d, 0), ii(d, 0);
  const float* src = col;
  for (int64_t c = 0; c < channels; ++c) {
    float* yc = y + c * g.out_size;
    std::fill(kk.begin(), kk.end(), 0);
    for (int64_t k = 0; k < g.kernel_size; ++k) {
      std::fill(ii.begin(), ii.end(), 0);
      for (int64_t r = 0; r < rows_in; ++r) {
        int64_t off = 0;
        bool inside = true;
        for (int i = 0; i < d - 1; ++i) {
          const int64_t pos = ii[i] * g.strides[i] - g.pad_begin[i] + kk[i] * g.dilations[i];
          if (pos < 0 || pos >= g.out[i]) {
            inside = false;
            break;
          }
          off += pos * out_strides[i];
        }
        if (inside) {
          const int64_t s = g.strides[d - 1];
          const int64_t start = kk[d - 1] * g.dilations[d - 1] - g.pad_begin[d - 1];
          const int64_t w = g.out[d - 1];
          float* row = yc + off;
          for (int64_t i = 0; i < last_in; ++i) {
            const int64_t pos = start + i * s;
            if (pos >= 0 && pos < w) row[pos] += src[i];
          }
        }
        src += last_in;
        for (int i = d - 2; i >= 0; --i) {
          if (++ii[i] < g.in[i]) break;
          ii[i] = 0;
        }
      }
      for (int i = d - 1; i >= 0; --i) {
        if (++kk[i] < g.kernel[i]) break;
        kk[i] = 0;
      }
    }
  }
}

void add_bias(const Node& node, const Tensor* bias, int64_t batch, int64_t channels,
              int64_t spatial, float* y) {
  if (!bias) return;
  require_dtype(node, *bias, DType::f32, "bias B");
  if (bias->rank() != 1 || bias->numel() != channels)
    fail(node, "bias B must have shape [" + std::to_string(channels) + "], got " +
                   shape_str(bias->shape()));
  const float* pb = bias->data<float>();
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t c = 0; c < channels; ++c) {
      float* p = y + (n * channels + c) * spatial;
      for (int64_t i = 0; i < spatial; ++i)
        p[i] += pb[c];
    }
}

void check_ranks(const Node& node, const Tensor& x, const Tensor& w) {
  require_dtype(node, x, DType::f32, "input X");
  require_dtype(node, w, DType::f32, "weight W");
  if (x.rank() < 3)
    fail(node, "input X must be [N, C, spatial...] with at least one spatial dimension, got " +
                   shape_str(x.shape()));
  if (w.rank() != x.rank())
    fail(node, "weight W " + shape_str(w.shape()) + " must have the rank of input X " +
                   shape_str(x.shape()));
}

} // namespace

void kernel_Conv(const Node& node, const std::vector<const Tensor*>& inputs,
                 std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "X");
  const Tensor& w = required_input(node, inputs, 1, "W");
  const Tensor* bias = optional_input(inputs, 2);
  check_ranks(node, x, w);
  const int64_t group = node.attr_int("group", 1);
  const int64_t batch = x.shape()[0], cin = x.shape()[1], cout = w.shape()[0];
  if (group < 1 || cin % group != 0 || cout % group != 0)
    fail(node, "group " + std::to_string(group) + " must divide the input channels (" +
                   std::to_string(cin) + ") and the output channels (" + std::to_string(cout) +
                   ")");
  const int64_t cin_g = cin / group, cout_g = cout / group;
  if (w.shape()[1] != cin_g)
    fail(node, "weight W " + shape_str(w.shape()) + " expects " +
                   std::to_string(w.shape()[1] * group) + " input channels (group " +
                   std::to_string(group) + "), but X " + shape_str(x.shape()) + " has " +
                   std::to_string(cin));

  ConvGeometry g;
  g.dims = x.rank() - 2;
  g.in.assign(x.shape().begin() + 2, x.shape().end());
  g.kernel.assign(w.shape().begin() + 2, w.shape().end());
  check_kernel_shape(node, g.kernel);
  g.strides = spatial_attr(node, "strides", g.dims, 1);
  g.dilations = spatial_attr(node, "dilations", g.dims, 1);
  resolve_pads(node, g.in, g.kernel, g.strides, g.dilations, g.pad_begin, g.pad_end);
  g.out.resize(g.dims);
  for (int i = 0; i < g.dims; ++i) {
    const int64_t extent = (g.kernel[i] - 1) * g.dilations[i] + 1;
    const int64_t span = g.in[i] + g.pad_begin[i] + g.pad_end[i] - extent;
    if (span < 0)
      fail(node, "the kernel extent " + std::to_string(extent) +
                     " is larger than the padded input (" +
                     std::to_string(g.in[i] + g.pad_begin[i] + g.pad_end[i]) +
                     ") in spatial dimension " + std::to_string(i));
    g.out[i] = span / g.strides[i] + 1;
    g.in_size *= g.in[i];
    g.kernel_size *= g.kernel[i];
    g.out_size *= g.out[i];
  }

  Shape out_shape{batch, cout};
  out_shape.insert(out_shape.end(), g.out.begin(), g.out.end());
  Tensor y(DType::f32, out_shape);
  float* py = y.data_mutable<float>();
  const float* px = x.data<float>();
  const float* pw = w.data<float>();

  // A 1x1 convolution with unit strides and no padding reads the input as is: no im2col copy.
  bool pointwise = g.kernel_size == 1;
  for (int i = 0; i < g.dims; ++i)
    pointwise = pointwise && g.strides[i] == 1 && g.pad_begin[i] == 0 && g.pad_end[i] == 0;
  const int64_t rows = cin_g * g.kernel_size;
  std::vector<float> col(pointwise ? 0 : static_cast<size_t>(rows * g.out_size));
  for (int64_t n = 0; n < batch && g.out_size > 0; ++n)
    for (int64_t gi = 0; gi < group; ++gi) {
      const float* xg = px + (n * cin + gi * cin_g) * g.in_size;
      const float* b = xg;
      if (!pointwise) {
        im2col(xg, cin_g, g, col.data());
        b = col.data();
      }
      gemm_f32(false, false, cout_g, g.out_size, rows, 1.0f, pw + gi * cout_g * rows, rows, b,
               g.out_size, 0.0f, py + (n * cout + gi * cout_g) * g.out_size, g.out_size);
    }
  add_bias(node, bias, batch, cout, g.out_size, py);
  set_outputs(node, outputs, {std::move(y)});
}

void kernel_ConvTranspose(const Node& node, const std::vector<const Tensor*>& inputs,
                          std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "X");
  const Tensor& w = required_input(node, inputs, 1, "W");
  const Tensor* bias = optional_input(inputs, 2);
  check_ranks(node, x, w);
  const int64_t group = node.attr_int("group", 1);
  const int64_t batch = x.shape()[0], cin = x.shape()[1];
  if (group < 1 || cin % group != 0)
    fail(node, "group " + std::to_string(group) + " must divide the input channels (" +
                   std::to_string(cin) + ")");
  if (w.shape()[0] != cin)
    fail(node, "weight W " + shape_str(w.shape()) + " must have " + std::to_string(cin) +
                   " rows (the input channels of X " + shape_str(x.shape()) + ")");
  const int64_t cin_g = cin / group, cout_g = w.shape()[1], cout = cout_g * group;

  // In the geometry, `in` is the ConvTranspose input and `out` its output, and pad_begin is the
  // amount cropped from the start of the full (unpadded) transposed result.
  ConvGeometry g;
  g.dims = x.rank() - 2;
  g.in.assign(x.shape().begin() + 2, x.shape().end());
  g.kernel.assign(w.shape().begin() + 2, w.shape().end());
  check_kernel_shape(node, g.kernel);
  g.strides = spatial_attr(node, "strides", g.dims, 1);
  g.dilations = spatial_attr(node, "dilations", g.dims, 1);
  const std::vector<int64_t> out_pad = spatial_attr(node, "output_padding", g.dims, 0);
  g.out.resize(g.dims);
  g.pad_begin.assign(g.dims, 0);
  g.pad_end.assign(g.dims, 0);
  std::vector<int64_t> full(g.dims);
  for (int i = 0; i < g.dims; ++i)
    full[i] = g.strides[i] * (g.in[i] - 1) + out_pad[i] + (g.kernel[i] - 1) * g.dilations[i] + 1;

  const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  std::vector<int64_t> target = node.attr_ints("output_shape");
  if (!target.empty() && static_cast<int>(target.size()) == g.dims + 2)
    target.erase(target.begin(), target.begin() + 2);
  if (target.empty() && (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER"))
    for (int i = 0; i < g.dims; ++i)
      target.push_back(g.in[i] * g.strides[i]);
  if (!target.empty()) {
    if (static_cast<int>(target.size()) != g.dims)
      fail(node, "output_shape has " + std::to_string(target.size()) +
                     " values, expected one per spatial dimension (" + std::to_string(g.dims) +
                     ")");
    // The split of odd total padding follows the ONNX specification.
    for (int i = 0; i < g.dims; ++i) {
      const int64_t total = full[i] - target[i];
      if (auto_pad == "SAME_UPPER") {
        g.pad_begin[i] = total / 2;
        g.pad_end[i] = total - total / 2;
      } else {
        g.pad_begin[i] = total - total / 2;
        g.pad_end[i] = total / 2;
      }
    }
  } else if (auto_pad == "NOTSET") {
    std::vector<int64_t> pads = node.attr_ints("pads", std::vector<int64_t>(2 * g.dims, 0));
    if (static_cast<int>(pads.size()) != 2 * g.dims)
      fail(node, "pads has " + std::to_string(pads.size()) + " values, expected " +
                     std::to_string(2 * g.dims));
    for (int i = 0; i < g.dims; ++i) {
      g.pad_begin[i] = pads[i];
      g.pad_end[i] = pads[i + g.dims];
    }
  } else if (auto_pad != "VALID") {
    fail(node, "auto_pad '" + auto_pad + "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
  }
  for (int i = 0; i < g.dims; ++i) {
    g.out[i] = full[i] - g.pad_begin[i] - g.pad_end[i];
    if (g.out[i] < 0)
      fail(node, "the padding removes more than the whole output in spatial dimension " +
                     std::to_string(i));
    g.in_size *= g.in[i];
    g.kernel_size *= g.kernel[i];
    g.out_size *= g.out[i];
  }

  Shape out_shape{batch, cout};
  out_shape.insert(out_shape.end(), g.out.begin(), g.out.end());
  Tensor y(DType::f32, out_shape);
  float* py = y.data_mutable<float>();
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  const int64_t rows = cout_g * g.kernel_size;
  std::vector<float> col(static_cast<size_t>(rows * g.in_size));
  if (g.out_size > 0 && g.in_size > 0)
    for (int64_t n = 0; n < batch; ++n)
      for (int64_t gi = 0; gi < group; ++gi) {
        // col = W_g^T * X_g, with W_g stored as [cin_g, cout_g * K].
        gemm_f32(true, false, rows, g.in_size, cin_g, 1.0f, pw + gi * cin_g * rows, rows,
                 px + (n * cin + gi * cin_g) * g.in_size, g.in_size, 0.0f, col.data(), g.in_size);
        col2im(col.data(), cout_g, g, py + (n * cout + gi * cout_g) * g.out_size);
      }
  add_bias(node, bias, batch, cout, g.out_size, py);
  set_outputs(node, outputs, {std::move(y)});
}

} // namespace ops
} // namespace shrink
