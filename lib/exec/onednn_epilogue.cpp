// Post-op fusion: the nodes after a Conv/MatMul/Gemm that oneDNN applies in the same pass over
// the output (bias, activations, scalar scaling, a residual sum, binary operands, a final
// requantization).

#include "onednn_internal.h"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace shrink::onednn {

namespace {

// True when `c` only varies along the channel axis of the output (axis 1 for conv, the last axis
// for matmul) and cannot change the output's shape.
bool is_bias_shape(const Tensor& c, AnchorKind kind, int64_t channels, int out_rank) {
  if (channels <= 0 || c.numel() != channels) return false;
  const Shape& s = c.shape();
  if (kind == AnchorKind::MatMul) return c.rank() <= 2 && !s.empty() && s.back() == channels;
  if (out_rank < 0 || c.rank() > out_rank || c.rank() < out_rank - 1) return false;
  // Aligned at the last dimension, the channel axis of an out_rank output is index 1.
  const int channel_index = 1 - (out_rank - c.rank());
  for (int i = 0; i < c.rank(); ++i)
    if (s[i] != (i == channel_index ? channels : 1)) return false;
  return true;
}

bool other_outputs_unused(PlanBuilder& b, const Node& n) {
  for (int i = 1; i < n.num_outputs(); ++i)
    if (!n.output(i)->uses().empty() || b.escapes(n.output(i))) return false;
  return true;
}

algorithm binary_alg(const std::string& op) {
  if (op == "Add") return algorithm::binary_add;
  if (op == "Sub") return algorithm::binary_sub;
  if (op == "Mul") return algorithm::binary_mul;
  return algorithm::binary_div;
}

std::string lower(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

} // namespace

Epilogue collect_epilogue(PlanBuilder& b, const Value* anchor_out, AnchorKind kind, bool int8,
                          bool const_weights, int64_t channels, int out_rank) {
  Epilogue epi;
  epi.out = anchor_out;
  const Value* cur = anchor_out;
  bool have_sum = false;
  while (true) {
    const Node* u = b.sole_user(cur);
    if (!u || b.claimed(u)) break;
    const std::string& op = u->op();
    if (op == "QuantizeLinear") {
      if (!int8 || u->input(0) != cur) break;
      std::optional<QParams> q = read_qparams(b, *u);
      if (!q || !q->per_tensor() || (q->qtype != DType::u8 && q->qtype != DType::i8)) break;
      epi.quant = q;
      epi.nodes.push_back(u);
      epi.names.push_back("requantize");
      cur = u->output();
      break; // int8 output: nothing more can follow in the same primitive
    }
    if (std::optional<EltwiseOp> e = eltwise_of(b, *u)) {
      if (u->input(0) != cur) break;
      PostOp p;
      p.kind = PostOp::Kind::Eltwise;
      p.eltwise = *e;
      epi.ops.push_back(p);
      epi.names.push_back(e->name);
      epi.nodes.push_back(u);
      cur = u->output();
      continue;
    }
    if (op == "BatchNormalization") {
      if (kind != AnchorKind::Conv || int8 || !const_weights || !epi.ops.empty() || epi.bias ||
          !epi.bn_mul.empty() || u->input(0) != cur || channels <= 0 ||
          u->attr_int("training_mode", 0) != 0 || !other_outputs_unused(b, *u))
        break;
      const Tensor* t[4];
      bool ok = true;
      for (int i = 0; i < 4; ++i) {
        t[i] = b.constant(u->input(i + 1));
        ok = ok && t[i] && t[i]->dtype() == DType::f32 && t[i]->numel() == channels;
      }
      if (!ok) break;
      const float eps = u->attr_float("epsilon", 1e-5f);
      const float* scale = t[0]->data<float>();
      const float* shift = t[1]->data<float>();
      const float* mean = t[2]->data<float>();
      const float* var = t[3]->data<float>();
      epi.bn_mul.resize(channels);
      epi.bn_add.resize(channels);
      for (int64_t c = 0; c < channels; ++c) {
        epi.bn_mul[c] = scale[c] / std::sqrt(var[c] + eps);
        epi.bn_add[c] = shift[c] - mean[c] * epi.bn_mul[c];
      }
      epi.names.push_back("batchnorm-folded");
      epi.nodes.push_back(u);
      cur = u->output();
      continue;
    }
    if (op != "Add" && op != "Sub" && op != "Mul" && op != "Div") break;
    if (u->input(0) == u->input(1)) break;
    const int other_index = u->input(0) == cur ? 1 : 0;
    const Value* other = u->input(other_index);
    const bool cur_first = other_index == 1;
    if (const Tensor* c = b.constant(other)) {
      if (c->dtype() != DType::f32) break;
      if (c->numel() == 1) {
        // Scalar operands become a linear post-op: alpha * x + beta.
        const float k = static_cast<float>(c->at(0));
        float alpha = 1.f, beta = 0.f;
        if (op == "Add") {
          beta = k;
        } else if (op == "Sub") {
          if (cur_first) {
            beta = -k;
          } else {
            alpha = -1.f;
            beta = k;
          }
        } else if (op == "Mul") {
          alpha = k;
        } else {
          if (!cur_first || k == 0.f) break;
          alpha = 1.f / k;
        }
        PostOp p;
        p.eltwise = EltwiseOp{algorithm::eltwise_linear, alpha, beta, "scale"};
        epi.ops.push_back(p);
        epi.names.push_back(lower(op) + "-scalar");
        epi.nodes.push_back(u);
        cur = u->output();
        continue;
      }
      if (op == "Add" && epi.ops.empty() && !epi.bias &&
          is_bias_shape(*c, kind, channels, out_rank)) {
        epi.bias = c->reshaped({c->numel()});
        epi.names.push_back("bias");
        epi.nodes.push_back(u);
        cur = u->output();
        continue;
      }
      if (!cur_first && (op == "Sub" || op == "Div")) break;
      PostOp p;
      p.kind = PostOp::Kind::Binary;
      p.binary_alg = binary_alg(op);
      p.operand = other;
      p.constant = *c;
      epi.ops.push_back(p);
      epi.names.push_back("binary_" + lower(op));
      epi.nodes.push_back(u);
      cur = u->output();
      continue;
    }
    // A run-time operand.
    if (!cur_first && (op == "Sub" || op == "Div")) break;
    PostOp p;
    p.operand = other;
    if (op == "Add" && !have_sum) {
      p.kind = PostOp::Kind::Sum;
      const Node* dq = int8 ? dq_producer(b, other) : nullptr;
      std::optional<QParams> q = dq ? read_qparams(b, *dq) : std::nullopt;
      if (q && q->per_tensor() && q->qtype != DType::i32) {
        // An int8 residual is read as int8 straight from the DequantizeLinear's input.
        p.slot = b.slot(dq->input(0));
        p.scale = q->scales[0];
        p.zero_point = q->zero_points[0];
        p.residual_dtype = q->qtype == DType::f32 ? DType::u8 : q->qtype;
        epi.nodes.push_back(dq);
      } else {
        p.slot = b.slot(other);
      }
      have_sum = true;
      epi.names.push_back("sum");
    } else {
      p.kind = PostOp::Kind::Binary;
      p.binary_alg = binary_alg(op);
      p.slot = b.slot(other);
      epi.names.push_back("binary_" + lower(op));
    }
    epi.ops.push_back(p);
    epi.nodes.push_back(u);
    cur = u->output();
  }
  epi.out = cur;
  // A sum reads the residual in the destination's type: an f32 residual of an int8 destination
  // is added as a binary post-op (in real units, before the requantization) instead.
  if (epi.quant) {
    for (size_t i = 0; i < epi.ops.size(); ++i) {
      PostOp& p = epi.ops[i];
      if (p.kind != PostOp::Kind::Sum || p.int8_residual()) continue;
      p.kind = PostOp::Kind::Binary;
      p.binary_alg = algorithm::binary_add;
      for (std::string& name : epi.names)
        if (name == "sum") name = "binary_add";
    }
  }
  // An int8 residual can only be summed into an int8 destination; without a final
  // QuantizeLinear the residual is read in f32 from its DequantizeLinear instead.
  if (!epi.quant) {
    for (PostOp& p : epi.ops) {
      if (!p.int8_residual()) continue;
      const Node* dq = p.operand->producer();
      epi.nodes.erase(std::remove(epi.nodes.begin(), epi.nodes.end(), dq), epi.nodes.end());
      p.slot = b.slot(p.operand);
      p.scale = 1.f;
      p.zero_point = 0;
      p.residual_dtype = DType::f32;
    }
  }
  return epi;
}

void claim_group(PlanBuilder& b, const std::vector<const Node*>& nodes) {
  for (const Node* n : nodes)
    if (n->op() != "DequantizeLinear") b.claim(n);
}

void decide_in_place(Epilogue& epi, const std::vector<int>& last_use,
                     const std::vector<Slot>& slots, int self, const std::vector<int>& operands) {
  PostOp* sum = nullptr;
  for (PostOp& p : epi.ops)
    if (p.kind == PostOp::Kind::Sum) sum = &p;
  if (!sum) return;
  bool ok = last_use[sum->slot] == self && !slots[sum->slot].escapes && !slots[sum->slot].constant;
  for (int id : operands)
    ok = ok && id != sum->slot;
  for (const PostOp& p : epi.ops)
    ok = ok && (&p == sum || p.slot != sum->slot);
  sum->in_place = ok;
}

dnnl::memory::dims aligned_operand_dims(const Shape& operand, const Shape& out,
                                        const dnnl::memory::dims& dst_dims) {
  if (operand.size() > dst_dims.size()) return {};
  dnnl::memory::dims dims = pad_rank(operand, static_cast<int>(dst_dims.size()));
  return broadcasts_to(dims, dst_dims) ? dims : dnnl::memory::dims{};
}

std::vector<Shape> operand_shapes(Runtime& rt, const Epilogue& epi) {
  std::vector<Shape> shapes;
  for (const PostOp& p : epi.ops)
    if (p.kind != PostOp::Kind::Eltwise && !p.constant) shapes.push_back(rt.live(p.slot).shape);
  return shapes;
}

PostOp* active_sum(Epilogue& epi) {
  for (PostOp& p : epi.ops)
    if (p.kind == PostOp::Kind::Sum && !p.as_binary) return &p;
  return nullptr;
}

dnnl::post_ops build_post_ops(Runtime& rt, Epilogue& epi, const Shape& out_shape,
                              const dnnl::memory::dims& dst_dims, OperandDims map_dims,
                              std::vector<std::pair<int, MemDesc>>& binary_args, bool requantize) {
  dnnl::post_ops po;
  binary_args.clear();
  int index = 0;
  for (PostOp& p : epi.ops) {
    switch (p.kind) {
    case PostOp::Kind::Eltwise:
      po.append_eltwise(1.f, p.eltwise.alg, p.eltwise.alpha, p.eltwise.beta);
      break;
    case PostOp::Kind::Sum: {
      const Slot& r = rt.live(p.slot);
      p.as_binary = false;
      if (p.int8_residual()) {
        if (r.dtype != DType::u8 && r.dtype != DType::i8)
          throw PrepareFailure("int8 residual '" + r.value->name() + "' is not u8/i8");
        p.residual_dtype = r.dtype;
      }
      if (r.shape != out_shape) {
        if (p.int8_residual())
          throw PrepareFailure("int8 residual " + shape_str(r.shape) +
                               " does not match the output " + shape_str(out_shape));
        p.as_binary = true;
      }
      if (!p.as_binary) {
        if (p.int8_residual())
          po.append_sum(p.scale, p.zero_point, dnnl_type(p.residual_dtype));
        else
          po.append_sum(1.f);
        break;
      }
      [[fallthrough]];
    }
    case PostOp::Kind::Binary: {
      const Shape shape = p.constant ? p.constant->shape() : rt.live(p.slot).shape;
      const DType dtype = p.constant ? p.constant->dtype() : rt.live(p.slot).dtype;
      if (dtype != DType::f32)
        throw PrepareFailure("post-op operand '" + p.operand->name() + "' is not f32");
      dnnl::memory::dims dims = map_dims(shape, out_shape, dst_dims);
      if (dims.empty())
        throw PrepareFailure("post-op operand '" + p.operand->name() + "' " + shape_str(shape) +
                             " does not broadcast to the output " + shape_str(out_shape));
      // A full-size operand lets the primitive pick its layout (usually the destination's):
      // implementations only vectorize binary post-ops whose layout matches the destination.
      const MemDesc md = dims == dst_dims ? MemDesc(dims, dt::f32, dnnl::memory::format_tag::any)
                                          : plain_desc(dims, dt::f32);
      po.append_binary(p.kind == PostOp::Kind::Sum ? algorithm::binary_add : p.binary_alg, md);
      binary_args.emplace_back(index, md);
      break;
    }
    }
    ++index;
  }
  if (requantize && epi.quant)
    po.append_eltwise(1.f, algorithm::eltwise_linear, 1.f / epi.quant->scales[0],
                      static_cast<float>(epi.quant->zero_points[0]));
  return po;
}

void resolve_binary_args(const dnnl::primitive_desc_base& pd,
                         std::vector<std::pair<int, MemDesc>>& binary_args) {
  for (auto& [index, md] : binary_args)
    md = pd.query_md(dnnl::query::exec_arg_md,
                     DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1);
}

void bind_post_op_args(Runtime& rt, const Epilogue& epi,
                       const std::vector<std::pair<int, MemDesc>>& binary_args,
                       std::unordered_map<int, dnnl::memory>& args, ReorderCache& cache,
                       std::vector<int>& scratch) {
  for (const auto& [index, md] : binary_args) {
    const PostOp& p = epi.ops[index];
    const int arg = DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1;
    const bool plain = md == plain_desc(md.dims(), md.data_type());
    if (!p.constant && !plain) {
      args[arg] = rt.memory_as(p.slot, md, cache, scratch);
      continue;
    }
    const Tensor& t = p.constant ? *p.constant : rt.plain(p.slot);
    // Plain operands are used in place (their dims may be padded or collapsed views).
    dnnl::memory src(plain_desc(md.dims(), md.data_type()), rt.engine, handle(t));
    if (plain) {
      args[arg] = src;
      continue;
    }
    const int buffer = rt.scratch_buffer(md.get_size());
    scratch.push_back(buffer);
    dnnl::memory dst(md, rt.engine, const_cast<void*>(rt.pool.tensor(buffer).raw()));
    cache.get(rt.engine, src.get_desc(), md).execute(rt.stream, src, dst);
    args[arg] = dst;
  }
}

dnnl::memory prepare_sum_dst(Runtime& rt, const PostOp& sum, int dst_slot, DType dst_dtype,
                             const Shape& dst_shape, const MemDesc& dst_desc, ReorderCache& cache) {
  Slot& r = rt.live(sum.slot);
  if (r.shape != dst_shape)
    throw PrepareFailure("residual " + shape_str(r.shape) + " does not match the output " +
                         shape_str(dst_shape));
  if (dtype_size(r.dtype) != dtype_size(dst_dtype))
    throw PrepareFailure("residual type does not match the output type");
  if (sum.in_place && r.dtype == dst_dtype && r.buffer >= 0 && rt.pool.refs(r.buffer) == 1 &&
      r.desc == dst_desc)
    return rt.adopt(dst_slot, sum.slot, dst_shape, dst_desc);
  dnnl::memory dst = rt.define(dst_slot, dst_dtype, dst_shape, dst_desc);
  const MemDesc view = with_type(dst_desc, dnnl_type(r.dtype));
  dnnl::memory dst_view(view, rt.engine, dst.get_data_handle());
  dnnl::memory src = rt.memory(sum.slot);
  cache.get(rt.engine, r.desc, view).execute(rt.stream, src, dst_view);
  return dst;
}

} // namespace shrink::onednn
