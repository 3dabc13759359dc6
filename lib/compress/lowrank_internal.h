#pragma once
// Internals of the `lowrank` pass shared by its .cpp files: the matrix view of a layer, the
// calibration statistics, the SVD helpers and the rank allocation.

#include "shrink/compress/lowrank.h"
#include "shrink/ir/graph.h"

#include <Eigen/Dense>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace shrink::lowrank_detail {

using MatrixF = Eigen::MatrixXf;
using MatrixD = Eigen::MatrixXd;

/// How a layer's weight is seen as an out x in matrix.
enum class Form { gemm, matmul, conv_channel, conv_spatial };

/// The name `LowRankLayer::form` uses.
const char* form_name(Form form);

/// Geometry of the patches a layer's matrix multiplies, for X^T X: a plain matrix input
/// (`conv == false`: rows of the input's last axis, or of its first axis for Gemm transA=1), or
/// 2-D conv patches ordered (channel, ky, kx).
struct PatchGeometry {
  bool conv = false;
  bool trans_a = false;                   ///< Gemm transA=1: the input is K x M.
  int64_t channels = 0;                   ///< Length of a row (matrix) or input channels (conv).
  int64_t kh = 1, kw = 1;                 ///< Kernel extent.
  int64_t sh = 1, sw = 1;                 ///< Strides.
  int64_t dh = 1, dw = 1;                 ///< Dilations.
  int64_t pt = 0, pl = 0, pb = 0, pr = 0; ///< Explicit pads (top, left, bottom, right).
  std::string auto_pad;                   ///< "SAME_UPPER"/"SAME_LOWER": pads from the input size.
  bool one_d = false;                     ///< 1-D conv: the input is N x C x W.
  /// Length of one patch (the matrix's column count).
  int64_t patch_size() const { return conv ? channels * kh * kw : channels; }
  /// A key that is equal for layers that see the same patches of the same value.
  std::string key(const std::string& value) const;
};

/// One Gemm/MatMul/Conv node with a constant weight, as the pass sees it.
struct LayerPlan {
  Node* node = nullptr;
  Value* weight = nullptr;
  Form form = Form::gemm;
  LowRankLayer record;
  bool eligible = false;
  bool selected = false;
  // Matrix view.
  int64_t rows = 0, cols = 0; ///< out x in.
  int64_t full_rank = 0;
  int64_t params_full = 0;     ///< rows * cols.
  int64_t params_per_rank = 0; ///< rows + cols.
  double flops_full = 0;       ///< Multiply-accumulates per sample.
  double flops_per_rank = 0;
  bool flops_known = true; ///< False when a spatial size was unknown (counted as 1).
  // Gemm attributes.
  bool trans_b = false;
  // Conv geometry (2-D; a 1-D conv has kh = 1).
  int64_t cout = 0, cin = 0, kh = 1, kw = 1;
  PatchGeometry patches;
  // Calibration and spectrum.
  std::string calib_key;        ///< Key into the second-moment table; empty without whitening.
  std::vector<double> spectrum; ///< Squared singular values, descending.
  bool whiten = false;          ///< Whitening applies (and C is usable).
  int64_t rank = 0;             ///< Chosen rank; 0 keeps the layer.
};

/// A streamed second moment X^T X (lower triangle valid after `finish`).
struct SecondMoment {
  MatrixD c;
  int64_t rows = 0; ///< Number of rows of X accumulated.
};

/// Reads the matrix view of `plan`'s weight (out x in).
MatrixF layer_matrix(const LayerPlan& plan, const Tensor& weight);

/// Fills `plan` for `node` when it is eligible; otherwise sets `plan.record.reason`. `conv_mode`
/// is the option `conv`. Returns true when the node is a layer with a constant weight (eligible
/// or not) that deserves a record.
bool analyze_layer(Node& node, const std::string& conv_mode, LayerPlan& plan);

/// Replaces `plan.node` with its two factors `first` (r x in) and `second` (out x r). Keeps the
/// node's name and output name on the second layer.
void rewrite_layer(Graph& graph, LayerPlan& plan, const MatrixF& first, const MatrixF& second);

/// Streams `data` through `executor` and accumulates X^T X for every key in `moments` (keys as
/// built by `PatchGeometry::key`, geometries in `geometry`). Returns the number of samples read.
/// The data must have passed `require_calibration` / `check_calibration_data` (calibrate.h).
int64_t
accumulate_moments(const Graph& graph, Executor& executor, const DataSource& data,
                   int64_t max_samples, int64_t batch_size,
                   const std::map<std::string, std::pair<std::string, PatchGeometry>>& geometry,
                   std::map<std::string, SecondMoment>& moments, const ProgressFn& progress);

/// Squared singular values of `a`, descending, from the eigenvalues of the smaller Gram matrix
/// (negative round-off clamped to 0).
std::vector<double> squared_singular_values(const MatrixF& a);

/// An orthonormal basis (a.rows() x r) of the top-r left singular subspace of `a`.
/// `randomized` selects the randomized subspace iteration (seeded by `seed`).
MatrixF top_left_singular_vectors(const MatrixF& a, int64_t r, bool randomized, uint64_t seed);

/// Oversampling of the randomized SVD.
constexpr int64_t kOversample = 16;
/// Power iterations of the randomized SVD.
constexpr int kPowerIterations = 2;
/// Smallest side for which `svd=auto` considers the randomized SVD.
constexpr int64_t kRandomizedMinDim = 512;

/// True when `svd=auto` picks the randomized SVD for an out x in matrix at rank r.
bool auto_randomized(int64_t rows, int64_t cols, int64_t rank);

/// The smallest rank keeping a fraction `energy` of `spectrum`'s sum (at least 1).
int64_t energy_rank(const std::vector<double>& spectrum, double energy);

/// Fraction of `spectrum`'s sum kept by the first `rank` entries (1 for an all-zero spectrum).
double energy_kept(const std::vector<double>& spectrum, int64_t rank);

/// `rank` rounded up to a multiple of `multiple`, at most `full_rank`.
int64_t round_rank(int64_t rank, int64_t multiple, int64_t full_rank);

/// One layer in the budget allocation: its cost unfactorized and its candidate ranks (ascending
/// cost is not required), each with its cost and lost energy fraction.
struct BudgetLayer {
  double full_cost = 0;
  std::vector<int64_t> ranks; ///< Candidate ranks, descending.
  std::vector<double> costs;  ///< Cost at each candidate rank.
  std::vector<double> losses; ///< 1 - energy kept at each candidate rank.
};

/// Chooses one rank per layer (0: left alone) so that the summed cost is at most `target`,
/// greedily taking the step with the least loss per saved cost along each layer's lower convex
/// hull. Returns nullopt-like empty vector when even the smallest ranks exceed `target`;
/// `min_cost` then holds the smallest reachable total.
std::vector<int64_t> allocate_budget(const std::vector<BudgetLayer>& layers, double target,
                                     double* min_cost);

} // namespace shrink::lowrank_detail
