// Reference kernels of element-wise operators: unary math, activations, numpy-broadcast binary
// arithmetic and comparisons, logic, the variadic Max/Min/Sum, Where, Clip, Cast, Identity and
// Dropout.

#include "kernel_util.h"

#include "shrink/ir/op_table.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

namespace shrink {
namespace ops {

using namespace kernels;

namespace {

// ---- unary ----------------------------------------------------------------------------------

template <typename F>
void unary_f32(const Node& node, const std::vector<const Tensor*>& inputs,
               std::vector<Tensor>& outputs, F f) {
  const Tensor& x = required_input(node, inputs, 0, "X");
  require_dtype(node, x, DType::f32, "input X");
  Tensor y(DType::f32, x.shape());
  const float* px = x.data<float>();
  float* py = y.data_mutable<float>();
  for (int64_t i = 0, n = x.numel(); i < n; ++i)
    py[i] = f(px[i]);
  set_outputs(node, outputs, {std::move(y)});
}

// `f` is a generic lambda called with each element; it must work for float and the integers.
template <typename F>
void unary_numeric(const Node& node, const std::vector<const Tensor*>& inputs,
                   std::vector<Tensor>& outputs, F f) {
  const Tensor& x = required_input(node, inputs, 0, "X");
  Tensor y(x.dtype(), x.shape());
  dispatch_numeric(node, x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = x.data<T>();
    T* py = y.data_mutable<T>();
    for (int64_t i = 0, n = x.numel(); i < n; ++i)
      py[i] = f(px[i]);
  });
  set_outputs(node, outputs, {std::move(y)});
}

constexpr double kSqrt2OverPi = 0.7978845608028654;

float sigmoid(float x) {
  // Two branches so that exp never overflows.
  if (x >= 0) return 1.0f / (1.0f + std::exp(-x));
  float e = std::exp(x);
  return e / (1.0f + e);
}

// ---- binary with broadcasting ---------------------------------------------------------------

template <typename TA, typename TB, typename TO, typename Op>
Tensor broadcast_binary(const Node& node, const Tensor& a, const Tensor& b, Op op) {
  const Shape out = broadcast_shapes(node, {a.shape(), b.shape()});
  Tensor y(DTypeOf<TO>::value, out);
  const TA* pa = a.data<TA>();
  const TB* pb = b.data<TB>();
  TO* py = y.data_mutable<TO>();
  const int64_t n = y.numel();
  if (a.shape() == out && b.shape() == out) {
    for (int64_t i = 0; i < n; ++i)
      py[i] = op(pa[i], pb[i]);
    return y;
  }
  if (a.shape() == out && b.numel() == 1) {
    const TB bv = pb[0];
    for (int64_t i = 0; i < n; ++i)
      py[i] = op(pa[i], bv);
    return y;
  }
  for_each_broadcast_row<2>(out, {a.shape(), b.shape()},
                            [&](int64_t o, const auto& off, const auto& st, int64_t count) {
                              const TA* ra = pa + off[0];
                              const TB* rb = pb + off[1];
                              TO* ry = py + o;
                              for (int64_t i = 0; i < count; ++i)
                                ry[i] = op(ra[i * st[0]], rb[i * st[1]]);
                            });
  return y;
}

const Tensor& same_dtype_second(const Node& node, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    unsupported_dtype(node,
                      std::string("inputs ") + dtype_name(a.dtype()) + ", " + dtype_name(b.dtype()),
                      "both inputs of the same dtype");
  return b;
}

template <typename T> bool any_zero(const Tensor& t) {
  const T* p = t.data<T>();
  for (int64_t i = 0, n = t.numel(); i < n; ++i)
    if (p[i] == T(0)) return true;
  return false;
}

// Integer division truncating toward zero like C++ and ONNX Runtime; the caller rejects zero
// divisors, and -1 is handled apart because MIN / -1 traps on x86.
template <typename T> T int_div(T a, T b) {
  if (b == T(-1)) return wrap_sub(T(0), a);
  return static_cast<T>(a / b);
}

template <typename T> T int_pow(T base, int64_t exp) {
  if (exp < 0) {
    if (base == T(1)) return T(1);
    if (base == T(-1)) return (exp % 2 == 0) ? T(1) : T(-1);
    return T(0);
  }
  T result = T(1);
  while (exp > 0) {
    if (exp & 1) result = wrap_mul(result, base);
    base = wrap_mul(base, base);
    exp >>= 1;
  }
  return result;
}

enum class Arith { Add, Sub, Mul, Div };

void arithmetic(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>& outputs, Arith kind) {
  const Tensor& a = required_input(node, inputs, 0, "A");
  const Tensor& b = same_dtype_second(node, a, required_input(node, inputs, 1, "B"));
  Tensor y = dispatch_numeric(node, a.dtype(), [&](auto tag) -> Tensor {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<T>) {
      switch (kind) {
      case Arith::Add:
        return broadcast_binary<T, T, T>(node, a, b, [](T x, T y) { return x + y; });
      case Arith::Sub:
        return broadcast_binary<T, T, T>(node, a, b, [](T x, T y) { return x - y; });
      case Arith::Mul:
        return broadcast_binary<T, T, T>(node, a, b, [](T x, T y) { return x * y; });
      case Arith::Div:
        return broadcast_binary<T, T, T>(node, a, b, [](T x, T y) { return x / y; });
      }
    } else {
      switch (kind) {
      case Arith::Add:
        return broadcast_binary<T, T, T>(node, a, b, wrap_add<T>);
      case Arith::Sub:
        return broadcast_binary<T, T, T>(node, a, b, wrap_sub<T>);
      case Arith::Mul:
        return broadcast_binary<T, T, T>(node, a, b, wrap_mul<T>);
      case Arith::Div:
        if (any_zero<T>(b)) fail(node, "integer division by zero");
        return broadcast_binary<T, T, T>(node, a, b, int_div<T>);
      }
    }
    fail(node, "unknown arithmetic kind");
  });
  set_outputs(node, outputs, {std::move(y)});
}

enum class Compare { Equal, Less, Greater };

void comparison(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>& outputs, Compare kind) {
  const Tensor& a = required_input(node, inputs, 0, "A");
  const Tensor& b = same_dtype_second(node, a, required_input(node, inputs, 1, "B"));
  Tensor y = dispatch_all(node, a.dtype(), [&](auto tag) -> Tensor {
    using T = typename decltype(tag)::type;
    switch (kind) {
    case Compare::Equal:
      return broadcast_binary<T, T, bool>(node, a, b, [](T x, T y) { return x == y; });
    case Compare::Less:
      return broadcast_binary<T, T, bool>(node, a, b, [](T x, T y) { return x < y; });
    case Compare::Greater:
      return broadcast_binary<T, T, bool>(node, a, b, [](T x, T y) { return x > y; });
    }
    fail(node, "unknown comparison kind");
  });
  set_outputs(node, outputs, {std::move(y)});
}

template <typename Op>
void logical(const Node& node, const std::vector<const Tensor*>& inputs,
             std::vector<Tensor>& outputs, Op op) {
  const Tensor& a = required_input(node, inputs, 0, "A");
  const Tensor& b = required_input(node, inputs, 1, "B");
  require_dtype(node, a, DType::boolean, "input A");
  require_dtype(node, b, DType::boolean, "input B");
  set_outputs(node, outputs, {broadcast_binary<bool, bool, bool>(node, a, b, op)});
}

// Max and Min propagate NaN like numpy.maximum / numpy.minimum.
template <typename T> T nan_max(T a, T b) {
  if constexpr (std::is_floating_point_v<T>)
    if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
  return a < b ? b : a;
}
template <typename T> T nan_min(T a, T b) {
  if constexpr (std::is_floating_point_v<T>)
    if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
  return b < a ? b : a;
}

enum class Fold { Max, Min, Sum };

void variadic(const Node& node, const std::vector<const Tensor*>& inputs,
              std::vector<Tensor>& outputs, Fold kind) {
  if (inputs.empty()) fail(node, "needs at least one input");
  const Tensor& first = required_input(node, inputs, 0, "data_0");
  for (size_t i = 1; i < inputs.size(); ++i) {
    const Tensor& t = required_input(node, inputs, i, "data");
    if (t.dtype() != first.dtype())
      unsupported_dtype(node,
                        std::string("inputs of dtypes ") + dtype_name(first.dtype()) + " and " +
                            dtype_name(t.dtype()),
                        "all inputs of the same dtype");
  }
  Tensor acc = dispatch_numeric(node, first.dtype(), [&](auto tag) -> Tensor {
    using T = typename decltype(tag)::type;
    Tensor r = copy_reshaped(first, first.shape());
    for (size_t i = 1; i < inputs.size(); ++i) {
      switch (kind) {
      case Fold::Max:
        r = broadcast_binary<T, T, T>(node, r, *inputs[i], nan_max<T>);
        break;
      case Fold::Min:
        r = broadcast_binary<T, T, T>(node, r, *inputs[i], nan_min<T>);
        break;
      case Fold::Sum:
        if constexpr (std::is_floating_point_v<T>)
          r = broadcast_binary<T, T, T>(node, r, *inputs[i], [](T x, T y) { return x + y; });
        else
          r = broadcast_binary<T, T, T>(node, r, *inputs[i], wrap_add<T>);
        break;
      }
    }
    return r;
  });
  set_outputs(node, outputs, {std::move(acc)});
}

// ---- Cast -----------------------------------------------------------------------------------

struct Half {};
struct BFloat {};

// Converts one float to the destination type: truncation toward zero for integers as numpy and
// ONNX Runtime do, with NaN mapped to 0 and out-of-range values saturated (C++ leaves those
// undefined, and the reference executor must not behave differently across machines).
template <typename D> D from_float(float v) {
  if constexpr (std::is_same_v<D, bool>) {
    return v != 0.0f;
  } else if constexpr (std::is_floating_point_v<D>) {
    return static_cast<D>(v);
  } else {
    if (std::isnan(v)) return D(0);
    double t = std::trunc(static_cast<double>(v));
    if (t <= static_cast<double>(std::numeric_limits<D>::lowest()))
      return std::numeric_limits<D>::lowest();
    if (t >= static_cast<double>(std::numeric_limits<D>::max()))
      return std::numeric_limits<D>::max();
    return static_cast<D>(t);
  }
}

// Integer (and bool) sources convert like numpy's astype: wrap for narrower integers.
template <typename D> D from_int(int64_t v) {
  if constexpr (std::is_same_v<D, bool>)
    return v != 0;
  else
    return static_cast<D>(v);
}

template <typename D> void store_cast(void* out, int64_t i, float v) {
  if constexpr (std::is_same_v<D, Half>)
    static_cast<uint16_t*>(out)[i] = float_to_half(v);
  else if constexpr (std::is_same_v<D, BFloat>)
    static_cast<uint16_t*>(out)[i] = float_to_bf16(v);
  else
    static_cast<D*>(out)[i] = from_float<D>(v);
}

template <typename D> void store_cast_int(void* out, int64_t i, int64_t v) {
  if constexpr (std::is_same_v<D, Half>)
    static_cast<uint16_t*>(out)[i] = float_to_half(static_cast<float>(v));
  else if constexpr (std::is_same_v<D, BFloat>)
    static_cast<uint16_t*>(out)[i] = float_to_bf16(static_cast<float>(v));
  else
    static_cast<D*>(out)[i] = from_int<D>(v);
}

template <typename D> void cast_into(const Tensor& x, Tensor& y) {
  void* out = y.raw_mutable();
  const int64_t n = x.numel();
  switch (x.dtype()) {
  case DType::f32: {
    const float* p = x.data<float>();
    for (int64_t i = 0; i < n; ++i)
      store_cast<D>(out, i, p[i]);
    break;
  }
  case DType::f16:
  case DType::bf16: {
    const uint16_t* p = static_cast<const uint16_t*>(x.raw());
    const bool half = x.dtype() == DType::f16;
    for (int64_t i = 0; i < n; ++i)
      store_cast<D>(out, i, half ? half_to_float(p[i]) : bf16_to_float(p[i]));
    break;
  }
  case DType::i8: {
    const int8_t* p = x.data<int8_t>();
    for (int64_t i = 0; i < n; ++i)
      store_cast_int<D>(out, i, p[i]);
    break;
  }
  case DType::u8: {
    const uint8_t* p = x.data<uint8_t>();
    for (int64_t i = 0; i < n; ++i)
      store_cast_int<D>(out, i, p[i]);
    break;
  }
  case DType::i32: {
    const int32_t* p = x.data<int32_t>();
    for (int64_t i = 0; i < n; ++i)
      store_cast_int<D>(out, i, p[i]);
    break;
  }
  case DType::i64: {
    const int64_t* p = x.data<int64_t>();
    for (int64_t i = 0; i < n; ++i) {
      // i64 -> f32 goes directly so that large values round once, not through float twice.
      if constexpr (std::is_same_v<D, float>)
        static_cast<float*>(out)[i] = static_cast<float>(p[i]);
      else
        store_cast_int<D>(out, i, p[i]);
    }
    break;
  }
  case DType::boolean: {
    const bool* p = x.data<bool>();
    for (int64_t i = 0; i < n; ++i)
      store_cast_int<D>(out, i, p[i] ? 1 : 0);
    break;
  }
  }
}

} // namespace

