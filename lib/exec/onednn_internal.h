#pragma once
// Internals of the oneDNN runtime, shared by lib/exec/onednn*.cpp. This is the only header that
// includes oneDNN; nothing outside lib/exec sees it.
//
// A plan is a list of Steps over Slots. A Slot is where one graph value lives during a run: a
// plain row-major Tensor, or a buffer in a layout oneDNN chose (`desc`). A Step covers one or
// more nodes (a fused group) and reads and defines slots. Steps create their oneDNN primitives
// lazily, the first time they run with given input shapes and layouts, and keep them; weights are
// reordered into the primitive's layout at that moment, once. Activation buffers come from a
// reference-counted pool owned by the plan, so after the first run a plan allocates nothing for
// the values oneDNN produces.

#include "shrink/core/error.h"
#include "shrink/core/tensor.h"
#include "shrink/exec/onednn.h"
#include "shrink/ir/graph.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace shrink::onednn {

using MemDesc = dnnl::memory::desc;
using dnnl::algorithm;
using dt = dnnl::memory::data_type;

// ---- small helpers ---------------------------------------------------------------------------

/// "node 'conv3' (Conv)".
std::string node_label(const Node& node);
/// True when oneDNN has a data type for `dtype` (f32, bf16, f16, s8, u8, s32).
bool has_dnnl_type(DType dtype);
/// The oneDNN data type of `dtype`; throws for types oneDNN lacks.
dt dnnl_type(DType dtype);
/// oneDNN dims of a shape (a scalar becomes {1}).
dnnl::memory::dims to_dims(const Shape& shape);
/// A plain row-major descriptor.
MemDesc plain_desc(const Shape& shape, DType dtype);
/// A plain row-major descriptor of raw dims.
MemDesc plain_desc(const dnnl::memory::dims& dims, dt type);
/// `desc` with another data type of the same layout.
MemDesc with_type(const MemDesc& desc, dt type);
/// Dims of `shape` with leading 1s so that it has `rank` dimensions.
dnnl::memory::dims pad_rank(const Shape& shape, int rank);
/// True when every dim of `src1` equals the one of `dst` or is 1 (oneDNN's broadcast rule).
bool broadcasts_to(const dnnl::memory::dims& src1, const dnnl::memory::dims& dst);
/// The thread count oneDNN uses for primitives created now (OpenMP's current maximum). Conv and
/// matmul primitives keep the count they were created with, so it is part of their preparation
/// key: a step that goes serial gets primitives created for one thread.
int current_threads();
/// Pointer for oneDNN to read (oneDNN takes non-const handles even for inputs).
inline void* handle(const Tensor& t) {
  return const_cast<void*>(t.raw());
}

/// Thrown while preparing a step when oneDNN cannot run it for the given shapes; the step then
/// runs its nodes on reference kernels.
class PrepareFailure : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// ---- buffers and slots -----------------------------------------------------------------------

/// Reference-counted activation buffers. A buffer is reused for another value once nothing refers
/// to it; requests are matched by dtype and element count, so identical runs reuse the same
/// buffers in the same order and allocate nothing after the first run.
class BufferPool {
public:
  /// A buffer of `numel` elements of `dtype` with one reference.
  int acquire(DType dtype, int64_t numel);
  /// The tensor of buffer `id` (1-D).
  const Tensor& tensor(int id) const { return buffers_[id].tensor; }
  /// Adds a reference.
  void retain(int id) { ++buffers_[id].refs; }
  /// Drops a reference; the buffer becomes free at zero.
  void release(int id);
  /// References held on buffer `id`.
  int refs(int id) const { return buffers_[id].refs; }
  /// Number of buffers owned.
  int64_t count() const { return static_cast<int64_t>(buffers_.size()); }
  /// Bytes owned.
  int64_t bytes() const;

private:
  struct Buffer {
    Tensor tensor;
    int refs = 0;
  };
  std::vector<Buffer> buffers_;
  std::vector<int> free_;
};

