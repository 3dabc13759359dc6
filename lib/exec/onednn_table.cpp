// Int8 activations as tables: `DequantizeLinear -> f -> QuantizeLinear` with per-tensor
// parameters and a unary element-wise `f` (Gelu, Sigmoid, Tanh, ...) maps each of the 256 int8
// inputs to one int8 output. The plan computes that map once, with the reference kernels of the
// three nodes (so the step is bit-exact with the reference executor), and a run is one byte
// lookup per element: on AVX-512 VBMI, 64 lookups in three instructions.
//
//   %h_q = QuantizeLinear(%h, ...)          %h_q = QuantizeLinear(%h, ...)
//   %h_dq = DequantizeLinear(%h_q, ...)  =>  %g_q = table[gelu](%h_q)      (one step)
//   %g = Gelu(%h_dq)
//   %g_q = QuantizeLinear(%g, ...)

#include "onednn_internal.h"

#include "shrink/ir/op_table.h"

#include <omp.h>

#include <array>
#include <cstring>
#include <tuple>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SHRINK_HAVE_VBMI_KERNEL 1
#endif

namespace shrink::onednn {

namespace {

using Table = std::array<uint8_t, 256>;

void lookup_scalar(const uint8_t* src, uint8_t* dst, int64_t n, const Table& table) {
  for (int64_t i = 0; i < n; ++i)
    dst[i] = table[src[i]];
}

#ifdef SHRINK_HAVE_VBMI_KERNEL
// vpermi2b looks 64 bytes up in a 128-entry table (index bits 0..6); two of them cover the low
// and high halves of the table and the index's top bit picks between them.
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) inline __m512i
look64(__m512i x, __m512i t0, __m512i t1, __m512i t2, __m512i t3) {
  const __m512i lo = _mm512_permutex2var_epi8(t0, x, t1);
  const __m512i hi = _mm512_permutex2var_epi8(t2, x, t3);
  return _mm512_mask_blend_epi8(_mm512_movepi8_mask(x), lo, hi);
}

__attribute__((target("avx512f,avx512bw,avx512vbmi"))) void
lookup_vbmi(const uint8_t* src, uint8_t* dst, int64_t n, const Table& table) {
  const __m512i t0 = _mm512_loadu_si512(table.data());
  const __m512i t1 = _mm512_loadu_si512(table.data() + 64);
  const __m512i t2 = _mm512_loadu_si512(table.data() + 128);
  const __m512i t3 = _mm512_loadu_si512(table.data() + 192);
  int64_t i = 0;
  for (; i + 64 <= n; i += 64)
    _mm512_storeu_si512(dst + i, look64(_mm512_loadu_si512(src + i), t0, t1, t2, t3));
  if (i < n) {
    const __mmask64 m = (__mmask64{1} << (n - i)) - 1;
    _mm512_mask_storeu_epi8(dst + i, m,
                            look64(_mm512_maskz_loadu_epi8(m, src + i), t0, t1, t2, t3));
  }
}

bool have_vbmi() {
  static const bool yes = __builtin_cpu_supports("avx512vbmi") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512f");
  return yes;
}
#endif

using LookupFn = void (*)(const uint8_t*, uint8_t*, int64_t, const Table&);

/// The fastest lookup kernel this CPU runs, and its name for OneDnnStepInfo::implementation.
std::pair<LookupFn, const char*> lookup_kernel() {
#ifdef SHRINK_HAVE_VBMI_KERNEL
  if (have_vbmi()) return {lookup_vbmi, "table:avx512_vbmi"};
#endif
  return {lookup_scalar, "table:scalar"};
}

class TableStep : public Step {
public:
  Table table{};
  LookupFn kernel = lookup_scalar;
  DType in_type = DType::u8, out_type = DType::u8;
  int src = -1, dst = -1;

protected:
  void execute(Runtime& rt) override {
    const Tensor& in = rt.plain(src);
    if (in.dtype() != in_type)
      throw PrepareFailure("'" + rt.slots[src].value->name() + "' is " + dtype_name(in.dtype()) +
                           ", not " + dtype_name(in_type));
    const Shape shape = in.shape();
    dnnl::memory out = rt.define(dst, out_type, shape, plain_desc(shape, out_type));
    const auto* s = static_cast<const uint8_t*>(in.raw());
    auto* d = static_cast<uint8_t*>(out.get_data_handle());
    const int64_t n = in.numel();
    // 8.4 M bytes took 0.45 ms here: a 64 KiB chunk is a few microseconds of work.
    constexpr int64_t kChunk = 64 * 1024;
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    if (chunks <= 1 || omp_get_max_threads() == 1) {
      kernel(s, d, n, table);
      return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t begin = c * kChunk;
      kernel(s + begin, d + begin, std::min(kChunk, n - begin), table);
    }
  }
};

bool int8_type(DType t) {
  return t == DType::u8 || t == DType::i8;
}

} // namespace

std::unique_ptr<Step> match_table(PlanBuilder& b, const Node& node) {
  if (!b.options.int8 || !is_unary_elementwise(node.op()) || node.num_inputs() != 1 ||
      node.num_outputs() != 1)
    return nullptr;
  const Node* dq = dq_producer(b, node.input(0));
  const Node* q = b.sole_user(node.output());
  if (!dq || !q || q->op() != "QuantizeLinear" || b.claimed(q) || q->input(0) != node.output())
    return nullptr;
  const std::optional<QParams> qi = read_qparams(b, *dq);
  const std::optional<QParams> qo = read_qparams(b, *q);
  if (!qi || !qo || !qi->per_tensor() || !qo->per_tensor() || !int8_type(qi->qtype) ||
      !int8_type(qo->qtype))
    return nullptr;
  // Every int8 input through the reference kernels of the three nodes, in one batch.
  Tensor codes(qi->qtype, {256});
  auto* raw = static_cast<uint8_t*>(codes.raw_mutable());
  for (int i = 0; i < 256; ++i)
    raw[i] = static_cast<uint8_t>(i);
  auto operands = [&](const Node& n, const Tensor& x) {
    std::vector<const Tensor*> ins = {&x};
    for (int i = 1; i < n.num_inputs(); ++i)
      ins.push_back(n.input(i) ? b.constant(n.input(i)) : nullptr);
    return ins;
  };
  const Tensor real = evaluate_node(*dq, operands(*dq, codes)).at(0);
  const Tensor mapped = evaluate_node(node, {&real}).at(0);
  const Tensor out = evaluate_node(*q, operands(*q, mapped)).at(0);
  if (out.dtype() != qo->qtype || out.numel() != 256) return nullptr;
  auto step = std::make_unique<TableStep>();
  std::memcpy(step->table.data(), out.raw(), 256);
  std::tie(step->kernel, step->info.implementation) = lookup_kernel();
  step->in_type = qi->qtype;
  step->out_type = qo->qtype;
  step->src = b.slot(dq->input(0));
  step->dst = b.slot(q->output());
  step->nodes = {dq, &node, q};
  step->info.kind = "int8 table";
  step->info.post_ops = {node.op()};
  claim_group(b, step->nodes);
  b.finish(*step, {q->output()});
  return step;
}

} // namespace shrink::onednn
