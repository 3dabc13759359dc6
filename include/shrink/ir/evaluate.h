#pragma once
/// \file
/// Metrics and the one evaluation entry point: run a graph over a `DataSource` with an
/// `Executor`, batch by batch, and score its outputs against the labels.
///
/// ```cpp
/// shrink::ReferenceExecutor exec;
/// auto test = shrink::fashion_mnist("test");
/// shrink::EvalResult r = shrink::evaluate(graph, *test, "accuracy", exec, {/*batch_size=*/256});
/// std::cout << r.str() << "\n";   // accuracy 0.9012 on 10000 samples (...) in 2.1 s, ...
/// ```
///
/// Every metric reads class scores (logits, before softmax) `N x C` with i64 class ids `N`, or
/// `N x T x C` with ids `N x T` (one prediction per token, as for a language model).

#include "shrink/core/tensor.h"
#include "shrink/ir/interfaces.h"

#include <cstdint>
#include <string>
#include <vector>

namespace shrink {

class Graph;

/// A running metric over class scores and integer labels. Feed it batches with `add`, read
/// `value()`. Kinds and names:
/// - `accuracy`: fraction of predictions whose arg-max class equals the label (top-1).
/// - `cross-entropy`: mean of -log softmax(scores)[label] in nats per prediction.
/// - `perplexity`: exp(mean cross-entropy per prediction/token).
/// - `bits-per-char`: mean cross-entropy / ln 2 (bits per token; per character for a
///   character-level model).
struct Metric {
  /// The metric kinds.
  enum class Kind { accuracy, cross_entropy, perplexity, bits_per_char };

  Kind kind = Kind::accuracy; ///< Which metric.
  int64_t predictions = 0;    ///< Predictions scored so far (samples, or tokens for N x T x C).
  int64_t correct = 0;        ///< Top-1 hits so far (accuracy).
  double total_nll = 0.0;     ///< Sum of -log p(label) in nats so far (the other kinds).

  /// A metric of the given kind with nothing counted yet.
  explicit Metric(Kind k = Kind::accuracy) : kind(k) {}
  /// The metric with the given name; throws `Error` naming the known metrics (and the closest
  /// one) for an unknown name.
  static Metric parse(const std::string& name);
  /// The known names: "accuracy", "cross-entropy", "perplexity", "bits-per-char".
  static const std::vector<std::string>& names();

  /// The metric's name.
  std::string name() const;
  /// True for accuracy; false for the loss-like metrics.
  bool higher_is_better() const { return kind == Kind::accuracy; }

  /// Scores one batch. `scores` is f32 (f16/bf16 are converted) `N x C` or `N x T x C`;
  /// `labels` holds integer class ids (i64, i32 or u8) of shape `N` or `N x T` (any shape with
  /// the same leading dimension and one id per score row is accepted). `first_sample` is the
  /// index of the batch's first sample in the data set, for error messages. Throws `Error` for
  /// mismatched shapes and for labels outside [0, C) ("label 12 at sample 341 is outside the
  /// model's 10 classes").
  void add(const Tensor& scores, const Tensor& labels, int64_t first_sample = 0);
  /// The metric over everything added so far. Throws `Error` when nothing was added.
  double value() const;
};

/// The value of metric `name` on one batch of `scores` and `labels` (see `Metric::add`).
double compute_metric(const std::string& name, const Tensor& scores, const Tensor& labels);

/// Options of `evaluate`.
struct EvalOptions {
  int64_t batch_size = 64; ///< Samples per executor run.
  int64_t limit = -1;      ///< When >= 0, evaluate only the first `limit` samples.
  std::string output;      ///< The graph output holding the scores; empty means the first.
  ProgressFn progress;     ///< Called after every batch with (done, total, status); may be empty.
};

/// The outcome of `evaluate`.
struct EvalResult {
  std::string metric;              ///< The metric's name.
  double value = 0.0;              ///< The metric's value.
  int64_t samples = 0;             ///< Samples evaluated.
  int64_t predictions = 0;         ///< Predictions scored (samples, or tokens for N x T x C).
  double seconds = 0.0;            ///< Wall time of the whole evaluation (data reading included).
  double samples_per_second = 0.0; ///< `samples / seconds`.
  std::string data;                ///< `describe()` of the data source.
  std::string executor;            ///< `name()` of the executor.

  /// "accuracy 0.9012 on 10000 samples of fashion-mnist test (10000 samples) in 2.10 s
  /// (4762 samples/s, reference)".
  std::string str() const;
};

/// Runs `graph` on `data` with `executor` in batches of `options.batch_size` and scores the
/// output named `options.output` (default: the first graph output) with `metric` (a
/// `Metric::names()` entry). Streams: only one batch of inputs and outputs is alive at a time.
///
/// Each batch input goes to the graph input at the same position; when a graph input has a
/// known per-sample shape with the same element count as the data's but a different layout
/// (a flattening model fed N x 1 x 28 x 28 images) the batch is reshaped to it. Throws `Error`
/// for an unknown metric, a data source without labels, an input count or dtype mismatch,
/// outputs that do not fit the metric, and labels outside the model's classes.
EvalResult evaluate(const Graph& graph, const DataSource& data, const std::string& metric,
                    Executor& executor, const EvalOptions& options = {});

} // namespace shrink