// ---- unary math -----------------------------------------------------------------------------

void kernel_Abs(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>& outputs) {
  unary_numeric(node, inputs, outputs, [](auto v) {
    using T = decltype(v);
    if constexpr (std::is_floating_point_v<T>)
      return std::fabs(v);
    else
      return v < 0 ? wrap_sub(T(0), v) : v;
  });
}

void kernel_Neg(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>& outputs) {
  unary_numeric(node, inputs, outputs, [](auto v) {
    using T = decltype(v);
    if constexpr (std::is_floating_point_v<T>)
      return -v;
    else
      return wrap_sub(T(0), v);
  });
}

void kernel_Relu(const Node& node, const std::vector<const Tensor*>& inputs,
                 std::vector<Tensor>& outputs) {
  unary_numeric(node, inputs, outputs, [](auto v) {
    using T = decltype(v);
    // Written so that NaN passes through as in ONNX Runtime.
    return v < T(0) ? T(0) : v;
  });
}

void kernel_Ceil(const Node& node, const std::vector<const Tensor*>& inputs,
                 std::vector<Tensor>& outputs) {
  unary_f32(node, inputs, outputs, [](float v) { return std::ceil(v); });
}

void kernel_Floor(const Node& node, const std::vector<const Tensor*>& inputs,
                  std::vector<Tensor>& outputs) {
  unary_f32(node, inputs, outputs, [](float v) { return std::floor(v); });
}

