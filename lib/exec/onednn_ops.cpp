// Single-op steps on oneDNN: pooling (fp32 and int8), eltwise, broadcasting binary ops,
// softmax, layer and batch normalization, Concat, Transpose, QuantizeLinear, DequantizeLinear.

#include "onednn_internal.h"

#include "shrink/ir/op_table.h"

#include <algorithm>
#include <numeric>

namespace shrink::onednn {

namespace {

// A step that prepares its primitive again whenever an input's shape or type changes.
class PrimStep : public Step {
protected:
  void execute(Runtime& rt) final {
    std::vector<Shape> shapes;
    std::vector<DType> types;
    for (int id : inputs) {
      const Slot& s = rt.live(id);
      shapes.push_back(s.shape);
      types.push_back(s.dtype);
    }
    if (!prepared_ || shapes != shapes_ || types != types_) {
      prepare(rt);
      shapes_ = std::move(shapes);
      types_ = std::move(types);
      prepared_ = true;
    }
    exec(rt);
    rt.stream.wait();
  }
  virtual void prepare(Runtime& rt) = 0;
  virtual void exec(Runtime& rt) = 0;
  ReorderCache reorders_;

private:
  bool prepared_ = false;
  std::vector<Shape> shapes_;
  std::vector<DType> types_;
};

void require_type(const Slot& s, DType want) {
  if (s.dtype != want)
    throw PrepareFailure("'" + s.value->name() + "' is " + dtype_name(s.dtype) + ", not " +
                         dtype_name(want));
}

int normalize_axis(int64_t axis, size_t rank) {
  const int64_t r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r) throw PrepareFailure("axis out of range");
  return static_cast<int>(axis < 0 ? axis + r : axis);
}

std::unique_ptr<Step> finish_single(PlanBuilder& b, std::unique_ptr<Step> step,
                                    const std::vector<const Node*>& nodes, const Value* out,
                                    const std::string& kind) {
  step->nodes = nodes;
  step->info.kind = kind;
  claim_group(b, nodes);
  b.finish(*step, {out});
  return step;
}

// ---- pooling ---------------------------------------------------------------------------------

class PoolStep : public PrimStep {
public:
  const Node* node = nullptr;
  int src = -1, dst = -1;
  bool int8 = false;
  DType qtype = DType::u8;

protected:
  void prepare(Runtime& rt) override {
    const Slot& s = rt.live(src);
    if (int8)
      require_type(s, qtype);
    else
      require_type(s, DType::f32);
    const Shape& in = s.shape;
    const int rank = static_cast<int>(in.size());
    if (rank < 3 || rank > 5) throw PrepareFailure("pooling needs a 1-D/2-D/3-D input");
    const int sd = rank - 2;
    const std::string& op = node->op();
    const bool global = op == "GlobalAveragePool";
    std::vector<int64_t> kernel(in.begin() + 2, in.end());
    if (!global) {
      kernel = node->attr_ints("kernel_shape");
      if (static_cast<int>(kernel.size()) != sd) throw PrepareFailure("bad kernel_shape");
    }
    const std::vector<int64_t> strides =
        global ? std::vector<int64_t>(sd, 1)
               : node->attr_ints("strides", std::vector<int64_t>(sd, 1));
    const std::vector<int64_t> dil =
        global ? std::vector<int64_t>(sd, 1)
               : node->attr_ints("dilations", std::vector<int64_t>(sd, 1));
    const std::vector<int64_t> pads =
        global ? std::vector<int64_t>(2 * sd, 0)
               : node->attr_ints("pads", std::vector<int64_t>(2 * sd, 0));
    if (static_cast<int>(strides.size()) != sd || static_cast<int>(dil.size()) != sd ||
        static_cast<int>(pads.size()) != 2 * sd)
      throw PrepareFailure("strides/dilations/pads do not match the spatial rank");
    const bool ceil_mode = !global && node->attr_int("ceil_mode", 0) != 0;
    const std::string auto_pad = global ? "NOTSET" : node->attr_string("auto_pad", "NOTSET");
    const bool include_pad = node->attr_int("count_include_pad", 0) != 0;
    algorithm alg = op == "MaxPool" ? algorithm::pooling_max
                    : include_pad   ? algorithm::pooling_avg_include_padding
                                    : algorithm::pooling_avg_exclude_padding;
    out_ = {in[0], in[1]};
    dnnl::memory::dims st, ks, dl, pl, pr;
    for (int i = 0; i < sd; ++i) {
      const int64_t x = in[i + 2];
      if (strides[i] <= 0 || dil[i] <= 0) throw PrepareFailure("bad strides/dilations");
      const int64_t ek = (kernel[i] - 1) * dil[i] + 1;
      int64_t pb = pads[i], pe = pads[i + sd], o;
      if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
        o = (x + strides[i] - 1) / strides[i];
        const int64_t total = std::max<int64_t>(0, (o - 1) * strides[i] + ek - x);
        pb = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
        pe = total - pb;
      } else {
        if (auto_pad == "VALID")
          pb = pe = 0;
        else if (auto_pad != "NOTSET")
          throw PrepareFailure("unknown auto_pad");
        const int64_t span = x + pb + pe - ek;
        if (span < 0) throw PrepareFailure("kernel larger than the padded input");
        o = ceil_mode ? (span + strides[i] - 1) / strides[i] + 1 : span / strides[i] + 1;
        // ONNX drops a last window that would start inside the right padding.
        if (ceil_mode && (o - 1) * strides[i] >= x + pb) --o;
      }
      const int64_t pe_eff = (o - 1) * strides[i] + ek - x - pb;
      if (alg == algorithm::pooling_avg_include_padding && pe_eff > pe)
        throw PrepareFailure("ceil_mode with count_include_pad");
      if (pb >= ek || pe_eff >= ek) throw PrepareFailure("padding as large as the kernel");
      out_.push_back(o);
      st.push_back(strides[i]);
      ks.push_back(kernel[i]);
      dl.push_back(dil[i] - 1);
      pl.push_back(pb);
      pr.push_back(pe_eff);
    }
    if (shape_numel(in) == 0) throw PrepareFailure("empty tensor");
    dtype_ = s.dtype;
    const MemDesc dst_md = rt.blocked_layouts ? MemDesc(to_dims(out_), dnnl_type(dtype_),
                                                        dnnl::memory::format_tag::any)
                                              : plain_desc(out_, dtype_);
    const MemDesc src_md = rt.blocked_layouts ? s.desc : plain_desc(in, dtype_);
    dnnl::pooling_v2_forward::desc desc(dnnl::prop_kind::forward_inference, alg, src_md, dst_md, st,
                                        ks, dl, pl, pr);
    pd_ = dnnl::pooling_v2_forward::primitive_desc(desc, rt.engine);
    prim_ = dnnl::pooling_v2_forward(pd_);
    info.implementation = impl_name(pd_);
  }

