// OneDnnExecutor: input checks, the plan cache and thread control. Planning is in
// onednn_plan.cpp, the steps in onednn_conv.cpp, onednn_matmul.cpp and onednn_ops.cpp.

#include "shrink/exec/onednn.h"

#include "onednn_internal.h"

#include "shrink/ir/verifier.h"

#include <omp.h>

#include <cstring>
#include <iomanip>
#include <list>
#include <map>
#include <sstream>

namespace shrink {

int64_t OneDnnPlanInfo::count(const std::string& kind) const {
  int64_t n = 0;
  for (const OneDnnStepInfo& s : steps)
    if (s.kind == kind) ++n;
  return n;
}

std::string OneDnnPlanInfo::str() const {
  std::ostringstream out;
  for (size_t i = 0; i < steps.size(); ++i) {
    const OneDnnStepInfo& s = steps[i];
    out << std::setw(3) << i << "  " << std::left << std::setw(12) << s.kind << std::right;
    for (size_t j = 0; j < s.nodes.size(); ++j)
      out << (j ? "," : "") << s.nodes[j];
    if (!s.post_ops.empty()) {
      out << "  [";
      for (size_t j = 0; j < s.post_ops.size(); ++j)
        out << (j ? " " : "") << s.post_ops[j];
      out << "]";
    }
    if (!s.implementation.empty()) out << "  " << s.implementation;
    if (s.serial) out << "  serial";
    if (timed_runs > 0)
      out << "  " << std::fixed << std::setprecision(3) << 1e3 * s.seconds / timed_runs << " ms/run"
          << std::defaultfloat;
    if (!s.fallback_reason.empty()) out << "  (reference: " << s.fallback_reason << ")";
    out << "\n";
  }
  out << "folded " << folded_nodes << ", dead " << dead_nodes << ", buffers " << pool_buffers
      << " (" << pool_bytes << " bytes), runs " << runs;
  if (trial_direct_seconds > 0 && trial_winograd_seconds > 0)
    out << ", winograd trial " << std::fixed << std::setprecision(3) << 1e3 * trial_direct_seconds
        << " ms direct / " << 1e3 * trial_winograd_seconds << " ms winograd" << std::defaultfloat;
  out << (winograd ? ", winograd on" : "") << "\n";
  return out.str();
}

namespace {

struct PlanKey {
  const Graph* graph = nullptr;
  uint64_t version = 0; ///< Unique in the process: a rebuilt or edited graph gets a new one.
  std::vector<Shape> shapes;
  std::vector<DType> dtypes;
  int threads = 0;
  std::vector<std::string> fetch;
  bool operator==(const PlanKey& o) const {
    return graph == o.graph && version == o.version && shapes == o.shapes && dtypes == o.dtypes &&
           threads == o.threads && fetch == o.fetch;
  }
};

std::string type_of(const Tensor& t) {
  return std::string(dtype_name(t.dtype())) + shape_str(t.shape());
}

void check_inputs(const Graph& graph, const std::vector<Tensor>& inputs) {
  if (inputs.size() != graph.inputs().size()) {
    std::string names;
    for (const Value* v : graph.inputs())
      names += (names.empty() ? "" : ", ") + v->name();
    throw Error("onednn runtime: graph '" + graph.name() + "' takes " +
                std::to_string(graph.inputs().size()) + " input(s) (" + names + "), got " +
                std::to_string(inputs.size()));
  }
  std::map<std::string, std::pair<int64_t, std::string>> symbols;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value* v = graph.inputs()[i];
    const Tensor& t = inputs[i];
    const TensorType& type = v->type();
    // Built only for an error: this runs before every run.
    auto what = [&] {
      return "onednn runtime: input '" + v->name() + "' of graph '" + graph.name() + "' expects " +
             type.str() + ", got " + type_of(t);
    };
    if (t.dtype() != type.dtype) throw Error(what() + " (wrong element type)");
    if (!type.ranked()) continue;
    if (type.rank() != t.rank()) throw Error(what() + " (wrong rank)");
    for (int d = 0; d < t.rank(); ++d) {
      const Dim& dim = (*type.dims)[d];
      const int64_t have = t.shape()[d];
      if (dim.is_known() && dim.value != have)
        throw Error(what() + " (dimension " + std::to_string(d) + " is " + std::to_string(have) +
                    ", expected " + std::to_string(dim.value) + ")");
      if (dim.is_symbolic()) {
        auto it = symbols.find(dim.symbol);
        if (it == symbols.end()) {
          symbols[dim.symbol] = {have, v->name()};
        } else if (it->second.first != have) {
          throw Error(what() + " (dimension " + dim.symbol + " is " + std::to_string(have) +
                      " here but " + std::to_string(it->second.first) + " in input '" +
                      it->second.second + "')");
        }
      }
    }
  }
}

// Sets the OpenMP thread count oneDNN uses for the duration of a run.
class ThreadScope {
public:
  explicit ThreadScope(int threads) : saved_(omp_get_max_threads()) {
    omp_set_num_threads(threads);
  }
  ~ThreadScope() { omp_set_num_threads(saved_); }
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

private:
  int saved_;
};

} // namespace

