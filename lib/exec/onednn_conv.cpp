// Convolution steps, fp32 and int8 (QDQ form), with fused post-ops.
//
// int8: `DequantizeLinear(x_q) , DequantizeLinear(w_q s8, per-channel) -> Conv -> ... ->
// QuantizeLinear` runs as one u8/s8 x s8 primitive. oneDNN 2.x computes
//   dst = post_ops(output_scale[c] * (sum(x_q - zx) * w_q + bias_acc[c]))
// so the output scale is sx * sw[c] (results in real units), the bias is given in accumulator
// units (bias / (sx * sw[c])), the post-ops run in real units exactly as the fp32 graph would, and
// the final QuantizeLinear is a linear post-op 1/sy * v + zy before the saturating conversion to
// u8/s8. The input zero point zx is a oneDNN source zero point.

#include "onednn_internal.h"

#include <algorithm>

namespace shrink::onednn {

namespace {

struct ConvGeometry {
  dnnl::memory::dims strides, dilates, pad_l, pad_r;
  Shape out;
};

ConvGeometry conv_geometry(const Node& n, const Shape& in, const Shape& w, int64_t out_channels) {
  const int sd = static_cast<int>(in.size()) - 2;
  ConvGeometry g;
  const std::vector<int64_t> kernel(w.begin() + 2, w.end());
  std::vector<int64_t> ks = n.attr_ints("kernel_shape", kernel);
  if (ks != kernel) throw PrepareFailure("kernel_shape does not match the weights");
  std::vector<int64_t> strides = n.attr_ints("strides", std::vector<int64_t>(sd, 1));
  std::vector<int64_t> dilations = n.attr_ints("dilations", std::vector<int64_t>(sd, 1));
  std::vector<int64_t> pads = n.attr_ints("pads", std::vector<int64_t>(2 * sd, 0));
  if (static_cast<int>(strides.size()) != sd || static_cast<int>(dilations.size()) != sd ||
      static_cast<int>(pads.size()) != 2 * sd)
    throw PrepareFailure("strides/dilations/pads do not match the spatial rank");
  const std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
  g.out = {in[0], out_channels};
  for (int i = 0; i < sd; ++i) {
    if (strides[i] <= 0 || dilations[i] <= 0) throw PrepareFailure("bad strides/dilations");
    const int64_t ek = (kernel[i] - 1) * dilations[i] + 1;
    int64_t pb = pads[i], pe = pads[i + sd];
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      const int64_t out = (in[i + 2] + strides[i] - 1) / strides[i];
      const int64_t total = std::max<int64_t>(0, (out - 1) * strides[i] + ek - in[i + 2]);
      pb = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe = total - pb;
    } else if (auto_pad == "VALID") {
      pb = pe = 0;
    } else if (auto_pad != "NOTSET") {
      throw PrepareFailure("unknown auto_pad '" + auto_pad + "'");
    }
    const int64_t span = in[i + 2] + pb + pe - ek;
    if (span < 0) throw PrepareFailure("kernel larger than the padded input");
    g.out.push_back(span / strides[i] + 1);
    g.strides.push_back(strides[i]);
    g.dilates.push_back(dilations[i] - 1);
    g.pad_l.push_back(pb);
    // oneDNN wants the right padding consistent with the output size.
    g.pad_r.push_back((g.out.back() - 1) * strides[i] + ek - in[i + 2] - pb);
  }
  return g;
}

class ConvStep : public Step {
public:
  const Node* conv = nullptr;
  int src_slot = -1;
  std::optional<Tensor> weights; // [OC, C/group, k...], f32 or (int8) s8
  int weight_slot = -1;
  std::vector<float> bias; // real units; empty for none
  int bias_slot = -1;
  bool int8 = false;
  bool winograd_ok = false; // winograd_eligible()
  float src_scale = 1.f;
  int32_t src_zp = 0;
  std::vector<float> w_scales;
  Epilogue epi;
  int dst_slot = -1;