  void exec(Runtime& rt) override {
    Scratch scratch(rt);
    std::unordered_map<int, dnnl::memory> args;
    args[DNNL_ARG_SRC] = rt.memory_as(src, pd_.src_desc(), reorders_, scratch.ids);
    args[DNNL_ARG_DST] = rt.define(dst, dtype_, out_, pd_.dst_desc());
    prim_.execute(rt.stream, args);
  }

private:
  Shape out_;
  DType dtype_ = DType::f32;
  dnnl::pooling_v2_forward::primitive_desc pd_;
  dnnl::pooling_v2_forward prim_;
};

std::unique_ptr<Step> match_pool(PlanBuilder& b, const Node& node) {
  if (node.num_outputs() > 1 && (!node.output(1)->uses().empty() || b.escapes(node.output(1))))
    return nullptr; // MaxPool's indices are not produced by oneDNN
  auto step = std::make_unique<PoolStep>();
  step->node = &node;
  // int8: DequantizeLinear -> pool -> QuantizeLinear with the same parameters pools the int8
  // values directly (max and average commute with an affine map of positive scale).
  if (b.options.int8) {
    const Node* dq = dq_producer(b, node.input(0));
    const Node* q = b.sole_user(node.output());
    if (dq && q && q->op() == "QuantizeLinear" && !b.claimed(q)) {
      const std::optional<QParams> qi = read_qparams(b, *dq);
      const std::optional<QParams> qo = read_qparams(b, *q);
      if (qo && qi->per_tensor() && qo->per_tensor() && qi->scales == qo->scales &&
          qi->zero_points == qo->zero_points &&
          (qi->qtype == qo->qtype || qi->qtype == DType::f32)) {
        step->int8 = true;
        step->qtype = qo->qtype;
        step->src = b.slot(dq->input(0));
        step->dst = b.slot(q->output());
        return finish_single(b, std::move(step), {dq, &node, q}, q->output(), "int8 pool");
      }
    }
  }
  step->src = b.slot(node.input(0));
  step->dst = b.slot(node.output());
  return finish_single(b, std::move(step), {&node}, node.output(), "pool");
}

