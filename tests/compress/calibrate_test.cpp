// Calibration: the streaming histogram, the four range-selection methods, data checks.
#include "shrink/compress/calibrate.h"
#include "shrink/core/error.h"
#include "shrink/exec/reference.h"
#include "shrink/io/datasets.h"
#include "support/test_graphs.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

using namespace shrink;

namespace {

/// 10000 values uniform in [0, 1) and one outlier at 100.
Histogram with_outlier() {
  Histogram h;
  std::vector<float> v(10000);
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<float>(i) / 10000.f;
  h.add(v.data(), static_cast<int64_t>(v.size()));
  const float outlier = 100.f;
  h.add(&outlier, 1);
  return h;
}

uint64_t total(const Histogram& h) {
  uint64_t n = 0;
  for (uint64_t b : h.bins())
    n += b;
  return n;
}

} // namespace

TEST_CASE("histogram: exact min, max and counts while its range doubles", "[calibrate]") {
  Histogram h;
  const std::vector<float> zeros(5, 0.f);
  h.add(zeros.data(), 5);
  CHECK(h.half_range() == 0.0);
  const std::vector<float> a = {0.25f, -0.5f, 0.75f, NAN};
  h.add(a.data(), 4);
  CHECK(h.half_range() == 1.0);
  const std::vector<float> b = {-7.f, 3.f};
  h.add(b.data(), 2);
  CHECK(h.half_range() == 8.0);
  CHECK(h.count() == 10); // the NaN is ignored
  CHECK(total(h) == 10);
  CHECK(h.min() == -7.0);
  CHECK(h.max() == 3.0);
  // Every value sits in the bin that covers it after the merges.
  auto bin_of = [&](double v) { return static_cast<size_t>((v + h.half_range()) / h.bin_width()); };
  CHECK(h.bins()[bin_of(0.0)] == 5);
  CHECK(h.bins()[bin_of(-7.0)] == 1);
  CHECK(h.bins()[bin_of(0.75)] == 1);
}

TEST_CASE("choose_range: minmax keeps outliers, the other methods clip them", "[calibrate]") {
  const Histogram h = with_outlier();
  const QuantRange mm = choose_range(h, CalibMethod::minmax, false);
  CHECK(mm.lo == 0.f);
  CHECK(mm.hi == 100.f);
  const QuantRange p = choose_range(h, CalibMethod::percentile, false, 99.9);
  CHECK(p.lo == 0.f);
  CHECK(p.hi == Approx(1.0).epsilon(0.02));
  // Entropy's threshold cannot go below 256 bins of the histogram (R / 8 for u8 data).
  const QuantRange e = choose_range(h, CalibMethod::entropy, false);
  CHECK(e.hi <= 16.f);
  // One outlier costs more squared error clipped than the rounding of all other values.
  CHECK(choose_range(h, CalibMethod::mse, false).hi > 90.f);
  const QuantRange sym = choose_range(h, CalibMethod::percentile, true, 99.9);
  CHECK(sym.lo == -sym.hi);
  CHECK(sym.hi == Approx(1.0).epsilon(0.02));
}

TEST_CASE("choose_range: entropy and mse clip a heavy-tailed distribution", "[calibrate]") {
  // Cauchy samples: a few enormous values, most within a few units of 0.
  Histogram h;
  std::vector<float> v;
  for (int i = 1; i < 20000; ++i)
    v.push_back(static_cast<float>(std::tan(3.14159265358979 * (i / 20000.0 - 0.5))));
  h.add(v.data(), static_cast<int64_t>(v.size()));
  const double amax = std::max(-h.min(), h.max());
  for (CalibMethod m : {CalibMethod::entropy, CalibMethod::percentile}) {
    INFO(calib_method_name(m));
    const QuantRange r = choose_range(h, m, true, 99.0);
    CHECK(r.hi == -r.lo);
    CHECK(r.hi > 1.f);
    CHECK(r.hi < 0.2 * amax);
  }
}

TEST_CASE("choose_range: mse clips the rare extremes of a Gaussian", "[calibrate]") {
  // 200000 Gaussian samples reach about 4.5 sigma; the squared error is least near 4 sigma.
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> v(200000);
  for (float& x : v)
    x = normal(rng);
  Histogram h;
  h.add(v.data(), static_cast<int64_t>(v.size()));
  const double amax = std::max(-h.min(), h.max());
  const QuantRange r = choose_range(h, CalibMethod::mse, true);
  CHECK(r.hi < 0.95 * amax);
  CHECK(r.hi > 2.5);
}

TEST_CASE("choose_range: a signed distribution gets an asymmetric or symmetric range",
          "[calibrate]") {
  Histogram h;
  std::vector<float> v;
  for (int i = -1000; i <= 3000; ++i)
    v.push_back(static_cast<float>(i) / 1000.f);
  h.add(v.data(), static_cast<int64_t>(v.size()));
  const QuantRange a = choose_range(h, CalibMethod::minmax, false);
  CHECK(a.lo == -1.f);
  CHECK(a.hi == 3.f);
  const QuantRange s = choose_range(h, CalibMethod::minmax, true);
  CHECK(s.lo == -3.f);
  CHECK(s.hi == 3.f);
  // Nothing to clip in a uniform distribution: MSE keeps (nearly) the whole range.
  const QuantRange m = choose_range(h, CalibMethod::mse, false);
  CHECK(m.hi > 2.8f);
  CHECK(m.lo < -0.9f);
  CHECK(choose_range(Histogram(), CalibMethod::entropy, false).hi == 0.f);
}

