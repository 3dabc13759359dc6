// TorchTrainer: gradients and knowledge distillation on GraphModule.
//
// Everything the run depends on is checked before the first step (names, shapes, labels), so a
// mistake costs seconds, not an epoch. The teacher runs per batch under NoGradGuard: its outputs
// are never stored for the whole data set. Projections for hints whose widths differ live only
// in the trainer and are dropped afterwards, so the student graph keeps its structure.

#include "shrink/torch/trainer.h"

#include "shrink/core/error.h"
#include "shrink/ir/evaluate.h"
#include "shrink/ir/graph.h"
#include "shrink/torch/distributed.h"
#include "shrink/torch/graph_module.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <chrono>
#include <cmath>
#include <iomanip>
#include <limits>
#include <ostream>
#include <set>
#include <sstream>

namespace shrink {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string duration_str(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const int64_t t = static_cast<int64_t>(s + 0.5);
  std::ostringstream o;
  if (t >= 3600) o << t / 3600 << "h";
  if (t >= 60) o << std::setw(t >= 3600 ? 2 : 1) << std::setfill('0') << (t / 60) % 60 << "m";
  o << std::setw(t >= 60 ? 2 : 1) << std::setfill('0') << t % 60 << "s";
  return o.str();
}

std::vector<std::string> value_names(const Graph& g) {
  std::vector<std::string> names;
  for (const Value* v : g.inputs())
    names.push_back(v->name());
  for (const Value* v : g.initializers())
    names.push_back(v->name());
  for (const Node* n : g.nodes())
    for (const Value* v : n->outputs())
      names.push_back(v->name());
  return names;
}

void require_value(const Graph& g, const std::string& name, const std::string& what,
                   const std::string& role) {
  if (g.find_value(name)) return;
  std::string msg = "distill: " + what + " '" + name + "' is not a value of the " + role +
                    " graph '" + g.name() + "'";
  const std::string close = closest_name(name, value_names(g));
  if (!close.empty()) msg += " (did you mean '" + close + "'?)";
  throw Error(msg + "; name an intermediate value of the " + role + " (see `shrink info`)");
}

std::vector<torch::Tensor> torch_inputs(const Batch& b) {
  std::vector<torch::Tensor> out;
  for (const Tensor& t : b.inputs)
    out.push_back(to_torch(t));
  return out;
}

// Class scores as rows: N x C stays, N x T x C becomes (N*T) x C.
torch::Tensor rows(const torch::Tensor& scores) {
  return scores.dim() <= 2 ? scores : scores.reshape({-1, scores.size(-1)});
}

// Throws when a label lies outside [0, classes).
void check_labels(const DataSource& data, int64_t classes, const std::string& role) {
  const int64_t n = data.size();
  for (int64_t start = 0; start < n; start += 1024) {
    Batch b = data.batch(start, std::min<int64_t>(1024, n - start));
    if (!b.labels)
      throw Error("distill: the " + role + " data " + data.describe() +
                  " has no labels; give labelled data or set alpha=1");
    Tensor l = b.labels->cast(DType::i64);
    const int64_t* p = l.data<int64_t>();
    const int64_t per = std::max<int64_t>(1, l.numel() / std::max<int64_t>(1, l.dim(0)));
    for (int64_t i = 0; i < l.numel(); ++i)
      if (p[i] < 0 || p[i] >= classes)
        throw Error("distill: label " + std::to_string(p[i]) + " at sample " +
                    std::to_string(start + i / per) + " of the " + role + " data " +
                    data.describe() + " is outside the model's " + std::to_string(classes) +
                    " classes [0, " + std::to_string(classes) +
                    "); check that the data and "
                    "the model match");
  }
}

// With a process group, each process scores every world-size-th batch and the counts are
// summed, so every process gets the metric of the whole data.
double evaluate_module(GraphModule& m, const DataSource& data, const std::string& metric,
                       int64_t batch_size, int64_t limit, ProcessGroup* group = nullptr) {
  const bool was_training = m->is_training();
  m->eval();
  torch::NoGradGuard no_grad;
  Metric score = Metric::parse(metric);
  const int64_t n = limit >= 0 ? std::min(limit, data.size()) : data.size();
  const int64_t world = group ? group->world_size() : 1, rank = group ? group->rank() : 0;
  for (int64_t start = rank * batch_size; start < n; start += world * batch_size) {
    Batch b = data.batch(start, std::min(batch_size, n - start));
    if (!b.labels)
      throw Error("distill: the evaluation data " + data.describe() + " has no labels");
    torch::Tensor out = m->forward(torch_inputs(b))[0];
    score.add(from_torch(out), *b.labels, start);
  }
  m->train(was_training);
  if (group) {
    torch::Tensor counts = at::tensor(
        {double(score.predictions), double(score.correct), score.total_nll}, at::kDouble);
    group->all_reduce_sum(counts);
    score.predictions = static_cast<int64_t>(std::llround(counts[0].item<double>()));
    score.correct = static_cast<int64_t>(std::llround(counts[1].item<double>()));
    score.total_nll = counts[2].item<double>();
  }
  return score.value();
}

// Flattens float tensors into one f32 vector (for one collective instead of one per tensor).
torch::Tensor flatten_f32(const std::vector<torch::Tensor>& ts) {
  std::vector<torch::Tensor> parts;
  for (const torch::Tensor& t : ts)
    parts.push_back(t.detach().reshape({-1}).to(at::kFloat));
  return parts.empty() ? at::zeros({0}) : at::cat(parts);
}

// Copies consecutive slices of `flat` back into `ts` (casting to their dtypes).
void unflatten_into(const torch::Tensor& flat, const std::vector<torch::Tensor>& ts) {
  torch::NoGradGuard no_grad;
  int64_t off = 0;
  for (const torch::Tensor& t : ts) {
    t.detach().copy_(flat.slice(0, off, off + t.numel()).view(t.sizes()));
    off += t.numel();
  }
}

// Every process starts from rank 0's weights, as PyTorch's DistributedDataParallel does.
void broadcast_state(ProcessGroup& group, const std::vector<torch::Tensor>& ts) {
  torch::Tensor flat = flatten_f32(ts);
  group.broadcast(flat, 0);
  unflatten_into(flat, ts);
}

// Replaces each tensor by its mean over the processes (BatchNormalization running statistics:
// the running mean is linear in the batch means, so this is the whole batch's running mean).
void average_state(ProcessGroup& group, const std::vector<torch::Tensor>& ts) {
  if (ts.empty()) return;
  torch::Tensor flat = flatten_f32(ts);
  group.all_reduce_sum(flat);
  flat.div_(double(group.world_size()));
  unflatten_into(flat, ts);
}

// Every process must train the same thing; a difference would silently average unrelated
// gradients. Each rank's facts go to every rank, so all of them fail with the same message.
void check_same_run(ProcessGroup& group, const std::vector<std::pair<std::string, double>>& facts) {
  std::vector<double> mine;
  for (const auto& f : facts)
    mine.push_back(f.second);
  std::vector<std::vector<double>> all;
  for (int root = 0; root < group.world_size(); ++root) {
    torch::Tensor t = at::tensor(mine, at::kDouble);
    group.broadcast(t, root);
    all.emplace_back(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  }
  std::string diff;
  for (size_t i = 0; i < facts.size(); ++i) {
    bool same = true;
    for (const auto& r : all)
      same = same && r[i] == all[0][i];
    if (same) continue;
    diff += (diff.empty() ? "" : "; ") + facts[i].first + ":";
    for (size_t r = 0; r < all.size(); ++r) {
      std::ostringstream v;
      v << all[r][i];
      diff += " rank " + std::to_string(r) + " " + v.str();
    }
  }
  if (!diff.empty())
    throw Error("distill: the data-parallel processes disagree (" + diff +
                "); start every rank with the same model, data and options");
}

// A learned map from the student's width to the teacher's: a 1x1 convolution for N x C x H x W
// features, a linear layer on the last axis otherwise.
struct Projection {
  torch::Tensor weight, bias;
  bool conv = false;
  torch::Tensor apply(const torch::Tensor& x) const {
    if (!weight.defined()) return x;
    return conv ? at::conv2d(x, weight, bias) : at::linear(x, weight, bias);
  }
};

torch::Tensor attention_map(const torch::Tensor& f) {
  // Zagoruyko & Komodakis: the channel mean of squared activations, L2-normalized per sample.
  torch::Tensor a = f.pow(2).mean(1).reshape({f.size(0), -1});
  return a / (a.norm(2, 1, true) + 1e-12);
}

double learning_rate(const TrainOptions& o, int64_t step, int64_t total) {
  const double lr = o.learning_rate;
  double warm_frac = o.warmup_fraction;
  if (o.schedule == "one-cycle" && warm_frac <= 0.0) warm_frac = 0.3;
  const int64_t warm = static_cast<int64_t>(std::round(warm_frac * static_cast<double>(total)));
  const double pi = 3.14159265358979323846;
  auto cosine = [&](double hi, double lo) {
    const double t = total > warm ? double(step - warm) / double(total - warm) : 1.0;
    return lo + (hi - lo) * 0.5 * (1.0 + std::cos(pi * std::min(1.0, t)));
  };
  if (o.schedule == "one-cycle") {
    if (step < warm) return lr / 25.0 + (lr - lr / 25.0) * double(step) / double(warm);
    return cosine(lr, lr / 1e4);
  }
  if (step < warm) return lr * double(step + 1) / double(warm);
  if (o.schedule == "cosine") return cosine(lr, 0.0);
  return lr;
}

void check_train_options(const TrainOptions& o) {
  if (o.optimizer != "sgd" && o.optimizer != "adamw")
    throw Error("distill: optimizer must be sgd or adamw, got '" + o.optimizer + "'");
  if (o.schedule != "constant" && o.schedule != "cosine" && o.schedule != "one-cycle")
    throw Error("distill: schedule must be constant, cosine or one-cycle, got '" + o.schedule +
                "'");
  if (o.batch_size < 1) throw Error("distill: batch_size must be at least 1");
  if (o.epochs < 1 && o.steps <= 0) throw Error("distill: give epochs >= 1 or steps >= 1");
  if (!(o.learning_rate > 0)) throw Error("distill: learning_rate must be positive");
  if (o.warmup_fraction < 0 || o.warmup_fraction >= 1)
    throw Error("distill: warmup must be in [0, 1)");
}

} // namespace

TorchTrainer::TorchTrainer(int threads) : threads_(threads) {}

void TorchTrainer::set_custom_loss(CustomLossFn fn, std::vector<std::string> fetch) {
  custom_loss_ = std::move(fn);
  custom_fetch_ = std::move(fetch);
}

std::vector<std::pair<std::string, Tensor>>
TorchTrainer::gradients(const Graph& graph, const DataSource& data, int64_t max_samples) {
  if (threads_ > 0) at::set_num_threads(threads_);
  GraphModule m(graph);
  m->eval();
  const int64_t n = max_samples > 0 ? std::min(max_samples, data.size()) : data.size();
  if (n == 0) throw Error("gradients: the data " + data.describe() + " is empty");
  const int64_t bs = 64;
  for (int64_t start = 0; start < n; start += bs) {
    Batch b = data.batch(start, std::min(bs, n - start));
    if (!b.labels)
      throw Error("gradients: the data " + data.describe() + " has no labels to take a loss on");
    torch::Tensor s = rows(m->forward(torch_inputs(b))[0]);
    torch::Tensor y = to_torch(b.labels->cast(DType::i64)).reshape({-1});
    const int64_t classes = s.size(-1);
    if (y.numel() != s.size(0))
      throw Error("gradients: " + std::to_string(y.numel()) + " labels for " +
                  std::to_string(s.size(0)) + " score rows in " + data.describe());
    if ((y < 0).any().item<bool>() || (y >= classes).any().item<bool>())
      throw Error("gradients: a label of " + data.describe() + " near sample " +
                  std::to_string(start) + " is outside the model's " + std::to_string(classes) +
                  " classes");
    // Per-batch sums over the total count give the gradient of the mean over all samples.
    torch::Tensor loss =
        at::cross_entropy_loss(s, y, {}, at::Reduction::Sum) /
        static_cast<double>(n * std::max<int64_t>(1, y.numel() / b.labels->dim(0)));
    loss.backward();
  }
  std::vector<std::pair<std::string, Tensor>> out;
  for (auto& pr : m->named_initializer_parameters()) {
    const torch::Tensor& g = pr.second.grad();
    out.emplace_back(pr.first, from_torch(g.defined() ? g : at::zeros_like(pr.second)));
  }
  return out;
}

DistillReport TorchTrainer::distill(Graph& student, const Graph& teacher, const DataSource& train,
                                    const DataSource* eval, const DistillOptions& options,
                                    const ProgressFn& progress_fn, std::ostream* log_stream) {
  const auto t_run = Clock::now();
  const TrainOptions& to = options.train;
  check_train_options(to);
  const DataParallelOptions dp = resolve_data_parallel(options.parallel);
  const int world = dp.world_size, rank = dp.rank;
  if (world > 1 && to.batch_size < world)
    throw Error("distill: batch_size " + std::to_string(to.batch_size) + " cannot be shared by " +
                std::to_string(world) +
                " data-parallel processes; batch_size is the global batch, give at least " +
                std::to_string(world));
  // Every process computes the same numbers; only rank 0 reports them.
  const ProgressFn progress = rank == 0 ? progress_fn : ProgressFn();
  std::ostream* log = rank == 0 ? log_stream : nullptr;
  if (options.alpha < 0 || options.alpha > 1) throw Error("distill: alpha must be in [0, 1]");
  if (!(options.temperature > 0)) throw Error("distill: temperature must be positive");
  if (threads_ > 0) at::set_num_threads(threads_);
  if (train.size() == 0)
    throw Error("distill: the training data " + train.describe() + " is empty");
  if (student.inputs().size() != teacher.inputs().size())
    throw Error("distill: the student graph '" + student.name() + "' has " +
                std::to_string(student.inputs().size()) + " inputs, the teacher '" +
                teacher.name() + "' " + std::to_string(teacher.inputs().size()) +
                "; both must take the same inputs");
  for (const DistillPair& h : options.hints) {
    require_value(student, h.student, "hint", "student");
    require_value(teacher, h.teacher, "hint", "teacher");
  }
  for (const DistillPair& a : options.attention) {
    require_value(student, a.student, "attention value", "student");
    require_value(teacher, a.teacher, "attention value", "teacher");
  }
  std::vector<std::string> s_fetch, t_fetch;
  for (const DistillPair& h : options.hints) {
    s_fetch.push_back(h.student);
    t_fetch.push_back(h.teacher);
  }
  for (const DistillPair& a : options.attention) {
    s_fetch.push_back(a.student);
    t_fetch.push_back(a.teacher);
  }
  const size_t custom_s0 = s_fetch.size(), custom_t0 = t_fetch.size();
  std::vector<std::string> custom_s, custom_t;
  for (const std::string& f : custom_fetch_) {
    const bool in_s = student.find_value(f) != nullptr, in_t = teacher.find_value(f) != nullptr;
    if (!in_s && !in_t)
      throw Error("distill: the custom loss fetches '" + f +
                  "', a value of neither the student nor the teacher");
    if (in_s) custom_s.push_back(f);
    if (in_t) custom_t.push_back(f);
  }
  s_fetch.insert(s_fetch.end(), custom_s.begin(), custom_s.end());
  t_fetch.insert(t_fetch.end(), custom_t.begin(), custom_t.end());

  torch::manual_seed(to.seed);
  GraphModule s_mod(student);
  GraphModule t_mod(teacher);
  t_mod->eval();
  for (auto& p : t_mod->parameters())
    p.requires_grad_(false);

  // Probe one small batch: output shapes, hint shapes, the number of classes.
  DistillReport report;
  std::vector<Projection> proj(options.hints.size());
  int64_t classes = 0;
  {
    torch::NoGradGuard no_grad;
    Batch probe = train.batch(0, std::min<int64_t>(2, train.size()));
    std::vector<torch::Tensor> in = torch_inputs(probe);
    s_mod->eval();
    std::vector<torch::Tensor> so = s_mod->forward(in, s_fetch);
    std::vector<torch::Tensor> tout = t_mod->forward(in, t_fetch);
    s_mod->train();
    if (so[0].sizes() != tout[0].sizes())
      throw Error("distill: the student's output '" + student.outputs()[0]->name() +
                  "' has shape " + shape_str(so[0].sizes().vec()) + " on a batch of " +
                  std::to_string(probe.inputs[0].dim(0)) + ", the teacher's '" +
                  teacher.outputs()[0]->name() + "' " + shape_str(tout[0].sizes().vec()) +
                  "; logit distillation needs the same output shape (same classes)");
    classes = so[0].size(-1);
    const size_t s_off = student.outputs().size(), t_off = teacher.outputs().size();
    for (size_t i = 0; i < options.hints.size(); ++i) {
      const torch::Tensor& fs = so[s_off + i];
      const torch::Tensor& ft = tout[t_off + i];
      const DistillPair& h = options.hints[i];
      const std::string pair = "hint '" + h.student + "' -> '" + h.teacher + "'";
      if (fs.dim() != ft.dim() || fs.dim() < 2 || !fs.is_floating_point())
        throw Error("distill: " + pair + ": the student value has shape " +
                    shape_str(fs.sizes().vec()) + ", the teacher's " + shape_str(ft.sizes().vec()) +
                    "; hints need float values of the same rank (>= 2)");
      const bool conv = fs.dim() == 4;
      const int64_t ws = conv ? fs.size(1) : fs.size(-1), wt = conv ? ft.size(1) : ft.size(-1);
      std::vector<int64_t> rs = fs.sizes().vec(), rt = ft.sizes().vec();
      rs[conv ? 1 : rs.size() - 1] = rt[conv ? 1 : rt.size() - 1] = 0;
      if (rs != rt)
        throw Error("distill: " + pair + ": shapes " + shape_str(fs.sizes().vec()) + " and " +
                    shape_str(ft.sizes().vec()) +
                    " differ outside the channel axis; pick values "
                    "with the same spatial size");
      if (ws != wt) {
        Projection& p = proj[i];
        p.conv = conv;
        const double bound = 1.0 / std::sqrt(static_cast<double>(ws));
        p.weight = (conv ? at::rand({wt, ws, 1, 1}) : at::rand({wt, ws})) * (2 * bound) - bound;
        p.bias = at::zeros({wt});
        p.weight.requires_grad_(true);
        p.bias.requires_grad_(true);
        report.notes.push_back("inserted a learned " + std::string(conv ? "1x1 conv" : "linear") +
                               " projection " + std::to_string(ws) + " -> " + std::to_string(wt) +
                               " for " + pair + " (removed after training)");
      }
    }
    for (size_t i = 0; i < options.attention.size(); ++i) {
      const torch::Tensor& fs = so[s_off + options.hints.size() + i];
      const torch::Tensor& ft = tout[t_off + options.hints.size() + i];
      if (fs.dim() != 4 || ft.dim() != 4 || fs.size(2) != ft.size(2) || fs.size(3) != ft.size(3))
        throw Error("distill: attention transfer '" + options.attention[i].student + "' -> '" +
                    options.attention[i].teacher +
                    "' needs N x C x H x W feature maps of the "
                    "same H x W, got " +
                    shape_str(fs.sizes().vec()) + " and " + shape_str(ft.sizes().vec()));
    }
  }
  if (options.alpha < 1.0) check_labels(train, classes, "training");
  if (eval) check_labels(*eval, classes, "evaluation");

  // The group meets only after every local check passed, so that a mistake fails fast on
  // every process instead of leaving the others waiting.
  ProcessGroup* group = nullptr;
  std::vector<torch::Tensor> bn_stats;
  if (world > 1) {
    const DataParallelOptions& held = group_ ? group_->options() : dp;
    if (!group_ || held.rendezvous != dp.rendezvous || held.rank != rank ||
        held.world_size != world)
      group_ = std::make_shared<ProcessGroup>(dp);
    group = group_.get();
    int64_t numel = 0;
    for (auto& p : s_mod->parameters())
      numel += p.numel();
    check_same_run(*group, {{"training samples", double(train.size())},
                            {"evaluation samples", eval ? double(eval->size()) : -1.0},
                            {"batch_size", double(to.batch_size)},
                            {"epochs", double(to.epochs)},
                            {"steps", double(to.steps)},
                            {"learning rate", to.learning_rate},
                            {"seed", double(to.seed)},
                            {"alpha", options.alpha},
                            {"temperature", options.temperature},
                            {"student parameters", double(numel)}});
    std::vector<torch::Tensor> state;
    for (auto& p : s_mod->parameters())
      state.push_back(p);
    for (Projection& p : proj)
      if (p.weight.defined()) {
        state.push_back(p.weight);
        state.push_back(p.bias);
      }
    for (auto& b : s_mod->buffers())
      if (b.is_floating_point()) state.push_back(b);
    broadcast_state(*group, state);
    std::set<std::string> stat_names;
    for (const Node* node : student.nodes())
      if (node->op() == "BatchNormalization")
        for (size_t i = 3; i < node->inputs().size() && i < 5; ++i)
          stat_names.insert(node->inputs()[i]->name());
    for (auto& b : s_mod->named_buffers())
      if (b.value().is_floating_point() && stat_names.count(s_mod->initializer_of(b.key())))
        bn_stats.push_back(b.value());
    // Dropout masks differ between processes, as they differ between samples of one batch.
    torch::manual_seed(to.seed + 0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(rank));
    report.notes.push_back("data-parallel: " + std::to_string(world) + " processes (rank " +
                           std::to_string(rank) + "), each batch of " +
                           std::to_string(to.batch_size) + " shared between them");
  }

  // Optimizer: weight decay on matrices and kernels only, not on biases and norm scales.
  std::vector<torch::Tensor> decay, no_decay;
  for (auto& p : s_mod->parameters())
    (p.dim() > 1 ? decay : no_decay).push_back(p);
  for (Projection& p : proj)
    if (p.weight.defined()) {
      decay.push_back(p.weight);
      no_decay.push_back(p.bias);
    }
  std::unique_ptr<torch::optim::Optimizer> opt;
  if (to.optimizer == "sgd") {
    auto with = torch::optim::SGDOptions(to.learning_rate).momentum(0.9).nesterov(true);
    auto without = with;
    with.weight_decay(to.weight_decay);
    without.weight_decay(0.0);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(decay, std::make_unique<torch::optim::SGDOptions>(with));
    groups.emplace_back(no_decay, std::make_unique<torch::optim::SGDOptions>(without));
    opt = std::make_unique<torch::optim::SGD>(std::move(groups), with);
  } else {
    auto with = torch::optim::AdamWOptions(to.learning_rate).weight_decay(to.weight_decay);
    auto without = torch::optim::AdamWOptions(to.learning_rate).weight_decay(0.0);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(with));
    groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(without));
    opt = std::make_unique<torch::optim::AdamW>(std::move(groups), with);
  }
  std::vector<torch::Tensor> all_params = decay;
  all_params.insert(all_params.end(), no_decay.begin(), no_decay.end());

  const int64_t n = train.size();
  const int64_t per_epoch = (n + to.batch_size - 1) / to.batch_size;
  const int64_t total = to.steps > 0 ? to.steps : per_epoch * to.epochs;
  const int epochs = static_cast<int>((total + per_epoch - 1) / per_epoch);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double T = options.temperature;
  const bool higher = eval ? Metric::parse(options.metric).higher_is_better() : true;

  report.initial_metric = eval ? evaluate_module(s_mod, *eval, options.metric,
                                                 options.eval_batch_size, options.eval_limit, group)
                               : nan;
  report.best_metric = nan;
  if (log)
    *log << "distill: " << total << " steps (" << epochs << " epochs of " << per_epoch << ") on "
         << train.describe() << ", student " << options.metric << " " << report.initial_metric
         << " before training\n";
  for (const std::string& note : report.notes)
    if (log) *log << "distill: " << note << "\n";

  std::vector<torch::Tensor> best_state;
  auto snapshot = [&] {
    std::vector<torch::Tensor> st;
    for (auto& p : s_mod->parameters())
      st.push_back(p.detach().clone());
    for (auto& b : s_mod->buffers())
      st.push_back(b.detach().clone());
    return st;
  };
  // Keeping the best weights includes the starting ones: a run that only makes the student worse
  // (too high a learning rate for an already good student) must not leave it worse.
  if (options.keep_best && eval && !std::isnan(report.initial_metric)) {
    report.best_metric = report.initial_metric;
    best_state = snapshot();
  }
  // With alpha = 0 and no feature or custom terms the teacher is not needed (hard labels only).
  const bool need_teacher = options.alpha > 0 || !options.hints.empty() ||
                            !options.attention.empty() || static_cast<bool>(custom_loss_);
  InterruptGuard guard;
  int64_t step = 0;
  int stale = 0;
  const auto t_train = Clock::now();
  double train_seconds = 0.0;
  s_mod->train();
  for (int epoch = 1; epoch <= epochs && !report.interrupted && !report.stopped_early; ++epoch) {
    DistillEpoch rec;
    rec.epoch = epoch;
    const auto t_epoch = Clock::now();
    std::vector<int64_t> order = epoch_order(n, to.seed, epoch);
    int64_t samples = 0;
    for (int64_t b = 0; b < per_epoch && step < total; ++b) {
      // Data-parallel processes stop together: the flag travels with the gradients.
      if (!group && InterruptGuard::interrupted()) {
        report.interrupted = true;
        break;
      }
      const int64_t lo = b * to.batch_size, hi = std::min(n, lo + to.batch_size);
      // This process's contiguous share of the global batch [lo, hi).
      const int64_t share = (hi - lo) / world, extra = (hi - lo) % world;
      const int64_t my_lo = lo + rank * share + std::min<int64_t>(rank, extra);
      const int64_t my_n = share + (rank < extra ? 1 : 0);
      double loss_v = 0.0, kd_v = 0.0, ce_value = 0.0, feat_v = 0.0;
      opt->zero_grad();
      if (my_n > 0) {
        Batch batch = gather_batch(
            train, std::vector<int64_t>(order.begin() + my_lo, order.begin() + my_lo + my_n));
        const uint64_t step_seed = to.seed * 1000003ULL + static_cast<uint64_t>(step);
        if (options.augment == "crop-flip") augment_crop_flip(batch, step_seed, 2, my_lo - lo);
        if (options.augment_fn) options.augment_fn(batch, step_seed);
        std::vector<torch::Tensor> in = torch_inputs(batch);
        std::vector<torch::Tensor> tout;
        if (need_teacher) {
          torch::NoGradGuard no_grad;
          tout = t_mod->forward(in, t_fetch);
        }
        std::vector<torch::Tensor> so = s_mod->forward(in, s_fetch);
        const size_t s_off = student.outputs().size(), t_off = teacher.outputs().size();
        torch::Tensor s_rows = rows(so[0]);
        torch::Tensor kd = at::zeros({});
        if (need_teacher)
          kd = at::kl_div(at::log_softmax(s_rows / T, -1), at::log_softmax(rows(tout[0]) / T, -1),
                          at::Reduction::Sum, /*log_target=*/true) /
               static_cast<double>(s_rows.size(0)) * (T * T);
        torch::Tensor loss = kd * options.alpha;
        torch::Tensor labels;
        if (batch.labels) labels = to_torch(batch.labels->cast(DType::i64)).reshape({-1});
        if (options.alpha < 1.0) {
          torch::Tensor ce = at::cross_entropy_loss(s_rows, labels);
          loss = loss + ce * (1.0 - options.alpha);
          ce_value = ce.item<double>();
        }
        torch::Tensor feat = at::zeros({});
        for (size_t i = 0; i < options.hints.size(); ++i)
          feat = feat +
                 at::mse_loss(proj[i].apply(so[s_off + i]), tout[t_off + i]) * options.hint_weight;
        for (size_t i = 0; i < options.attention.size(); ++i) {
          const size_t k = options.hints.size() + i;
          feat =
              feat + (attention_map(so[s_off + k]) - attention_map(tout[t_off + k])).pow(2).mean() *
                         options.attention_weight;
        }
        loss = loss + feat;
        if (custom_loss_) {
          LossInputs li;
          li.student_logits = so[0];
          li.teacher_logits = tout[0];
          li.labels = labels;
          li.step = step;
          for (size_t i = 0; i < custom_s.size(); ++i)
            li.student[custom_s[i]] = so[s_off + custom_s0 + i];
          for (size_t i = 0; i < custom_t.size(); ++i)
            li.teacher[custom_t[i]] = tout[t_off + custom_t0 + i];
          loss = loss + custom_loss_(li);
        }
        loss.backward();
        loss_v = loss.item<double>();
        kd_v = kd.item<double>();
        feat_v = feat.item<double>();
      }
      bool stop_after = false;
      if (group) {
        // Sum of (share x local mean gradient) over the processes / global batch = the mean
        // gradient of the global batch, also when the shares differ (a short last batch).
        torch::NoGradGuard no_grad;
        std::vector<torch::Tensor> parts;
        std::vector<double> extras;
        for (auto& p : all_params) {
          const bool has = p.grad().defined();
          parts.push_back(has ? p.grad().reshape({-1}).to(at::kFloat) * double(my_n)
                              : at::zeros({p.numel()}));
          extras.push_back(has ? 1.0 : 0.0);
        }
        for (double v : {loss_v, kd_v, ce_value, feat_v})
          extras.push_back(v * double(my_n));
        extras.push_back(InterruptGuard::interrupted() ? 1.0 : 0.0);
        parts.push_back(at::tensor(extras, at::kFloat));
        torch::Tensor flat = at::cat(parts);
        group->all_reduce_sum(flat);
        const double inv = 1.0 / double(hi - lo);
        int64_t off = 0;
        const int64_t ex = flat.numel() - static_cast<int64_t>(extras.size());
        for (size_t i = 0; i < all_params.size(); ++i) {
          torch::Tensor& p = all_params[i];
          if (flat[ex + static_cast<int64_t>(i)].item<float>() > 0) {
            torch::Tensor g = flat.slice(0, off, off + p.numel()).view(p.sizes()) * inv;
            if (p.grad().defined())
              p.mutable_grad().copy_(g);
            else
              p.mutable_grad() = g.to(p.dtype());
          }
          off += p.numel();
        }
        const int64_t e = ex + static_cast<int64_t>(all_params.size());
        loss_v = flat[e].item<double>() * inv;
        kd_v = flat[e + 1].item<double>() * inv;
        ce_value = flat[e + 2].item<double>() * inv;
        feat_v = flat[e + 3].item<double>() * inv;
        stop_after = flat[e + 4].item<double>() > 0;
      }
      if (to.grad_clip > 0) torch::nn::utils::clip_grad_norm_(all_params, to.grad_clip);
      const double lr = learning_rate(to, step, total);
      for (auto& g : opt->param_groups())
        g.options().set_lr(lr);
      opt->step();
      ++step;
      ++rec.steps;
      samples += hi - lo;
      rec.loss += loss_v;
      rec.kd_loss += kd_v;
      rec.ce_loss += ce_value;
      rec.feature_loss += feat_v;
      if (progress) {
        const double el = train_seconds + seconds_since(t_epoch);
        const double rate = double(samples) / std::max(1e-9, seconds_since(t_epoch));
        std::ostringstream st;
        st << "epoch " << epoch << "/" << epochs << " loss " << std::fixed << std::setprecision(4)
           << rec.loss / double(rec.steps) << " " << std::setprecision(0) << rate
           << " samples/s ETA " << duration_str(el / double(step) * double(total - step));
        progress(step, total, st.str());
      }
      if (stop_after) {
        report.interrupted = true;
        break;
      }
    }
    if (group && rec.steps > 0) average_state(*group, bn_stats);
    rec.seconds = seconds_since(t_epoch);
    train_seconds += rec.seconds;
    rec.samples_per_second = double(samples) / std::max(1e-9, rec.seconds);
    if (rec.steps > 0) {
      rec.loss /= double(rec.steps);
      rec.kd_loss /= double(rec.steps);
      rec.ce_loss /= double(rec.steps);
      rec.feature_loss /= double(rec.steps);
    }
    rec.metric = nan;
    if (eval && rec.steps > 0) {
      rec.metric = evaluate_module(s_mod, *eval, options.metric, options.eval_batch_size,
                                   options.eval_limit, group);
      const bool better =
          std::isnan(report.best_metric) ||
          (higher ? rec.metric > report.best_metric : rec.metric < report.best_metric);
      if (better) {
        report.best_metric = rec.metric;
        report.best_epoch = epoch;
        if (options.keep_best) best_state = snapshot();
        stale = 0;
      } else if (options.patience > 0 && ++stale >= options.patience) {
        report.stopped_early = true;
      }
    }
    if (log)
      *log << "distill: epoch " << epoch << " loss " << rec.loss << " (kd " << rec.kd_loss
           << ", ce " << rec.ce_loss << ", features " << rec.feature_loss << ") " << options.metric
           << " " << rec.metric << " in " << rec.seconds << " s (" << rec.samples_per_second
           << " samples/s)\n";
    if (rec.steps > 0) report.epochs.push_back(rec);
  }
  (void)t_train;
  report.steps = step;
  if (!best_state.empty() && report.best_epoch == 0) {
    report.notes.push_back("no epoch beat the starting weights (" + options.metric + " " +
                           std::to_string(report.initial_metric) + "); they are kept");
    if (log) *log << "distill: " << report.notes.back() << "\n";
  }
  if (!best_state.empty()) {
    torch::NoGradGuard no_grad;
    size_t i = 0;
    for (auto& p : s_mod->parameters())
      p.copy_(best_state[i++]);
    for (auto& b : s_mod->buffers())
      b.copy_(best_state[i++]);
  } else {
    report.best_epoch = 0;
  }
  if (report.interrupted && log) *log << "distill: interrupted after step " << step << "\n";
  s_mod->write_back(student);
  report.seconds = seconds_since(t_run);
  return report;
}

} // namespace shrink