// ---- eltwise ---------------------------------------------------------------------------------

class EltwiseStep : public PrimStep {
public:
  EltwiseOp op;
  int src = -1, dst = -1;

protected:
  void prepare(Runtime& rt) override {
    const Slot& s = rt.live(src);
    require_type(s, DType::f32);
    if (shape_numel(s.shape) == 0) throw PrepareFailure("empty tensor");
    shape_ = s.shape;
    dnnl::eltwise_forward::desc desc(dnnl::prop_kind::forward_inference, op.alg, s.desc, op.alpha,
                                     op.beta);
    pd_ = dnnl::eltwise_forward::primitive_desc(desc, rt.engine);
    prim_ = dnnl::eltwise_forward(pd_);
    info.implementation = impl_name(pd_);
  }
  void exec(Runtime& rt) override {
    Scratch scratch(rt);
    std::unordered_map<int, dnnl::memory> args;
    args[DNNL_ARG_SRC] = rt.memory_as(src, pd_.src_desc(), reorders_, scratch.ids);
    args[DNNL_ARG_DST] = rt.define(dst, DType::f32, shape_, pd_.dst_desc());
    prim_.execute(rt.stream, args);
  }

private:
  Shape shape_;
  dnnl::eltwise_forward::primitive_desc pd_;
  dnnl::eltwise_forward prim_;
};

// ---- binary ----------------------------------------------------------------------------------

class BinaryStep : public PrimStep {
public:
  algorithm alg = algorithm::binary_add;
  bool commutative = true;
  int a = -1, b = -1, dst = -1;
  std::vector<EltwiseOp> post;

protected:
  void prepare(Runtime& rt) override {
    const Slot& sa = rt.live(a);
    const Slot& sb = rt.live(b);
    require_type(sa, DType::f32);
    require_type(sb, DType::f32);
    // numpy broadcasting of the two shapes.
    const size_t rank = std::max(sa.shape.size(), sb.shape.size());
    const dnnl::memory::dims da = pad_rank(sa.shape, static_cast<int>(rank));
    const dnnl::memory::dims db = pad_rank(sb.shape, static_cast<int>(rank));
    out_.assign(rank, 0);
    for (size_t i = 0; i < rank; ++i) {
      if (da[i] != db[i] && da[i] != 1 && db[i] != 1)
        throw PrepareFailure("shapes do not broadcast");
      out_[i] = da[i] == 1 ? db[i] : da[i];
    }
    if (shape_numel(out_) == 0) throw PrepareFailure("empty tensor");
    swapped_ = false;
    if (sa.shape != out_) {
      if (!commutative || sb.shape != out_)
        throw PrepareFailure("the first operand would need broadcasting");
      swapped_ = true;
    }
    const Slot& s0 = swapped_ ? sb : sa;
    const Slot& s1 = swapped_ ? sa : sb;
    src0_md_ = rt.blocked_layouts ? s0.desc : plain_desc(out_, DType::f32);
    // A same-shape operand follows src0's layout; a broadcast one stays plain.
    src1_md_ = s1.shape == out_ ? src0_md_
                                : plain_desc(pad_rank(s1.shape, std::max<int>(1, rank)), dt::f32);
    if (rank == 0) src0_md_ = src1_md_ = plain_desc(Shape{}, DType::f32);
    dnnl::post_ops po;
    for (const EltwiseOp& e : post)
      po.append_eltwise(1.f, e.alg, e.alpha, e.beta);
    dnnl::primitive_attr attr;
    attr.set_post_ops(po);
    dnnl::binary::desc desc(alg, src0_md_, src1_md_, src0_md_);
    pd_ = dnnl::binary::primitive_desc(desc, attr, rt.engine);
    prim_ = dnnl::binary(pd_);
    info.implementation = impl_name(pd_);
  }
  void exec(Runtime& rt) override {
    Scratch scratch(rt);
    const int i0 = swapped_ ? b : a, i1 = swapped_ ? a : b;
    const Slot& s1 = rt.live(i1);
    std::unordered_map<int, dnnl::memory> args;
    args[DNNL_ARG_SRC_0] = rt.memory_as(i0, src0_md_, reorders_, scratch.ids);
    args[DNNL_ARG_SRC_1] = s1.shape == out_ && !out_.empty()
                               ? rt.memory_as(i1, src1_md_, reorders_, scratch.ids)
                               : dnnl::memory(src1_md_, rt.engine, handle(rt.plain(i1)));
    args[DNNL_ARG_DST] = rt.define(dst, DType::f32, out_, pd_.dst_desc());
    prim_.execute(rt.stream, args);
  }

private:
  Shape out_;
  bool swapped_ = false;
  MemDesc src0_md_, src1_md_;
  dnnl::binary::primitive_desc pd_;
  dnnl::binary prim_;
};