void kernel_Cos(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>& outputs) {
  unary_f32(node, inputs, outputs, [](float v) { return std::cos(v); });
}

void kernel_Sin(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>& outputs) {
  unary_f32(node, inputs, outputs, [](float v) { return std::sin(v); });
}

void kernel_Erf(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>& outputs) {
  unary_f32(node, inputs, outputs, [](float v) { return std::erf(v); });
}

void kernel_Exp(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>& outputs) {
  unary_f32(node, inputs, outputs, [](float v) { return std::exp(v); });
}

void kernel_Log(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>& outputs) {
  unary_f32(node, inputs, outputs, [](float v) { return std::log(v); });
}

void kernel_Sqrt(const Node& node, const std::vector<const Tensor*>& inputs,
                 std::vector<Tensor>& outputs) {
  unary_f32(node, inputs, outputs, [](float v) { return std::sqrt(v); });
}

void kernel_Reciprocal(const Node& node, const std::vector<const Tensor*>& inputs,
                       std::vector<Tensor>& outputs) {
  unary_f32(node, inputs, outputs, [](float v) { return 1.0f / v; });
}

void kernel_Tanh(const Node& node, const std::vector<const Tensor*>& inputs,
                 std::vector<Tensor>& outputs) {
  unary_f32(node, inputs, outputs, [](float v) { return std::tanh(v); });
}

