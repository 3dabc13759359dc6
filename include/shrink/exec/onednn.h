#pragma once
/// \file
/// The oneDNN runtime: a fast `Executor` for fp32 and int8 inference on x86 CPUs.
///
/// The executor compiles a Graph once into a plan and runs the plan. Convolutions, MatMul and
/// Gemm become oneDNN primitives with fused post-ops (bias, activations, a residual Add, scalar
/// scaling); pooling, normalization, softmax, element-wise and broadcasting binary ops, Concat,
/// Transpose, QuantizeLinear and DequantizeLinear run on oneDNN too. Quantized graphs in ONNX QDQ
/// form (`DequantizeLinear -> Conv/MatMul/Gemm -> [activation] -> [Add] -> QuantizeLinear`)
/// become u8/s8 primitives with per-channel weight scales that stay int8 from one layer to the
/// next. Every other op runs on its reference kernel, one node at a time. docs/runtime.md lists
/// the patterns, the layouts and the accuracy contract.
///
/// ```cpp
/// shrink::OneDnnExecutor exec({/*threads=*/2});
/// std::vector<shrink::Tensor> out = exec.run(graph, {input});  // plans on the first call
/// out = exec.run(graph, {other_input});                        // reuses the plan
/// ```
///
/// An executor is not thread-safe: use one executor per thread.

#include "shrink/ir/interfaces.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace shrink {

/// Options of the oneDNN runtime.
struct OneDnnOptions {
  /// Worker threads for one `run`; 0 uses every core the process may run on.
  int threads = 0;
  /// Runs QDQ patterns as int8 primitives. When false, QDQ graphs run through the fp32 paths
  /// (QuantizeLinear/DequantizeLinear as separate steps), which is slower but still exact to the
  /// reference semantics.
  bool int8 = true;
  /// Lets oneDNN pick blocked layouts for convolutions and keeps them between oneDNN steps. When
  /// false every value is kept in plain row-major layout (useful for debugging).
  bool blocked_layouts = true;
  /// How many compiled plans (graph, version, input shapes, threads, fetch list) are kept.
  int plan_cache_size = 4;
  /// Also measures each step's process CPU time (`OneDnnStepInfo::cpu_seconds`). Reading the
  /// process CPU clock is a system call (about 1.4 us here, twice per step), which is a tenth of
  /// a batch-1 CNN run, so it is off unless a profile needs it; wall time per step is always
  /// measured (26 ns per clock read).
  bool step_cpu_time = false;
  /// The thread trial, with more than one thread: a step whose fastest all-thread run in the
  /// plan's first timed runs took under this many microseconds is timed on one thread too, and
  /// runs on one thread from then on when its fastest run there was faster (see
  /// `OneDnnStepInfo::serial` and docs/runtime.md, Threads). 0 keeps every step on all threads.
  double serial_below_us = 15.0;
  /// How fp32 3x3 convolutions (stride 1, no dilation, one group, at least 64 input and output
  /// channels) compute: `Auto` times the plan's runs with direct and with Winograd F(4x4, 3x3)
  /// convolutions and keeps the faster (`OneDnnPlanInfo::winograd`); `On` and `Off` decide
  /// without a trial. Winograd does 4x fewer multiplications on such layers and adds rounding
  /// error of the order of 1e-6 relative. With `Auto` the choice is timed, so outputs may differ
  /// in their last bits between a plan's first runs and between processes: use `Off` or `On`
  /// for bit-for-bit reproducible results.
  enum class Winograd { Auto, On, Off };
  Winograd winograd = Winograd::Auto;
};

