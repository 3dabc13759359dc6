#pragma once
/// \file
/// The small interfaces through which passes reach execution, data and training without
/// depending on oneDNN or LibTorch: `Executor`, `DataSource` and `Trainer`. Implementations live
/// in exec/ (reference, oneDNN), io/ (datasets) and torch/ (LibTorch trainer).

#include "shrink/core/error.h"
#include "shrink/core/tensor.h"

#include <cstdint>
#include <functional>
#include <iosfwd>
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

/// A pair of intermediate values matched by feature distillation: the student's value and the
/// teacher's (both names of values in their graphs).
struct DistillPair {
  std::string student; ///< Value name in the student graph.
  std::string teacher; ///< Value name in the teacher graph.
};

/// Data-parallel training (docs/distill.md): `world_size` processes, on one machine or several,
/// each train on their share of every global batch and average gradients after each backward
/// pass, so that the result matches one process training on the whole batch.
struct DataParallelOptions {
  /// Processes in the group. 0 reads `SHRINK_WORLD_SIZE`, `SHRINK_RANK` and
  /// `SHRINK_RENDEZVOUS` from the environment (one process when `SHRINK_WORLD_SIZE` is unset);
  /// 1 is one process whatever the environment says.
  int world_size = 0;
  int rank = 0; ///< This process's place in the group, in [0, world_size).
  /// Where the processes meet: a file path that every process can see and that does not exist
  /// yet (`file:` prefix optional), or `tcp://HOST:PORT`, served by rank 0.
  std::string rendezvous;
  /// Seconds a process waits for the others (meeting, each collective) before failing.
  double timeout_seconds = 600.0;
};

/// Options of one knowledge-distillation run (the `distill` pass; docs/distill.md).
struct DistillOptions {
  TrainOptions train;             ///< Optimizer, schedule, epochs or steps, batch size, seed.
  double temperature = 4.0;       ///< Softmax temperature T of the logit KD term (scaled by T^2).
  double alpha = 0.9;             ///< Weight of the KD term; 1 - alpha weighs hard-label CE.
  std::vector<DistillPair> hints; ///< Feature (hint) KD: MSE after a learned projection.
  double hint_weight = 1.0;       ///< Weight of the summed hint losses.
  std::vector<DistillPair> attention; ///< Attention transfer between N x C x H x W features.
  double attention_weight = 1000.0;   ///< Weight of the summed attention-transfer losses.
  std::string metric = "accuracy";    ///< Metric on the evaluation data (evaluate.h names).
  int64_t eval_batch_size = 256;      ///< Samples per evaluation batch.
  int64_t eval_limit = -1;            ///< When >= 0, evaluate on the first this many samples.
  int patience = 0;                   ///< Stop after this many epochs without improvement; 0 never.
  bool keep_best = true;              ///< Restore the weights of the best evaluated epoch.
  std::string augment = "none";       ///< "none" or "crop-flip" (images: pad-2 crop, h-flip).
  /// Optional augmentation of each training batch, called after `augment` with a per-step seed.
  std::function<void(Batch& batch, uint64_t seed)> augment_fn;
  /// Data-parallel training across processes; by default taken from the environment.
  DataParallelOptions parallel;
};

/// One epoch of a distillation run.
struct DistillEpoch {
  int epoch = 0;             ///< 1-based epoch number.
  int64_t steps = 0;         ///< Optimizer steps taken in this epoch.
  double loss = 0.0;         ///< Mean total loss over the epoch's steps.
  double kd_loss = 0.0;      ///< Mean logit-KD term (KL * T^2, before the alpha weighting).
  double ce_loss = 0.0;      ///< Mean hard-label cross-entropy (0 when alpha == 1 or no labels).
  double feature_loss = 0.0; ///< Mean of the hint and attention terms (weighted).
  double metric = 0.0;       ///< The evaluation metric after the epoch (NaN without eval data).
  double seconds = 0.0;      ///< Training wall time of the epoch (evaluation excluded).
  double samples_per_second = 0.0; ///< Training throughput.
};

/// What a distillation run did.
struct DistillReport {
  std::vector<DistillEpoch> epochs; ///< One entry per (possibly partial) epoch.
  /// The epoch whose weights were kept; 0: the starting weights (with `keep_best`, when no epoch
  /// beat them) or, without evaluation or `keep_best`, the last state.
  int best_epoch = 0;
  double best_metric = 0.0;       ///< Its metric (NaN without evaluation data).
  double initial_metric = 0.0;    ///< The student's metric before training (NaN without eval).
  int64_t steps = 0;              ///< Optimizer steps in all.
  bool interrupted = false;       ///< Stopped by SIGINT (Ctrl-C) after finishing a step.
  bool stopped_early = false;     ///< Stopped because the metric did not improve (`patience`).
  double seconds = 0.0;           ///< Wall time of the whole run.
  std::vector<std::string> notes; ///< Human-readable notes (projections inserted, ...).
};

/// Trains graphs. Implemented on LibTorch in torch/.
class Trainer {
public:
  virtual ~Trainer() = default;
  /// Gradients of the mean loss over `data` with respect to every initializer of `graph`,
  /// keyed by initializer name (for Taylor importance and similar statistics).
  virtual std::vector<std::pair<std::string, Tensor>>
  gradients(const Graph& graph, const DataSource& data, int64_t max_samples) = 0;

  /// Trains `student` in place to imitate the frozen `teacher` on `train` (knowledge
  /// distillation), evaluating on `eval` (may be null) after every epoch. Checks the inputs
  /// (output shapes, hint names, label range) before training and throws `Error` naming the
  /// problem. Trainers that cannot train throw `UnsupportedError` (the default).
  virtual DistillReport distill(Graph& student, const Graph& teacher, const DataSource& train,
                                const DataSource* eval, const DistillOptions& options,
                                const ProgressFn& progress = {}, std::ostream* log = nullptr) {
    throw UnsupportedError("this trainer cannot distill: use shrink::TorchTrainer "
                           "(the LibTorch bridge)",
                           {"Trainer::distill"});
  }
};

} // namespace shrink
