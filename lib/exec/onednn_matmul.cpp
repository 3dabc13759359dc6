// MatMul and Gemm steps, fp32 and int8 (QDQ form), with fused post-ops.
//
// A MatMul whose right operand is a constant 2-D matrix runs as one GEMM over all leading
// dimensions of the left operand ([B, S, K] x [K, N] is [B*S, K] x [K, N]), with the weights
// packed once. Other MatMuls run as batched oneDNN matmuls with numpy batch broadcasting. Gemm's
// transposes are strides, alpha is folded into constant weights (fp32) or the output scale
// (int8), and beta * C is the bias when C is a row vector or a binary post-op otherwise. The int8
// scheme is the one of onednn_conv.cpp: output scale sa * sb[n] gives real units, the bias is in
// accumulator units, post-ops run in real units, and the final QuantizeLinear is a linear post-op.

#include "onednn_internal.h"

#include <algorithm>

namespace shrink::onednn {

namespace {

// Post-op operands against a collapsed [rows, N] destination: the full output shape, or a row
// vector broadcast over every row.
dnnl::memory::dims collapsed_operand_dims(const Shape& operand, const Shape& out,
                                          const dnnl::memory::dims& dst_dims) {
  if (operand.size() > out.size()) return {};
  const dnnl::memory::dims padded = pad_rank(operand, static_cast<int>(out.size()));
  if (dnnl::memory::dims(out.begin(), out.end()) == padded) return dst_dims;
  for (size_t i = 0; i + 1 < padded.size(); ++i)
    if (padded[i] != 1) return {};
  if (padded.back() != dst_dims[1] && padded.back() != 1) return {};
  return {1, padded.back()};
}

class MatMulStep : public Step {
public:
  const Node* node = nullptr;
  bool gemm = false;
  int a_slot = -1;
  std::optional<Tensor> b_const;
  int b_slot = -1;
  bool trans_a = false, trans_b = false;
  float alpha = 1.f;
  std::vector<float> bias; // real units, one per output column; empty for none
  bool int8 = false;
  float a_scale = 1.f;
  int32_t a_zp = 0;
  std::vector<float> b_scales{1.f};
  int32_t b_zp = 0;
  Epilogue epi;
  int dst_slot = -1;