void kernel_Sigmoid(const Node& node, const std::vector<const Tensor*>& inputs,
                    std::vector<Tensor>& outputs) {
  unary_f32(node, inputs, outputs, sigmoid);
}

void kernel_Gelu(const Node& node, const std::vector<const Tensor*>& inputs,
                 std::vector<Tensor>& outputs) {
  const std::string approximate = node.attr_string("approximate", "none");
  if (approximate == "none") {
    unary_f32(node, inputs, outputs, [](float v) {
      return static_cast<float>(0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))));
    });
  } else if (approximate == "tanh") {
    unary_f32(node, inputs, outputs, [](float v) {
      const double x = v;
      const double inner = kSqrt2OverPi * (x + 0.044715 * x * x * x);
      return static_cast<float>(0.5 * x * (1.0 + std::tanh(inner)));
    });
  } else {
    fail(node, "approximate must be 'none' or 'tanh', got '" + approximate + "'");
  }
}

void kernel_HardSigmoid(const Node& node, const std::vector<const Tensor*>& inputs,
                        std::vector<Tensor>& outputs) {
  const float alpha = node.attr_float("alpha", 0.2f);
  const float beta = node.attr_float("beta", 0.5f);
  unary_f32(node, inputs, outputs,
            [=](float v) { return std::max(0.0f, std::min(1.0f, alpha * v + beta)); });
}

