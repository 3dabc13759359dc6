// Streaming activation statistics for post-training quantization and the range-selection
// methods that turn a histogram into a quantization range.
#include "shrink/compress/calibrate.h"

#include "shrink/core/error.h"
#include "shrink/ir/graph.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace shrink {

namespace {

constexpr int kB = Histogram::kBinsPerSide;

/// The histogram folded onto |x|: bin j covers [j w, (j + 1) w).
std::vector<double> folded(const Histogram& h) {
  std::vector<double> f(kB, 0.0);
  const auto& b = h.bins();
  for (int i = 0; i < kB; ++i) {
    f[static_cast<size_t>(i)] += static_cast<double>(b[static_cast<size_t>(kB + i)]);
    f[static_cast<size_t>(i)] += static_cast<double>(b[static_cast<size_t>(kB - 1 - i)]);
  }
  return f;
}

/// The value below which a fraction `q` of the folded histogram lies (upper bin edge).
double folded_quantile(const std::vector<double>& f, double total, double q, double w) {
  double cum = 0;
  for (size_t j = 0; j < f.size(); ++j) {
    cum += f[j];
    if (cum >= q * total) return static_cast<double>(j + 1) * w;
  }
  return static_cast<double>(f.size()) * w;
}

/// Signed quantile: the value below which a fraction `q` of all values lies.
double signed_quantile(const Histogram& h, double q, bool upper_edge) {
  const auto& b = h.bins();
  const double total = static_cast<double>(h.count());
  const double w = h.bin_width();
  double cum = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    cum += static_cast<double>(b[i]);
    if (cum >= q * total)
      return -h.half_range() + (static_cast<double>(i) + (upper_edge ? 1.0 : 0.0)) * w;
  }
  return h.half_range();
}

/// TensorRT's entropy calibration on the |x| histogram: the threshold (in bins) whose
/// quantization to `levels` levels keeps the distribution closest in KL divergence.
double entropy_threshold(const std::vector<double>& f, double amax, double w, int levels) {
  const int used = std::min(kB, std::max(1, static_cast<int>(std::ceil(amax / w))));
  if (used <= levels) return amax;
  double best_kl = std::numeric_limits<double>::infinity();
  int best = used;
  std::vector<double> p, q;
  // Candidate thresholds every `stride` bins keep the search at most ~512 KL evaluations.
  const int stride = std::max(1, (used - levels) / 512);
  for (int i = levels; i <= used; i += stride) {
    p.assign(f.begin(), f.begin() + i);
    double outliers = 0;
    for (int j = i; j < used; ++j)
      outliers += f[static_cast<size_t>(j)];
    p[static_cast<size_t>(i - 1)] += outliers;
    q.assign(static_cast<size_t>(i), 0.0);
    for (int l = 0; l < levels; ++l) {
      const int a = static_cast<int>(static_cast<int64_t>(l) * i / levels);
      const int e = static_cast<int>(static_cast<int64_t>(l + 1) * i / levels);
      double sum = 0;
      int nonzero = 0;
      for (int j = a; j < e; ++j) {
        sum += f[static_cast<size_t>(j)];
        nonzero += f[static_cast<size_t>(j)] > 0;
      }
      if (nonzero == 0) continue;
      for (int j = a; j < e; ++j)
        if (f[static_cast<size_t>(j)] > 0) q[static_cast<size_t>(j)] = sum / nonzero;
    }
    double ps = 0, qs = 0;
    for (int j = 0; j < i; ++j) {
      ps += p[static_cast<size_t>(j)];
      qs += q[static_cast<size_t>(j)];
    }
    if (ps <= 0 || qs <= 0) continue;
    double kl = 0;
    for (int j = 0; j < i; ++j) {
      const double pj = p[static_cast<size_t>(j)] / ps;
      if (pj <= 0) continue;
      // A bin the quantized distribution leaves empty (only the outlier bin can be) gets a
      // small floor so that the divergence stays finite.
      const double qj = std::max(q[static_cast<size_t>(j)] / qs, 1e-12);
      kl += pj * std::log(pj / qj);
    }
    if (kl < best_kl) {
      best_kl = kl;
      best = i;
    }
  }
  return std::min(amax, static_cast<double>(best) * w);
}

