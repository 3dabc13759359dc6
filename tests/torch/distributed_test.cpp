// Data-parallel distillation (torch/distributed.h): two processes, each training on its half of
// every global batch and all-reducing gradients through c10d's Gloo process group, end with the
// weights of one process training on the whole batch. The processes are this test binary
// itself, started by `launch_data_parallel` to run the hidden "[ddp-worker]" case, so that no
// process forks after LibTorch started its threads.

#include "shrink/core/error.h"
#include "shrink/exec/reference.h"
#include "shrink/io/datasets.h"
#include "shrink/ir/graph.h"
#include "shrink/ir/text.h"
#include "shrink/torch/distributed.h"
#include "shrink/torch/trainer.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <unistd.h>

using namespace shrink;

namespace {

// A two-layer MLP (8 -> hidden -> 5).
Graph mlp(int64_t hidden, uint64_t seed) {
  const std::string h = std::to_string(hidden);
  return parse("graph @mlp(%x: f32[N,8]) {\n"
               "  %w1 = const f32[" +
               h + ",8] random(seed=" + std::to_string(seed) +
               ")\n"
               "  %b1 = const f32[" +
               h +
               "] zeros\n"
               "  %w2 = const f32[5," +
               h + "] random(seed=" + std::to_string(seed + 1) +
               ")\n"
               "  %h = Gemm(%x, %w1, %b1) {transB=1} : f32[N," +
               h +
               "]\n"
               "  %r = Relu(%h) : f32[N," +
               h +
               "]\n"
               "  %y = Gemm(%r, %w2) {transB=1} : f32[N,5]\n"
               "  return %y\n}");
}

// A small convolutional classifier on 1 x 6 x 6 images (for crop-flip augmentation).
Graph cnn(int64_t channels, uint64_t seed) {
  const std::string c = std::to_string(channels);
  return parse("graph @cnn(%x: f32[N,1,6,6]) {\n"
               "  %w = const f32[" +
               c + ",1,3,3] random(seed=" + std::to_string(seed) +
               ")\n"
               "  %fc = const f32[5," +
               c + "] random(seed=" + std::to_string(seed + 1) +
               ")\n"
               "  %c = Conv(%x, %w) {pads=[1,1,1,1]} : f32[N," +
               c +
               ",6,6]\n"
               "  %r = Relu(%c) : f32[N," +
               c +
               ",6,6]\n"
               "  %p = GlobalAveragePool(%r) : f32[N," +
               c +
               ",1,1]\n"
               "  %f = Flatten(%p) {axis=1} : f32[N," +
               c +
               "]\n"
               "  %y = Gemm(%f, %fc) {transB=1} : f32[N,5]\n"
               "  return %y\n}");
}

// Samples of shape `sample_shape` labelled by the teacher's arg-max.
std::shared_ptr<TensorDataSource> labelled(const Graph& teacher, std::vector<int64_t> shape,
                                           uint64_t seed) {
  Tensor x = Tensor::random(shape, seed);
  ReferenceExecutor ref;
  Tensor y = ref.run(teacher, {x})[0];
  const int64_t n = shape[0], c = y.dim(1);
  Tensor labels(DType::i64, {n});
  for (int64_t i = 0; i < n; ++i) {
    const float* row = y.data<float>() + i * c;
    labels.data_mutable<int64_t>()[i] = std::max_element(row, row + c) - row;
  }
  return std::make_shared<TensorDataSource>(std::vector<Tensor>{x}, labels, "synthetic");
}

// One distillation run of case `name` ("mlp", "cnn"; "mismatch" is "mlp" with one sample more
// on rank 1): the student's initializers flattened, then the metric before, the best metric
// and each epoch's loss.
std::vector<double> run_case(const std::string& name, const DataParallelOptions& parallel,
                             int threads) {
  const bool conv = name == "cnn";
  Graph teacher = conv ? cnn(8, 1) : mlp(32, 1);
  Graph student = conv ? cnn(3, 7) : mlp(8, 7);
  const int64_t extra = name == "mismatch" && parallel.rank == 1 ? 1 : 0;
  // 100 samples in global batches of 15: shares of 8 and 7, and a last batch of 10.
  auto train = labelled(
      teacher, conv ? std::vector<int64_t>{100, 1, 6, 6} : std::vector<int64_t>{100 + extra, 8}, 1);
  auto test =
      labelled(teacher, conv ? std::vector<int64_t>{40, 1, 6, 6} : std::vector<int64_t>{40, 8}, 2);
  DistillOptions o;
  o.train.epochs = 2;
  o.train.batch_size = 15;
  o.train.learning_rate = conv ? 1e-2 : 5e-2;
  o.train.optimizer = conv ? "adamw" : "sgd";
  o.train.weight_decay = 1e-3;
  o.train.grad_clip = 1.0;
  o.train.seed = 5;
  o.alpha = 0.7;
  o.eval_batch_size = 8;
  o.augment = conv ? "crop-flip" : "none";
  // The trained weights themselves are compared, whichever epoch scored best.
  o.keep_best = false;
  o.parallel = parallel;
  TorchTrainer trainer(threads);
  DistillReport rep = trainer.distill(student, teacher, *train, test.get(), o);
  std::vector<double> out;
  for (const Value* v : student.initializers()) {
    Tensor t = v->initializer().cast(DType::f32);
    out.insert(out.end(), t.data<float>(), t.data<float>() + t.numel());
  }
  out.push_back(rep.initial_metric);
  out.push_back(rep.best_metric);
  for (const DistillEpoch& e : rep.epochs)
    out.push_back(e.loss);
  return out;
}

std::string temp_dir() {
  char tmpl[] = "/tmp/shrink-ddp-test-XXXXXX";
  const char* d = ::mkdtemp(tmpl);
  REQUIRE(d != nullptr);
  return d;
}

std::vector<double> read_doubles(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::vector<double> v;
  double x = 0;
  while (in.read(reinterpret_cast<char*>(&x), sizeof x))
    v.push_back(x);
  return v;
}

// Runs case `name` in two processes and returns each rank's result (none for "mismatch",
// whose workers check their own error).
std::vector<std::vector<double>> run_two_ranks(const std::string& name) {
  const std::string dir = temp_dir();
  ::setenv("SHRINK_DDP_TEST_OUT", dir.c_str(), 1);
  ::setenv("SHRINK_DDP_TEST_CASE", name.c_str(), 1);
  const int rc = launch_data_parallel({"/proc/self/exe", "[ddp-worker]"}, 2, dir + "/store");
  ::unsetenv("SHRINK_DDP_TEST_OUT");
  ::unsetenv("SHRINK_DDP_TEST_CASE");
  REQUIRE(rc == 0);
  std::vector<std::vector<double>> out;
  for (int r = 0; r < 2; ++r) {
    const std::string f = dir + "/rank" + std::to_string(r) + ".bin";
    if (name != "mismatch") out.push_back(read_doubles(f));
    std::remove(f.c_str());
  }
  ::rmdir(dir.c_str());
  return out;
}

// Largest |a - b| relative to the largest |b| (weights near zero are compared at the scale of
// the whole vector: reduction order changes them by a few ulps of the large values).
double relative_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double diff = 0, scale = 1e-12;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return diff / scale;
}

