// Metrics against hand-computed values, and evaluate() with the reference executor on tiny
// graphs built here.
#include "shrink/ir/evaluate.h"

#include "shrink/core/error.h"
#include "shrink/exec/reference.h"
#include "shrink/ir/graph.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

using namespace shrink;
using Catch::Matchers::Contains;

namespace {

// Rows [start, start + count) of `t`.
Tensor rows(const Tensor& t, int64_t start, int64_t count) {
  Shape s = t.shape();
  s[0] = count;
  Tensor out(t.dtype(), s);
  size_t row = t.nbytes() / static_cast<size_t>(t.dim(0));
  std::memcpy(out.raw_mutable(), static_cast<const char*>(t.raw()) + start * row, count * row);
  return out;
}

// A data source over in-memory tensors (the io layer has the real one; exec tests stay free of
// it).
class MemorySource : public DataSource {
public:
  MemorySource(Tensor x, std::optional<Tensor> y) : x_(std::move(x)), y_(std::move(y)) {}
  int64_t size() const override { return x_.dim(0); }
  Batch batch(int64_t start, int64_t count) const override {
    count = std::min(count, size() - start);
    Batch b;
    b.inputs.push_back(rows(x_, start, count));
    if (y_) b.labels = rows(*y_, start, count);
    return b;
  }
  std::string describe() const override {
    return "memory (" + std::to_string(size()) + " samples)";
  }

private:
  Tensor x_;
  std::optional<Tensor> y_;
};

TensorType f32_type(std::vector<Dim> dims) {
  return TensorType{DType::f32, std::move(dims)};
}

// logits = x @ w + b, x: f32[N,4], 3 classes.
Graph linear_classifier(const Tensor& w, const Tensor& b, Dim batch = Dim::sym("N")) {
  Graph g("linear");
  Value* x = g.add_input("x", f32_type({batch, Dim::known(4)}));
  Value* mm = g.add_op("MatMul", {x, g.add_initializer("w", w)});
  Value* y = g.add_op("Add", {mm, g.add_initializer("b", b)}, {}, "logits");
  g.set_outputs({y});
  return g;
}

double log_sum_exp(const std::vector<double>& v) {
  double m = v[0];
  for (double x : v)
    m = std::max(m, x);
  double s = 0;
  for (double x : v)
    s += std::exp(x - m);
  return m + std::log(s);
}

} // namespace

TEST_CASE("accuracy is top-1 over N x C and N x T x C", "[metrics]") {
  Tensor scores = Tensor::from_vector<float>({4, 3}, {1, 2, 0, 3, 1, 0, 0, 0, 5, 1, 1, 0});
  // Predictions 1, 0, 2 and 0 (ties go to the first class).
  Tensor labels = Tensor::from_vector<int64_t>({4}, {1, 0, 1, 0});
  REQUIRE(compute_metric("accuracy", scores, labels) == 0.75);
  REQUIRE(compute_metric("accuracy", scores, labels.cast(DType::i32)) == 0.75);

  Tensor seq = scores.reshaped({2, 2, 3});
  REQUIRE(compute_metric("accuracy", seq, labels.reshaped({2, 2})) == 0.75);

  Metric m = Metric::parse("accuracy");
  m.add(scores, labels);
  m.add(Tensor::from_vector<float>({1, 3}, {0, 0, 1}), Tensor::from_vector<int64_t>({1}, {2}));
  REQUIRE(m.predictions == 5);
  REQUIRE(m.correct == 4);
  REQUIRE(m.value() == 0.8);
  REQUIRE(m.higher_is_better());
}

TEST_CASE("cross-entropy, perplexity and bits-per-char", "[metrics]") {
  // Uniform scores over 4 classes: CE = ln 4, perplexity 4, 2 bits.
  Tensor uniform(DType::f32, {3, 4});
  Tensor labels = Tensor::from_vector<int64_t>({3}, {0, 3, 2});
  REQUIRE(compute_metric("cross-entropy", uniform, labels) == Approx(std::log(4.0)));
  REQUIRE(compute_metric("perplexity", uniform, labels) == Approx(4.0));
  REQUIRE(compute_metric("bits-per-char", uniform, labels) == Approx(2.0));
  REQUIRE_FALSE(Metric::parse("perplexity").higher_is_better());

  // p(label) = 3/4 and 1/2: CE = (-ln 0.75 - ln 0.5) / 2.
  Tensor scores = Tensor::from_vector<float>({2, 2}, {0, std::log(3.0f), 5, 5});
  Tensor y = Tensor::from_vector<int64_t>({2}, {1, 0});
  double ce = (-std::log(0.75) - std::log(0.5)) / 2;
  REQUIRE(compute_metric("cross-entropy", scores, y) == Approx(ce).epsilon(1e-6));
  REQUIRE(compute_metric("perplexity", scores, y) == Approx(std::exp(ce)).epsilon(1e-6));
  REQUIRE(compute_metric("bits-per-char", scores, y) == Approx(ce / std::log(2.0)).epsilon(1e-6));

  // Large logits stay finite (log-sum-exp with the maximum subtracted).
  Tensor big = Tensor::from_vector<float>({1, 2}, {1000, 0});
  REQUIRE(compute_metric("cross-entropy", big, Tensor::from_vector<int64_t>({1}, {1})) ==
          Approx(1000.0));
  // f16 scores are converted.
  REQUIRE(compute_metric("cross-entropy", uniform.cast(DType::f16), labels) ==
          Approx(std::log(4.0)));
}