/// Expected squared error of quantizing the histogram to [lo, hi] with `levels` steps: clipped
/// values lose their distance to the range, the others a uniform rounding error step^2 / 12.
double expected_mse(const Histogram& h, double lo, double hi, int levels) {
  const double step = (hi - lo) / levels;
  const double w = h.bin_width();
  const double r = h.half_range();
  const auto& b = h.bins();
  double err = 0, inside = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    if (!b[i]) continue;
    const double c = -r + (static_cast<double>(i) + 0.5) * w;
    const double n = static_cast<double>(b[i]);
    if (c < lo)
      err += n * (lo - c) * (lo - c);
    else if (c > hi)
      err += n * (c - hi) * (c - hi);
    else
      inside += n;
  }
  return err + inside * step * step / 12.0;
}

QuantRange mse_range(const Histogram& h, bool symmetric) {
  double lo = std::min(0.0, h.min()), hi = std::max(0.0, h.max());
  if (symmetric) {
    const double m = std::max(-lo, hi);
    lo = -m;
    hi = m;
  }
  const int levels = 255;
  double best = std::numeric_limits<double>::infinity(), best_alpha = 1.0;
  for (int k = 100; k >= 5; --k) {
    const double a = k / 100.0;
    const double e = expected_mse(h, a * lo, a * hi, levels);
    if (e < best) {
      best = e;
      best_alpha = a;
    }
  }
  return {static_cast<float>(best_alpha * lo), static_cast<float>(best_alpha * hi)};
}

std::string shape_of(const Tensor& t) {
  return std::string(dtype_name(t.dtype())) + shape_str(t.shape());
}

} // namespace

const char* calib_method_name(CalibMethod method) {
  switch (method) {
  case CalibMethod::minmax:
    return "minmax";
  case CalibMethod::percentile:
    return "percentile";
  case CalibMethod::entropy:
    return "entropy";
  case CalibMethod::mse:
    return "mse";
  }
  return "?";
}

CalibMethod parse_calib_method(const std::string& name) {
  for (CalibMethod m :
       {CalibMethod::minmax, CalibMethod::percentile, CalibMethod::entropy, CalibMethod::mse})
    if (name == calib_method_name(m)) return m;
  const std::string close = closest_name(name, {"minmax", "percentile", "entropy", "mse"});
  throw RecipeError("unknown calibration method '" + name +
                    "'; known methods: minmax, percentile, entropy, mse" +
                    (close.empty() ? "" : " (did you mean '" + close + "'?)"));
}

void Histogram::grow_to(double magnitude) {
  if (!(magnitude > half_range_)) return;
  if (half_range_ == 0.0) {
    half_range_ = std::exp2(std::ceil(std::log2(magnitude)));
    if (half_range_ < magnitude) half_range_ *= 2;
    bins_[kB] += zeros_pending_;
    zeros_pending_ = 0;
    return;
  }
  while (half_range_ < magnitude) {
    // Doubling R: old bin i lands in new bin (B + i) / 2, exactly, because B is even.
    std::vector<uint64_t> merged(bins_.size(), 0);
    for (size_t i = 0; i < bins_.size(); ++i)
      merged[(static_cast<size_t>(kB) + i) / 2] += bins_[i];
    bins_.swap(merged);
    half_range_ *= 2;
  }
}

void Histogram::add(const float* values, int64_t n) {
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  int64_t finite = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float v = values[i];
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    ++finite;
  }
  if (finite == 0) return;
  if (count_ == 0) {
    min_ = lo;
    max_ = hi;
  } else {
    min_ = std::min(min_, static_cast<double>(lo));
    max_ = std::max(max_, static_cast<double>(hi));
  }
  count_ += finite;
  const double mag =
      std::max(std::fabs(static_cast<double>(lo)), std::fabs(static_cast<double>(hi)));
  if (mag == 0.0 && half_range_ == 0.0) {
    zeros_pending_ += static_cast<uint64_t>(finite);
    return;
  }
  grow_to(mag);
  const float r = static_cast<float>(half_range_);
  const float inv_w = static_cast<float>(kB / half_range_);
  const int last = 2 * kB - 1;
  uint64_t* bins = bins_.data();
  for (int64_t i = 0; i < n; ++i) {
    const float v = values[i];
    if (!std::isfinite(v)) continue;
    int idx = static_cast<int>((v + r) * inv_w);
    idx = idx < 0 ? 0 : (idx > last ? last : idx);
    ++bins[idx];
  }
}

void Histogram::add(const Tensor& values) {
  if (values.dtype() == DType::f32) {
    add(values.data<float>(), values.numel());
    return;
  }
  const Tensor f = values.cast(DType::f32);
  add(f.data<float>(), f.numel());
}

