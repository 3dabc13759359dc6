#include "shrink/core/error.h"
#include "shrink/core/tensor.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>

using namespace shrink;

TEST_CASE("tensors allocate aligned, zeroed storage", "[core][tensor]") {
  Tensor t(DType::f32, {2, 3, 5});
  CHECK(t.numel() == 30);
  CHECK(t.nbytes() == 120);
  CHECK(reinterpret_cast<uintptr_t>(t.raw()) % 64 == 0);
  for (int64_t i = 0; i < t.numel(); ++i)
    CHECK(t.at(i) == 0.0);
  CHECK(t.dim(-1) == 5);
  CHECK_THROWS_AS(t.dim(3), Error);
}

TEST_CASE("copies share storage, clone does not", "[core][tensor]") {
  auto a = Tensor::from_vector<float>({2}, {1.0f, 2.0f});
  Tensor b = a;
  Tensor c = a.clone();
  CHECK(b.shares_storage(a));
  CHECK_FALSE(c.shares_storage(a));
  b.data_mutable<float>()[0] = 7.0f;
  CHECK(a.data<float>()[0] == 7.0f);
  CHECK(c.data<float>()[0] == 1.0f);
}

TEST_CASE("typed access checks the dtype", "[core][tensor]") {
  Tensor t(DType::i64, {3});
  CHECK_THROWS_WITH(t.data<float>(), Catch::Contains("i64") && Catch::Contains("f32"));
  CHECK_THROWS_AS((Tensor::from_vector<float>({2}, {1.0f})), Error);
}

TEST_CASE("cast truncates toward zero and saturates", "[core][tensor]") {
  auto f = Tensor::from_vector<float>({5}, {-1.7f, 2.9f, 300.0f, -300.0f, NAN});
  auto u = f.cast(DType::u8);
  CHECK(u.to_doubles() == std::vector<double>{0, 2, 255, 0, 0});
  auto i = f.cast(DType::i8);
  CHECK(i.to_doubles() == std::vector<double>{-1, 2, 127, -128, 0});
  auto h = f.cast(DType::f16).cast(DType::f32);
  CHECK(h.data<float>()[0] == Approx(-1.7f).epsilon(1e-3));
  auto bf = Tensor::from_vector<float>({1}, {3.140625f}).cast(DType::bf16).cast(DType::f32);
  CHECK(bf.data<float>()[0] == 3.140625f);
}

TEST_CASE("half precision conversions round to nearest even", "[core][dtype]") {
  CHECK(float_to_half(1.0f) == 0x3c00);
  CHECK(half_to_float(0x3c00) == 1.0f);
  CHECK(half_to_float(float_to_half(65504.0f)) == 65504.0f);
  CHECK(float_to_half(1e6f) == 0x7c00); // overflow -> inf
  CHECK(half_to_float(0x0001) == Approx(5.960464477539063e-08));
  CHECK(float_to_half(5.960464477539063e-08f) == 0x0001);
  // 1 + 2^-11 is exactly between 1 and the next half: ties go to even (1.0).
  CHECK(float_to_half(1.00048828125f) == 0x3c00);
  CHECK(float_to_bf16(1.0f) == 0x3f80);
}

TEST_CASE("onnx element types map both ways", "[core][dtype]") {
  for (DType d : {DType::f32, DType::f16, DType::bf16, DType::i8, DType::u8, DType::i32, DType::i64,
                  DType::boolean})
    CHECK(dtype_from_onnx(onnx_dtype(d)) == d);
  CHECK_THROWS_WITH(dtype_from_onnx(11), Catch::Contains("DOUBLE"));
  CHECK(parse_dtype("bool") == DType::boolean);
  CHECK_THROWS_WITH(parse_dtype("f64"), Catch::Contains("known"));
}

TEST_CASE("random tensors are deterministic and in range", "[core][tensor]") {
  auto a = Tensor::random({1000}, 7), b = Tensor::random({1000}, 7), c = Tensor::random({1000}, 8);
  CHECK(a.equals(b));
  CHECK_FALSE(a.equals(c));
  CHECK(a.content_hash() == b.content_hash());
  CHECK(a.content_hash() != c.content_hash());
  double lo = 1, hi = -1;
  for (double v : a.to_doubles()) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  CHECK(lo >= -1.0);
  CHECK(hi < 1.0);
  CHECK(lo < -0.9);
  CHECK(hi > 0.9);
}

TEST_CASE("error metrics", "[core][tensor]") {
  auto ref = Tensor::from_vector<float>({4}, {1, -2, 3, -4});
  auto near = Tensor::from_vector<float>({4}, {1, -2, 3, -4.04f});
  CHECK(max_relative_error(near, ref) == Approx(0.01).epsilon(1e-3));
  CHECK(std::isinf(sqnr_db(ref, ref)));
  CHECK(sqnr_db(ref, near) == Approx(10 * std::log10(30.0 / (0.04 * 0.04))).epsilon(1e-3));
  CHECK_THROWS_AS(max_relative_error(ref, Tensor(DType::f32, {5})), Error);
}

TEST_CASE("closest_name suggests near misses only", "[core][error]") {
  CHECK(closest_name("fold-batchnrom", {"dce", "fold-batchnorm", "fuse"}) == "fold-batchnorm");
  CHECK(closest_name("zzzzzzzz", {"dce", "fuse"}).empty());
  ParseError e("model.mir", 3, 7, "expected ')'");
  CHECK(std::string(e.what()) == "model.mir:3:7: expected ')'");
  VerifyError v({"node 'a' (Relu): bad", "node 'b' (Conv): bad"});
  CHECK(std::string(v.what()).find("2 problems") != std::string::npos);
}