TEST_CASE("metric errors say what is wrong", "[metrics]") {
  Tensor scores(DType::f32, {2, 10});
  REQUIRE_THROWS_WITH(Metric::parse("acuracy"),
                      Contains("unknown metric 'acuracy'") && Contains("did you mean 'accuracy'"));
  Metric m = Metric::parse("accuracy");
  REQUIRE_THROWS_WITH(m.value(), Contains("no predictions"));
  REQUIRE_THROWS_WITH(m.add(scores, Tensor::from_vector<int64_t>({2}, {3, 12}), 340),
                      Contains("label 12 at sample 341 is outside the model's 10 classes"));
  REQUIRE_THROWS_WITH(m.add(scores, Tensor::from_vector<int64_t>({2}, {-1, 0})),
                      Contains("label -1 at sample 0"));
  Tensor seq(DType::f32, {2, 3, 10});
  Tensor seq_labels = Tensor::from_vector<int64_t>({2, 3}, {0, 1, 2, 3, 10, 5});
  REQUIRE_THROWS_WITH(m.add(seq, seq_labels, 100),
                      Contains("label 10 at sample 101, position 1 is outside"));
  REQUIRE_THROWS_WITH(m.add(Tensor(DType::f32, {2}), Tensor::from_vector<int64_t>({2}, {0, 1})),
                      Contains("needs class scores N x C or N x T x C") && Contains("f32[2]"));
  REQUIRE_THROWS_WITH(m.add(scores, Tensor::from_vector<int64_t>({3}, {0, 1, 2})),
                      Contains("f32[2,10] does not fit the labels i64[3]"));
  REQUIRE_THROWS_WITH(m.add(scores, Tensor::from_vector<float>({2}, {0, 1})),
                      Contains("integer class ids") && Contains("f32[2]"));
  // Nothing was counted by the failed calls that were rejected before scoring.
  REQUIRE(m.predictions == 0);
}

TEST_CASE("evaluate runs a classifier batch by batch with the reference executor", "[metrics]") {
  Tensor w = Tensor::random({4, 3}, 11);
  Tensor b = Tensor::from_vector<float>({3}, {0.1f, -0.2f, 0.05f});
  Graph g = linear_classifier(w, b);
  const int64_t n = 10;
  Tensor x = Tensor::random({n, 4}, 12);
  std::vector<int64_t> label_values = {0, 1, 2, 0, 1, 2, 0, 1, 2, 1};
  Tensor y = Tensor::from_vector<int64_t>({n}, label_values);

  // The expected values, from the logits computed here by hand.
  int64_t correct = 0;
  double nll = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<double> logits(3);
    for (int c = 0; c < 3; ++c) {
      logits[c] = b.at(c);
      for (int k = 0; k < 4; ++k)
        logits[c] += x.at(i * 4 + k) * w.at(k * 3 + c);
    }
    int best = 0;
    for (int c = 1; c < 3; ++c)
      if (logits[c] > logits[best]) best = c;
    correct += best == label_values[i];
    nll += log_sum_exp(logits) - logits[label_values[i]];
  }

  MemorySource data(x, y);
  ReferenceExecutor exec;
  std::vector<std::pair<int64_t, int64_t>> calls;
  EvalOptions opts;
  opts.batch_size = 4;
  opts.progress = [&](int64_t done, int64_t total, const std::string& status) {
    calls.emplace_back(done, total);
    REQUIRE(status.rfind("accuracy ", 0) == 0);
  };
  EvalResult r = evaluate(g, data, "accuracy", exec, opts);
  REQUIRE(r.metric == "accuracy");
  REQUIRE(r.value == Approx(static_cast<double>(correct) / n));
  REQUIRE(r.samples == n);
  REQUIRE(r.predictions == n);
  REQUIRE(r.seconds >= 0);
  REQUIRE(r.data == "memory (10 samples)");
  REQUIRE(r.executor == "reference");
  REQUIRE(calls == std::vector<std::pair<int64_t, int64_t>>{{4, 10}, {8, 10}, {10, 10}});
  REQUIRE(r.str().rfind("accuracy ", 0) == 0);
  REQUIRE_THAT(r.str(), Contains("on 10 samples of memory (10 samples)"));

  EvalResult ce = evaluate(g, data, "cross-entropy", exec, {3});
  REQUIRE(ce.value == Approx(nll / n).epsilon(1e-5));
  REQUIRE(evaluate(g, data, "perplexity", exec).value == Approx(std::exp(nll / n)).epsilon(1e-5));

  SECTION("a sample limit") {
    EvalOptions limited;
    limited.limit = 6;
    EvalResult part = evaluate(g, data, "accuracy", exec, limited);
    REQUIRE(part.samples == 6);
  }
  SECTION("samples are reshaped to a flattening graph's input") {
    MemorySource images(x.reshaped({n, 1, 2, 2}), y);
    REQUIRE(evaluate(g, images, "cross-entropy", exec).value == Approx(ce.value));
  }
  SECTION("the scores output chosen by name") {
    EvalOptions named;
    named.output = "logits";
    REQUIRE(evaluate(g, data, "accuracy", exec, named).value == Approx(r.value));
    named.output = "logit";
    REQUIRE_THROWS_WITH(evaluate(g, data, "accuracy", exec, named),
                        Contains("no output 'logit'") && Contains("did you mean 'logits'"));
  }
}