// ---- softmax ---------------------------------------------------------------------------------

class SoftmaxStep : public PrimStep {
public:
  const Node* node = nullptr;
  bool log = false;
  int src = -1, dst = -1;

protected:
  void prepare(Runtime& rt) override {
    const Slot& s = rt.live(src);
    require_type(s, DType::f32);
    if (s.shape.empty() || shape_numel(s.shape) == 0) throw PrepareFailure("empty or scalar");
    shape_ = s.shape;
    const int axis = normalize_axis(node->attr_int("axis", -1), s.shape.size());
    md_ = plain_desc(shape_, DType::f32);
    if (log) {
      lpd_ = dnnl::logsoftmax_forward::primitive_desc(
          dnnl::logsoftmax_forward::desc(dnnl::prop_kind::forward_inference, md_, axis), rt.engine);
      prim_ = dnnl::logsoftmax_forward(lpd_);
      info.implementation = impl_name(lpd_);
    } else {
      pd_ = dnnl::softmax_forward::primitive_desc(
          dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, md_, axis), rt.engine);
      prim_ = dnnl::softmax_forward(pd_);
      info.implementation = impl_name(pd_);
    }
  }
  void exec(Runtime& rt) override {
    std::unordered_map<int, dnnl::memory> args;
    args[DNNL_ARG_SRC] = dnnl::memory(md_, rt.engine, handle(rt.plain(src)));
    args[DNNL_ARG_DST] = rt.define(dst, DType::f32, shape_, md_);
    prim_.execute(rt.stream, args);
  }

private:
  Shape shape_;
  MemDesc md_;
  dnnl::softmax_forward::primitive_desc pd_;
  dnnl::logsoftmax_forward::primitive_desc lpd_;
  dnnl::primitive prim_;
};

// ---- layer normalization ---------------------------------------------------------------------

