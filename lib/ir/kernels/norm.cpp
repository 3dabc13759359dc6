// Reference kernels of BatchNormalization (inference and training mode), LayerNormalization,
// Softmax and LogSoftmax (opset 13 semantics: one axis, default -1). Sums run in double so the
// reference stays the most accurate executor.

#include "kernel_util.h"

#include "shrink/ir/op_table.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace shrink {
namespace ops {

using namespace kernels;

namespace {

const Tensor& channel_vector(const Node& node, const std::vector<const Tensor*>& inputs, size_t i,
                             const char* what, int64_t channels) {
  const Tensor& t = required_input(node, inputs, i, what);
  require_dtype(node, t, DType::f32, what);
  if (t.numel() != channels || t.rank() != 1)
    fail(node, std::string(what) + " must have shape [" + std::to_string(channels) + "], got " +
                   shape_str(t.shape()));
  return t;
}

// Softmax over one axis: split the tensor into [outer, dim, inner].
void softmax_impl(const Node& node, const std::vector<const Tensor*>& inputs,
                  std::vector<Tensor>& outputs, bool log) {
  const Tensor& x = required_input(node, inputs, 0, "input");
  require_dtype(node, x, DType::f32, "input");
  if (x.rank() == 0) fail(node, "input must have rank >= 1");
  const int axis = normalize_axis(node, node.attr_int("axis", -1), x.rank());
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d)
    outer *= x.shape()[d];
  for (int d = axis + 1; d < x.rank(); ++d)
    inner *= x.shape()[d];
  const int64_t dim = x.shape()[axis];
  Tensor y(DType::f32, x.shape());
  const float* px = x.data<float>();
  float* py = y.data_mutable<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const float* xs = px + o * dim * inner + i;
      float* ys = py + o * dim * inner + i;
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < dim; ++j)
        mx = std::max(mx, xs[j * inner]);
      double sum = 0.0;
      for (int64_t j = 0; j < dim; ++j)
        sum += std::exp(static_cast<double>(xs[j * inner]) - mx);
      if (log) {
        const double lse = std::log(sum);
        for (int64_t j = 0; j < dim; ++j)
          ys[j * inner] = static_cast<float>(static_cast<double>(xs[j * inner]) - mx - lse);
      } else {
        for (int64_t j = 0; j < dim; ++j)
          ys[j * inner] =
              static_cast<float>(std::exp(static_cast<double>(xs[j * inner]) - mx) / sum);
      }
    }
  set_outputs(node, outputs, {std::move(y)});
}

// Scale or bias of LayerNormalization as one value per element of a row of `inner` normalized
// elements when it broadcasts over the normalized dimensions only (the usual case), or expanded
// to X's full shape otherwise.
std::vector<float> expand_affine(const Node& node, const Tensor& t, const Tensor& x, int axis,
                                 int64_t inner, bool& full) {
  require_dtype(node, t, DType::f32, "Scale and B");
  const Shape norm_shape(x.shape().begin() + axis, x.shape().end());
  const Shape target = t.rank() <= static_cast<int>(norm_shape.size()) ? norm_shape : x.shape();
  if (broadcast_shapes(node, {t.shape(), target}) != target)
    fail(node, "Scale/B of shape " + shape_str(t.shape()) + " does not broadcast to " +
                   shape_str(target));
  full = target.size() != norm_shape.size();
  Tensor e = strided_copy(t, target, broadcast_strides(t.shape(), target), 0);
  const float* p = e.data<float>();
  return std::vector<float>(p, p + (full ? e.numel() : inner));
}

} // namespace