struct OneDnnExecutor::Impl {
  OneDnnOptions options;
  int64_t plans_compiled = 0;
  std::list<std::pair<PlanKey, std::unique_ptr<onednn::Plan>>> cache; // most recent first
  onednn::Plan* last = nullptr;
};

OneDnnExecutor::OneDnnExecutor(OneDnnOptions options) : impl_(std::make_unique<Impl>()) {
  if (options.threads < 0)
    throw Error("onednn runtime: threads must be >= 0 (0 = all cores), got " +
                std::to_string(options.threads));
  if (options.plan_cache_size < 1) options.plan_cache_size = 1;
  impl_->options = options;
}

OneDnnExecutor::~OneDnnExecutor() = default;

std::string OneDnnExecutor::name() const {
  return "onednn";
}

const OneDnnOptions& OneDnnExecutor::options() const {
  return impl_->options;
}

void OneDnnExecutor::set_threads(int threads) {
  if (threads < 0)
    throw Error("onednn runtime: threads must be >= 0 (0 = all cores), got " +
                std::to_string(threads));
  impl_->options.threads = threads;
}

int OneDnnExecutor::threads() const {
  return impl_->options.threads > 0 ? impl_->options.threads : omp_get_num_procs();
}

int64_t OneDnnExecutor::plans_compiled() const {
  return impl_->plans_compiled;
}

OneDnnPlanInfo OneDnnExecutor::plan_info() const {
  return impl_->last ? impl_->last->info() : OneDnnPlanInfo{};
}

void OneDnnExecutor::clear_cache() {
  impl_->cache.clear();
  impl_->last = nullptr;
}

std::vector<Tensor> OneDnnExecutor::run(const Graph& graph, const std::vector<Tensor>& inputs,
                                        const std::vector<std::string>& fetch) {
  PlanKey key;
  key.graph = &graph;
  key.version = graph.version();
  for (const Tensor& t : inputs) {
    key.shapes.push_back(t.shape());
    key.dtypes.push_back(t.dtype());
  }
  key.threads = threads();
  key.fetch = fetch;

  ThreadScope scope(key.threads);
  onednn::Plan* plan = nullptr;
  for (auto it = impl_->cache.begin(); it != impl_->cache.end(); ++it) {
    if (it->first == key) {
      impl_->cache.splice(impl_->cache.begin(), impl_->cache, it);
      plan = impl_->cache.front().second.get();
      break;
    }
  }
  // A cached plan was made for a verified graph of this version and these input shapes; only
  // a new plan needs verification.
  if (plan) {
    check_inputs(graph, inputs);
  } else {
    verify_or_throw(graph);
    check_inputs(graph, inputs);
    std::unique_ptr<onednn::Plan> fresh;
    try {
      fresh = std::make_unique<onednn::Plan>(graph, fetch, impl_->options);
    } catch (const dnnl::error& e) {
      throw Error(std::string("onednn runtime: while planning graph '") + graph.name() +
                  "': " + e.what());
    }
    ++impl_->plans_compiled;
    impl_->cache.emplace_front(std::move(key), std::move(fresh));
    while (static_cast<int>(impl_->cache.size()) > impl_->options.plan_cache_size)
      impl_->cache.pop_back();
    plan = impl_->cache.front().second.get();
  }
  impl_->last = plan;
  try {
    return plan->run(inputs);
  } catch (const dnnl::error& e) {
    throw Error(std::string("onednn runtime: while running graph '") + graph.name() +
                "': " + e.what());
  }
}

} // namespace shrink
