// TorchTrainer and the distill pass: a tiny KD run lowers the KD loss, gradients match finite
// differences of the evaluated loss, bad input fails before training, Ctrl-C stops cleanly.

#include "shrink/compress/distill.h"
#include "shrink/core/error.h"
#include "shrink/exec/reference.h"
#include "shrink/io/datasets.h"
#include "shrink/ir/evaluate.h"
#include "shrink/ir/text.h"
#include "shrink/pass/pass_manager.h"
#include "shrink/pass/pipeline.h"
#include "shrink/pass/registry.h"
#include "shrink/torch/trainer.h"

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

#include <cmath>

using namespace shrink;

namespace {

Graph mlp(int64_t hidden, int64_t classes, uint64_t seed) {
  const std::string h = std::to_string(hidden), c = std::to_string(classes);
  Graph g = parse("graph @mlp(%x: f32[N,8]) {\n"
                  "  %w1 = const f32[" +
                  h + ",8] random(seed=" + std::to_string(seed) +
                  ")\n"
                  "  %b1 = const f32[" +
                  h +
                  "] zeros\n"
                  "  %w2 = const f32[" +
                  c + "," + h + "] random(seed=" + std::to_string(seed + 1) +
                  ")\n"
                  "  %h = Gemm(%x, %w1, %b1) {transB=1} : f32[N," +
                  h +
                  "]\n"
                  "  %r = Relu(%h) : f32[N," +
                  h +
                  "]\n"
                  "  %y = Gemm(%r, %w2) {transB=1} : f32[N," +
                  c +
                  "]\n"
                  "  return %y\n}");
  return g;
}

// Inputs with labels from the teacher's arg-max, so that both loss terms agree.
std::shared_ptr<TensorDataSource> teacher_labelled(const Graph& teacher, int64_t n, uint64_t seed) {
  Tensor x = Tensor::random({n, 8}, seed);
  ReferenceExecutor ref;
  Tensor y = ref.run(teacher, {x})[0];
  Tensor labels(DType::i64, {n});
  const int64_t c = y.dim(1);
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t k = 1; k < c; ++k)
      if (y.data<float>()[i * c + k] > y.data<float>()[i * c + best]) best = k;
    labels.data_mutable<int64_t>()[i] = best;
  }
  return std::make_shared<TensorDataSource>(std::vector<Tensor>{x}, labels, "synthetic");
}

DistillOptions quick(int epochs) {
  DistillOptions o;
  o.train.epochs = epochs;
  o.train.batch_size = 32;
  o.train.learning_rate = 1e-2;
  o.train.seed = 3;
  return o;
}

} // namespace

TEST_CASE("a tiny distillation run lowers the KD loss and raises agreement", "[torch][distill]") {
  Graph teacher = mlp(32, 5, 1);
  Graph student = mlp(8, 5, 7);
  auto train = teacher_labelled(teacher, 512, 1);
  auto test = teacher_labelled(teacher, 256, 2);
  TorchTrainer trainer(1);
  DistillReport r = trainer.distill(student, teacher, *train, test.get(), quick(4));
  REQUIRE(r.epochs.size() == 4);
  CHECK(r.epochs.back().kd_loss < 0.7 * r.epochs.front().kd_loss);
  CHECK(r.best_metric > r.initial_metric + 0.1);
  CHECK(r.steps == 4 * 16);
  // The weights were written back: the graph now scores what the trainer measured.
  ReferenceExecutor ref;
  EvalResult e = evaluate(student, *test, "accuracy", ref);
  CHECK(std::fabs(e.value - r.best_metric) < 1e-9);
}

TEST_CASE("keep_best keeps the starting weights when no epoch beats them", "[torch][distill]") {
  // The student is the teacher itself: it already agrees with the labels, and SGD with a huge
  // learning rate can only make it worse.
  Graph teacher = mlp(16, 4, 1);
  Graph student = teacher.clone();
  auto train = teacher_labelled(teacher, 128, 1);
  auto test = teacher_labelled(teacher, 128, 2);
  DistillOptions o = quick(2);
  o.train.optimizer = "sgd";
  o.train.learning_rate = 50.0;
  TorchTrainer trainer(1);
  DistillReport r = trainer.distill(student, teacher, *train, test.get(), o);
  REQUIRE(r.epochs.size() == 2);
  CHECK(r.initial_metric == 1.0);
  for (const DistillEpoch& e : r.epochs)
    CHECK(e.metric < r.initial_metric);
  CHECK(r.best_epoch == 0);
  CHECK(r.best_metric == r.initial_metric);
  ReferenceExecutor ref;
  CHECK(evaluate(student, *test, "accuracy", ref).value == 1.0);
  CHECK(max_relative_error(student.find_value("w1")->initializer(),
                           teacher.find_value("w1")->initializer()) == 0.0);
  // Without keep_best the last (worse) state stays.
  Graph last = teacher.clone();
  o.keep_best = false;
  trainer.distill(last, teacher, *train, test.get(), o);
  CHECK(evaluate(last, *test, "accuracy", ref).value < 1.0);
}