/// Where one graph value lives during a run.
struct Slot {
  const Value* value = nullptr;
  bool constant = false; ///< Fixed at planning (initializer or folded constant).
  bool escapes = false;  ///< A graph output or fetched value: kept to the end of the run.
  bool live = false;     ///< Defined in the current run (always true for constants).
  DType dtype = DType::f32;
  Shape shape;
  Tensor data;           ///< Storage: the value itself when `plain`, else a padded 1-D buffer.
  MemDesc desc;          ///< The layout of `data`.
  bool plain = true;     ///< `data` is a row-major tensor with the value's dtype and shape.
  int buffer = -1;       ///< Pool buffer that holds `data`, -1 when not pool-owned.
  Tensor plain_copy;     ///< Plain copy of a blocked value, made when someone needs it.
  int plain_buffer = -1; ///< Pool buffer of `plain_copy`.
  bool has_plain_copy = false;
  bool owned = false; ///< `data` is a fresh tensor nothing else refers to (a kernel output).
};

/// Caches reorder primitives by (source, destination) descriptor.
class ReorderCache {
public:
  /// The reorder from `src` to `dst` (optionally with attributes, keyed by `key`).
  dnnl::reorder get(const dnnl::engine& engine, const MemDesc& src, const MemDesc& dst,
                    const dnnl::primitive_attr& attr = {}, int key = 0);

private:
  struct Entry {
    MemDesc src, dst;
    int key;
    dnnl::reorder prim;
  };
  std::vector<Entry> entries_;
};

/// The run-time state of a plan: engine, stream, slots and buffers.
class Runtime {
public:
  Runtime();
  dnnl::engine engine;
  dnnl::stream stream;
  std::vector<Slot> slots;
  std::unordered_map<const Value*, int> slot_of;
  BufferPool pool;
  ReorderCache plain_reorders; ///< Reorders that make plain copies of blocked values.
  bool blocked_layouts = true;
  /// Eligible fp32 3x3 convolutions are created as Winograd convolutions now (see
  /// OneDnnOptions::winograd); part of a conv step's preparation key.
  bool winograd = false;

  /// The slot of `v`; throws when `v` has none.
  int slot(const Value* v) const;
  /// Slot `id`, which must be defined in this run.
  Slot& live(int id);

  /// Defines `id` as the plain tensor `t` (not pool-owned unless `buffer` is given; `owned`
  /// when nothing else refers to `t`'s storage).
  void define_tensor(int id, Tensor t, int buffer = -1, bool owned = false);
  /// Defines `id` with fresh pool storage laid out as `desc` and returns its memory.
  dnnl::memory define(int id, DType dtype, const Shape& shape, const MemDesc& desc);
  /// Defines `dst` with the storage of `src`, which must die at this step (in-place update).
  dnnl::memory adopt(int dst, int src, const Shape& shape, const MemDesc& desc);
  /// The value of `id` as a plain tensor, converting a blocked value once per run.
  const Tensor& plain(int id);
  /// The value of `id` in its current layout.
  dnnl::memory memory(int id);
  /// The value of `id` laid out as `want`; reorders into a scratch buffer when the layout differs.
  /// Scratch buffers are appended to `scratch` and must be released by the caller.
  dnnl::memory memory_as(int id, const MemDesc& want, ReorderCache& cache,
                         std::vector<int>& scratch);
  /// A scratch pool buffer of at least `bytes` bytes.
  int scratch_buffer(size_t bytes);
  /// Ends the life of `id` in this run (its buffers go back to the pool).
  void release(int id);
};

/// Scratch pool buffers of one step execution, released when it ends (also on exceptions).
struct Scratch {
  explicit Scratch(Runtime& runtime) : rt(runtime) {}
  ~Scratch() {
    for (int id : ids)
      rt.pool.release(id);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  Runtime& rt;
  std::vector<int> ids;
};

// ---- steps -----------------------------------------------------------------------------------

/// One step of a plan. Covers `nodes` (program order), reads the external `inputs`, defines
/// `outputs`.
class Step {
public:
  virtual ~Step() = default;
  /// Runs the step (preparing primitives when the input shapes changed).
  void run(Runtime& rt);
  /// Runs the covered nodes on their reference kernels.
  void run_reference(Runtime& rt);
  /// Called once the plan is laid out: `last_use[slot]` is the index of the last step reading
  /// the slot (-1 for none); `self` is this step's index. Steps with a residual sum use it to
  /// decide whether the residual's buffer may be overwritten.
  virtual void finalize(const std::vector<int>& last_use, const std::vector<Slot>& slots,
                        int self) {}