/// One step of a compiled plan, for tests, reports and debugging.
struct OneDnnStepInfo {
  /// What runs: "conv", "int8 conv", "matmul", "int8 matmul", "pool", "int8 pool", "eltwise",
  /// "binary", "softmax", "layernorm", "batchnorm", "concat", "transpose", "quantize",
  /// "dequantize", "int8 table" (an activation between int8 tensors as a 256-entry lookup) or
  /// "reference" (the reference kernel of one node).
  std::string kind;
  /// The graph nodes the step covers, in program order (a fused step covers several).
  std::vector<std::string> nodes;
  /// Post-ops fused into the step, in order ("bias", "relu", "sum", "gelu_erf", "requantize",
  /// "batchnorm-folded", ...).
  std::vector<std::string> post_ops;
  /// The oneDNN implementation that runs the step (e.g. "brgconv:avx512_core"), once the step
  /// ran; empty for reference steps.
  std::string implementation;
  /// True when the step runs on one thread although the plan has more, because it was faster so
  /// in the plan's thread trial (`OneDnnOptions::serial_below_us`): waking a second thread and
  /// joining it costs about 5 us per step here, and at batch 1 a small convolution split over
  /// two cores also waits for the other core's half of its input.
  bool serial = false;
  /// The step's fastest wall time, in seconds, on all threads and on one thread in the thread
  /// trial; 0 when not measured.
  double trial_seconds = 0.0, trial_serial_seconds = 0.0;
  /// Why a oneDNN step runs its nodes on reference kernels instead, when oneDNN rejected it.
  std::string fallback_reason;
  /// Wall time spent in this step over `OneDnnPlanInfo::timed_runs` runs (every run of the plan
  /// but the first, which also creates the primitives and packs the weights; after a thread
  /// trial, the runs since it ended), in seconds, for profiling.
  double seconds = 0.0;
  /// CPU time of the whole process (every thread) spent in this step over the same runs, in
  /// seconds (0 unless `OneDnnOptions::step_cpu_time`). With passive OpenMP waiting it is about
  /// `threads` times the busy wall time, and it does not grow while other processes hold the cores,
  /// so it measures the step's work on a busy machine.
  double cpu_seconds = 0.0;
};

/// Statistics of the most recently used plan.
struct OneDnnPlanInfo {
  std::vector<OneDnnStepInfo> steps; ///< Steps in execution order.
  int64_t folded_nodes = 0; ///< Nodes evaluated once at planning because their inputs are constant.
  int64_t dead_nodes = 0;   ///< Nodes skipped because nothing needs their outputs.
  int64_t pool_buffers = 0; ///< Activation buffers the plan owns (reused across steps and runs).
  int64_t pool_bytes = 0;   ///< Bytes of those buffers.
  int64_t runs = 0;         ///< How many times the plan ran.
  /// The runs that step times (`OneDnnStepInfo::seconds`) cover: every run but the first, or,
  /// after a thread trial, the runs since it ended (the plan as it now runs).
  int64_t timed_runs = 0;
  /// True once the plan's tuning (the Winograd and thread trials of its first runs, see
  /// docs/runtime.md) is over: benchmarks time runs from then on.
  bool tuned = false;
  /// True when the plan's eligible fp32 3x3 convolutions run as Winograd convolutions.
  bool winograd = false;
  /// The fastest whole run with direct and with Winograd convolutions in the Winograd trial, in
  /// seconds; 0 when not measured.
  double trial_direct_seconds = 0.0, trial_winograd_seconds = 0.0;
  /// Number of steps whose `kind` is `kind`.
  int64_t count(const std::string& kind) const;
  /// A table of the steps, one per line, for printing.
  std::string str() const;
};

/// Executes graphs with oneDNN; see the file comment.
class OneDnnExecutor : public Executor {
public:
  /// Creates an executor; no plan is made until the first `run`.
  explicit OneDnnExecutor(OneDnnOptions options = {});
  ~OneDnnExecutor() override;
  OneDnnExecutor(const OneDnnExecutor&) = delete;
  OneDnnExecutor& operator=(const OneDnnExecutor&) = delete;

  /// "onednn".
  std::string name() const override;
  /// Runs `graph` (see `Executor::run`). Verifies the graph (throws `VerifyError` with every
  /// diagnostic) and checks the inputs (count, dtype, rank, known and symbolic dimensions) before
  /// anything runs. Plans on the first call for a given graph, graph version, set of input
  /// shapes, thread count and fetch list, and reuses that plan afterwards.
  std::vector<Tensor> run(const Graph& graph, const std::vector<Tensor>& inputs,
                          const std::vector<std::string>& fetch = {}) override;

  /// The options in use.
  const OneDnnOptions& options() const;
  /// Sets the number of threads (0 for all cores). Takes effect at the next `run`, which plans
  /// anew for the new thread count.
  void set_threads(int threads);
  /// The number of threads a `run` uses now (resolves 0 to the core count).
  int threads() const;
  /// How many plans this executor has compiled so far (a plan reused from the cache does not
  /// count). Tests use it to check that plans are reused and invalidated as documented.
  int64_t plans_compiled() const;
  /// The steps of the plan used by the last `run`; empty before the first run.
  OneDnnPlanInfo plan_info() const;
  /// Drops every cached plan (their primitives, packed weights and buffers).
  void clear_cache();

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace shrink