TEST_CASE("distillation is deterministic for a seed", "[torch][distill]") {
  Graph teacher = mlp(16, 4, 1);
  auto train = teacher_labelled(teacher, 128, 1);
  Graph a = mlp(8, 4, 7), b = mlp(8, 4, 7);
  TorchTrainer trainer(1);
  DistillOptions o = quick(2);
  o.augment_fn = [](Batch& batch, uint64_t seed) {
    // A custom augmentation: a seeded multiplicative jitter of the inputs.
    Tensor& x = batch.inputs[0];
    Tensor y = x.clone();
    for (int64_t i = 0; i < y.numel(); ++i)
      y.data_mutable<float>()[i] *= 1.0f + 0.01f * static_cast<float>((seed + i) % 7);
    x = y;
  };
  trainer.distill(a, teacher, *train, nullptr, o);
  trainer.distill(b, teacher, *train, nullptr, o);
  CHECK(a.find_value("w1")->initializer().equals(b.find_value("w1")->initializer()));
  CHECK_FALSE(
      a.find_value("w1")->initializer().equals(mlp(8, 4, 7).find_value("w1")->initializer()));
}

TEST_CASE("hints insert a projection when widths differ, attention maps compare features",
          "[torch][distill]") {
  Graph teacher = mlp(32, 5, 1);
  Graph student = mlp(8, 5, 7);
  auto train = teacher_labelled(teacher, 128, 1);
  TorchTrainer trainer(1);
  DistillOptions o = quick(2);
  o.hints = {{"r", "r"}};
  DistillReport r = trainer.distill(student, teacher, *train, nullptr, o);
  REQUIRE(r.notes.size() == 1);
  CHECK_THAT(r.notes[0], Catch::Contains("8 -> 32"));
  CHECK(r.epochs.back().feature_loss < r.epochs.front().feature_loss);
  // The projection is not part of the student.
  CHECK(student.num_nodes() == mlp(8, 5, 7).num_nodes());

  Graph ct = parse(R"(graph @t(%x: f32[N,1,6,6]) {
  %w = const f32[4,1,3,3] random(seed=1)
  %wf = const f32[3,144] random(seed=2)
  %c = Conv(%x, %w) {pads=[1,1,1,1]} : f32[N,4,6,6]
  %r = Relu(%c) : f32[N,4,6,6]
  %f = Flatten(%r) : f32[N,144]
  %y = Gemm(%f, %wf) {transB=1} : f32[N,3]
  return %y
})");
  Graph cs = parse(R"(graph @s(%x: f32[N,1,6,6]) {
  %w = const f32[2,1,3,3] random(seed=5)
  %wf = const f32[3,72] random(seed=6)
  %c = Conv(%x, %w) {pads=[1,1,1,1]} : f32[N,2,6,6]
  %r = Relu(%c) : f32[N,2,6,6]
  %f = Flatten(%r) : f32[N,72]
  %y = Gemm(%f, %wf) {transB=1} : f32[N,3]
  return %y
})");
  auto images = std::make_shared<TensorDataSource>(
      std::vector<Tensor>{Tensor::random({64, 1, 6, 6}, 9)}, std::nullopt, "images");
  DistillOptions a = quick(3);
  a.alpha = 1.0; // no labels needed
  a.attention = {{"r", "r"}};
  DistillReport ar = trainer.distill(cs, ct, *images, nullptr, a);
  CHECK(ar.epochs.back().feature_loss < ar.epochs.front().feature_loss);
}

TEST_CASE("bad distillation input fails before training", "[torch][distill]") {
  Graph teacher = mlp(16, 4, 1);
  auto train = teacher_labelled(teacher, 64, 1);
  TorchTrainer trainer(1);
  SECTION("different output shapes") {
    Graph student = mlp(8, 5, 7);
    CHECK_THROWS_WITH(trainer.distill(student, teacher, *train, nullptr, quick(1)),
                      Catch::Contains("same output shape"));
  }
  SECTION("a hint that does not exist") {
    Graph student = mlp(8, 4, 7);
    DistillOptions o = quick(1);
    o.hints = {{"rr", "r"}};
    CHECK_THROWS_WITH(trainer.distill(student, teacher, *train, nullptr, o),
                      Catch::Contains("'rr' is not a value of the student") &&
                          Catch::Contains("did you mean 'r'"));
  }
  SECTION("labels outside the class range") {
    Graph student = mlp(8, 4, 7);
    Tensor labels = Tensor::from_vector<int64_t>({4}, {0, 1, 9, 2});
    TensorDataSource bad({Tensor::random({4, 8}, 1)}, labels, "bad");
    Tensor before = student.find_value("w1")->initializer();
    CHECK_THROWS_WITH(trainer.distill(student, teacher, bad, nullptr, quick(1)),
                      Catch::Contains("label 9 at sample 2") && Catch::Contains("4 classes"));
    CHECK(student.find_value("w1")->initializer().equals(before));
  }
}