  void finalize(const std::vector<int>& last_use, const std::vector<Slot>& slots,
                int self) override {
    decide_in_place(epi, last_use, slots, self, {a_slot, b_slot});
  }

protected:
  void execute(Runtime& rt) override {
    const Slot& a = rt.live(a_slot);
    std::vector<Shape> key = operand_shapes(rt, epi);
    key.push_back(a.shape);
    if (b_slot >= 0) key.push_back(rt.live(b_slot).shape);
    key.push_back(Shape{current_threads()});
    const DType b_dtype = b_slot >= 0 ? rt.live(b_slot).dtype : b_const->dtype();
    if (!prepared_ || key != key_ || a.dtype != key_a_ || b_dtype != key_b_) {
      prepare(rt);
      key_ = key;
      key_a_ = a.dtype;
      key_b_ = b_dtype;
      prepared_ = true;
    }
    Scratch scratch(rt);
    std::unordered_map<int, dnnl::memory> args;
    args[DNNL_ARG_SRC] = dnnl::memory(a_md_, rt.engine, handle(rt.plain(a_slot)));
    args[DNNL_ARG_WEIGHTS] =
        b_const ? weights_mem_ : dnnl::memory(b_md_, rt.engine, handle(rt.plain(b_slot)));
    if (!bias.empty()) args[DNNL_ARG_BIAS] = bias_mem_;
    bind_post_op_args(rt, epi, binary_args_, args, reorders_, scratch.ids);
    const MemDesc out_md = plain_desc(out_shape_, dst_dtype_);
    dnnl::memory dst;
    if (const PostOp* sum = active_sum(epi))
      dst = prepare_sum_dst(rt, *sum, dst_slot, dst_dtype_, out_shape_, out_md, reorders_);
    else
      dst = rt.define(dst_slot, dst_dtype_, out_shape_, out_md);
    args[DNNL_ARG_DST] = dnnl::memory(pd_.dst_desc(), rt.engine, dst.get_data_handle());
    prim_.execute(rt.stream, args);
    rt.stream.wait();
  }

private:
  void prepare(Runtime& rt) {
    const Slot& a = rt.live(a_slot);
    const Shape as = a.shape;
    const Shape bs = b_const ? b_const->shape() : rt.live(b_slot).shape;
    const DType b_dtype = b_const ? b_const->dtype() : rt.live(b_slot).dtype;
    if (int8) {
      if ((a.dtype != DType::u8 && a.dtype != DType::i8) || b_dtype != DType::i8)
        throw PrepareFailure("int8 matmul needs u8/i8 x i8 operands");
    } else if (a.dtype != DType::f32 || b_dtype != DType::f32) {
      throw PrepareFailure("operands are not f32");
    }
    if (as.size() < 2 || bs.size() < 2) throw PrepareFailure("1-D operands");
    if (gemm && (as.size() != 2 || bs.size() != 2)) throw PrepareFailure("Gemm needs 2-D");
    const int64_t m = trans_a ? as[as.size() - 1] : as[as.size() - 2];
    const int64_t k = trans_a ? as[as.size() - 2] : as[as.size() - 1];
    const int64_t kb = trans_b ? bs[bs.size() - 1] : bs[bs.size() - 2];
    const int64_t n = trans_b ? bs[bs.size() - 2] : bs[bs.size() - 1];
    if (k != kb)
      throw PrepareFailure("inner dimensions differ: " + shape_str(as) + " x " + shape_str(bs));
    if (static_cast<int64_t>(b_scales.size()) != 1 && static_cast<int64_t>(b_scales.size()) != n)
      throw PrepareFailure("weight scales do not match the output columns");
    if (!bias.empty() && static_cast<int64_t>(bias.size()) != n)
      throw PrepareFailure("bias does not match the output columns");
    const dt a_type = dnnl_type(a.dtype), b_type = dnnl_type(b_dtype);
    dst_dtype_ = int8 && epi.quant ? epi.quant->qtype : DType::f32;
    const dt d_type = dnnl_type(dst_dtype_);

    // Output shape and whether all rows can be one GEMM.
    Shape batch;
    const int rank = static_cast<int>(std::max(as.size(), bs.size()));
    if (!gemm) {
      const dnnl::memory::dims ad = pad_rank(as, rank), bd = pad_rank(bs, rank);
      for (int i = 0; i < rank - 2; ++i) {
        if (ad[i] != bd[i] && ad[i] != 1 && bd[i] != 1)
          throw PrepareFailure("batch dimensions do not broadcast: " + shape_str(as) + " x " +
                               shape_str(bs));
        batch.push_back(std::max(ad[i], bd[i]));
      }
    }
    out_shape_ = batch;
    out_shape_.push_back(m);
    out_shape_.push_back(n);
    if (shape_numel(out_shape_) == 0 || k == 0) throw PrepareFailure("empty tensor");
    bool collapsed = b_const && bs.size() == 2 && !trans_a;
    const int64_t rows = shape_numel(as) / k;
    if (collapsed) {
      for (const PostOp& p : epi.ops) {
        if (p.kind == PostOp::Kind::Eltwise ||
            (p.kind == PostOp::Kind::Sum && !p.as_binary && rt.live(p.slot).shape == out_shape_))
          continue;
        const Shape s = p.constant ? p.constant->shape() : rt.live(p.slot).shape;
        if (collapsed_operand_dims(s, out_shape_, {rows, n}).empty()) collapsed = false;
      }
    }
    dnnl::memory::dims dst_dims, b_dims;
    if (collapsed) {
      a_md_ = plain_desc(dnnl::memory::dims{rows, k}, a_type);
      b_dims = {k, n};
      dst_dims = {rows, n};
    } else if (gemm) {
      a_md_ =
          trans_a ? MemDesc({m, k}, a_type, {1, m}) : plain_desc(dnnl::memory::dims{m, k}, a_type);
      b_dims = {k, n};
      dst_dims = {m, n};
    } else {
      a_md_ = plain_desc(pad_rank(as, rank), a_type);
      b_dims = pad_rank(bs, rank);
      dst_dims = to_dims(out_shape_);
    }
    // B as stored: row-major, or transposed (Gemm transB) through strides.
    const MemDesc b_stored = trans_b ? MemDesc(b_dims, b_type, {1, k}) : plain_desc(b_dims, b_type);
    b_md_ = b_const ? MemDesc(b_dims, b_type, dnnl::memory::format_tag::any) : b_stored;
    const int dst_rank = static_cast<int>(dst_dims.size());
    const MemDesc dst_md = plain_desc(dst_dims, d_type);

    dnnl::primitive_attr attr;
    std::vector<float> out_scales;
    bool alpha_in_scale = false;
    if (int8) {
      for (float s : b_scales)
        out_scales.push_back(a_scale * s * alpha);
      alpha_in_scale = true;
      if (a_zp != 0) attr.set_zero_points(DNNL_ARG_SRC, 0, {a_zp});
      if (b_zp != 0) attr.set_zero_points(DNNL_ARG_WEIGHTS, 0, {b_zp});
    } else if (alpha != 1.f && !b_const) {
      out_scales = {alpha};
      alpha_in_scale = true;
    }
    if (!out_scales.empty())
      attr.set_output_scales(out_scales.size() > 1 ? 1 << (dst_rank - 1) : 0, out_scales);
    attr.set_post_ops(build_post_ops(rt, epi, out_shape_, dst_dims,
                                     collapsed ? collapsed_operand_dims : aligned_operand_dims,
                                     binary_args_, int8));
    MemDesc bias_md;
    if (!bias.empty()) {
      dnnl::memory::dims bd(dst_rank, 1);
      bd.back() = n;
      bias_md = plain_desc(bd, dt::f32);
    }
    const dnnl::matmul::desc desc = bias.empty()
                                        ? dnnl::matmul::desc(a_md_, b_md_, dst_md)
                                        : dnnl::matmul::desc(a_md_, b_md_, bias_md, dst_md);
    pd_ = dnnl::matmul::primitive_desc(desc, attr, rt.engine);
    prim_ = dnnl::matmul(pd_);
    resolve_binary_args(pd_, binary_args_);

    if (b_const) {
      Tensor source = *b_const;
      if (!int8 && alpha != 1.f) {
        source = b_const->clone();
        float* p = source.data_mutable<float>();
        for (int64_t i = 0; i < source.numel(); ++i)
          p[i] *= alpha;
      }
      packed_ = Tensor(DType::u8, {static_cast<int64_t>(pd_.weights_desc().get_size())});
      weights_mem_ = dnnl::memory(pd_.weights_desc(), rt.engine, packed_.raw_mutable());
      dnnl::memory plain(b_stored, rt.engine, handle(source));
      dnnl::reorder(plain, weights_mem_).execute(rt.stream, plain, weights_mem_);
      rt.stream.wait();
    }
    if (!bias.empty()) {
      bias_acc_ = Tensor(DType::f32, {n});
      float* p = bias_acc_.data_mutable<float>();
      for (int64_t j = 0; j < n; ++j) {
        const float s = alpha_in_scale ? out_scales[out_scales.size() > 1 ? j : 0] : 1.f;
        p[j] = bias[j] / s;
      }
      bias_mem_ = dnnl::memory(pd_.bias_desc(), rt.engine, bias_acc_.raw_mutable());
    }
    info.implementation = impl_name(pd_);
  }