QuantRange choose_range(const Histogram& h, CalibMethod method, bool symmetric, double percentile) {
  if (h.count() == 0 || h.half_range() == 0.0) return {0.f, 0.f};
  const double amax = std::max(std::fabs(h.min()), std::fabs(h.max()));
  auto clamp_to_data = [&](double lo, double hi) {
    lo = std::max(lo, h.min());
    hi = std::min(hi, h.max());
    if (symmetric) {
      const double m = std::max(std::fabs(lo), std::fabs(hi));
      return QuantRange{static_cast<float>(-m), static_cast<float>(m)};
    }
    return QuantRange{static_cast<float>(lo), static_cast<float>(hi)};
  };
  switch (method) {
  case CalibMethod::minmax:
    return clamp_to_data(h.min(), h.max());
  case CalibMethod::percentile: {
    const double p = std::min(100.0, std::max(50.0, percentile)) / 100.0;
    if (symmetric) {
      const std::vector<double> f = folded(h);
      const double t = folded_quantile(f, static_cast<double>(h.count()), p, h.bin_width());
      return clamp_to_data(-t, t);
    }
    return clamp_to_data(signed_quantile(h, 1.0 - p, false), signed_quantile(h, p, true));
  }
  case CalibMethod::entropy: {
    if (symmetric) {
      const double t = entropy_threshold(folded(h), amax, h.bin_width(), 128);
      return clamp_to_data(-t, t);
    }
    // Asymmetric (u8): the search runs on the histogram shifted to start at the minimum, over
    // 256 levels, and clips only the upper end; the lower end stays at the minimum.
    const auto& b = h.bins();
    const double w = h.bin_width();
    const size_t first = static_cast<size_t>(
        std::max(0.0, std::floor((std::min(0.0, h.min()) + h.half_range()) / w)));
    const double origin = -h.half_range() + static_cast<double>(first) * w;
    std::vector<double> f(static_cast<size_t>(kB), 0.0);
    for (size_t i = first; i < b.size(); ++i) {
      const size_t j = std::min(i - first, f.size() - 1);
      f[j] += static_cast<double>(b[i]);
    }
    // After a ReLU most values are exactly 0, which u8 represents exactly whatever the range;
    // left in, that spike dominates the divergence and pulls the threshold far too low.
    if (h.min() >= 0.0) f[0] = 0.0;
    const double span = h.max() - origin;
    const double t = entropy_threshold(f, span, w, 256);
    return clamp_to_data(std::min(0.0, h.min()), origin + t);
  }
  case CalibMethod::mse:
    return mse_range(h, symmetric);
  }
  return {0.f, 0.f};
}

ActivationQuant quant_params_for_range(QuantRange r, DType dtype) {
  const float lo = std::min(r.lo, 0.f);
  const float hi = std::max(r.hi, 0.f);
  ActivationQuant q;
  q.dtype = dtype;
  if (dtype == DType::i8) {
    const float m = std::max(-lo, hi);
    q.scale = m > 0.f ? m / 127.f : 1.f;
    q.zero_point = 0;
    return q;
  }
  q.scale = hi > lo ? (hi - lo) / 255.f : 1.f;
  q.zero_point = static_cast<int32_t>(std::nearbyint(-lo / q.scale));
  q.zero_point = std::min(255, std::max(0, q.zero_point));
  return q;
}

void check_calibration_data(const Graph& graph, const DataSource& data, const std::string& who) {
  if (data.size() <= 0)
    throw Error(who + ": the calibration data (" + data.describe() +
                ") is empty; give at least one sample");
  const Batch b = data.batch(0, 1);
  if (b.inputs.size() != graph.inputs().size())
    throw Error(who + ": the calibration data (" + data.describe() + ") has " +
                std::to_string(b.inputs.size()) + " input(s) per sample, but graph '" +
                graph.name() + "' takes " + std::to_string(graph.inputs().size()));
  for (size_t i = 0; i < b.inputs.size(); ++i) {
    const Tensor& t = b.inputs[i];
    const Value* in = graph.inputs()[i];
    const TensorType& type = in->type();
    const std::string what = who + ": calibration input " + std::to_string(i) + " of " +
                             data.describe() + " is " + shape_of(t) + " but graph input '" +
                             in->name() + "' is " + type.str();
    if (t.dtype() != type.dtype)
      throw Error(what + ": the dtypes differ; give data of dtype " + dtype_name(type.dtype));
    if (!type.ranked() || type.rank() < 1) continue;
    if (t.rank() < 1 || t.dim(0) != 1)
      throw Error(what + ": a batch of one sample must have a leading dimension of 1");
    int64_t want = 1;
    bool known = true, same_layout = t.rank() == type.rank();
    for (int d = 1; d < type.rank(); ++d) {
      const Dim& dim = (*type.dims)[static_cast<size_t>(d)];
      if (!dim.is_known()) {
        known = false;
        continue;
      }
      want *= dim.value;
      if (same_layout && t.dim(d) != dim.value) same_layout = false;
    }
    if (same_layout) continue;
    if (known && want == t.numel()) continue; // a flattening model fed images
    throw Error(what + ": the per-sample shapes do not match; give data shaped like the graph "
                       "input");
  }
}

