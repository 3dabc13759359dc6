// The linear algebra of `lowrank`: spectra, singular subspaces and rank allocation.
#include "lowrank_internal.h"

#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <Eigen/SVD>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace shrink::lowrank_detail {

std::vector<double> squared_singular_values(const MatrixF& a) {
  // The Gram matrix of the smaller side has the squared singular values as eigenvalues; without
  // eigenvectors its solve is several times cheaper than an SVD, and ranks only need the values.
  MatrixF gram;
  if (a.rows() <= a.cols())
    gram.noalias() = a * a.transpose();
  else
    gram.noalias() = a.transpose() * a;
  Eigen::SelfAdjointEigenSolver<MatrixF> solver(gram, Eigen::EigenvaluesOnly);
  const Eigen::VectorXf& ev = solver.eigenvalues(); // ascending
  std::vector<double> out(static_cast<size_t>(ev.size()));
  for (Eigen::Index i = 0; i < ev.size(); ++i)
    out[static_cast<size_t>(i)] = std::max(0.0, static_cast<double>(ev(ev.size() - 1 - i)));
  return out;
}

namespace {

/// The thin Q factor of `y`.
MatrixF orthonormalize(const MatrixF& y) {
  Eigen::HouseholderQR<MatrixF> qr(y);
  return qr.householderQ() * MatrixF::Identity(y.rows(), y.cols());
}

MatrixF randomized_left_vectors(const MatrixF& a, int64_t r, uint64_t seed) {
  const Eigen::Index l = static_cast<Eigen::Index>(
      std::min<int64_t>(r + kOversample, std::min<int64_t>(a.rows(), a.cols())));
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  MatrixF omega(a.cols(), l);
  for (Eigen::Index j = 0; j < omega.cols(); ++j)
    for (Eigen::Index i = 0; i < omega.rows(); ++i)
      omega(i, j) = normal(rng);
  // Subspace iteration, re-orthonormalizing after every product so that the small singular
  // directions are not lost to round-off (Halko, Martinsson and Tropp, algorithm 4.4).
  MatrixF q = orthonormalize(a * omega);
  for (int i = 0; i < kPowerIterations; ++i) {
    MatrixF z = orthonormalize(a.transpose() * q);
    q = orthonormalize(a * z);
  }
  MatrixF b = q.transpose() * a; // l x cols
  Eigen::BDCSVD<MatrixF> svd(b, Eigen::ComputeThinU);
  return q * svd.matrixU().leftCols(static_cast<Eigen::Index>(r));
}

} // namespace

MatrixF top_left_singular_vectors(const MatrixF& a, int64_t r, bool randomized, uint64_t seed) {
  if (randomized) return randomized_left_vectors(a, r, seed);
  Eigen::BDCSVD<MatrixF> svd(a, Eigen::ComputeThinU);
  return svd.matrixU().leftCols(static_cast<Eigen::Index>(r));
}

bool auto_randomized(int64_t rows, int64_t cols, int64_t rank) {
  const int64_t full = std::min(rows, cols);
  return full >= kRandomizedMinDim && 2 * (rank + kOversample) <= full;
}

int64_t energy_rank(const std::vector<double>& spectrum, double energy) {
  const double total = std::accumulate(spectrum.begin(), spectrum.end(), 0.0);
  if (total <= 0 || spectrum.empty()) return 1;
  // A small relative tolerance, so that energy=1 stops at the numerical rank instead of chasing
  // round-off in the smallest eigenvalues.
  const double want = energy * total * (1.0 - 1e-7);
  double sum = 0;
  for (size_t i = 0; i < spectrum.size(); ++i) {
    sum += spectrum[i];
    if (sum >= want) return static_cast<int64_t>(i) + 1;
  }
  return static_cast<int64_t>(spectrum.size());
}

double energy_kept(const std::vector<double>& spectrum, int64_t rank) {
  const double total = std::accumulate(spectrum.begin(), spectrum.end(), 0.0);
  if (total <= 0) return 1.0;
  const auto n = static_cast<size_t>(std::clamp<int64_t>(rank, 0, spectrum.size()));
  const double kept = std::accumulate(spectrum.begin(), spectrum.begin() + n, 0.0);
  return std::min(1.0, kept / total);
}

int64_t round_rank(int64_t rank, int64_t multiple, int64_t full_rank) {
  const int64_t m = std::max<int64_t>(1, multiple);
  const int64_t up = (std::max<int64_t>(rank, 1) + m - 1) / m * m;
  return std::min(up, full_rank);
}

std::vector<int64_t> allocate_budget(const std::vector<BudgetLayer>& layers, double target,
                                     double* min_cost) {
  // Each layer's states: index 0 is "left alone", index k >= 1 is ranks[k-1]. The greedy walks
  // the lower convex hull of (saved cost, loss) per layer; taking hull segments across layers in
  // order of slope (loss per saved unit) is the classic greedy for separable convex allocation.
  struct Segment {
    size_t layer;
    size_t to; ///< State index the segment ends at.
    double slope;
  };
  std::vector<Segment> segments;
  double total = 0, smallest = 0;
  for (size_t li = 0; li < layers.size(); ++li) {
    const BudgetLayer& l = layers[li];
    total += l.full_cost;
    double best = l.full_cost;
    for (double c : l.costs)
      best = std::min(best, c);
    smallest += best;
    // Points in state order; saved cost grows with the state index for descending ranks.
    auto saved = [&](size_t s) { return s == 0 ? 0.0 : l.full_cost - l.costs[s - 1]; };
    auto loss = [&](size_t s) { return s == 0 ? 0.0 : l.losses[s - 1]; };
    std::vector<size_t> hull = {0};
    for (size_t s = 1; s <= l.ranks.size(); ++s) {
      if (saved(s) <= saved(hull.back())) continue;
      while (hull.size() >= 2) {
        const size_t a = hull[hull.size() - 2], b = hull.back();
        // Drop b when it lies on or above the chord from a to s.
        const double lhs = (loss(b) - loss(a)) * (saved(s) - saved(a));
        const double rhs = (loss(s) - loss(a)) * (saved(b) - saved(a));
        if (lhs >= rhs)
          hull.pop_back();
        else
          break;
      }
      hull.push_back(s);
    }
    for (size_t h = 1; h < hull.size(); ++h) {
      const double ds = saved(hull[h]) - saved(hull[h - 1]);
      segments.push_back({li, hull[h], (loss(hull[h]) - loss(hull[h - 1])) / ds});
    }
  }
  if (min_cost) *min_cost = smallest;
  std::vector<int64_t> ranks(layers.size(), 0);
  if (total <= target) return ranks;
  if (smallest > target) return {};
  std::stable_sort(segments.begin(), segments.end(),
                   [](const Segment& a, const Segment& b) { return a.slope < b.slope; });
  std::vector<size_t> state(layers.size(), 0);
  auto cost_of = [&](size_t li, size_t s) {
    return s == 0 ? layers[li].full_cost : layers[li].costs[s - 1];
  };
  for (const Segment& seg : segments) {
    // Walk the segment one state at a time so that the budget is met by the smallest step.
    for (size_t s = state[seg.layer] + 1; s <= seg.to; ++s) {
      total += cost_of(seg.layer, s) - cost_of(seg.layer, state[seg.layer]);
      state[seg.layer] = s;
      if (total <= target) break;
    }
    if (total <= target) break;
  }
  for (size_t li = 0; li < layers.size(); ++li)
    ranks[li] = state[li] == 0 ? 0 : layers[li].ranks[state[li] - 1];
  return ranks;
}

} // namespace shrink::lowrank_detail
