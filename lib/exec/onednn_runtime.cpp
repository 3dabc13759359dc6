// The run-time machinery of the oneDNN runtime: buffers, slots, reorders, and how a step falls
// back to reference kernels.

#include "onednn_internal.h"

#include <omp.h>

#include "shrink/ir/op_table.h"

#include <algorithm>
#include <cstring>

namespace shrink::onednn {

int current_threads() {
  return omp_get_max_threads();
}

std::string node_label(const Node& node) {
  return "node '" + node.name() + "' (" + node.op() + ")";
}

bool has_dnnl_type(DType dtype) {
  switch (dtype) {
  case DType::f32:
  case DType::f16:
  case DType::bf16:
  case DType::i8:
  case DType::u8:
  case DType::i32:
    return true;
  default:
    return false;
  }
}

dt dnnl_type(DType dtype) {
  switch (dtype) {
  case DType::f32:
    return dt::f32;
  case DType::f16:
    return dt::f16;
  case DType::bf16:
    return dt::bf16;
  case DType::i8:
    return dt::s8;
  case DType::u8:
    return dt::u8;
  case DType::i32:
    return dt::s32;
  default:
    throw PrepareFailure(std::string("oneDNN has no type for ") + dtype_name(dtype));
  }
}

dnnl::memory::dims to_dims(const Shape& shape) {
  if (shape.empty()) return {1};
  return dnnl::memory::dims(shape.begin(), shape.end());
}

MemDesc plain_desc(const dnnl::memory::dims& dims, dt type) {
  dnnl::memory::dims strides(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * std::max<int64_t>(dims[i + 1], 1);
  return MemDesc(dims, type, strides);
}

MemDesc plain_desc(const Shape& shape, DType dtype) {
  return plain_desc(to_dims(shape), dnnl_type(dtype));
}

MemDesc with_type(const MemDesc& desc, dt type) {
  MemDesc out = desc;
  out.data.data_type = dnnl::memory::convert_to_c(type);
  return out;
}

dnnl::memory::dims pad_rank(const Shape& shape, int rank) {
  dnnl::memory::dims dims(rank, 1);
  const int offset = rank - static_cast<int>(shape.size());
  for (size_t i = 0; i < shape.size(); ++i)
    if (offset + static_cast<int>(i) >= 0) dims[offset + i] = shape[i];
  return dims;
}

bool broadcasts_to(const dnnl::memory::dims& src1, const dnnl::memory::dims& dst) {
  if (src1.size() != dst.size()) return false;
  for (size_t i = 0; i < dst.size(); ++i)
    if (src1[i] != dst[i] && src1[i] != 1) return false;
  return true;
}

std::string impl_name(const dnnl::primitive_desc_base& pd) {
  const char* s = pd.impl_info_str();
  return s ? s : "";
}

// ---- BufferPool ------------------------------------------------------------------------------

int BufferPool::acquire(DType dtype, int64_t numel) {
  // Exact (dtype, size) matches keep reuse deterministic from one run to the next.
  for (size_t i = 0; i < free_.size(); ++i) {
    Buffer& b = buffers_[free_[i]];
    if (b.tensor.dtype() == dtype && b.tensor.numel() == numel) {
      int id = free_[i];
      free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(i));
      b.refs = 1;
      return id;
    }
  }
  buffers_.push_back(Buffer{Tensor(dtype, {numel}), 1});
  return static_cast<int>(buffers_.size()) - 1;
}

void BufferPool::release(int id) {
  Buffer& b = buffers_[id];
  if (b.refs <= 0) return;
  if (--b.refs == 0) free_.push_back(id);
}

int64_t BufferPool::bytes() const {
  int64_t total = 0;
  for (const Buffer& b : buffers_)
    total += static_cast<int64_t>(b.tensor.nbytes());
  return total;
}

// ---- ReorderCache ----------------------------------------------------------------------------

dnnl::reorder ReorderCache::get(const dnnl::engine& engine, const MemDesc& src, const MemDesc& dst,
                                const dnnl::primitive_attr& attr, int key) {
  for (const Entry& e : entries_)
    if (e.key == key && e.src == src && e.dst == dst) return e.prim;
  dnnl::reorder::primitive_desc pd(engine, src, engine, dst, attr);
  entries_.push_back(Entry{src, dst, key, dnnl::reorder(pd)});
  return entries_.back().prim;
}

// ---- Runtime ---------------------------------------------------------------------------------

Runtime::Runtime() : engine(dnnl::engine::kind::cpu, 0), stream(engine) {}

int Runtime::slot(const Value* v) const {
  auto it = slot_of.find(v);
  if (it == slot_of.end()) throw Error("onednn runtime: value '" + v->name() + "' has no slot");
  return it->second;
}

Slot& Runtime::live(int id) {
  Slot& s = slots[id];
  if (!s.live)
    throw Error("onednn runtime: value '" + s.value->name() +
                "' is read before it is computed (internal planning error)");
  return s;
}

void Runtime::define_tensor(int id, Tensor t, int buffer, bool owned) {
  Slot& s = slots[id];
  s.owned = owned;
  s.live = true;
  s.dtype = t.dtype();
  s.shape = t.shape();
  s.plain = true;
  s.desc = has_dnnl_type(t.dtype()) ? plain_desc(t.shape(), t.dtype()) : MemDesc();
  s.data = std::move(t);
  s.buffer = buffer;
  s.has_plain_copy = false;
  s.plain_buffer = -1;
}

dnnl::memory Runtime::define(int id, DType dtype, const Shape& shape, const MemDesc& desc) {
  Slot& s = slots[id];
  const MemDesc plain = plain_desc(shape, dtype);
  int buffer;
  if (desc == plain) {
    buffer = pool.acquire(dtype, shape_numel(shape));
    s.data = pool.tensor(buffer).reshaped(shape);
    s.plain = true;
  } else {
    const int64_t es = static_cast<int64_t>(dtype_size(dtype));
    const int64_t numel = (static_cast<int64_t>(desc.get_size()) + es - 1) / es;
    buffer = pool.acquire(dtype, numel);
    s.data = pool.tensor(buffer);
    s.plain = false;
  }
  s.live = true;
  s.owned = false;
  s.dtype = dtype;
  s.shape = shape;
  s.desc = desc;
  s.buffer = buffer;
  s.has_plain_copy = false;
  s.plain_buffer = -1;
  return dnnl::memory(desc, engine, s.data.raw_mutable());
}

dnnl::memory Runtime::adopt(int dst, int src, const Shape& shape, const MemDesc& desc) {
  Slot& r = live(src);
  Slot& d = slots[dst];
  d.live = true;
  d.owned = false;
  d.dtype = r.dtype;
  d.shape = shape;
  d.desc = desc;
  d.plain = r.plain;
  d.data = r.data;
  d.buffer = r.buffer;
  d.has_plain_copy = false;
  d.plain_buffer = -1;
  r.buffer = -1; // ownership moved: releasing the residual later must not free it
  return dnnl::memory(desc, engine, d.data.raw_mutable());
}

const Tensor& Runtime::plain(int id) {
  Slot& s = live(id);
  if (s.plain) return s.data;
  if (!s.has_plain_copy) {
    const int buffer = pool.acquire(s.dtype, shape_numel(s.shape));
    Tensor t = pool.tensor(buffer).reshaped(s.shape);
    const MemDesc want = plain_desc(s.shape, s.dtype);
    dnnl::memory src(s.desc, engine, handle(s.data));
    dnnl::memory dst(want, engine, t.raw_mutable());
    plain_reorders.get(engine, s.desc, want).execute(stream, src, dst);
    stream.wait();
    s.plain_copy = std::move(t);
    s.plain_buffer = buffer;
    s.has_plain_copy = true;
  }
  return s.plain_copy;
}

dnnl::memory Runtime::memory(int id) {
  Slot& s = live(id);
  if (s.desc.is_zero())
    throw PrepareFailure(std::string("oneDNN has no type for ") + dtype_name(s.dtype));
  return dnnl::memory(s.desc, engine, handle(s.data));
}

dnnl::memory Runtime::memory_as(int id, const MemDesc& want, ReorderCache& cache,
                                std::vector<int>& scratch) {
  Slot& s = live(id);
  if (s.desc == want) return dnnl::memory(want, engine, handle(s.data));
  if (s.has_plain_copy && want == plain_desc(s.shape, s.dtype))
    return dnnl::memory(want, engine, handle(s.plain_copy));
  const int buffer = scratch_buffer(want.get_size());
  scratch.push_back(buffer);
  dnnl::memory dst(want, engine, const_cast<void*>(pool.tensor(buffer).raw()));
  dnnl::memory src = memory(id);
  cache.get(engine, s.desc, want).execute(stream, src, dst);
  return dst;
}

int Runtime::scratch_buffer(size_t bytes) {
  return pool.acquire(DType::u8, static_cast<int64_t>(std::max<size_t>(bytes, 1)));
}

void Runtime::release(int id) {
  Slot& s = slots[id];
  if (s.constant || !s.live) return;
  s.live = false;
  if (s.buffer >= 0) pool.release(s.buffer);
  if (s.plain_buffer >= 0) pool.release(s.plain_buffer);
  s.buffer = -1;
  s.plain_buffer = -1;
  s.has_plain_copy = false;
  s.data = Tensor();
  s.plain_copy = Tensor();
}

// ---- Step ------------------------------------------------------------------------------------

void Step::run(Runtime& rt) {
  if (!fallen_back_ && !is_reference()) {
    std::string reason;
    try {
      execute(rt);
      return;
    } catch (const PrepareFailure& e) {
      reason = e.what();
    } catch (const dnnl::error& e) {
      reason = std::string("oneDNN: ") + e.what();
    }
    // A failed attempt may have defined outputs already; start the reference run clean.
    for (int id : outputs)
      rt.release(id);
    fallen_back_ = true;
    info.fallback_reason = reason;
    info.implementation.clear();
  }
  run_reference(rt);
}

void Step::run_reference(Runtime& rt) {
  std::unordered_map<const Value*, Tensor> local;
  for (const Node* n : nodes) {
    std::vector<const Tensor*> ins;
    ins.reserve(n->inputs().size());
    for (const Value* v : n->inputs()) {
      if (!v) {
        ins.push_back(nullptr);
        continue;
      }
      auto it = local.find(v);
      ins.push_back(it != local.end() ? &it->second : &rt.plain(rt.slot(v)));
    }
    std::vector<Tensor> outs = evaluate_node(*n, ins);
    for (int i = 0; i < n->num_outputs() && i < static_cast<int>(outs.size()); ++i)
      local[n->output(i)] = std::move(outs[i]);
  }
  for (int id : outputs) {
    auto it = local.find(rt.slots[id].value);
    if (it == local.end())
      throw Error("onednn runtime: reference kernels did not produce value '" +
                  rt.slots[id].value->name() + "'");
    // Kernels may return views of their inputs; such an output keeps the input's buffer alive.
    int buffer = -1;
    for (int in : inputs) {
      const Slot& s = rt.slots[in];
      if (!s.live) continue;
      if (s.buffer >= 0 && it->second.shares_storage(s.data)) buffer = s.buffer;
      if (s.plain_buffer >= 0 && it->second.shares_storage(s.plain_copy)) buffer = s.plain_buffer;
    }
    bool aliased = buffer >= 0;
    for (int in : inputs)
      aliased = aliased || (rt.slots[in].live && it->second.shares_storage(rt.slots[in].data));
    if (buffer >= 0) rt.pool.retain(buffer);
    rt.define_tensor(id, it->second, buffer, !aliased);
  }
}

} // namespace shrink::onednn
