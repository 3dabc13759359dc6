#pragma once
/// \file
/// The small interfaces through which passes reach execution, data and training without
/// depending on oneDNN or LibTorch: `Executor`, `DataSource` and `Trainer`. Implementations live
/// in exec/ (reference, oneDNN), io/ (datasets) and torch/ (LibTorch trainer).

#include "shrink/core/tensor.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace shrink {

class Graph;

/// Runs graphs.
class Executor {
public:
  virtual ~Executor() = default;
  /// A short name for reports ("reference", "onednn").
  virtual std::string name() const = 0;
  /// Runs `graph` on `inputs` (one per graph input, in order) and returns the graph outputs in
  /// order, followed by the values named in `fetch` (intermediate values, e.g. for calibration).
  /// Refuses a graph that fails verification, with every diagnostic (`VerifyError`).
  virtual std::vector<Tensor> run(const Graph& graph, const std::vector<Tensor>& inputs,
                                  const std::vector<std::string>& fetch = {}) = 0;
};

/// One batch of data: model inputs and optional labels.
struct Batch {
  std::vector<Tensor> inputs;   ///< One tensor per graph input, batch dimension first.
  std::optional<Tensor> labels; ///< Class ids (i64) or targets, when the data has labels.
};

/// A finite, re-iterable source of samples, read in batches. Streams: it never has to hold the
/// whole data set in memory.
class DataSource {
public:
  virtual ~DataSource() = default;
  /// Number of samples.
  virtual int64_t size() const = 0;
  /// Samples [start, start + count) as one batch (count is clipped at the end).
  virtual Batch batch(int64_t start, int64_t count) const = 0;
  /// A short description for reports and errors ("fashion-mnist train (60000 samples)").
  virtual std::string describe() const = 0;
};

/// Progress of long work: called with done/total and a one-line status. Must be cheap.
using ProgressFn = std::function<void(int64_t done, int64_t total, const std::string& status)>;

/// Options of one training run (distillation, fine-tuning).
struct TrainOptions {
  int epochs = 1;
  int64_t steps = 0; ///< When > 0, train for this many steps instead of epochs.
  int64_t batch_size = 64;
  double learning_rate = 1e-3;
  double weight_decay = 0.0;
  std::string optimizer = "adamw"; ///< "sgd" or "adamw".
  std::string schedule = "cosine"; ///< "constant", "cosine", "one-cycle".
  double warmup_fraction = 0.0;
  double grad_clip = 0.0; ///< Max global gradient norm, 0 for none.
  uint64_t seed = 0;
};

/// Trains graphs. Implemented on LibTorch in torch/.
class Trainer {
public:
  virtual ~Trainer() = default;
  /// Gradients of the mean loss over `data` with respect to every initializer of `graph`,
  /// keyed by initializer name (for Taylor importance and similar statistics).
  virtual std::vector<std::pair<std::string, Tensor>>
  gradients(const Graph& graph, const DataSource& data, int64_t max_samples) = 0;
};

} // namespace shrink