TEST_CASE("a custom loss joins the objective and Ctrl-C stops after the step", "[torch][distill]") {
  Graph teacher = mlp(16, 4, 1);
  Graph student = mlp(8, 4, 7);
  auto train = teacher_labelled(teacher, 256, 1);
  TorchTrainer trainer(1);
  int calls = 0;
  trainer.set_custom_loss(
      [&](const LossInputs& in) {
        ++calls;
        REQUIRE(in.student.count("h") == 1);
        REQUIRE(in.teacher.count("h") == 1);
        InterruptGuard::request_stop(); // as if Ctrl-C arrived during the first step
        return in.student.at("h").pow(2).mean() * 1e-3;
      },
      {"h"});
  // Without keep_best: the one step taken before the stop must show in the weights.
  DistillOptions o = quick(3);
  o.keep_best = false;
  DistillReport r = trainer.distill(student, teacher, *train, train.get(), o);
  CHECK(calls == 1);
  CHECK(r.interrupted);
  CHECK(r.steps == 1);
  CHECK_FALSE(
      student.find_value("w1")->initializer().equals(mlp(8, 4, 7).find_value("w1")->initializer()));
  trainer.set_custom_loss(nullptr, {"nowhere"});
  CHECK_THROWS_WITH(trainer.distill(student, teacher, *train, nullptr, quick(1)),
                    Catch::Contains("'nowhere'"));
}

TEST_CASE("TorchTrainer gradients match finite differences of the evaluated loss",
          "[torch][distill]") {
  Graph g = mlp(6, 3, 4);
  auto data = teacher_labelled(mlp(6, 3, 9), 40, 5);
  TorchTrainer trainer(1);
  auto grads = trainer.gradients(g, *data, 0);
  REQUIRE(grads.size() == 3);
  ReferenceExecutor ref;
  for (auto& pr : grads) {
    Value* v = g.find_value(pr.first);
    REQUIRE(v);
    REQUIRE(pr.second.shape() == v->initializer().shape());
    for (int64_t i : {int64_t{0}, pr.second.numel() - 1}) {
      const float eps = 1e-2f;
      auto loss_at = [&](float delta) {
        Graph h = g.clone();
        Tensor w = v->initializer().clone();
        w.data_mutable<float>()[i] += delta;
        h.set_initializer(h.find_value(pr.first), w);
        return evaluate(h, *data, "cross-entropy", ref).value;
      };
      const double fd = (loss_at(eps) - loss_at(-eps)) / (2 * eps);
      INFO(pr.first << "[" << i << "]");
      CHECK(std::fabs(pr.second.data<float>()[i] - fd) <= 1e-3 + 1e-2 * std::fabs(fd));
    }
  }
}

TEST_CASE("the distill pass runs from pipeline text with the pipeline input as teacher",
          "[torch][distill]") {
  REQUIRE(PassRegistry::global().contains("distill"));
  CHECK_THROWS_AS(PassRegistry::global().create("distill", {{"temprature", "2"}}), RecipeError);
  CHECK_THROWS_AS(PassRegistry::global().create("distill", {{"hints", "a"}}), RecipeError);

  Graph teacher = mlp(16, 4, 1);
  auto train = teacher_labelled(teacher, 128, 1);
  TorchTrainer trainer(1);
  PassContext ctx;
  ctx.trainer = &trainer;
  ctx.train = train.get();
  ctx.eval = train.get();
  // Teacher given explicitly: a smaller student.
  Graph student = mlp(8, 4, 7);
  ctx.teacher = &teacher;
  auto pass = PassRegistry::global().create("distill", {{"epochs", "2"}, {"lr", "0.01"}});
  PassResult r = pass->run(student, ctx);
  CHECK(r.changed);
  CHECK(r.stats.at("steps") == 4); // 2 epochs of 128 samples in batches of 64
  CHECK(r.stats.at("metric_after") >= r.stats.at("metric_before"));
  // Static check of the pass: a student with other classes is refused before the trainer runs.
  Graph wrong = mlp(8, 6, 7);
  CHECK_THROWS_WITH(pass->run(wrong, ctx), Catch::Contains("same output shape"));
  ctx.teacher = nullptr;
  CHECK_THROWS_WITH(pass->run(student, ctx), Catch::Contains("needs a teacher"));

  // Through the pass manager the teacher defaults to the pipeline input (here the teacher graph
  // itself, so the KD loss starts at zero and training keeps the model where it is).
  Graph self = teacher.clone();
  PassManager pm = PassManager::from_text("distill{epochs=1,lr=0.001,alpha=1}");
  PipelineReport rep = pm.run(self, ctx);
  const PassRecord* rec = rep.find("distill");
  REQUIRE(rec);
  CHECK(rec->stats.at("steps") == 2);
  CHECK(rec->stats.at("final_loss") < 1e-3);
}