  void finalize(const std::vector<int>& last_use, const std::vector<Slot>& slots,
                int self) override {
    decide_in_place(epi, last_use, slots, self, {src_slot, weight_slot, bias_slot});
  }

protected:
  void execute(Runtime& rt) override {
    const Slot& src = rt.live(src_slot);
    std::vector<Shape> key = operand_shapes(rt, epi);
    key.push_back(src.shape);
    if (weight_slot >= 0) key.push_back(rt.live(weight_slot).shape);
    // Only a convolution that may run as Winograd depends on the plan's algorithm choice.
    const bool winograd = rt.winograd && winograd_ok;
    key.push_back(Shape{current_threads(), winograd ? 1 : 0});
    if (key != cur_.key || src.dtype != cur_.dtype) {
      // The plan's tuning switches thread counts and algorithms back and forth: earlier
      // preparations are kept, so that switching back costs nothing.
      auto it = std::find_if(stash_.begin(), stash_.end(), [&](const Prepared& p) {
        return p.key == key && p.dtype == src.dtype;
      });
      if (it != stash_.end()) {
        std::swap(cur_, *it);
        info.implementation = impl_name(cur_.pd);
      } else {
        if (!cur_.key.empty()) { // a preparation is in use: keep it
          stash_.push_back(std::move(cur_));
          cur_ = Prepared();
          if (stash_.size() > 3) stash_.erase(stash_.begin());
        }
        prepare(rt);
        cur_.key = key;
        cur_.dtype = src.dtype;
      }
    }
    Scratch scratch(rt);
    std::unordered_map<int, dnnl::memory> args;
    args[DNNL_ARG_SRC] = rt.memory_as(src_slot, cur_.pd.src_desc(), reorders_, scratch.ids);
    if (weights) {
      args[DNNL_ARG_WEIGHTS] = cur_.weights_mem;
    } else {
      if (rt.live(weight_slot).dtype != DType::f32) throw PrepareFailure("weights are not f32");
      dnnl::memory plain(cur_.weights_plain_md, rt.engine, handle(rt.plain(weight_slot)));
      const int buffer = rt.scratch_buffer(cur_.pd.weights_desc().get_size());
      scratch.ids.push_back(buffer);
      dnnl::memory packed(cur_.pd.weights_desc(), rt.engine,
                          const_cast<void*>(rt.pool.tensor(buffer).raw()));
      reorders_.get(rt.engine, cur_.weights_plain_md, cur_.pd.weights_desc())
          .execute(rt.stream, plain, packed);
      args[DNNL_ARG_WEIGHTS] = packed;
    }
    if (bias_slot >= 0) {
      const Tensor& t = rt.plain(bias_slot);
      if (t.dtype() != DType::f32 || t.numel() != cur_.out_shape[1])
        throw PrepareFailure("bias is not f32[" + std::to_string(cur_.out_shape[1]) + "]");
      args[DNNL_ARG_BIAS] = dnnl::memory(cur_.pd.bias_desc(), rt.engine, handle(t));
    } else if (!bias.empty()) {
      args[DNNL_ARG_BIAS] = cur_.bias_mem;
    }
    bind_post_op_args(rt, epi, cur_.binary_args, args, reorders_, scratch.ids);
    if (const PostOp* sum = active_sum(epi))
      args[DNNL_ARG_DST] = prepare_sum_dst(rt, *sum, dst_slot, cur_.dst_dtype, cur_.out_shape,
                                           cur_.pd.dst_desc(), reorders_);
    else
      args[DNNL_ARG_DST] = rt.define(dst_slot, cur_.dst_dtype, cur_.out_shape, cur_.pd.dst_desc());
    cur_.prim.execute(rt.stream, args);
    rt.stream.wait();
  }

private:
  void prepare(Runtime& rt) {
    const Slot& src = rt.live(src_slot);
    const Shape& in = src.shape;
    const Shape wshape = weights ? weights->shape() : rt.live(weight_slot).shape;
    const int rank = static_cast<int>(in.size());
    if (rank < 3 || rank > 5 || static_cast<int>(wshape.size()) != rank)
      throw PrepareFailure("input " + shape_str(in) + " and weights " + shape_str(wshape) +
                           " are not a 1-D/2-D/3-D convolution");
    if (int8 ? (src.dtype != DType::u8 && src.dtype != DType::i8) : src.dtype != DType::f32)
      throw PrepareFailure(std::string("unsupported input type ") + dtype_name(src.dtype));
    const int64_t group = conv->attr_int("group", 1);
    const int64_t channels = in[1], out_channels = wshape[0];
    if (group <= 0 || channels != wshape[1] * group || out_channels % group != 0)
      throw PrepareFailure("channels do not match the weights and groups");
    const ConvGeometry g = conv_geometry(*conv, in, wshape, out_channels);
    cur_.out_shape = g.out;
    if (shape_numel(in) == 0 || shape_numel(cur_.out_shape) == 0)
      throw PrepareFailure("empty tensor");

    dnnl::memory::dims w_dims;
    if (group > 1) {
      w_dims = {group, out_channels / group, wshape[1]};
      w_dims.insert(w_dims.end(), wshape.begin() + 2, wshape.end());
    } else {
      w_dims = to_dims(wshape);
    }
    const dt w_type = int8 ? dt::s8 : dt::f32;
    cur_.dst_dtype = int8 && epi.quant ? epi.quant->qtype : DType::f32;
    const auto any = dnnl::memory::format_tag::any;
    const dnnl::memory::dims src_dims = to_dims(in), dst_dims = to_dims(cur_.out_shape);
    const MemDesc src_md = rt.blocked_layouts ? MemDesc(src_dims, dnnl_type(src.dtype), any)
                                              : plain_desc(src_dims, dnnl_type(src.dtype));
    const MemDesc dst_md = rt.blocked_layouts ? MemDesc(dst_dims, dnnl_type(cur_.dst_dtype), any)
                                              : plain_desc(dst_dims, dnnl_type(cur_.dst_dtype));
    const MemDesc w_md(w_dims, w_type, any);
    cur_.weights_plain_md = plain_desc(w_dims, w_type);
    const bool has_bias = bias_slot >= 0 || !bias.empty();
    const MemDesc bias_md = plain_desc(dnnl::memory::dims{out_channels}, dt::f32);

    dnnl::primitive_attr attr;
    std::vector<float> out_scales;
    if (int8) {
      for (float s : w_scales)
        out_scales.push_back(src_scale * s);
      attr.set_output_scales(out_scales.size() > 1 ? 1 << 1 : 0, out_scales);
      if (src_zp != 0) attr.set_zero_points(DNNL_ARG_SRC, 0, {src_zp});
    }
    attr.set_post_ops(build_post_ops(rt, epi, cur_.out_shape, dst_dims, aligned_operand_dims,
                                     cur_.binary_args, int8));
    using conv_fwd = dnnl::convolution_forward;
    auto make_desc = [&](algorithm alg) {
      return has_bias ? conv_fwd::desc(dnnl::prop_kind::forward_inference, alg, src_md, w_md,
                                       bias_md, dst_md, g.strides, g.dilates, g.pad_l, g.pad_r)
                      : conv_fwd::desc(dnnl::prop_kind::forward_inference, alg, src_md, w_md,
                                       dst_md, g.strides, g.dilates, g.pad_l, g.pad_r);
    };
    bool winograd = false;
    if (rt.winograd && winograd_ok && src.dtype == DType::f32) {
      try {
        cur_.pd =
            conv_fwd::primitive_desc(make_desc(algorithm::convolution_winograd), attr, rt.engine);
        winograd = true;
      } catch (const dnnl::error&) {
        // No Winograd kernel for this shape or ISA: direct.
      }
    }
    if (!winograd)
      cur_.pd = conv_fwd::primitive_desc(make_desc(algorithm::convolution_direct), attr, rt.engine);
    cur_.prim = conv_fwd(cur_.pd);
    resolve_binary_args(cur_.pd, cur_.binary_args);

    if (weights) {
      // Weights are packed into the primitive's layout once per preparation.
      cur_.packed_weights =
          Tensor(DType::u8, {static_cast<int64_t>(cur_.pd.weights_desc().get_size())});
      cur_.weights_mem =
          dnnl::memory(cur_.pd.weights_desc(), rt.engine, cur_.packed_weights.raw_mutable());
      dnnl::memory plain(cur_.weights_plain_md, rt.engine, handle(*weights));
      dnnl::reorder(plain, cur_.weights_mem).execute(rt.stream, plain, cur_.weights_mem);
      rt.stream.wait();
    }
    if (!bias.empty()) {
      if (static_cast<int64_t>(bias.size()) != out_channels)
        throw PrepareFailure("bias size does not match the output channels");
      cur_.bias_acc = Tensor(DType::f32, {out_channels});
      float* p = cur_.bias_acc.data_mutable<float>();
      for (int64_t c = 0; c < out_channels; ++c)
        p[c] = int8 ? bias[c] / out_scales[out_scales.size() > 1 ? c : 0] : bias[c];
      cur_.bias_mem = dnnl::memory(cur_.pd.bias_desc(), rt.engine, cur_.bias_acc.raw_mutable());
    }
    info.implementation = impl_name(cur_.pd);
  }