class LayerNormStep : public PrimStep {
public:
  const Node* node = nullptr;
  int src = -1, scale = -1, shift = -1, dst = -1;

protected:
  void prepare(Runtime& rt) override {
    const Slot& s = rt.live(src);
    require_type(s, DType::f32);
    if (s.shape.empty()) throw PrepareFailure("scalar input");
    const int axis = normalize_axis(node->attr_int("axis", -1), s.shape.size());
    shape_ = s.shape;
    const int64_t outer = std::accumulate(shape_.begin(), shape_.begin() + axis, int64_t{1},
                                          std::multiplies<int64_t>());
    const int64_t inner = std::accumulate(shape_.begin() + axis, shape_.end(), int64_t{1},
                                          std::multiplies<int64_t>());
    if (outer == 0 || inner == 0) throw PrepareFailure("empty tensor");
    for (int id : {scale, shift}) {
      if (id < 0) continue;
      const Slot& p = rt.live(id);
      require_type(p, DType::f32);
      if (shape_numel(p.shape) != inner)
        throw PrepareFailure("scale/bias " + shape_str(p.shape) + " do not cover the normalized " +
                             std::to_string(inner) + " elements");
    }
    md_ = plain_desc(dnnl::memory::dims{outer, inner}, dt::f32);
    param_md_ = plain_desc(dnnl::memory::dims{inner}, dt::f32);
    auto flags = dnnl::normalization_flags::use_scale;
    if (shift >= 0) flags = flags | dnnl::normalization_flags::use_shift;
    pd_ = dnnl::layer_normalization_forward::primitive_desc(
        dnnl::layer_normalization_forward::desc(dnnl::prop_kind::forward_inference, md_,
                                                node->attr_float("epsilon", 1e-5f), flags),
        rt.engine);
    prim_ = dnnl::layer_normalization_forward(pd_);
    stats_.clear();
    for (const MemDesc& md : {pd_.mean_desc(), pd_.variance_desc()})
      stats_.push_back(
          Tensor(DType::u8, {static_cast<int64_t>(std::max<size_t>(md.get_size(), 1))}));
    info.implementation = impl_name(pd_);
  }
  void exec(Runtime& rt) override {
    std::unordered_map<int, dnnl::memory> args;
    args[DNNL_ARG_SRC] = dnnl::memory(md_, rt.engine, handle(rt.plain(src)));
    args[DNNL_ARG_SCALE] = dnnl::memory(param_md_, rt.engine, handle(rt.plain(scale)));
    if (shift >= 0)
      args[DNNL_ARG_SHIFT] = dnnl::memory(param_md_, rt.engine, handle(rt.plain(shift)));
    if (pd_.mean_desc().get_size() > 0) {
      args[DNNL_ARG_MEAN] = dnnl::memory(pd_.mean_desc(), rt.engine, stats_[0].raw_mutable());
      args[DNNL_ARG_VARIANCE] =
          dnnl::memory(pd_.variance_desc(), rt.engine, stats_[1].raw_mutable());
    }
    dnnl::memory out = rt.define(dst, DType::f32, shape_, plain_desc(shape_, DType::f32));
    args[DNNL_ARG_DST] = dnnl::memory(md_, rt.engine, out.get_data_handle());
    prim_.execute(rt.stream, args);
  }

private:
  Shape shape_;
  MemDesc md_, param_md_;
  std::vector<Tensor> stats_;
  dnnl::layer_normalization_forward::primitive_desc pd_;
  dnnl::layer_normalization_forward prim_;
};

// ---- batch normalization ---------------------------------------------------------------------

class BatchNormStep : public PrimStep {
public:
  const Node* node = nullptr;
  int src = -1, dst = -1;
  int params[4] = {-1, -1, -1, -1}; // scale, bias, mean, var
  bool relu = false;

protected:
  void prepare(Runtime& rt) override {
    const Slot& s = rt.live(src);
    require_type(s, DType::f32);
    if (s.shape.size() < 2 || shape_numel(s.shape) == 0) throw PrepareFailure("bad input");
    shape_ = s.shape;
    for (int id : params) {
      const Slot& p = rt.live(id);
      require_type(p, DType::f32);
      if (shape_numel(p.shape) != shape_[1])
        throw PrepareFailure("parameters do not match the channels");
    }
    param_md_ = plain_desc(dnnl::memory::dims{shape_[1]}, dt::f32);
    auto flags = dnnl::normalization_flags::use_global_stats |
                 dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
    if (relu) flags = flags | dnnl::normalization_flags::fuse_norm_relu;
    const MemDesc src_md = rt.blocked_layouts ? s.desc : plain_desc(shape_, DType::f32);
    pd_ = dnnl::batch_normalization_forward::primitive_desc(
        dnnl::batch_normalization_forward::desc(dnnl::prop_kind::forward_inference, src_md,
                                                node->attr_float("epsilon", 1e-5f), flags),
        rt.engine);
    prim_ = dnnl::batch_normalization_forward(pd_);
    info.implementation = impl_name(pd_);
  }
  void exec(Runtime& rt) override {
    Scratch scratch(rt);
    std::unordered_map<int, dnnl::memory> args;
    args[DNNL_ARG_SRC] = rt.memory_as(src, pd_.src_desc(), reorders_, scratch.ids);
    const int keys[4] = {DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE};
    for (int i = 0; i < 4; ++i)
      args[keys[i]] = dnnl::memory(param_md_, rt.engine, handle(rt.plain(params[i])));
    args[DNNL_ARG_DST] = rt.define(dst, DType::f32, shape_, pd_.dst_desc());
    prim_.execute(rt.stream, args);
  }

private:
  Shape shape_;
  MemDesc param_md_;
  dnnl::batch_normalization_forward::primitive_desc pd_;
  dnnl::batch_normalization_forward prim_;
};

// ---- concat ----------------------------------------------------------------------------------