DataParallelOptions one_process() {
  DataParallelOptions p;
  p.world_size = 1;
  return p;
}

} // namespace

// Not a test on its own: the body of each process that run_two_ranks starts.
TEST_CASE("data-parallel worker process", "[.][ddp-worker]") {
  const char* out = std::getenv("SHRINK_DDP_TEST_OUT");
  const char* name = std::getenv("SHRINK_DDP_TEST_CASE");
  if (!out || !name) return;
  const DataParallelOptions p = resolve_data_parallel({});
  REQUIRE(p.world_size == 2);
  if (std::string(name) == "mismatch") {
    REQUIRE_THROWS_WITH(run_case(name, p, 1),
                        Catch::Contains("disagree") &&
                            Catch::Contains("training samples: rank 0 100 rank 1 101"));
    return;
  }
  std::vector<double> result = run_case(name, p, 1);
  std::ofstream f(std::string(out) + "/rank" + std::to_string(p.rank) + ".bin", std::ios::binary);
  f.write(reinterpret_cast<const char*>(result.data()),
          static_cast<std::streamsize>(result.size() * sizeof(double)));
  REQUIRE(f.good());
}

TEST_CASE("two data-parallel processes train the weights one process trains on the same "
          "global batches",
          "[torch][distributed]") {
  const std::string name = GENERATE(as<std::string>{}, "mlp", "cnn");
  INFO("case " << name);
  const std::vector<double> single = run_case(name, one_process(), 0);
  const std::vector<std::vector<double>> ranks = run_two_ranks(name);
  // Every process ends with the same bits: the all-reduce gives all of them the same sum.
  CHECK(ranks[0] == ranks[1]);
  // The weights moved (the comparison below is not between two untouched students)...
  const std::vector<double> untouched = [&] {
    Graph s = name == "cnn" ? cnn(3, 7) : mlp(8, 7);
    std::vector<double> v;
    for (const Value* x : s.initializers()) {
      Tensor t = x->initializer().cast(DType::f32);
      v.insert(v.end(), t.data<float>(), t.data<float>() + t.numel());
    }
    return v;
  }();
  const std::vector<double> trained(ranks[0].begin(), ranks[0].begin() + untouched.size());
  const double moved = relative_diff(trained, untouched);
  CHECK(moved > 1e-2);
  // ...and match one process (weights, metrics, per-epoch losses) up to reduction order.
  const double diff = relative_diff(ranks[0], single);
  CHECK(diff < 1e-5);
  CHECK(ranks[0][untouched.size()] == Approx(single[untouched.size()]).epsilon(1e-6));
}