  /// One preparation of the step: primitive, packed weights and bias for one key.
  struct Prepared {
    std::vector<Shape> key; ///< Operand and input shapes, thread count, algorithm.
    DType dtype = DType::f32;
    dnnl::convolution_forward::primitive_desc pd;
    dnnl::convolution_forward prim;
    MemDesc weights_plain_md;
    Tensor packed_weights;
    dnnl::memory weights_mem;
    Tensor bias_acc;
    dnnl::memory bias_mem;
    std::vector<std::pair<int, MemDesc>> binary_args;
    Shape out_shape;
    DType dst_dtype = DType::f32;
  };
  Prepared cur_;                ///< The preparation in use (empty key: none yet).
  std::vector<Prepared> stash_; ///< Earlier ones, for switching back (see execute).
  ReorderCache reorders_;
};

std::vector<std::string> with_bias_name(bool has_bias, const std::vector<std::string>& names) {
  std::vector<std::string> out;
  if (has_bias && (names.empty() || names.front() != "bias")) out.push_back("bias");
  out.insert(out.end(), names.begin(), names.end());
  return out;
}

std::unique_ptr<Step> match_int8_conv(PlanBuilder& b, const Node& node) {
  const Node* dqx = dq_producer(b, node.input(0));
  const Node* dqw = dq_producer(b, node.input(1));
  if (!dqx || !dqw) return nullptr;
  const std::optional<QParams> qx = read_qparams(b, *dqx);
  const std::optional<QParams> qw = read_qparams(b, *dqw);
  const Tensor* wq = b.constant(dqw->input(0));
  if (!qx->per_tensor() || qx->qtype == DType::i32) return nullptr;
  if (!wq || wq->dtype() != DType::i8 || wq->rank() < 3 || wq->rank() > 5) return nullptr;
  const int64_t out_channels = wq->dim(0);
  for (int32_t z : qw->zero_points)
    if (z != 0) return nullptr;
  if (!qw->per_tensor() &&
      (qw->axis != 0 || static_cast<int64_t>(qw->scales.size()) != out_channels))
    return nullptr;

  auto step = std::make_unique<ConvStep>();
  step->nodes = {dqx, dqw, &node};
  if (const Value* bv = node.input(2)) {
    step->bias.assign(out_channels, 0.f);
    if (const Node* dqb = dq_producer(b, bv)) {
      const std::optional<QParams> qb = read_qparams(b, *dqb);
      const Tensor* bq = b.constant(dqb->input(0));
      if (!bq || bq->numel() != out_channels ||
          (!qb->per_tensor() && static_cast<int64_t>(qb->scales.size()) != out_channels))
        return nullptr;
      for (int64_t c = 0; c < out_channels; ++c) {
        const size_t i = qb->per_tensor() ? 0 : static_cast<size_t>(c);
        step->bias[c] = static_cast<float>((bq->at(c) - qb->zero_points[i]) * qb->scales[i]);
      }
      step->nodes.push_back(dqb);
    } else if (const Tensor* bt = b.constant(bv)) {
      if (bt->dtype() != DType::f32 || bt->numel() != out_channels) return nullptr;
      for (int64_t c = 0; c < out_channels; ++c)
        step->bias[c] = bt->data<float>()[c];
    } else {
      return nullptr;
    }
  }
  const bool conv_bias = node.input(2) != nullptr;
  step->epi =
      collect_epilogue(b, node.output(), AnchorKind::Conv, true, true, out_channels, wq->rank());
  if (step->epi.bias) {
    if (step->bias.empty()) step->bias.assign(out_channels, 0.f);
    for (int64_t c = 0; c < out_channels; ++c)
      step->bias[c] += step->epi.bias->data<float>()[c];
  }
  step->conv = &node;
  step->int8 = true;
  step->src_slot = b.slot(dqx->input(0));
  step->src_scale = qx->scales[0];
  step->src_zp = qx->zero_points[0];
  step->weights = *wq;
  step->w_scales = qw->scales;
  step->dst_slot = b.slot(step->epi.out);
  step->info.kind = "int8 conv";
  step->info.post_ops = with_bias_name(conv_bias, step->epi.names);
  step->nodes.insert(step->nodes.end(), step->epi.nodes.begin(), step->epi.nodes.end());
  claim_group(b, step->nodes);
  b.finish(*step, {step->epi.out});
  return step;
}

} // namespace