class ConcatStep : public PrimStep {
public:
  const Node* node = nullptr;
  std::vector<int> srcs; // in node order (inputs may repeat)
  int dst = -1;

protected:
  void prepare(Runtime& rt) override {
    const Slot& first = rt.live(srcs[0]);
    if (first.shape.empty()) throw PrepareFailure("scalar inputs");
    dtype_ = first.dtype;
    dnnl_type(dtype_);
    const int axis = normalize_axis(node->attr_int("axis", 0), first.shape.size());
    std::vector<MemDesc> mds;
    out_ = first.shape;
    out_[axis] = 0;
    for (int id : srcs) {
      const Slot& s = rt.live(id);
      require_type(s, dtype_);
      if (s.shape.size() != first.shape.size() || shape_numel(s.shape) == 0)
        throw PrepareFailure("inputs differ in rank or are empty");
      for (size_t d = 0; d < s.shape.size(); ++d)
        if (static_cast<int>(d) != axis && s.shape[d] != first.shape[d])
          throw PrepareFailure("inputs differ outside the axis");
      out_[axis] += s.shape[axis];
      mds.push_back(plain_desc(s.shape, dtype_));
    }
    pd_ = dnnl::concat::primitive_desc(plain_desc(out_, dtype_), axis, mds, rt.engine);
    prim_ = dnnl::concat(pd_);
    info.implementation = impl_name(pd_);
  }
  void exec(Runtime& rt) override {
    std::unordered_map<int, dnnl::memory> args;
    for (size_t i = 0; i < srcs.size(); ++i) {
      const Tensor& t = rt.plain(srcs[i]);
      args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i)] =
          dnnl::memory(plain_desc(t.shape(), dtype_), rt.engine, handle(t));
    }
    args[DNNL_ARG_DST] = rt.define(dst, dtype_, out_, plain_desc(out_, dtype_));
    prim_.execute(rt.stream, args);
  }

private:
  Shape out_;
  DType dtype_ = DType::f32;
  dnnl::concat::primitive_desc pd_;
  dnnl::concat prim_;
};

// ---- transpose -------------------------------------------------------------------------------

class TransposeStep : public PrimStep {
public:
  const Node* node = nullptr;
  int src = -1, dst = -1;

protected:
  void prepare(Runtime& rt) override {
    const Slot& s = rt.live(src);
    dnnl_type(s.dtype);
    const int rank = static_cast<int>(s.shape.size());
    if (rank < 2 || shape_numel(s.shape) == 0) throw PrepareFailure("nothing to transpose");
    std::vector<int64_t> perm(rank);
    for (int i = 0; i < rank; ++i)
      perm[i] = rank - 1 - i;
    perm = node->attr_ints("perm", perm);
    std::vector<int64_t> sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    for (int i = 0; i < rank; ++i)
      if (static_cast<int>(sorted.size()) != rank || sorted[i] != i)
        throw PrepareFailure("perm is not a permutation");
    out_.resize(rank);
    for (int i = 0; i < rank; ++i)
      out_[i] = s.shape[perm[i]];
    // Write the output row-major while walking the input's dims: input axis perm[i] advances
    // by the output stride of axis i.
    dnnl::memory::dims out_strides(rank, 1), strides(rank, 0);
    for (int i = rank - 2; i >= 0; --i)
      out_strides[i] = out_strides[i + 1] * out_[i + 1];
    for (int i = 0; i < rank; ++i)
      strides[perm[i]] = out_strides[i];
    dtype_ = s.dtype;
    permuted_ = MemDesc(to_dims(s.shape), dnnl_type(dtype_), strides);
  }
  void exec(Runtime& rt) override {
    dnnl::memory src_mem = rt.memory(src);
    dnnl::memory out = rt.define(dst, dtype_, out_, plain_desc(out_, dtype_));
    dnnl::memory dst_mem(permuted_, rt.engine, out.get_data_handle());
    reorders_.get(rt.engine, src_mem.get_desc(), permuted_).execute(rt.stream, src_mem, dst_mem);
  }

private:
  Shape out_;
  DType dtype_ = DType::f32;
  MemDesc permuted_;
};

// ---- quantize / dequantize -------------------------------------------------------------------

