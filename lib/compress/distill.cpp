// The distill pass: option parsing and the checks that need only the graphs. Training itself
// happens behind the Trainer interface (lib/torch), so this library stays free of LibTorch.

#include "shrink/compress/distill.h"

#include "shrink/core/error.h"
#include "shrink/pass/registry.h"

#include <cmath>
#include <ostream>

namespace shrink {

namespace {

const char* const kSummary =
    "Knowledge distillation: train the graph to imitate a frozen teacher (logit KD, hints, "
    "attention transfer)";

std::vector<DistillPair> parse_pairs(const std::vector<std::string>& items, const char* key) {
  std::vector<DistillPair> out;
  for (const std::string& item : items) {
    const size_t colon = item.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == item.size() ||
        item.find(':', colon + 1) != std::string::npos)
      throw RecipeError(std::string("distill: ") + key + " entry '" + item +
                        "' must be student_value:teacher_value");
    out.push_back({item.substr(0, colon), item.substr(colon + 1)});
  }
  return out;
}

void require_value(const Graph& g, const std::string& name, const std::string& role) {
  if (!g.find_value(name))
    throw Error("distill: '" + name + "' is not a value of the " + role + " graph '" + g.name() +
                "'; hints and attention pairs name intermediate values of both graphs");
}

} // namespace

DistillOptions parse_distill_options(const Options& raw, uint64_t seed) {
  OptionReader r("distill", raw);
  DistillOptions o;
  TrainOptions& t = o.train;
  t.epochs = static_cast<int>(r.get_int("epochs", 3));
  t.steps = r.get_int("steps", 0);
  t.batch_size = r.get_int("batch_size", 64);
  t.learning_rate = r.get_double("lr", 1e-3);
  t.weight_decay = r.get_double("weight_decay", 0.0);
  t.optimizer = r.get_string("optimizer", "adamw", {"adamw", "sgd"});
  t.schedule = r.get_string("schedule", "cosine", {"cosine", "one-cycle", "constant"});
  t.warmup_fraction = r.get_double("warmup", 0.0);
  t.grad_clip = r.get_double("grad_clip", 0.0);
  t.seed = static_cast<uint64_t>(r.get_int("seed", static_cast<int64_t>(seed)));
  o.temperature = r.get_double("temperature", 4.0);
  o.alpha = r.get_double("alpha", 0.9);
  o.hints = parse_pairs(r.get_list("hints"), "hints");
  o.hint_weight = r.get_double("hint_weight", 1.0);
  o.attention = parse_pairs(r.get_list("attention"), "attention");
  o.attention_weight = r.get_double("attention_weight", 1000.0);
  o.metric = r.get_string("metric", "accuracy");
  o.eval_batch_size = r.get_int("eval_batch_size", 256);
  o.eval_limit = r.get_int("eval_limit", -1);
  o.patience = static_cast<int>(r.get_int("patience", 0));
  o.keep_best = r.get_bool("keep_best", true);
  o.augment = r.get_string("augment", "none", {"none", "crop-flip"});
  r.finish();
  if (t.epochs < 1 && t.steps <= 0) throw RecipeError("distill: epochs or steps must be >= 1");
  if (t.steps < 0) throw RecipeError("distill: steps must not be negative");
  if (t.batch_size < 1) throw RecipeError("distill: batch_size must be >= 1");
  if (!(t.learning_rate > 0)) throw RecipeError("distill: lr must be positive");
  if (t.weight_decay < 0) throw RecipeError("distill: weight_decay must not be negative");
  if (t.warmup_fraction < 0 || t.warmup_fraction >= 1)
    throw RecipeError("distill: warmup is a fraction of the steps in [0, 1)");
  if (t.grad_clip < 0) throw RecipeError("distill: grad_clip must not be negative");
  if (!(o.temperature > 0)) throw RecipeError("distill: temperature must be positive");
  if (o.alpha < 0 || o.alpha > 1) throw RecipeError("distill: alpha must be in [0, 1]");
  if (o.eval_batch_size < 1) throw RecipeError("distill: eval_batch_size must be >= 1");
  if (o.patience < 0) throw RecipeError("distill: patience must not be negative");
  return o;
}

DistillPass::DistillPass(const Options& options)
    : raw_(options), options_(parse_distill_options(options)),
      seed_given_(options.count("seed") != 0) {
  info_.name = "distill";
  info_.summary = kSummary;
  info_.needs.trainer = true;
  info_.needs.train_data = true;
  info_.needs.teacher = true;
}

const PassInfo& DistillPass::info() const {
  return info_;
}

PassResult DistillPass::run(Graph& graph, PassContext& ctx) {
  if (!ctx.trainer)
    throw Error("distill needs a trainer (PassContext::trainer, shrink::TorchTrainer): none given");
  if (!ctx.train) throw Error("distill needs training data (PassContext::train): none given");
  if (!ctx.teacher)
    throw Error("distill needs a teacher (PassContext::teacher; the pass manager defaults it to "
                "the pipeline input): none given");
  const Graph& teacher = *ctx.teacher;
  DistillOptions options = options_;
  if (!seed_given_) options.train.seed = ctx.seed;

  // Static checks first; the trainer repeats them on real tensors before its first step.
  if (graph.outputs().empty() || teacher.outputs().empty())
    throw Error("distill: the student and the teacher need at least one output");
  const TensorType& so = graph.outputs()[0]->type();
  const TensorType& to = teacher.outputs()[0]->type();
  if (so.ranked() && to.ranked()) {
    bool differ = so.rank() != to.rank();
    for (int i = 1; !differ && i < so.rank(); ++i)
      differ = (*so.dims)[i].is_known() && (*to.dims)[i].is_known() &&
               (*so.dims)[i].value != (*to.dims)[i].value;
    if (differ)
      throw Error("distill: the student's output '" + graph.outputs()[0]->name() + "' is " +
                  so.str() + ", the teacher's '" + teacher.outputs()[0]->name() + "' is " +
                  to.str() + "; logit distillation needs the same output shape");
  }
  for (const DistillPair& p : options.hints) {
    require_value(graph, p.student, "student");
    require_value(teacher, p.teacher, "teacher");
  }
  for (const DistillPair& p : options.attention) {
    require_value(graph, p.student, "student");
    require_value(teacher, p.teacher, "teacher");
  }

  DistillReport rep =
      ctx.trainer->distill(graph, teacher, *ctx.train, ctx.eval, options, ctx.progress, ctx.log);
  PassResult result;
  result.changed = rep.steps > 0;
  result.stats["epochs"] = static_cast<double>(rep.epochs.size());
  result.stats["steps"] = static_cast<double>(rep.steps);
  result.stats["best_epoch"] = rep.best_epoch;
  result.stats["metric_before"] = rep.initial_metric;
  result.stats["metric_after"] = rep.best_metric;
  result.stats["seconds"] = rep.seconds;
  result.stats["interrupted"] = rep.interrupted ? 1.0 : 0.0;
  if (!rep.epochs.empty()) {
    result.stats["final_loss"] = rep.epochs.back().loss;
    result.stats["samples_per_second"] = rep.epochs.back().samples_per_second;
  }
  result.warnings = rep.notes;
  if (rep.interrupted)
    result.warnings.push_back("distill: interrupted (SIGINT) after " + std::to_string(rep.steps) +
                              " steps; the best weights so far were kept");
  return result;
}

SHRINK_REGISTER_PASS(register_distill_pass, DistillPass, "distill", kSummary);

} // namespace shrink