  bool prepared_ = false;
  std::vector<Shape> key_;
  DType key_a_ = DType::f32, key_b_ = DType::f32;
  dnnl::matmul::primitive_desc pd_;
  dnnl::matmul prim_;
  MemDesc a_md_, b_md_;
  Tensor packed_;
  dnnl::memory weights_mem_;
  Tensor bias_acc_;
  dnnl::memory bias_mem_;
  std::vector<std::pair<int, MemDesc>> binary_args_;
  Shape out_shape_;
  DType dst_dtype_ = DType::f32;
  ReorderCache reorders_;
};

// Gemm's C: beta * C as a bias (row vector) or as a leading binary post-op (anything else that
// broadcasts). Returns false when C cannot be fused.
bool attach_gemm_c(PlanBuilder& b, const Node& node, MatMulStep& step, int64_t n, bool int8,
                   std::vector<std::string>& names) {
  const Value* cv = node.input(2);
  if (!cv) return true;
  const float beta = node.attr_float("beta", 1.f);
  std::optional<Tensor> c;
  if (const Node* dqc = int8 ? dq_producer(b, cv) : nullptr) {
    const std::optional<QParams> qc = read_qparams(b, *dqc);
    const Tensor* cq = b.constant(dqc->input(0));
    // Per tensor, or per element of a 1-D C (the int32 bias form quantizers write).
    if (!cq || (!qc->per_tensor() &&
                (cq->rank() != 1 || static_cast<int64_t>(qc->scales.size()) != cq->numel())))
      return false;
    Tensor real(DType::f32, cq->shape());
    float* p = real.data_mutable<float>();
    for (int64_t i = 0; i < cq->numel(); ++i) {
      const size_t j = qc->per_tensor() ? 0 : static_cast<size_t>(i);
      p[i] = static_cast<float>((cq->at(i) - qc->zero_points[j]) * qc->scales[j]);
    }
    c = real;
    step.nodes.push_back(dqc);
  } else if (const Tensor* ct = b.constant(cv)) {
    if (ct->dtype() != DType::f32) return false;
    c = *ct;
  }
  if (!c) {
    // A run-time C: a binary add before the other post-ops (beta must be 1).
    if (beta != 1.f) return false;
    PostOp p;
    p.kind = PostOp::Kind::Binary;
    p.operand = cv;
    p.slot = b.slot(cv);
    step.epi.ops.insert(step.epi.ops.begin(), p);
    names.insert(names.begin(), "binary_add");
    return true;
  }
  Tensor scaled = c->clone();
  float* p = scaled.data_mutable<float>();
  for (int64_t i = 0; i < scaled.numel(); ++i)
    p[i] *= beta;
  const Shape& s = scaled.shape();
  const bool row = n > 0 && scaled.numel() == n && !s.empty() && s.back() == n && s.size() <= 2;
  if (row) {
    if (step.bias.empty()) step.bias.assign(n, 0.f);
    for (int64_t j = 0; j < n; ++j)
      step.bias[j] += p[j];
    names.insert(names.begin(), "bias");
    return true;
  }
  PostOp op;
  op.kind = PostOp::Kind::Binary;
  op.operand = cv;
  op.constant = scaled;
  step.epi.ops.insert(step.epi.ops.begin(), op);
  names.insert(names.begin(), "binary_add");
  return true;
}

std::unique_ptr<MatMulStep> match_int8(PlanBuilder& b, const Node& node, bool gemm) {
  const Node* dqa = dq_producer(b, node.input(0));
  const Node* dqb = dq_producer(b, node.input(1));
  if (!dqa || !dqb) return nullptr;
  const std::optional<QParams> qa = read_qparams(b, *dqa);
  const std::optional<QParams> qb = read_qparams(b, *dqb);
  if (!qa->per_tensor() || qa->qtype == DType::i32) return nullptr;
  auto step = std::make_unique<MatMulStep>();
  step->trans_b = gemm && node.attr_int("transB", 0) != 0;
  int64_t n = -1;
  if (const Tensor* bq = b.constant(dqb->input(0))) {
    if (bq->dtype() != DType::i8 || bq->rank() < 2) return nullptr;
    for (int32_t z : qb->zero_points)
      if (z != 0) return nullptr;
    const int n_axis = step->trans_b ? bq->rank() - 2 : bq->rank() - 1;
    n = bq->dim(n_axis);
    if (!qb->per_tensor() &&
        (qb->axis != n_axis || static_cast<int64_t>(qb->scales.size()) != n || bq->rank() != 2))
      return nullptr;
    step->b_const = *bq;
  } else {
    if (!qb->per_tensor() || qb->qtype == DType::u8 || qb->qtype == DType::i32) return nullptr;
    step->b_slot = b.slot(dqb->input(0));
    step->b_zp = qb->zero_points[0];
  }
  step->nodes = {dqa, dqb, &node};
  step->int8 = true;
  step->a_slot = b.slot(dqa->input(0));
  step->a_scale = qa->scales[0];
  step->a_zp = qa->zero_points[0];
  step->b_scales = qb->scales;
  return step;
}

} // namespace

namespace {

std::unique_ptr<Step> build_matmul(PlanBuilder& b, const Node& node, bool try_int8) {
  const bool gemm = node.op() == "Gemm";
  std::unique_ptr<MatMulStep> step = try_int8 ? match_int8(b, node, gemm) : nullptr;
  if (try_int8 && !step) return nullptr;
  const bool int8 = try_int8;
  if (!step) {
    step = std::make_unique<MatMulStep>();
    step->trans_b = gemm && node.attr_int("transB", 0) != 0;
    if (const Tensor* bt = b.constant(node.input(1))) {
      if (bt->dtype() != DType::f32) return nullptr;
      step->b_const = *bt;
    } else {
      step->b_slot = b.slot(node.input(1));
    }
    step->a_slot = b.slot(node.input(0));
    step->nodes = {&node};
  }
  step->node = &node;
  step->gemm = gemm;
  step->trans_a = gemm && node.attr_int("transA", 0) != 0;
  step->alpha = gemm ? node.attr_float("alpha", 1.f) : 1.f;
  int64_t n = -1;
  if (step->b_const && step->b_const->rank() >= 2)
    n = step->b_const->dim(step->trans_b ? step->b_const->rank() - 2 : step->b_const->rank() - 1);
  step->epi = collect_epilogue(b, node.output(), AnchorKind::MatMul, int8, true, n, 2);
  std::vector<std::string> names = step->epi.names;
  if (gemm && !attach_gemm_c(b, node, *step, n, int8, names)) return nullptr;
  if (step->epi.bias) {
    if (step->bias.empty()) step->bias.assign(n, 0.f);
    for (int64_t j = 0; j < n; ++j)
      step->bias[j] += step->epi.bias->data<float>()[j];
  }
  step->dst_slot = b.slot(step->epi.out);
  step->info.kind = int8 ? "int8 matmul" : "matmul";
  step->info.post_ops = names;
  step->nodes.insert(step->nodes.end(), step->epi.nodes.begin(), step->epi.nodes.end());
  claim_group(b, step->nodes);
  b.finish(*step, {step->epi.out});
  return step;
}

} // namespace

std::unique_ptr<Step> match_matmul(PlanBuilder& b, const Node& node) {
  if ((node.op() != "Gemm" && node.op() != "MatMul") || !node.input(0) || !node.input(1))
    return nullptr;
  if (b.options.int8)
    if (std::unique_ptr<Step> s = build_matmul(b, node, true)) return s;
  return build_matmul(b, node, false);
}

} // namespace shrink::onednn