  OneDnnStepInfo info;
  std::vector<const Node*> nodes;
  std::vector<int> inputs;
  std::vector<int> outputs;
  std::vector<int> release_after; ///< Slots whose last use is this step.
  int position = 0;               ///< Program position of the last covered node.
  bool serial_trial = false;      ///< Timed on one thread in the plan's thread trial.
  double best_direct = 0.0;       ///< Fastest all-thread run in the tuning runs (direct convs).
  double best_winograd = 0.0;     ///< The same with Winograd convolutions.

protected:
  /// The accelerated implementation. Throws PrepareFailure (or dnnl::error) to fall back.
  virtual void execute(Runtime& rt) = 0;
  /// True when this step is the reference kernel of a single node.
  virtual bool is_reference() const { return false; }
  friend class ReferenceStep;

private:
  bool fallen_back_ = false;
};

/// The reference kernel of one node.
class ReferenceStep : public Step {
protected:
  void execute(Runtime& rt) override { run_reference(rt); }
  bool is_reference() const override { return true; }
};

// ---- planning --------------------------------------------------------------------------------

/// Static facts about the graph that matchers need.
class PlanBuilder {
public:
  PlanBuilder(const Graph& graph, const std::vector<std::string>& fetch,
              const OneDnnOptions& options, Runtime& rt);

  const Graph& graph;
  const OneDnnOptions& options;
  Runtime& rt;