void kernel_HardSwish(const Node& node, const std::vector<const Tensor*>& inputs,
                      std::vector<Tensor>& outputs) {
  unary_f32(node, inputs, outputs,
            [](float v) { return v * std::max(0.0f, std::min(1.0f, v * (1.0f / 6.0f) + 0.5f)); });
}

void kernel_LeakyRelu(const Node& node, const std::vector<const Tensor*>& inputs,
                      std::vector<Tensor>& outputs) {
  const float alpha = node.attr_float("alpha", 0.01f);
  unary_f32(node, inputs, outputs, [=](float v) { return v < 0.0f ? alpha * v : v; });
}

void kernel_Not(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "X");
  require_dtype(node, x, DType::boolean, "input X");
  Tensor y(DType::boolean, x.shape());
  const bool* px = x.data<bool>();
  bool* py = y.data_mutable<bool>();
  for (int64_t i = 0, n = x.numel(); i < n; ++i)
    py[i] = !px[i];
  set_outputs(node, outputs, {std::move(y)});
}

// ---- binary ---------------------------------------------------------------------------------

void kernel_Add(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>& outputs) {
  arithmetic(node, inputs, outputs, Arith::Add);
}

void kernel_Sub(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>& outputs) {
  arithmetic(node, inputs, outputs, Arith::Sub);
}

void kernel_Mul(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>& outputs) {
  arithmetic(node, inputs, outputs, Arith::Mul);
}

void kernel_Div(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>& outputs) {
  arithmetic(node, inputs, outputs, Arith::Div);
}

void kernel_Pow(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>& outputs) {
  const Tensor& a = required_input(node, inputs, 0, "X");
  const Tensor& b = required_input(node, inputs, 1, "Y");
  // ONNX lets base and exponent have different numeric types; the result has the base's type.
  Tensor y = dispatch_numeric(node, a.dtype(), [&](auto ta) -> Tensor {
    using TA = typename decltype(ta)::type;
    return dispatch_numeric(node, b.dtype(), [&](auto tb) -> Tensor {
      using TB = typename decltype(tb)::type;
      if constexpr (std::is_floating_point_v<TA>) {
        return broadcast_binary<TA, TB, TA>(node, a, b, [](TA x, TB e) {
          return static_cast<TA>(std::pow(x, static_cast<TA>(e)));
        });
      } else if constexpr (std::is_floating_point_v<TB>) {
        return broadcast_binary<TA, TB, TA>(node, a, b, [](TA x, TB e) {
          return from_float<TA>(static_cast<float>(std::pow(static_cast<double>(x), e)));
        });
      } else {
        return broadcast_binary<TA, TB, TA>(
            node, a, b, [](TA x, TB e) { return int_pow<TA>(x, static_cast<int64_t>(e)); });
      }
    });
  });
  set_outputs(node, outputs, {std::move(y)});
}