TEST_CASE("evaluate scores every token of a sequence model", "[metrics]") {
  // A bigram "language model": logits[n, t] = table[ids[n, t]] via Gather, 5 tokens.
  Tensor table = Tensor::random({5, 5}, 21);
  Graph g("bigram");
  Value* ids =
      g.add_input("ids", TensorType{DType::i64, std::vector<Dim>{Dim::sym("N"), Dim::sym("T")}});
  Value* logits =
      g.add_op("Gather", {g.add_initializer("table", table), ids}, {{"axis", int64_t{0}}});
  g.set_outputs({logits});

  std::vector<int64_t> in = {0, 1, 2, 3, 4, 0, 1, 1, 2, 2, 3, 3};
  std::vector<int64_t> next = {1, 2, 3, 4, 0, 1, 1, 2, 2, 3, 3, 4};
  MemorySource data(Tensor::from_vector<int64_t>({3, 4}, in),
                    Tensor::from_vector<int64_t>({3, 4}, next));
  double nll = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    std::vector<double> row(5);
    for (int c = 0; c < 5; ++c)
      row[c] = table.at(in[i] * 5 + c);
    nll += log_sum_exp(row) - row[next[i]];
  }
  ReferenceExecutor exec;
  EvalResult r = evaluate(g, data, "bits-per-char", exec, {2});
  REQUIRE(r.samples == 3);
  REQUIRE(r.predictions == 12);
  REQUIRE(r.value == Approx(nll / 12 / std::log(2.0)).epsilon(1e-5));
  REQUIRE(evaluate(g, data, "perplexity", exec).value == Approx(std::exp(nll / 12)).epsilon(1e-5));
}

TEST_CASE("evaluate rejects data that does not fit the graph", "[metrics]") {
  Graph g = linear_classifier(Tensor::random({4, 3}, 1), Tensor::random({3}, 2));
  Tensor x = Tensor::random({5, 4}, 3);
  ReferenceExecutor exec;
  MemorySource unlabeled(x, std::nullopt);
  REQUIRE_THROWS_WITH(evaluate(g, unlabeled, "accuracy", exec),
                      Contains("needs labels") && Contains("memory (5 samples)"));
  MemorySource bad_labels(x, Tensor::from_vector<int64_t>({5}, {0, 1, 2, 7, 0}));
  REQUIRE_THROWS_WITH(evaluate(g, bad_labels, "accuracy", exec, {2}),
                      Contains("label 7 at sample 3 is outside the model's 3 classes"));
  MemorySource ids(Tensor::from_vector<int64_t>({1, 4}, {1, 2, 3, 4}),
                   Tensor::from_vector<int64_t>({1}, {0}));
  REQUIRE_THROWS_WITH(evaluate(g, ids, "accuracy", exec),
                      Contains("graph input 'x' is f32[N,4]") && Contains("i64[1,4]"));
  MemorySource wide(Tensor::random({2, 6}, 4), Tensor::from_vector<int64_t>({2}, {0, 1}));
  REQUIRE_THROWS_WITH(evaluate(g, wide, "accuracy", exec), Contains("sample shapes differ"));
  MemorySource labeled(x, Tensor::from_vector<int64_t>({5}, {0, 1, 2, 1, 0}));
  REQUIRE_THROWS_WITH(evaluate(g, labeled, "acc", exec), Contains("unknown metric 'acc'"));
  REQUIRE_THROWS_WITH(evaluate(g, labeled, "accuracy", exec, {0}),
                      Contains("batch size must be positive"));
  Graph fixed = linear_classifier(Tensor::random({4, 3}, 1), Tensor::random({3}, 2), Dim::known(1));
  REQUIRE_THROWS_WITH(evaluate(fixed, labeled, "accuracy", exec),
                      Contains("fixed batch size of 1"));
  REQUIRE(evaluate(fixed, labeled, "accuracy", exec, {1}).samples == 5);
  MemorySource empty(Tensor(DType::f32, {0, 4}), Tensor(DType::i64, {0}));
  REQUIRE_THROWS_WITH(evaluate(g, empty, "accuracy", exec), Contains("no samples"));
}
