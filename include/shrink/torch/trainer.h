#pragma once
/// \file
/// `TorchTrainer`: the `Trainer` of ir/interfaces.h on LibTorch. It computes gradients for
/// gradient-based importance (the `taylor` criterion of `prune-channels`) and runs knowledge
/// distillation for the `distill` pass (docs/distill.md).
///
/// ```cpp
/// shrink::TorchTrainer trainer;                  // CPU, LibTorch's default thread count
/// shrink::PassContext ctx;
/// ctx.trainer = &trainer;
/// ctx.train = train_data.get();
/// ctx.eval = test_data.get();
/// shrink::PassManager pm = shrink::parse_pipeline("distill{epochs=3,temperature=4}");
/// pm.run(student, ctx);                          // teacher: ctx.teacher or the pipeline input
/// ```

#include "shrink/ir/interfaces.h"
#include "shrink/torch/data.h"

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace shrink {

class Graph;
class ProcessGroup;

/// What a custom distillation loss sees for one training batch.
struct LossInputs {
  torch::Tensor student_logits;                 ///< The student's first output.
  torch::Tensor teacher_logits;                 ///< The teacher's first output (no gradient).
  torch::Tensor labels;                         ///< The batch labels (undefined without labels).
  std::map<std::string, torch::Tensor> student; ///< Fetched student values (`fetch` names).
  std::map<std::string, torch::Tensor> teacher; ///< Fetched teacher values (`fetch` names).
  int64_t step = 0;                             ///< The 0-based optimizer step.
};

/// A loss term added to the distillation loss. It must return a scalar that depends on the
/// student tensors it wants gradients for.
using CustomLossFn = std::function<torch::Tensor(const LossInputs& inputs)>;

/// A Trainer on LibTorch (CPU).
class TorchTrainer : public Trainer {
public:
  /// `threads` > 0 sets LibTorch's intra-op thread count for the trainer's work.
  explicit TorchTrainer(int threads = 0);

  /// Gradients of the mean cross-entropy of the graph's first output (class scores `N x C` or
  /// `N x T x C`) against the data's labels, over the first `max_samples` samples (all when
  /// <= 0), with respect to every trainable float initializer, keyed by initializer name. The
  /// graph runs in evaluation mode (BatchNormalization uses its running statistics). Throws
  /// `Error` for data without labels and for labels outside the model's classes.
  std::vector<std::pair<std::string, Tensor>> gradients(const Graph& graph, const DataSource& data,
                                                        int64_t max_samples) override;

  /// Knowledge distillation; see `Trainer::distill` and docs/distill.md. The loss per batch is
  /// `alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, labels)`, plus the
  /// hint, attention-transfer and custom terms. Teacher outputs are computed per batch.
  DistillReport distill(Graph& student, const Graph& teacher, const DataSource& train,
                        const DataSource* eval, const DistillOptions& options,
                        const ProgressFn& progress = {}, std::ostream* log = nullptr) override;

  /// Adds `fn` to the distillation loss, with `fetch` naming the student and teacher values it
  /// reads (a name is looked up in both graphs; a name in neither is an error before training).
  void set_custom_loss(CustomLossFn fn, std::vector<std::string> fetch = {});

private:
  int threads_;
  CustomLossFn custom_loss_;
  std::vector<std::string> custom_fetch_;
  std::shared_ptr<ProcessGroup> group_; ///< Kept between runs: meeting again would race.
};

} // namespace shrink