class QdqStep : public PrimStep {
public:
  bool quantize = true;
  QParams q;
  int src = -1, dst = -1;

protected:
  void prepare(Runtime& rt) override {
    const Slot& s = rt.live(src);
    if (quantize) {
      require_type(s, DType::f32);
      out_type_ = q.qtype;
    } else {
      if (s.dtype != DType::u8 && s.dtype != DType::i8 && s.dtype != DType::i32)
        throw PrepareFailure("DequantizeLinear input is not u8/i8/i32");
      out_type_ = DType::f32;
    }
    if (shape_numel(s.shape) == 0) throw PrepareFailure("empty tensor");
    attr_ = dnnl::primitive_attr();
    attr_.set_output_scales(0, {quantize ? 1.f / q.scales[0] : q.scales[0]});
    if (q.zero_points[0] != 0)
      attr_.set_zero_points(quantize ? DNNL_ARG_DST : DNNL_ARG_SRC, 0, {q.zero_points[0]});
  }
  void exec(Runtime& rt) override {
    const Slot& s = rt.live(src);
    const MemDesc in_md = s.desc;
    const MemDesc out_md = with_type(in_md, dnnl_type(out_type_));
    dnnl::memory src_mem = rt.memory(src);
    dnnl::memory dst_mem = rt.define(dst, out_type_, s.shape, out_md);
    reorders_.get(rt.engine, in_md, out_md, attr_, 1).execute(rt.stream, src_mem, dst_mem);
  }

private:
  DType out_type_ = DType::u8;
  dnnl::primitive_attr attr_;
};

// ---- views -----------------------------------------------------------------------------------

// Reshape, Flatten, Squeeze, Unsqueeze, Identity and inference Dropout only relabel a plain
// tensor: the output shares the input's buffer. The reference kernel runs once per input shape
// (and shape operand) to compute the output shape with exactly the reference's rules and errors.
class ViewStep : public Step {
public:
  const Node* node = nullptr;
  int src = -1, dst = -1;

protected:
  void execute(Runtime& rt) override {
    std::vector<const Tensor*> ins;
    std::vector<double> operands;
    for (const Value* v : node->inputs()) {
      ins.push_back(v ? &rt.plain(rt.slot(v)) : nullptr);
      if (v && ins.size() > 1)
        for (double d : ins.back()->to_doubles())
          operands.push_back(d);
    }
    const Shape& in = ins[0]->shape();
    if (!prepared_ || in != shape_ || operands != operands_) {
      out_shape_ = evaluate_node(*node, ins).at(0).shape();
      shape_ = in;
      operands_ = operands;
      prepared_ = true;
    }
    const Slot& s = rt.live(src);
    const int buffer = s.plain ? s.buffer : s.plain_buffer;
    if (buffer >= 0) rt.pool.retain(buffer);
    rt.define_tensor(dst, ins[0]->reshaped(out_shape_), buffer);
  }

private:
  bool prepared_ = false;
  Shape shape_, out_shape_;
  std::vector<double> operands_;
};

} // namespace