std::vector<Tensor> graph_inputs_for(const Graph& graph, const Batch& batch) {
  std::vector<Tensor> out;
  for (size_t i = 0; i < batch.inputs.size(); ++i) {
    const Tensor& t = batch.inputs[i];
    const TensorType& type = graph.inputs()[i]->type();
    if (type.ranked() && type.rank() >= 1 && t.rank() >= 1) {
      Shape shape = {t.dim(0)};
      bool known = true;
      for (int d = 1; d < type.rank(); ++d) {
        const int64_t v = (*type.dims)[static_cast<size_t>(d)].value;
        known = known && v >= 0;
        shape.push_back(v);
      }
      if (known && shape != t.shape() && shape_numel(shape) == t.numel()) {
        out.push_back(t.reshaped(shape));
        continue;
      }
    }
    out.push_back(t);
  }
  return out;
}

void require_calibration(const Graph& graph, const PassContext& ctx, const std::string& who) {
  if (!ctx.calibration)
    throw Error(who + " needs calibration data (PassContext::calibration, or `data.calibration` "
                      "in a recipe): none given");
  if (!ctx.executor)
    throw Error(who + " needs an executor (PassContext::executor) to run the calibration data: "
                      "none given");
  check_calibration_data(graph, *ctx.calibration, who);
}

std::map<std::string, ActivationStats> calibrate_activations(const Graph& graph, Executor& executor,
                                                             const DataSource& data,
                                                             const std::vector<std::string>& names,
                                                             const CalibrationOptions& options) {
  const std::string who = "calibration";
  check(options.samples >= 1 && options.batch_size >= 1,
        "calibration: samples and batch_size must be at least 1");
  check_calibration_data(graph, data, who);
  for (const std::string& n : names)
    if (!graph.find_value(n))
      throw Error("calibration: graph '" + graph.name() + "' has no value named '" + n + "'");
  std::map<std::string, ActivationStats> stats;
  for (const std::string& n : names)
    stats[n];
  const int64_t total = std::min(data.size(), options.samples);
  const size_t first = graph.outputs().size();
  for (int64_t start = 0; start < total; start += options.batch_size) {
    const int64_t count = std::min(options.batch_size, total - start);
    const Batch batch = data.batch(start, count);
    std::vector<Tensor> outs = executor.run(graph, graph_inputs_for(graph, batch), names);
    if (outs.size() != first + names.size())
      throw Error("calibration: executor '" + executor.name() + "' returned " +
                  std::to_string(outs.size()) + " tensors, expected " +
                  std::to_string(first + names.size()));
    for (size_t i = 0; i < names.size(); ++i) {
      const Tensor t = outs[first + i].dtype() == DType::f32 ? outs[first + i]
                                                             : outs[first + i].cast(DType::f32);
      ActivationStats& s = stats[names[i]];
      s.histogram.add(t);
      if (std::find(options.channel_absmax.begin(), options.channel_absmax.end(), names[i]) ==
              options.channel_absmax.end() ||
          t.rank() < 1)
        continue;
      const int64_t c = t.dim(-1);
      if (s.channel_absmax.empty()) s.channel_absmax.assign(static_cast<size_t>(c), 0.f);
      const float* p = t.data<float>();
      for (int64_t j = 0; j < t.numel(); ++j) {
        float& m = s.channel_absmax[static_cast<size_t>(j % c)];
        m = std::max(m, std::fabs(p[j]));
      }
    }
    outs.clear();
    if (options.progress) options.progress(start + count, total, "calibration");
  }
  return stats;
}

} // namespace shrink