TEST_CASE("quant_params_for_range: u8 asymmetric and i8 symmetric", "[calibrate]") {
  const ActivationQuant u = quant_params_for_range({-1.f, 3.f}, DType::u8);
  CHECK(u.scale == Approx(4.0 / 255));
  CHECK(u.zero_point == 64);
  const ActivationQuant r = quant_params_for_range({0.5f, 2.f}, DType::u8); // widened to 0
  CHECK(r.zero_point == 0);
  CHECK(r.scale == Approx(2.0 / 255));
  const ActivationQuant s = quant_params_for_range({-1.f, 3.f}, DType::i8);
  CHECK(s.scale == Approx(3.0 / 127));
  CHECK(s.zero_point == 0);
  CHECK(quant_params_for_range({0.f, 0.f}, DType::u8).scale == 1.f);
}

TEST_CASE("parse_calib_method names the known methods", "[calibrate]") {
  CHECK(parse_calib_method("entropy") == CalibMethod::entropy);
  CHECK_THROWS_AS(parse_calib_method("entropi"), RecipeError);
  CHECK_THROWS_WITH(parse_calib_method("entropi"), Catch::Contains("did you mean 'entropy'"));
}

TEST_CASE("calibration data is checked before any work", "[calibrate]") {
  Graph g = testing::small_cnn();
  ReferenceExecutor exec;
  SECTION("wrong dtype") {
    TensorDataSource data({Tensor(DType::i64, {4, 1, 28, 28})});
    CHECK_THROWS_WITH(check_calibration_data(g, data, "pass 'quantize'"),
                      Catch::Contains("dtypes differ") && Catch::Contains("'x'"));
  }
  SECTION("wrong shape") {
    TensorDataSource data({Tensor(DType::f32, {4, 3, 28, 28})});
    CHECK_THROWS_WITH(check_calibration_data(g, data, "pass 'quantize'"),
                      Catch::Contains("per-sample shapes do not match"));
  }
  SECTION("empty") {
    TensorDataSource data({Tensor(DType::f32, {0, 1, 28, 28})});
    CHECK_THROWS_WITH(calibrate_activations(g, exec, data, {"stem_relu"}, {}),
                      Catch::Contains("is empty"));
  }
  SECTION("flattened images are accepted") {
    TensorDataSource data({Tensor(DType::f32, {4, 784})});
    CHECK_NOTHROW(check_calibration_data(g, data, "pass 'quantize'"));
  }
}

TEST_CASE("require_calibration names what a pass is missing", "[calibrate]") {
  Graph g = testing::small_cnn();
  ReferenceExecutor exec;
  TensorDataSource good({Tensor(DType::f32, {4, 1, 28, 28})});
  TensorDataSource bad({Tensor(DType::f32, {4, 3, 28, 28})});
  PassContext ctx;
  CHECK_THROWS_WITH(require_calibration(g, ctx, "pass 'x'"),
                    Catch::StartsWith("pass 'x' needs calibration data"));
  ctx.calibration = &good;
  CHECK_THROWS_WITH(require_calibration(g, ctx, "pass 'x'"),
                    Catch::StartsWith("pass 'x' needs an executor"));
  ctx.executor = &exec;
  CHECK_NOTHROW(require_calibration(g, ctx, "pass 'x'"));
  ctx.calibration = &bad;
  CHECK_THROWS_WITH(require_calibration(g, ctx, "pass 'x'"),
                    Catch::Contains("per-sample shapes do not match"));
}

TEST_CASE("calibrate_activations streams every sample into the histograms", "[calibrate]") {
  Graph g = testing::small_cnn();
  ReferenceExecutor exec;
  TensorDataSource data({Tensor::random({10, 1, 28, 28}, 3)});
  CalibrationOptions o;
  o.batch_size = 4; // batches of 4, 4, 2
  o.channel_absmax = {"flatten"};
  int batches = 0;
  o.progress = [&](int64_t, int64_t, const std::string&) { ++batches; };
  const auto stats = calibrate_activations(g, exec, data, {"stem_relu", "flatten"}, o);
  CHECK(batches == 3);
  const Histogram& relu = stats.at("stem_relu").histogram;
  CHECK(relu.count() == 10 * 8 * 14 * 14);
  CHECK(relu.min() >= 0.0);
  const ActivationStats& flat = stats.at("flatten");
  REQUIRE(flat.channel_absmax.size() == 8);
  CHECK(flat.histogram.count() == 80);
  CHECK_THROWS_WITH(calibrate_activations(g, exec, data, {"nope"}, o),
                    Catch::Contains("no value named 'nope'"));
}