  /// True for graph outputs and fetched values.
  bool escapes(const Value* v) const { return escaping_.count(v) != 0; }
  /// The constant behind `v` (initializer, Constant node, or a node whose inputs are all
  /// constant, evaluated once on its reference kernel), or nullptr.
  const Tensor* constant(const Value* v);
  /// The only node that uses `v`, when `v` has exactly one use and does not escape.
  const Node* sole_user(const Value* v) const;
  /// True when a matcher already put `n` into a step (DequantizeLinear nodes are never claimed:
  /// every consumer may absorb them).
  bool claimed(const Node* n) const { return claimed_.count(n) != 0; }
  /// Marks `n` as covered by a step.
  void claim(const Node* n) { claimed_.insert(n); }
  /// Program position of `n`.
  int position(const Node* n) const { return position_.at(n); }
  /// The slot of `v`.
  int slot(const Value* v) const { return rt.slot(v); }
  /// Fills `step.inputs` and `step.position` from `step.nodes` (sorted into program order) and
  /// sets `step.outputs` to the slots of `outputs`.
  void finish(Step& step, const std::vector<const Value*>& outputs);

private:
  std::unordered_set<const Value*> escaping_;
  std::unordered_set<const Node*> claimed_;
  std::unordered_map<const Node*, int> position_;
  std::unordered_map<const Value*, std::optional<Tensor>> constants_;
};

/// Per-tensor or per-axis quantization parameters of a QuantizeLinear/DequantizeLinear node.
struct QParams {
  std::vector<float> scales;
  std::vector<int32_t> zero_points;
  int axis = -1;           ///< -1 for per tensor.
  DType qtype = DType::u8; ///< The quantized type.
  bool per_tensor() const { return scales.size() == 1; }
};

/// Reads the constant scale and zero point of a QuantizeLinear/DequantizeLinear node. Returns
/// nullopt when they are not constant or use a form the runtime does not fuse (blocked).
std::optional<QParams> read_qparams(PlanBuilder& b, const Node& node);

/// The DequantizeLinear node producing `v` with constant parameters, or nullptr.
const Node* dq_producer(PlanBuilder& b, const Value* v);

/// An element-wise op as a oneDNN eltwise algorithm.
struct EltwiseOp {
  algorithm alg;
  float alpha = 0.f;
  float beta = 0.f;
  std::string name;
};
/// The eltwise equivalent of `node`, or nullopt when it has none.
std::optional<EltwiseOp> eltwise_of(PlanBuilder& b, const Node& node);

/// One fused post-op of a convolution or matmul.
struct PostOp {
  enum class Kind { Eltwise, Sum, Binary };
  Kind kind = Kind::Eltwise;
  EltwiseOp eltwise; ///< Eltwise: the op.
  algorithm binary_alg = algorithm::binary_add;
  const Value* operand = nullptr; ///< Sum/Binary: the other operand (for sum: the residual).
  int slot = -1;                  ///< Its slot (the quantized tensor for an int8 residual).
  std::optional<Tensor> constant; ///< Binary: the constant operand.
  float scale = 1.f;              ///< Sum: scale of the residual (int8: its quant scale).
  int32_t zero_point = 0;         ///< Sum: zero point of an int8 residual.
  DType residual_dtype = DType::f32;
  bool in_place = false;  ///< Sum: the residual dies here, its buffer may become dst.
  bool as_binary = false; ///< Sum: the shapes differ at run time, add as a binary post-op.
  /// True for a sum whose residual is an int8 tensor read through its DequantizeLinear.
  bool int8_residual() const { return kind == Kind::Sum && residual_dtype != DType::f32; }
};

/// The nodes after a Conv/MatMul/Gemm that fold into it: bias, activations, a residual Add,
/// scalar scaling, a folded BatchNormalization and a final QuantizeLinear (int8).
struct Epilogue {
  std::vector<const Node*> nodes; ///< Absorbed nodes (and absorbed DequantizeLinear of a residual).
  std::vector<PostOp> ops;
  const Value* out = nullptr;   ///< The value the fused step defines.
  std::optional<Tensor> bias;   ///< A constant bias Add folded into the primitive's bias.
  std::optional<QParams> quant; ///< Final QuantizeLinear parameters (int8 output).
  // Folded BatchNormalization (conv only): per output channel multiplier and shift.
  std::vector<float> bn_mul, bn_add;
  std::vector<std::string> names; ///< Post-op names for OneDnnStepInfo.
};

/// What kind of anchor an epilogue is collected for.
enum class AnchorKind { Conv, MatMul };

/// Collects the epilogue after `anchor_out`. `int8` allows a final QuantizeLinear and int8
/// residuals; `const_weights` allows folding a BatchNormalization (conv). `channels` is the
/// number of output channels (conv) or columns (matmul) when known, -1 otherwise; `out_rank` the
/// output rank when known (a constant Add folds into the bias only when it cannot change the
/// output shape).
Epilogue collect_epilogue(PlanBuilder& b, const Value* anchor_out, AnchorKind kind, bool int8,
                          bool const_weights, int64_t channels, int out_rank);

/// Maps a post-op operand's shape to dims against the primitive's destination, or returns
/// empty dims when the operand cannot broadcast there.
using OperandDims = dnnl::memory::dims (*)(const Shape& operand, const Shape& out,
                                           const dnnl::memory::dims& dst_dims);
/// The default OperandDims: numpy alignment at the last dimension.
dnnl::memory::dims aligned_operand_dims(const Shape& operand, const Shape& out,
                                        const dnnl::memory::dims& dst_dims);

/// Resolves run-time choices of `epi` (sum versus binary add when the residual's shape differs
/// from `out_shape`) and builds the oneDNN post-ops against destination dims `dst_dims` (as the
/// primitive sees them). `requantize` appends the final QuantizeLinear as a linear post-op.
/// Binary operands are returned in `binary_args` as (post-op index, memory descriptor).
dnnl::post_ops build_post_ops(Runtime& rt, Epilogue& epi, const Shape& out_shape,
                              const dnnl::memory::dims& dst_dims, OperandDims map_dims,
                              std::vector<std::pair<int, MemDesc>>& binary_args, bool requantize);
/// The shapes of the run-time operands of `epi` (part of a step's preparation key).
std::vector<Shape> operand_shapes(Runtime& rt, const Epilogue& epi);
/// The sum post-op of `epi` that needs its residual in dst, or nullptr.
PostOp* active_sum(Epilogue& epi);

/// Replaces the descriptors of `binary_args` by the layouts the primitive chose for them.
void resolve_binary_args(const dnnl::primitive_desc_base& pd,
                         std::vector<std::pair<int, MemDesc>>& binary_args);
/// Binds the binary post-op operands of `epi` for one execution, reordering an operand whose
/// layout differs from the primitive's choice into a scratch buffer (appended to `scratch`).
void bind_post_op_args(Runtime& rt, const Epilogue& epi,
                       const std::vector<std::pair<int, MemDesc>>& binary_args,
                       std::unordered_map<int, dnnl::memory>& args, ReorderCache& cache,
                       std::vector<int>& scratch);

/// Prepares the destination of a step with a sum post-op: the residual's buffer (in place) or a
/// fresh buffer holding a copy of the residual.
dnnl::memory prepare_sum_dst(Runtime& rt, const PostOp& sum, int dst_slot, DType dst_dtype,
                             const Shape& dst_shape, const MemDesc& dst_desc, ReorderCache& cache);

// Matchers: each returns a step that covers `node` (and claims what it fuses), or nullptr.
std::unique_ptr<Step> match_conv(PlanBuilder& b, const Node& node);
std::unique_ptr<Step> match_matmul(PlanBuilder& b, const Node& node);
std::unique_ptr<Step> match_simple(PlanBuilder& b, const Node& node);
/// True when `node` is an fp32 convolution that the Winograd option may change.
bool winograd_eligible(PlanBuilder& b, const Node& node);
/// `DequantizeLinear -> unary element-wise op -> QuantizeLinear` (per tensor, int8 in and out)
/// as a 256-entry table (lib/exec/onednn_table.cpp).
std::unique_ptr<Step> match_table(PlanBuilder& b, const Node& node);

/// Claims every node of a fused group except DequantizeLinear nodes (which other consumers may
/// absorb too).
void claim_group(PlanBuilder& b, const std::vector<const Node*>& nodes);
/// Decides whether a sum post-op may write into its residual's buffer: the residual must die at
/// step `self`, must not escape, and must not be another operand of the step (`operands`).
void decide_in_place(Epilogue& epi, const std::vector<int>& last_use,
                     const std::vector<Slot>& slots, int self, const std::vector<int>& operands);

/// The prepared implementation name of a primitive descriptor.
std::string impl_name(const dnnl::primitive_desc_base& pd);

/// A compiled plan: steps over slots for one graph version, input shapes and fetch list.
class Plan {
public:
  /// Matches fused patterns, drops dead nodes, folds constants and lays out slot lifetimes.
  Plan(const Graph& graph, const std::vector<std::string>& fetch, const OneDnnOptions& options);
  /// Runs the plan; returns graph outputs, then fetched values.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs);
  /// The steps for reports and tests.
  OneDnnPlanInfo info() const;

private:
  Runtime rt_;
  std::vector<std::unique_ptr<Step>> steps_;
  std::vector<int> input_slots_;
  std::vector<int> result_slots_;
  int64_t folded_ = 0;
  int64_t dead_ = 0;
  int64_t runs_ = 0;
  int64_t timed_runs_ = 0;
  // Tuning (see Plan::run).
  bool winograd_trial_ = false; ///< Runs 2-9 alternate direct and Winograd convolutions.
  int threads_ = 0;             ///< The thread count the plan runs with (set by run).
  /// The last run on all threads (runs 2-4, or 2-9 with a Winograd trial).
  int64_t all_threads_done() const { return winograd_trial_ ? 9 : 4; }
  /// True when the thread trial follows (runs all_threads_done() + 1 to + 4).
  bool thread_trial() const { return threads_ > 1 && serial_below_seconds_ > 0; }
  /// The run after which the plan is tuned.
  int64_t settled() const {
    return thread_trial() ? all_threads_done() + 4 : winograd_trial_ ? all_threads_done() : 1;
  }
  double trial_direct_ = 0.0, trial_winograd_ = 0.0;
  bool step_cpu_time_ = false;
  double serial_below_seconds_ = 0.0;
  /// The results of the previous run. When the caller has dropped one, its storage is reused
  /// for the same result of the next run instead of a fresh allocation (see Plan::run).
  std::vector<Tensor> last_results_;
};

} // namespace shrink::onednn