void kernel_BatchNormalization(const Node& node, const std::vector<const Tensor*>& inputs,
                               std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "X");
  require_dtype(node, x, DType::f32, "input X");
  if (x.rank() < 2) fail(node, "input X must be [N, C, ...], got " + shape_str(x.shape()));
  const int64_t batch = x.shape()[0], channels = x.shape()[1];
  const int64_t spatial = batch * channels > 0 ? x.numel() / (batch * channels) : 0;
  const Tensor& scale = channel_vector(node, inputs, 1, "scale", channels);
  const Tensor& bias = channel_vector(node, inputs, 2, "B", channels);
  const Tensor& mean = channel_vector(node, inputs, 3, "input_mean", channels);
  const Tensor& var = channel_vector(node, inputs, 4, "input_var", channels);
  const float eps = node.attr_float("epsilon", 1e-5f);
  const bool training = node.attr_int("training_mode", 0) != 0;
  const float momentum = node.attr_float("momentum", 0.9f);
  const float* px = x.data<float>();

  std::vector<double> use_mean(channels), use_var(channels);
  Tensor running_mean = copy_reshaped(mean, mean.shape());
  Tensor running_var = copy_reshaped(var, var.shape());
  if (training) {
    // Batch statistics (biased variance) normalize; the running statistics are updated.
    const double count = static_cast<double>(batch * spatial);
    if (count == 0) fail(node, "training mode needs a non-empty batch");
    float* rm = running_mean.data_mutable<float>();
    float* rv = running_var.data_mutable<float>();
    for (int64_t c = 0; c < channels; ++c) {
      double s = 0.0, ss = 0.0;
      for (int64_t n = 0; n < batch; ++n) {
        const float* p = px + (n * channels + c) * spatial;
        for (int64_t i = 0; i < spatial; ++i) {
          s += p[i];
          ss += static_cast<double>(p[i]) * p[i];
        }
      }
      use_mean[c] = s / count;
      use_var[c] = std::max(0.0, ss / count - use_mean[c] * use_mean[c]);
      rm[c] = static_cast<float>(rm[c] * momentum + use_mean[c] * (1.0 - momentum));
      rv[c] = static_cast<float>(rv[c] * momentum + use_var[c] * (1.0 - momentum));
    }
  } else {
    for (int64_t c = 0; c < channels; ++c) {
      use_mean[c] = mean.data<float>()[c];
      use_var[c] = var.data<float>()[c];
    }
  }
  Tensor y(DType::f32, x.shape());
  float* py = y.data_mutable<float>();
  for (int64_t c = 0; c < channels; ++c) {
    const double k = scale.data<float>()[c] / std::sqrt(use_var[c] + eps);
    const double b = bias.data<float>()[c] - use_mean[c] * k;
    for (int64_t n = 0; n < batch; ++n) {
      const int64_t base = (n * channels + c) * spatial;
      for (int64_t i = 0; i < spatial; ++i)
        py[base + i] = static_cast<float>(px[base + i] * k + b);
    }
  }
  set_outputs(node, outputs, {std::move(y), std::move(running_mean), std::move(running_var)});
}

void kernel_LayerNormalization(const Node& node, const std::vector<const Tensor*>& inputs,
                               std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "X");
  require_dtype(node, x, DType::f32, "input X");
  if (x.rank() == 0) fail(node, "input X must have rank >= 1");
  const int axis = normalize_axis(node, node.attr_int("axis", -1), x.rank());
  const float eps = node.attr_float("epsilon", 1e-5f);
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d)
    outer *= x.shape()[d];
  for (int d = axis; d < x.rank(); ++d)
    inner *= x.shape()[d];
  bool scale_full = false, bias_full = false;
  const std::vector<float> scale =
      expand_affine(node, required_input(node, inputs, 1, "Scale"), x, axis, inner, scale_full);
  std::vector<float> bias;
  if (const Tensor* b = optional_input(inputs, 2))
    bias = expand_affine(node, *b, x, axis, inner, bias_full);

  Shape stat_shape = x.shape();
  for (int d = axis; d < x.rank(); ++d)
    stat_shape[d] = 1;
  Tensor y(DType::f32, x.shape()), mean_t(DType::f32, stat_shape), inv_t(DType::f32, stat_shape);
  const float* px = x.data<float>();
  float* py = y.data_mutable<float>();
  float* pm = mean_t.data_mutable<float>();
  float* pinv = inv_t.data_mutable<float>();
  for (int64_t o = 0; o < outer; ++o) {
    const float* row = px + o * inner;
    double s = 0.0;
    for (int64_t i = 0; i < inner; ++i)
      s += row[i];
    const double mu = s / static_cast<double>(inner);
    double ss = 0.0;
    for (int64_t i = 0; i < inner; ++i)
      ss += (row[i] - mu) * (row[i] - mu);
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(inner) + eps);
    pm[o] = static_cast<float>(mu);
    pinv[o] = static_cast<float>(inv);
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t flat = o * inner + i;
      double v = (row[i] - mu) * inv * scale[scale_full ? flat : i];
      if (!bias.empty()) v += bias[bias_full ? flat : i];
      py[flat] = static_cast<float>(v);
    }
  }
  set_outputs(node, outputs, {std::move(y), std::move(mean_t), std::move(inv_t)});
}

void kernel_Softmax(const Node& node, const std::vector<const Tensor*>& inputs,
                    std::vector<Tensor>& outputs) {
  softmax_impl(node, inputs, outputs, false);
}

void kernel_LogSoftmax(const Node& node, const std::vector<const Tensor*>& inputs,
                       std::vector<Tensor>& outputs) {
  softmax_impl(node, inputs, outputs, true);
}

} // namespace ops
} // namespace shrink
