#pragma once
/// \file
/// `distill`: trains the current graph (the student) to imitate a frozen teacher graph.
///
/// The pass changes weights only, never the structure. Before (a student whose weights start
/// anywhere; the teacher is `PassContext::teacher`, by default the pipeline's input model):
/// ```
/// graph @student(%x: f32[N,4]) {
///   %w = const f32[3,4] random(seed=1)
///   %y = Gemm(%x, %w) {transB=1} : f32[N,3]
///   return %y
/// }
/// ```
/// After `distill{epochs=3,temperature=4,alpha=0.9}` (same graph, new weights):
/// ```
/// graph @student(%x: f32[N,4]) {
///   %w = const f32[3,4] hash(0x...)
///   %y = Gemm(%x, %w) {transB=1} : f32[N,3]
///   return %y
/// }
/// ```
///
/// The loss of each batch is `alpha * T^2 * KL(teacher || student at temperature T)
/// + (1 - alpha) * cross-entropy(student, labels)`, plus feature terms: `hints` (MSE between
/// named intermediate values, through a learned 1x1 conv / linear projection when the widths
/// differ; the projection is dropped after training) and `attention` (attention transfer
/// between N x C x H x W feature maps). Training runs in `PassContext::trainer` (the LibTorch
/// `TorchTrainer`) on `PassContext::train`, evaluating on `PassContext::eval` after every epoch
/// and keeping the best epoch's weights. See docs/distill.md for every option.
///
/// Options (pipeline keys): `epochs` (3), `steps` (0: use epochs), `batch_size` (64), `lr`
/// (1e-3), `weight_decay` (0), `optimizer` (adamw | sgd), `schedule` (cosine | one-cycle |
/// constant), `warmup` (0, fraction of the steps), `grad_clip` (0: off), `seed` (the context's
/// seed), `temperature` (4), `alpha` (0.9), `hints` (list of `student_value:teacher_value`),
/// `hint_weight` (1), `attention` (list of `student_value:teacher_value`), `attention_weight`
/// (1000), `metric` (accuracy), `eval_batch_size` (256), `eval_limit` (-1: all), `patience` (0:
/// no early stop), `keep_best` (true), `augment` (none | crop-flip).

#include "shrink/pass/pass.h"

namespace shrink {

class PassRegistry;

/// Reads the `distill` options (see the file comment) into `DistillOptions`; `seed` is the
/// default of the `seed` key. Throws `RecipeError` for unknown keys, bad values and hint pairs
/// that are not `student:teacher`.
DistillOptions parse_distill_options(const Options& options, uint64_t seed = 0);

/// The `distill` pass.
class DistillPass : public Pass {
public:
  /// Reads the options; throws `RecipeError` for bad ones.
  explicit DistillPass(const Options& options);
  /// Name, summary; needs a trainer, training data and a teacher.
  const PassInfo& info() const override;
  /// Checks the teacher and student (inputs, output shapes, hint names) and trains the graph.
  /// Stats: epochs, steps, best_epoch, metric_before, metric_after, seconds, interrupted.
  PassResult run(Graph& graph, PassContext& ctx) override;

private:
  PassInfo info_;
  Options raw_;
  DistillOptions options_;
  bool seed_given_ = false;
};

/// Registers `distill` with `registry`.
void register_distill_pass(PassRegistry& registry);

} // namespace shrink
