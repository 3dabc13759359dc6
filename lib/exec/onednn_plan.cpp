// Planning: which nodes become which steps, what is dead, what is constant, and when each value's
// buffer can be reused.

#include "onednn_internal.h"

#include "shrink/ir/op_table.h"

#include <algorithm>
#include <cfloat>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <omp.h>
#include <sstream>

namespace shrink::onednn {

// ---- PlanBuilder -----------------------------------------------------------------------------

PlanBuilder::PlanBuilder(const Graph& g, const std::vector<std::string>& fetch,
                         const OneDnnOptions& opts, Runtime& runtime)
    : graph(g), options(opts), rt(runtime) {
  for (const Value* v : graph.outputs())
    escaping_.insert(v);
  for (const std::string& name : fetch) {
    const Value* v = graph.find_value(name);
    if (!v)
      throw Error("onednn runtime: cannot fetch '" + name + "': graph '" + graph.name() +
                  "' has no value of that name");
    escaping_.insert(v);
  }
  int pos = 0;
  for (const Node* n : graph.nodes())
    position_[n] = pos++;
}

const Tensor* PlanBuilder::constant(const Value* v) {
  if (!v) return nullptr;
  if (v->is_initializer()) return &v->initializer();
  auto it = constants_.find(v);
  if (it != constants_.end()) return it->second ? &*it->second : nullptr;
  const Node* p = v->producer();
  if (!p) {
    constants_[v] = std::nullopt;
    return nullptr;
  }
  // A value is constant when every input of its producer is; the answer is memoized, so each
  // node is evaluated at most once per plan.
  std::vector<const Tensor*> ins;
  for (const Value* in : p->inputs()) {
    if (!in) {
      ins.push_back(nullptr);
      continue;
    }
    const Tensor* t = constant(in);
    if (!t) {
      for (const Value* out : p->outputs())
        constants_[out] = std::nullopt;
      return nullptr;
    }
    ins.push_back(t);
  }
  std::vector<Tensor> outs;
  try {
    outs = evaluate_node(*p, ins);
  } catch (const Error&) {
    // Leave the node to run (and report its error) at run time.
    for (const Value* out : p->outputs())
      constants_[out] = std::nullopt;
    return nullptr;
  }
  for (int i = 0; i < p->num_outputs(); ++i) {
    const Value* out = p->output(i);
    if (i >= static_cast<int>(outs.size())) {
      constants_[out] = std::nullopt;
      continue;
    }
    constants_[out] = outs[i];
    Slot& s = rt.slots[rt.slot(out)];
    rt.define_tensor(rt.slot(out), outs[i]);
    s.constant = true;
  }
  auto found = constants_.find(v);
  return found->second ? &*found->second : nullptr;
}

const Node* PlanBuilder::sole_user(const Value* v) const {
  if (!v || escapes(v) || v->uses().size() != 1) return nullptr;
  return v->uses()[0].node;
}

void PlanBuilder::finish(Step& step, const std::vector<const Value*>& outputs) {
  std::sort(step.nodes.begin(), step.nodes.end(),
            [&](const Node* a, const Node* b) { return position(a) < position(b); });
  step.nodes.erase(std::unique(step.nodes.begin(), step.nodes.end()), step.nodes.end());
  std::unordered_set<const Value*> produced;
  for (const Node* n : step.nodes)
    for (const Value* out : n->outputs())
      produced.insert(out);
  step.inputs.clear();
  for (const Node* n : step.nodes)
    for (const Value* in : n->inputs()) {
      if (!in || produced.count(in)) continue;
      const int id = slot(in);
      if (std::find(step.inputs.begin(), step.inputs.end(), id) == step.inputs.end())
        step.inputs.push_back(id);
    }
  step.position = 0;
  for (const Node* n : step.nodes)
    step.position = std::max(step.position, position(n));
  step.outputs.clear();
  for (const Value* v : outputs)
    step.outputs.push_back(slot(v));
  step.info.nodes.clear();
  for (const Node* n : step.nodes)
    step.info.nodes.push_back(n->name());
}

// ---- quantization parameters and eltwise ops ---------------------------------------------------

std::optional<QParams> read_qparams(PlanBuilder& b, const Node& node) {
  if (node.attr_int("block_size", 0) != 0) return std::nullopt;
  const Tensor* s = b.constant(node.input(1));
  if (!s || s->dtype() != DType::f32 || s->numel() == 0) return std::nullopt;
  const Tensor* z = nullptr;
  if (node.input(2)) {
    z = b.constant(node.input(2));
    if (!z || z->numel() != s->numel()) return std::nullopt;
  }
  QParams q;
  for (int64_t i = 0; i < s->numel(); ++i) {
    const float scale = static_cast<float>(s->at(i));
    if (!(scale > 0.f) || !std::isfinite(scale)) return std::nullopt;
    q.scales.push_back(scale);
    q.zero_points.push_back(z ? static_cast<int32_t>(z->at(i)) : 0);
  }
  if (z) {
    q.qtype = z->dtype();
  } else if (node.op() == "QuantizeLinear") {
    q.qtype = DType::u8;
  } else if (const Tensor* x = b.constant(node.input(0))) {
    q.qtype = x->dtype();
  } else {
    q.qtype = DType::f32; // unknown until run time
  }
  if (q.qtype != DType::u8 && q.qtype != DType::i8 && q.qtype != DType::i32 &&
      q.qtype != DType::f32)
    return std::nullopt;
  if (s->numel() > 1) {
    int rank = -1;
    if (const Tensor* x = b.constant(node.input(0)))
      rank = x->rank();
    else if (node.input(0)->type().ranked())
      rank = node.input(0)->type().rank();
    int axis = static_cast<int>(node.attr_int("axis", 1));
    if (axis < 0) {
      if (rank < 0) return std::nullopt;
      axis += rank;
    }
    q.axis = axis;
  }
  return q;
}

const Node* dq_producer(PlanBuilder& b, const Value* v) {
  if (!v) return nullptr;
  const Node* p = v->producer();
  if (!p || p->op() != "DequantizeLinear") return nullptr;
  if (!read_qparams(b, *p)) return nullptr;
  return p;
}

std::optional<EltwiseOp> eltwise_of(PlanBuilder& b, const Node& n) {
  const std::string& op = n.op();
  if (n.num_outputs() != 1) return std::nullopt;
  if (op == "Relu") return EltwiseOp{algorithm::eltwise_relu, 0.f, 0.f, "relu"};
  if (op == "LeakyRelu")
    return EltwiseOp{algorithm::eltwise_relu, n.attr_float("alpha", 0.01f), 0.f, "leaky_relu"};
  if (op == "Sigmoid") return EltwiseOp{algorithm::eltwise_logistic, 0.f, 0.f, "sigmoid"};
  if (op == "Tanh") return EltwiseOp{algorithm::eltwise_tanh, 0.f, 0.f, "tanh"};
  if (op == "HardSwish") return EltwiseOp{algorithm::eltwise_hardswish, 0.f, 0.f, "hardswish"};
  if (op == "Abs") return EltwiseOp{algorithm::eltwise_abs, 0.f, 0.f, "abs"};
  if (op == "Sqrt") return EltwiseOp{algorithm::eltwise_sqrt, 0.f, 0.f, "sqrt"};
  if (op == "Exp") return EltwiseOp{algorithm::eltwise_exp, 0.f, 0.f, "exp"};
  if (op == "Log") return EltwiseOp{algorithm::eltwise_log, 0.f, 0.f, "log"};
  if (op == "Neg") return EltwiseOp{algorithm::eltwise_linear, -1.f, 0.f, "neg"};
  if (op == "Reciprocal") return EltwiseOp{algorithm::eltwise_pow, 1.f, -1.f, "reciprocal"};
  if (op == "Gelu") {
    const std::string approx = n.attr_string("approximate", "none");
    if (approx == "none") return EltwiseOp{algorithm::eltwise_gelu_erf, 0.f, 0.f, "gelu_erf"};
    if (approx == "tanh") return EltwiseOp{algorithm::eltwise_gelu_tanh, 0.f, 0.f, "gelu_tanh"};
    return std::nullopt;
  }
  if (op == "Clip") {
    float lo = n.attr_float("min", -FLT_MAX);
    float hi = n.attr_float("max", FLT_MAX);
    for (int i = 1; i <= 2; ++i) {
      const Value* v = n.input(i);
      if (!v) continue;
      const Tensor* t = b.constant(v);
      if (!t || t->numel() != 1 || !is_float(t->dtype())) return std::nullopt;
      (i == 1 ? lo : hi) = static_cast<float>(t->at(0));
    }
    const bool relu6 = lo == 0.f && hi == 6.f;
    return EltwiseOp{algorithm::eltwise_clip, lo, hi, relu6 ? "relu6" : "clip"};
  }
  return std::nullopt;
}

// ---- Plan ------------------------------------------------------------------------------------

Plan::Plan(const Graph& graph, const std::vector<std::string>& fetch,
           const OneDnnOptions& options) {
  rt_.blocked_layouts = options.blocked_layouts;
  rt_.winograd = options.winograd == OneDnnOptions::Winograd::On;
  step_cpu_time_ = options.step_cpu_time;
  serial_below_seconds_ = options.serial_below_us * 1e-6;
  auto add_slot = [&](const Value* v) {
    if (rt_.slot_of.count(v)) return;
    rt_.slot_of[v] = static_cast<int>(rt_.slots.size());
    rt_.slots.emplace_back();
    rt_.slots.back().value = v;
  };
  for (const Value* v : graph.inputs())
    add_slot(v);
  for (const Value* v : graph.initializers())
    add_slot(v);
  const std::vector<Node*> nodes = graph.nodes();
  for (const Node* n : nodes)
    for (const Value* v : n->outputs())
      add_slot(v);
  for (const Value* v : graph.initializers()) {
    const int id = rt_.slot(v);
    rt_.define_tensor(id, v->initializer());
    rt_.slots[id].constant = true;
  }

  PlanBuilder b(graph, fetch, options, rt_);
  for (Slot& s : rt_.slots)
    s.escapes = b.escapes(s.value);

  std::vector<std::unique_ptr<Step>> steps;
  for (const Node* n : nodes) {
    if (b.claimed(n)) continue;
    std::unique_ptr<Step> step = match_conv(b, *n);
    if (!step) step = match_matmul(b, *n);
    if (!step) step = match_table(b, *n);
    if (!step) step = match_simple(b, *n);
    if (!step) {
      step = std::make_unique<ReferenceStep>();
      step->nodes = {n};
      step->info.kind = "reference";
      b.claim(n);
      b.finish(*step, std::vector<const Value*>(n->outputs().begin(), n->outputs().end()));
    }
    steps.push_back(std::move(step));
  }
  std::stable_sort(steps.begin(), steps.end(),
                   [](const auto& a, const auto& c) { return a->position < c->position; });

  // Keep only steps whose outputs someone needs (graph outputs, fetched values, kept steps).
  std::vector<char> needed(rt_.slots.size(), 0);
  for (const Value* v : graph.outputs())
    needed[rt_.slot(v)] = 1;
  for (const std::string& name : fetch)
    needed[rt_.slot(graph.find_value(name))] = 1;
  std::vector<char> keep(steps.size(), 0);
  for (int i = static_cast<int>(steps.size()) - 1; i >= 0; --i) {
    for (int out : steps[i]->outputs)
      if (needed[out]) keep[i] = 1;
    if (keep[i])
      for (int in : steps[i]->inputs)
        needed[in] = 1;
  }
  std::unordered_set<const Node*> kept_nodes;
  for (size_t i = 0; i < steps.size(); ++i)
    if (keep[i]) kept_nodes.insert(steps[i]->nodes.begin(), steps[i]->nodes.end());
  std::unordered_set<const Node*> dead_nodes;
  for (size_t i = 0; i < steps.size(); ++i)
    if (!keep[i])
      for (const Node* n : steps[i]->nodes)
        if (!kept_nodes.count(n)) dead_nodes.insert(n);
  dead_ = static_cast<int64_t>(dead_nodes.size());

  // Steps whose outputs are all constant are evaluated now, once.
  for (size_t i = 0; i < steps.size(); ++i) {
    if (!keep[i]) continue;
    bool all_constant = !steps[i]->outputs.empty();
    for (int out : steps[i]->outputs)
      if (!rt_.slots[out].constant && !b.constant(rt_.slots[out].value)) all_constant = false;
    if (all_constant) {
      folded_ += static_cast<int64_t>(steps[i]->nodes.size());
      continue;
    }
    steps_.push_back(std::move(steps[i]));
  }

  // Lifetimes: a value's buffer goes back to the pool after its last reader.
  std::vector<int> last_use(rt_.slots.size(), -1);
  std::vector<int> producer(rt_.slots.size(), -1);
  for (size_t i = 0; i < steps_.size(); ++i) {
    for (int in : steps_[i]->inputs)
      last_use[in] = static_cast<int>(i);
    for (int out : steps_[i]->outputs)
      producer[out] = static_cast<int>(i);
  }
  for (size_t id = 0; id < rt_.slots.size(); ++id) {
    const Slot& s = rt_.slots[id];
    if (s.constant || s.escapes) continue;
    const int at = last_use[id] >= 0 ? last_use[id] : producer[id];
    if (at >= 0) steps_[at]->release_after.push_back(static_cast<int>(id));
  }
  for (size_t i = 0; i < steps_.size(); ++i)
    steps_[i]->finalize(last_use, rt_.slots, static_cast<int>(i));

  if (options.winograd == OneDnnOptions::Winograd::Auto)
    for (const auto& step : steps_)
      for (const Node* n : step->nodes)
        if (step->info.kind == "conv" && winograd_eligible(b, *n)) winograd_trial_ = true;

  for (const Value* v : graph.inputs())
    input_slots_.push_back(rt_.slot(v));
  for (const Value* v : graph.outputs())
    result_slots_.push_back(rt_.slot(v));
  for (const std::string& name : fetch)
    result_slots_.push_back(rt_.slot(graph.find_value(name)));
}

namespace {

// CPU time of every thread of the process: unlike wall time, it does not grow while other
// processes hold the cores, so profiles stay comparable on a busy machine.
double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

} // namespace

std::vector<Tensor> Plan::run(const std::vector<Tensor>& inputs) {
  ++runs_;
  auto cleanup = [&] {
    for (size_t id = 0; id < rt_.slots.size(); ++id)
      rt_.release(static_cast<int>(id));
  };
  try {
    for (size_t i = 0; i < input_slots_.size(); ++i)
      rt_.define_tensor(input_slots_[i], inputs[i]);
    // The executor set the plan's thread count. oneDNN's simple primitives (eltwise, binary,
    // pooling, reorders) and the reference kernels size their parallel regions by it at run
    // time, so lowering it around a serial step keeps the second thread asleep there.
    const int threads = omp_get_max_threads();
    threads_ = threads;
    // Tuning, in the plan's first runs (run 1 plans and is never timed):
    //   runs 2-4  every step on all threads, direct convolutions; with a Winograd trial
    //             (OneDnnOptions::winograd is Auto and a convolution qualifies), runs 2-9
    //             alternate direct (even runs) and Winograd (odd runs; run 3 creates the
    //             Winograd primitives and is not counted), and the faster whole run decides;
    //   4 runs    the thread trial (OneDnnOptions::serial_below_us): steps whose fastest
    //             all-thread run was short run on one thread (the first of the 4 runs creates
    //             their primitives and is not counted); each keeps the faster way.
    // Each side keeps its fastest run, so that another process taking a core for a moment does
    // not decide, and alternating keeps a clock still ramping up from favouring either side.
    const int64_t r = runs_;
    const bool tuning_all = r >= 2 && r <= all_threads_done();
    const int64_t serial_from = all_threads_done() + 1;
    if (winograd_trial_ && tuning_all) rt_.winograd = r % 2 == 1;
    const bool direct_run = tuning_all && !rt_.winograd;
    const bool winograd_run = tuning_all && rt_.winograd && r > 3;
    const bool serial_phase = thread_trial() && r >= serial_from && r <= settled();
    auto keep_min = [](double& best, double seconds) {
      best = best > 0 ? std::min(best, seconds) : seconds;
    };
    const auto run_start = std::chrono::steady_clock::now();
    for (const auto& step : steps_) {
      const auto start = std::chrono::steady_clock::now();
      const double cpu_start = step_cpu_time_ ? process_cpu_seconds() : 0.0;
      const bool serial = threads > 1 && (serial_phase ? step->serial_trial : step->info.serial);
      if (serial) omp_set_num_threads(1);
      step->run(rt_);
      if (serial) omp_set_num_threads(threads);
      if (r > 1) {
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        step->info.seconds += seconds;
        if (direct_run) keep_min(step->best_direct, seconds);
        if (winograd_run) keep_min(step->best_winograd, seconds);
        if (serial_phase && r > serial_from && step->serial_trial)
          keep_min(step->info.trial_serial_seconds, seconds);
        if (step_cpu_time_) step->info.cpu_seconds += process_cpu_seconds() - cpu_start;
      }
      for (int id : step->release_after)
        rt_.release(id);
    }
    const double run_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
    if (direct_run) keep_min(trial_direct_, run_seconds);
    if (winograd_run) keep_min(trial_winograd_, run_seconds);
    if (r == all_threads_done()) {
      if (winograd_trial_) rt_.winograd = trial_winograd_ < trial_direct_;
      if (thread_trial())
        for (const auto& step : steps_) {
          step->info.trial_seconds =
              rt_.winograd && step->best_winograd > 0 ? step->best_winograd : step->best_direct;
          step->serial_trial = step->info.trial_seconds < serial_below_seconds_;
        }
    }
    if (r > 1) ++timed_runs_;
    if (r == settled() && r > 1) {
      // The plan is settled: profiles count from here.
      timed_runs_ = 0;
      for (const auto& step : steps_) {
        step->info.serial =
            step->serial_trial && step->info.trial_serial_seconds < step->info.trial_seconds;
        step->info.seconds = step->info.cpu_seconds = 0;
      }
    }
    std::vector<Tensor> results;
    results.reserve(result_slots_.size());
    last_results_.resize(result_slots_.size());
    for (size_t i = 0; i < result_slots_.size(); ++i) {
      const int id = result_slots_[i];
      const Slot& s = rt_.live(id);
      const Tensor& t = rt_.plain(id);
      // Pool buffers are overwritten by the next run, and inputs and initializers belong to
      // someone else: the caller gets its own copy of anything but a fresh kernel output. The
      // copy goes into last run's result when the caller has let go of it: fresh memory costs
      // a page fault per 4 KiB on first touch (several ms per MB on virtual machines), which
      // would otherwise be paid on every run for large outputs.
      Tensor& last = last_results_[i];
      if (s.plain && s.owned) {
        results.push_back(t);
      } else if (last.numel() > 0 && last.storage_unique() && last.dtype() == t.dtype() &&
                 last.nbytes() == t.nbytes()) {
        Tensor reused = last.reshaped(t.shape());
        std::memcpy(reused.raw_mutable(), t.raw(), t.nbytes());
        reused.set_quant(t.quant());
        results.push_back(std::move(reused));
      } else {
        results.push_back(t.clone());
      }
      last = results.back();
    }
    cleanup();
    return results;
  } catch (...) {
    cleanup();
    throw;
  }
}

OneDnnPlanInfo Plan::info() const {
  OneDnnPlanInfo info;
  for (const auto& step : steps_)
    info.steps.push_back(step->info);
  info.folded_nodes = folded_;
  info.dead_nodes = dead_;
  info.pool_buffers = rt_.pool.count();
  info.pool_bytes = rt_.pool.bytes();
  info.runs = runs_;
  info.timed_runs = timed_runs_;
  info.tuned = runs_ >= settled();
  info.winograd = rt_.winograd;
  info.trial_direct_seconds = trial_direct_;
  info.trial_winograd_seconds = trial_winograd_;
  return info;
}

} // namespace shrink::onednn