void kernel_Equal(const Node& node, const std::vector<const Tensor*>& inputs,
                  std::vector<Tensor>& outputs) {
  comparison(node, inputs, outputs, Compare::Equal);
}

void kernel_Less(const Node& node, const std::vector<const Tensor*>& inputs,
                 std::vector<Tensor>& outputs) {
  comparison(node, inputs, outputs, Compare::Less);
}

void kernel_Greater(const Node& node, const std::vector<const Tensor*>& inputs,
                    std::vector<Tensor>& outputs) {
  comparison(node, inputs, outputs, Compare::Greater);
}

void kernel_And(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>& outputs) {
  logical(node, inputs, outputs, [](bool x, bool y) { return x && y; });
}

void kernel_Or(const Node& node, const std::vector<const Tensor*>& inputs,
               std::vector<Tensor>& outputs) {
  logical(node, inputs, outputs, [](bool x, bool y) { return x || y; });
}

void kernel_Max(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>& outputs) {
  variadic(node, inputs, outputs, Fold::Max);
}

void kernel_Min(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>& outputs) {
  variadic(node, inputs, outputs, Fold::Min);
}

void kernel_Sum(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>& outputs) {
  variadic(node, inputs, outputs, Fold::Sum);
}

void kernel_Where(const Node& node, const std::vector<const Tensor*>& inputs,
                  std::vector<Tensor>& outputs) {
  const Tensor& c = required_input(node, inputs, 0, "condition");
  const Tensor& x = required_input(node, inputs, 1, "X");
  const Tensor& y = same_dtype_second(node, x, required_input(node, inputs, 2, "Y"));
  require_dtype(node, c, DType::boolean, "condition");
  const Shape out = broadcast_shapes(node, {c.shape(), x.shape(), y.shape()});
  Tensor r(x.dtype(), out);
  const size_t es = dtype_size(x.dtype());
  const bool* pc = c.data<bool>();
  const char* px = static_cast<const char*>(x.raw());
  const char* py = static_cast<const char*>(y.raw());
  char* pr = static_cast<char*>(r.raw_mutable());
  // Byte copies make Where work for every dtype, f16 and bf16 included.
  for_each_broadcast_row<3>(out, {c.shape(), x.shape(), y.shape()},
                            [&](int64_t o, const auto& off, const auto& st, int64_t count) {
                              for (int64_t i = 0; i < count; ++i) {
                                const bool take_x = pc[off[0] + i * st[0]];
                                const char* src = take_x ? px + (off[1] + i * st[1]) * es
                                                         : py + (off[2] + i * st[2]) * es;
                                std::memcpy(pr + (o + i) * es, src, es);
                              }
                            });
  set_outputs(node, outputs, {std::move(r)});
}