std::unique_ptr<Step> match_simple(PlanBuilder& b, const Node& node) {
  const std::string& op = node.op();
  if (!node.input(0)) return nullptr;
  if (op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool")
    return match_pool(b, node);
  if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze" ||
      op == "Identity" || (op == "Dropout" && node.num_inputs() == 1)) {
    for (int i = 1; i < node.num_outputs(); ++i)
      if (!node.output(i)->uses().empty() || b.escapes(node.output(i))) return nullptr;
    auto step = std::make_unique<ViewStep>();
    step->node = &node;
    step->src = b.slot(node.input(0));
    step->dst = b.slot(node.output());
    return finish_single(b, std::move(step), {&node}, node.output(), "view");
  }
  if (std::optional<EltwiseOp> e = eltwise_of(b, node)) {
    auto step = std::make_unique<EltwiseStep>();
    step->op = *e;
    step->src = b.slot(node.input(0));
    step->dst = b.slot(node.output());
    step->info.post_ops = {e->name};
    return finish_single(b, std::move(step), {&node}, node.output(), "eltwise");
  }
  if ((op == "Add" || op == "Sub" || op == "Mul" || op == "Div" ||
       ((op == "Max" || op == "Min") && node.num_inputs() == 2)) &&
      node.input(1)) {
    auto step = std::make_unique<BinaryStep>();
    step->alg = op == "Add"   ? algorithm::binary_add
                : op == "Sub" ? algorithm::binary_sub
                : op == "Mul" ? algorithm::binary_mul
                : op == "Div" ? algorithm::binary_div
                : op == "Max" ? algorithm::binary_max
                              : algorithm::binary_min;
    step->commutative = op != "Sub" && op != "Div";
    step->a = b.slot(node.input(0));
    step->b = b.slot(node.input(1));
    std::vector<const Node*> nodes = {&node};
    const Value* out = node.output();
    // Activations right after the op run as its post-ops.
    while (const Node* u = b.sole_user(out)) {
      std::optional<EltwiseOp> e = b.claimed(u) ? std::nullopt : eltwise_of(b, *u);
      if (!e || u->input(0) != out) break;
      step->post.push_back(*e);
      step->info.post_ops.push_back(e->name);
      nodes.push_back(u);
      out = u->output();
    }
    step->dst = b.slot(out);
    return finish_single(b, std::move(step), nodes, out, "binary");
  }
  if (op == "Softmax" || op == "LogSoftmax") {
    auto step = std::make_unique<SoftmaxStep>();
    step->node = &node;
    step->log = op == "LogSoftmax";
    step->src = b.slot(node.input(0));
    step->dst = b.slot(node.output());
    return finish_single(b, std::move(step), {&node}, node.output(), "softmax");
  }
  if (op == "LayerNormalization" && node.input(1)) {
    for (int i = 1; i < node.num_outputs(); ++i)
      if (!node.output(i)->uses().empty() || b.escapes(node.output(i))) return nullptr;
    auto step = std::make_unique<LayerNormStep>();
    step->node = &node;
    step->src = b.slot(node.input(0));
    step->scale = b.slot(node.input(1));
    if (node.input(2)) step->shift = b.slot(node.input(2));
    step->dst = b.slot(node.output());
    return finish_single(b, std::move(step), {&node}, node.output(), "layernorm");
  }
  if (op == "BatchNormalization") {
    if (node.attr_int("training_mode", 0) != 0) return nullptr;
    for (int i = 1; i < node.num_outputs(); ++i)
      if (!node.output(i)->uses().empty() || b.escapes(node.output(i))) return nullptr;
    for (int i = 1; i < 5; ++i)
      if (!node.input(i)) return nullptr;
    auto step = std::make_unique<BatchNormStep>();
    step->node = &node;
    step->src = b.slot(node.input(0));
    for (int i = 0; i < 4; ++i)
      step->params[i] = b.slot(node.input(i + 1));
    std::vector<const Node*> nodes = {&node};
    const Value* out = node.output();
    const Node* u = b.sole_user(out);
    if (u && u->op() == "Relu" && !b.claimed(u)) {
      step->relu = true;
      step->info.post_ops = {"relu"};
      nodes.push_back(u);
      out = u->output();
    }
    step->dst = b.slot(out);
    return finish_single(b, std::move(step), nodes, out, "batchnorm");
  }
  if (op == "Concat") {
    auto step = std::make_unique<ConcatStep>();
    step->node = &node;
    for (const Value* v : node.inputs()) {
      if (!v) return nullptr;
      step->srcs.push_back(b.slot(v));
    }
    step->dst = b.slot(node.output());
    return finish_single(b, std::move(step), {&node}, node.output(), "concat");
  }
  if (op == "Transpose") {
    auto step = std::make_unique<TransposeStep>();
    step->node = &node;
    step->src = b.slot(node.input(0));
    step->dst = b.slot(node.output());
    return finish_single(b, std::move(step), {&node}, node.output(), "transpose");
  }
  if (op == "QuantizeLinear" || op == "DequantizeLinear") {
    std::optional<QParams> q = read_qparams(b, node);
    if (!q || !q->per_tensor()) return nullptr;
    const bool quantize = op == "QuantizeLinear";
    if (quantize && q->qtype != DType::u8 && q->qtype != DType::i8) return nullptr;
    auto step = std::make_unique<QdqStep>();
    step->quantize = quantize;
    step->q = *q;
    step->src = b.slot(node.input(0));
    step->dst = b.slot(node.output());
    return finish_single(b, std::move(step), {&node}, node.output(),
                         quantize ? "quantize" : "dequantize");
  }
  return nullptr;
}

} // namespace shrink::onednn