TEST_CASE("data-parallel processes that train different things fail together",
          "[torch][distributed]") {
  run_two_ranks("mismatch");
}

TEST_CASE("data-parallel options come from the environment and are checked",
          "[torch][distributed]") {
  ::unsetenv("SHRINK_WORLD_SIZE");
  ::unsetenv("SHRINK_RANK");
  ::unsetenv("SHRINK_RENDEZVOUS");
  CHECK(resolve_data_parallel({}).world_size == 1);

  ::setenv("SHRINK_WORLD_SIZE", "2", 1);
  CHECK_THROWS_WITH(resolve_data_parallel({}), Catch::Contains("SHRINK_RANK is not set"));
  ::setenv("SHRINK_RANK", "2", 1);
  CHECK_THROWS_WITH(resolve_data_parallel({}), Catch::Contains("rank 2 is outside [0, 2)"));
  ::setenv("SHRINK_RANK", "1", 1);
  CHECK_THROWS_WITH(resolve_data_parallel({}), Catch::Contains("needs a rendezvous"));
  ::setenv("SHRINK_RENDEZVOUS", "/tmp/somewhere", 1);
  const DataParallelOptions p = resolve_data_parallel({});
  CHECK(p.world_size == 2);
  CHECK(p.rank == 1);
  CHECK(p.rendezvous == "/tmp/somewhere");
  // An explicit world size wins over the environment.
  CHECK(resolve_data_parallel(one_process()).world_size == 1);
  ::setenv("SHRINK_WORLD_SIZE", "two", 1);
  CHECK_THROWS_WITH(resolve_data_parallel({}), Catch::Contains("not a whole number"));
  ::unsetenv("SHRINK_WORLD_SIZE");
  ::unsetenv("SHRINK_RANK");
  ::unsetenv("SHRINK_RENDEZVOUS");

  // A global batch smaller than the group fails before any process waits for the others.
  Graph teacher = mlp(16, 1), student = mlp(4, 3);
  auto data = labelled(teacher, {8, 8}, 1);
  DistillOptions o;
  o.train.batch_size = 1;
  o.parallel.world_size = 2;
  o.parallel.rendezvous = "/tmp/unused";
  TorchTrainer trainer;
  CHECK_THROWS_WITH(trainer.distill(student, teacher, *data, nullptr, o),
                    Catch::Contains("batch_size 1 cannot be shared by 2"));
}

TEST_CASE("launch_data_parallel starts one process per rank and reports failures",
          "[torch][distributed]") {
  const std::string dir = temp_dir();
  const std::string store = dir + "/store";
  // Each rank sees its own rank and the group's size and rendezvous.
  CHECK(launch_data_parallel({"/bin/sh", "-c",
                              "test \"$SHRINK_WORLD_SIZE\" = 3 && test \"$SHRINK_RENDEZVOUS\" = " +
                                  store + " && touch " + dir + "/r$SHRINK_RANK"},
                             3, store) == 0);
  for (int r = 0; r < 3; ++r) {
    const std::string f = dir + "/r" + std::to_string(r);
    CHECK(::access(f.c_str(), F_OK) == 0);
    std::remove(f.c_str());
  }
  // The first failure's exit status comes back, and the other processes are stopped.
  CHECK(launch_data_parallel({"/bin/sh", "-c", "test $SHRINK_RANK = 0 && exit 3; exec sleep 30"}, 2,
                             store) == 3);
  CHECK_THROWS_WITH(launch_data_parallel({}, 2, store), Catch::Contains("no program"));
  ::rmdir(dir.c_str());
}