void kernel_Clip(const Node& node, const std::vector<const Tensor*>& inputs,
                 std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "input");
  const Tensor* tmin = optional_input(inputs, 1);
  const Tensor* tmax = optional_input(inputs, 2);
  for (const Tensor* t : {tmin, tmax})
    if (t && t->dtype() != x.dtype())
      unsupported_dtype(node,
                        std::string("bound of dtype ") + dtype_name(t->dtype()) + " for input " +
                            dtype_name(x.dtype()),
                        "bounds of the input's dtype");
  Tensor y(x.dtype(), x.shape());
  dispatch_numeric(node, x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T lo = std::numeric_limits<T>::lowest();
    T hi = std::numeric_limits<T>::max();
    if constexpr (std::is_floating_point_v<T>) {
      lo = -std::numeric_limits<T>::infinity();
      hi = std::numeric_limits<T>::infinity();
      // Opset 6 carried the bounds as attributes.
      if (!tmin && node.has_attr("min")) lo = node.attr_float("min", lo);
      if (!tmax && node.has_attr("max")) hi = node.attr_float("max", hi);
    }
    if (tmin) {
      if (tmin->numel() != 1) fail(node, "min must be a scalar, got " + shape_str(tmin->shape()));
      lo = tmin->data<T>()[0];
    }
    if (tmax) {
      if (tmax->numel() != 1) fail(node, "max must be a scalar, got " + shape_str(tmax->shape()));
      hi = tmax->data<T>()[0];
    }
    const T* px = x.data<T>();
    T* py = y.data_mutable<T>();
    // max first, then min: with min > max every value becomes max, as the ONNX spec says.
    for (int64_t i = 0, n = x.numel(); i < n; ++i) {
      T v = px[i] < lo ? lo : px[i];
      py[i] = v > hi ? hi : v;
    }
  });
  set_outputs(node, outputs, {std::move(y)});
}

void kernel_Cast(const Node& node, const std::vector<const Tensor*>& inputs,
                 std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "input");
  if (!node.has_attr("to")) fail(node, "attribute 'to' is required");
  DType to;
  try {
    to = dtype_from_onnx(static_cast<int>(node.attr_int("to", 0)));
  } catch (const Error& e) {
    unsupported_feature(node, std::string("target type: ") + e.what());
  }
  Tensor y(to, x.shape());
  switch (to) {
  case DType::f32:
    cast_into<float>(x, y);
    break;
  case DType::f16:
    cast_into<Half>(x, y);
    break;
  case DType::bf16:
    cast_into<BFloat>(x, y);
    break;
  case DType::i8:
    cast_into<int8_t>(x, y);
    break;
  case DType::u8:
    cast_into<uint8_t>(x, y);
    break;
  case DType::i32:
    cast_into<int32_t>(x, y);
    break;
  case DType::i64:
    cast_into<int64_t>(x, y);
    break;
  case DType::boolean:
    cast_into<bool>(x, y);
    break;
  }
  set_outputs(node, outputs, {std::move(y)});
}

void kernel_Identity(const Node& node, const std::vector<const Tensor*>& inputs,
                     std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "input");
  Tensor y = copy_reshaped(x, x.shape());
  y.set_quant(x.quant());
  set_outputs(node, outputs, {std::move(y)});
}

void kernel_Dropout(const Node& node, const std::vector<const Tensor*>& inputs,
                    std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "data");
  float ratio = node.attr_float("ratio", 0.5f);
  if (const Tensor* r = optional_input(inputs, 1))
    ratio = static_cast<float>(read_scalar(node, *r, "ratio"));
  bool training = false;
  if (const Tensor* t = optional_input(inputs, 2))
    training = read_scalar(node, *t, "training_mode");
  if (ratio < 0.0f || ratio >= 1.0f)
    fail(node, "ratio must be in [0, 1), got " + std::to_string(ratio));
  Tensor mask(DType::boolean, x.shape());
  bool* pm = mask.data_mutable<bool>();
  if (!training || ratio == 0.0f) {
    std::fill(pm, pm + mask.numel(), true);
    set_outputs(node, outputs, {copy_reshaped(x, x.shape()), std::move(mask)});
    return;
  }
  require_dtype(node, x, DType::f32, "data in training mode");
  // Deterministic for a given seed so that reference runs are reproducible.
  std::mt19937_64 rng(static_cast<uint64_t>(node.attr_int("seed", 0)));
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  Tensor y(DType::f32, x.shape());
  const float* px = x.data<float>();
  float* py = y.data_mutable<float>();
  const float scale = 1.0f / (1.0f - ratio);
  for (int64_t i = 0, n = x.numel(); i < n; ++i) {
    pm[i] = uniform(rng) >= ratio;
    py[i] = pm[i] ? px[i] * scale : 0.0f;
  }
  set_outputs(node, outputs, {std::move(y), std::move(mask)});
}

} // namespace ops
} // namespace shrink
