// Streams calibration data through an executor and accumulates each layer's input second
// moment X^T X, one batch at a time.
#include "lowrank_internal.h"

#include "shrink/compress/calibrate.h"

#include "shrink/core/error.h"

#include <algorithm>

namespace shrink::lowrank_detail {

namespace {

using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Rows of X per partial product: bounds the patch buffer to about 16 MB.
int64_t chunk_rows(int64_t patch) {
  return std::max<int64_t>(64, (int64_t{4} << 20) / patch);
}

void add_gram(SecondMoment& m, const Eigen::Ref<const MatrixF>& x) {
  // X^T X of a chunk in float (fast), summed in double so that many chunks do not lose digits.
  MatrixF g(x.cols(), x.cols());
  g.setZero();
  g.selfadjointView<Eigen::Lower>().rankUpdate(x.transpose());
  m.c.triangularView<Eigen::Lower>() += g.cast<double>();
  m.rows += x.rows();
}

void accumulate_matrix(const Tensor& t, const PatchGeometry& g, SecondMoment& m,
                       const std::string& value) {
  const int64_t k = g.channels;
  if (t.rank() < 1 || t.numel() % k != 0 || (g.trans_a && (t.rank() != 2 || t.dim(0) != k)) ||
      (!g.trans_a && t.dim(-1) != k))
    throw Error("lowrank: calibration value '" + value + "' has shape " + shape_str(t.shape()) +
                ", expected rows of " + std::to_string(k) + " values");
  const float* data = t.data<float>();
  const int64_t rows = t.numel() / k;
  if (g.trans_a) {
    // Gemm transA=1 reads A as K x M: the rows of X are A's columns.
    Eigen::Map<const RowMajorF> a(data, k, rows);
    const int64_t step = chunk_rows(k);
    for (int64_t c0 = 0; c0 < rows; c0 += step) {
      const int64_t n = std::min(step, rows - c0);
      MatrixF x = a.middleCols(c0, n).transpose();
      add_gram(m, x);
    }
    return;
  }
  Eigen::Map<const RowMajorF> x(data, rows, k);
  const int64_t step = chunk_rows(k);
  for (int64_t r0 = 0; r0 < rows; r0 += step) {
    const int64_t n = std::min(step, rows - r0);
    MatrixF chunk = x.middleRows(r0, n);
    add_gram(m, chunk);
  }
}

void accumulate_conv(const Tensor& t, const PatchGeometry& g, SecondMoment& m,
                     const std::string& value) {
  const int want_rank = g.one_d ? 3 : 4;
  if (t.rank() != want_rank || t.dim(1) != g.channels)
    throw Error("lowrank: calibration value '" + value + "' has shape " + shape_str(t.shape()) +
                ", expected " + std::to_string(want_rank) + "-D activations with " +
                std::to_string(g.channels) + " channels");
  const int64_t n = t.dim(0), c = t.dim(1);
  const int64_t h = g.one_d ? 1 : t.dim(2), w = t.dim(-1);
  int64_t pt = g.pt, pb = g.pb, pl = g.pl, pr = g.pr;
  if (!g.auto_pad.empty()) {
    // SAME_*: the pads follow from the actual input size.
    const bool upper = g.auto_pad == "SAME_UPPER";
    auto same = [upper](int64_t in, int64_t k, int64_t s, int64_t d, int64_t& b, int64_t& e) {
      const int64_t out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out - 1) * s + (k - 1) * d + 1 - in);
      b = upper ? total / 2 : total - total / 2;
      e = total - b;
    };
    if (!g.one_d) same(h, g.kh, g.sh, g.dh, pt, pb);
    same(w, g.kw, g.sw, g.dw, pl, pr);
  }
  const int64_t ho = (h + pt + pb - (g.kh - 1) * g.dh - 1) / g.sh + 1;
  const int64_t wo = (w + pl + pr - (g.kw - 1) * g.dw - 1) / g.sw + 1;
  if (ho <= 0 || wo <= 0) return;
  const int64_t patch = g.patch_size();
  const int64_t positions = n * ho * wo;
  const int64_t step = chunk_rows(patch);
  const float* data = t.data<float>();
  RowMajorF buf(std::min(step, positions), patch);
  int64_t filled = 0;
  auto flush = [&] {
    if (filled == 0) return;
    add_gram(m, buf.topRows(filled));
    filled = 0;
  };
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oy = 0; oy < ho; ++oy)
      for (int64_t ox = 0; ox < wo; ++ox) {
        float* row = buf.row(filled).data();
        for (int64_t ci = 0; ci < c; ++ci) {
          const float* plane = data + (b * c + ci) * h * w;
          for (int64_t ky = 0; ky < g.kh; ++ky) {
            const int64_t iy = oy * g.sh - pt + ky * g.dh;
            for (int64_t kx = 0; kx < g.kw; ++kx) {
              const int64_t ix = ox * g.sw - pl + kx * g.dw;
              const bool inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
              *row++ = inside ? plane[iy * w + ix] : 0.0f;
            }
          }
        }
        if (++filled == buf.rows()) flush();
      }
  flush();
}

} // namespace

int64_t
accumulate_moments(const Graph& graph, Executor& executor, const DataSource& data,
                   int64_t max_samples, int64_t batch_size,
                   const std::map<std::string, std::pair<std::string, PatchGeometry>>& geometry,
                   std::map<std::string, SecondMoment>& moments, const ProgressFn& progress) {
  std::vector<std::string> fetch;
  for (const auto& [key, entry] : geometry) {
    if (std::find(fetch.begin(), fetch.end(), entry.first) == fetch.end())
      fetch.push_back(entry.first);
    SecondMoment& m = moments[key];
    const int64_t k = entry.second.patch_size();
    m.c = MatrixD::Zero(k, k);
    m.rows = 0;
  }
  const int64_t total = std::min(data.size(), max_samples);
  const size_t first_fetched = graph.outputs().size();
  for (int64_t start = 0; start < total; start += batch_size) {
    const int64_t count = std::min(batch_size, total - start);
    Batch batch = data.batch(start, count);
    std::vector<Tensor> outs = executor.run(graph, graph_inputs_for(graph, batch), fetch);
    if (outs.size() != first_fetched + fetch.size())
      throw Error("lowrank: executor '" + executor.name() + "' returned " +
                  std::to_string(outs.size()) + " tensors, expected " +
                  std::to_string(first_fetched + fetch.size()));
    for (const auto& [key, entry] : geometry) {
      const size_t idx =
          first_fetched +
          static_cast<size_t>(std::find(fetch.begin(), fetch.end(), entry.first) - fetch.begin());
      Tensor t = outs[idx].dtype() == DType::f32 ? outs[idx] : outs[idx].cast(DType::f32);
      if (entry.second.conv)
        accumulate_conv(t, entry.second, moments[key], entry.first);
      else
        accumulate_matrix(t, entry.second, moments[key], entry.first);
    }
    if (progress) progress(start + count, total, "lowrank: calibration");
  }
  for (const auto& [key, entry] : geometry) {
    SecondMoment& m = moments[key];
    MatrixD full = m.c.selfadjointView<Eigen::Lower>();
    m.c = std::move(full);
  }
  return total;
}

} // namespace shrink::lowrank_detail