bool winograd_eligible(PlanBuilder& b, const Node& node) {
  // 3x3, stride 1, no dilation, one group, constant f32 weights with at least 64 input and
  // output channels: where Winograd F(4x4, 3x3) pays for its transforms. (Thin layers such as a
  // 1-channel stem were 2.4x slower with it here.)
  if (node.op() != "Conv" || node.attr_int("group", 1) != 1) return false;
  const Tensor* w = b.constant(node.input(1));
  if (!w || w->dtype() != DType::f32 || w->rank() != 4 || w->dim(2) != 3 || w->dim(3) != 3 ||
      w->dim(0) < 64 || w->dim(1) < 64)
    return false;
  for (const char* attr : {"strides", "dilations"})
    for (int64_t v : node.attr_ints(attr, {1, 1}))
      if (v != 1) return false;
  return true;
}

std::unique_ptr<Step> match_conv(PlanBuilder& b, const Node& node) {
  if (node.op() != "Conv" || !node.input(0) || !node.input(1)) return nullptr;
  if (b.options.int8)
    if (std::unique_ptr<Step> s = match_int8_conv(b, node)) return s;

  auto step = std::make_unique<ConvStep>();
  const Tensor* w = b.constant(node.input(1));
  if (w && (w->dtype() != DType::f32 || w->rank() < 3)) return nullptr;
  const int64_t out_channels = w ? w->dim(0) : -1;
  if (w)
    step->weights = *w;
  else
    step->weight_slot = b.slot(node.input(1));
  if (const Value* bv = node.input(2)) {
    if (const Tensor* bt = b.constant(bv)) {
      if (bt->dtype() != DType::f32 || (w && bt->numel() != out_channels)) return nullptr;
      step->bias.assign(bt->data<float>(), bt->data<float>() + bt->numel());
    } else {
      step->bias_slot = b.slot(bv);
    }
  }
  const bool conv_bias = node.input(2) != nullptr;
  step->epi =
      collect_epilogue(b, node.output(), AnchorKind::Conv, false,
                       w != nullptr && step->bias_slot < 0, out_channels, w ? w->rank() : -1);
  Epilogue& epi = step->epi;
  if (!epi.bn_mul.empty()) {
    // BatchNormalization folds into the weights and bias: w' = w * m[c], b' = b * m[c] + a[c].
    Tensor folded = w->clone();
    float* p = folded.data_mutable<float>();
    const int64_t per_channel = w->numel() / out_channels;
    for (int64_t c = 0; c < out_channels; ++c)
      for (int64_t i = 0; i < per_channel; ++i)
        p[c * per_channel + i] *= epi.bn_mul[c];
    step->weights = folded;
    if (step->bias.empty()) step->bias.assign(out_channels, 0.f);
    for (int64_t c = 0; c < out_channels; ++c)
      step->bias[c] = step->bias[c] * epi.bn_mul[c] + epi.bn_add[c];
  }
  if (epi.bias) {
    if (step->bias.empty()) step->bias.assign(out_channels, 0.f);
    for (int64_t c = 0; c < out_channels; ++c)
      step->bias[c] += epi.bias->data<float>()[c];
  }
  step->conv = &node;
  step->winograd_ok = winograd_eligible(b, node);
  step->src_slot = b.slot(node.input(0));
  step->dst_slot = b.slot(epi.out);
  step->info.kind = "conv";
  step->info.post_ops = with_bias_name(conv_bias, epi.names);
  step->nodes = {&node};
  step->nodes.insert(step->nodes.end(), epi.nodes.begin(), epi.nodes.end());
  claim_group(b, step->nodes);
  b.finish(*step, {epi.out});
  return step;
}

} // namespace shrink::onednn
