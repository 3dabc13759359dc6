// The pass manager: validation before running, fixpoints, verification after each pass, and the
// per-pass report.
#include "shrink/core/error.h"
#include "shrink/ir/text.h"
#include "shrink/pass/pass_manager.h"
#include "shrink/transforms/dce.h"

#include <catch2/catch.hpp>

#include <sstream>

using namespace shrink;

namespace {

const char* const kSmallGraph = R"(graph @main(%x: f32[N,4]) {
  %i = Identity(%x) : f32[N,4]
  %a = Relu(%i) : f32[N,4]
  %b = Sigmoid(%a) : f32[N,4]
  return %b
}
)";

/// Declares whatever a test asks for and counts its runs; changes nothing.
class ProbePass : public Pass {
public:
  ProbePass(std::string name, Needs needs = {}, Props requires = {}, Props establishes = {})
      : info_{std::move(name), "Probe.", std::move(requires), std::move(establishes), {}, needs} {}
  const PassInfo& info() const override { return info_; }
  PassResult run(Graph& graph, PassContext& ctx) override {
    ++runs;
    saw_teacher = ctx.teacher != nullptr;
    saw_types = graph.nodes().empty() || graph.nodes()[0]->output(0)->type().ranked();
    PassResult r;
    r.stats["probe"] = 1;
    return r;
  }
  PassInfo info_;
  int runs = 0;
  bool saw_teacher = false;
  bool saw_types = false;
};

/// Removes one Identity node per run (rewiring its users), so a fixpoint needs several rounds.
class PeelIdentityPass : public Pass {
public:
  explicit PeelIdentityPass(const Options& options = {}) {
    OptionReader r("peel-identity", options);
    r.finish();
  }
  const PassInfo& info() const override {
    static const PassInfo info{"peel-identity", "Removes one Identity.", {}, {}, {}, {}};
    return info;
  }
  PassResult run(Graph& graph, PassContext&) override {
    PassResult r;
    for (Node* n : graph.nodes()) {
      if (n->op() != "Identity" || graph.is_output(n->output(0))) continue;
      graph.replace_all_uses(n->output(0), n->input(0));
      graph.erase(n);
      r.changed = true;
      r.stats["peeled"] = 1;
      r.warnings.push_back("peeled '" + n->name() + "'");
      break;
    }
    return r;
  }
};

/// Claims a change every time, so a fixpoint over it never converges.
class RestlessPass : public Pass {
public:
  explicit RestlessPass(const Options& = {}) {}
  const PassInfo& info() const override {
    static const PassInfo info{"restless", "Always reports a change.", {}, {}, {}, {}};
    return info;
  }
  PassResult run(Graph&, PassContext&) override { return {true, {}, {}}; }
};

/// Deliberately breaks the graph: points a node at a value defined after it.
class BreakGraphPass : public Pass {
public:
  explicit BreakGraphPass(const Options& = {}) {}
  const PassInfo& info() const override {
    static const PassInfo info{"break-graph", "Breaks the graph.", {}, {}, {}, {}};
    return info;
  }
  PassResult run(Graph& graph, PassContext&) override {
    std::vector<Node*> nodes = graph.nodes();
    graph.set_input(nodes.front(), 0, nodes.back()->output(0));
    return {true, {}, {}};
  }
};

PassRegistry& test_registry() {
  static PassRegistry* r = [] {
    auto* reg = new PassRegistry();
    reg->register_pass("peel-identity", "Removes one Identity.", pass_factory<PeelIdentityPass>());
    reg->register_pass("restless", "Always reports a change.", pass_factory<RestlessPass>());
    reg->register_pass("break-graph", "Breaks the graph.", pass_factory<BreakGraphPass>());
    register_dce_pass(*reg);
    return reg;
  }();
  return *r;
}

std::string recipe_error(PassManager& pm, const PassContext& ctx) {
  try {
    pm.validate(ctx);
  } catch (const RecipeError& e) {
    return e.what();
  }
  return "";
}

} // namespace

TEST_CASE("validate rejects unknown passes and options with suggestions", "[passes][manager]") {
  PassContext ctx;
  PassManager unknown = PassManager::from_text("const-fold,fold-batchnrom,dce");
  std::string msg = recipe_error(unknown, ctx);
  CHECK_THAT(msg, Catch::Contains("unknown pass 'fold-batchnrom'") &&
                      Catch::Contains("did you mean 'fold-batchnorm'?") &&
                      Catch::Contains("(pipeline 1:12)"));

  PassManager bad_option = PassManager::from_text("const-fold{max_elemnts=10},fuse{patterns=[gelu,"
                                                  "layrenorm]}");
  msg = recipe_error(bad_option, ctx);
  CHECK_THAT(msg, Catch::Contains("2 problems") && Catch::Contains("did you mean 'max_elements'") &&
                      Catch::Contains("did you mean 'layernorm'"));

  PassManager fix = PassManager::from_text("fixpoint{max_round=3}(dce)");
  CHECK_THAT(recipe_error(fix, ctx), Catch::Contains("did you mean 'max_rounds'"));
}

TEST_CASE("validate checks needs before anything runs", "[passes][manager]") {
  Needs calib;
  calib.calibration_data = true;
  Needs train;
  train.train_data = true;
  train.trainer = true;
  auto quant = std::make_unique<ProbePass>("quantize", calib);
  ProbePass* quant_ptr = quant.get();
  PassManager pm;
  pm.add(std::make_unique<ProbePass>("distill", train));
  pm.add(std::move(quant));
  Graph g = parse(kSmallGraph);
  PassContext ctx;
  try {
    pm.run(g, ctx);
    FAIL("run() did not refuse a pipeline with unmet needs");
  } catch (const RecipeError& e) {
    std::string msg = e.what();
    CHECK_THAT(msg, Catch::Contains("quantize needs calibration data: none given"));
    CHECK_THAT(msg, Catch::Contains("distill needs training data: none given"));
    CHECK_THAT(msg, Catch::Contains("distill needs a trainer"));
  }
  CHECK(quant_ptr->runs == 0);
  CHECK(g.num_nodes() == 3);
}

TEST_CASE("validate checks required properties in pipeline order", "[passes][manager]") {
  PassContext ctx;
  {
    PassManager pm;
    pm.add(std::make_unique<ProbePass>("consumer", Needs{}, Props{"calibrated"}));
    pm.add(std::make_unique<ProbePass>("producer", Needs{}, Props{}, Props{"calibrated"}));
    CHECK_THAT(recipe_error(pm, ctx),
               Catch::Contains("pass 'consumer' requires 'calibrated', which no earlier pass "
                               "establishes"));
  }
  {
    PassManager pm;
    pm.add(std::make_unique<ProbePass>("producer", Needs{}, Props{}, Props{"calibrated"}));
    pm.add(std::make_unique<ProbePass>("consumer", Needs{}, Props{"calibrated", "shapes"}));
    CHECK(recipe_error(pm, ctx).empty());
  }
}

TEST_CASE("run establishes shapes itself before a pass that requires them", "[passes][manager]") {
  auto probe = std::make_unique<ProbePass>("needs-shapes", Needs{}, Props{"shapes"});
  ProbePass* p = probe.get();
  PassManager pm;
  pm.add(std::move(probe));
  Graph g = parse(R"(graph @main(%x: f32[N,4]) {
  %a = Relu(%x) : f32
  return %a
}
)");
  PassContext ctx;
  PipelineReport report = pm.run(g, ctx);
  CHECK(p->saw_types);
  REQUIRE(report.passes.size() == 2);
  CHECK(report.passes[0].name == "infer-shapes");
  CHECK(report.passes[0].automatic);
  CHECK(report.passes[1].name == "needs-shapes");
  CHECK_FALSE(report.passes[1].automatic);
}

TEST_CASE("run gives a pass that needs a teacher the pipeline input", "[passes][manager]") {
  Needs needs;
  needs.teacher = true;
  auto probe = std::make_unique<ProbePass>("distill", needs);
  ProbePass* p = probe.get();
  PassManager pm;
  pm.add(std::move(probe));
  Graph g = parse(kSmallGraph);
  PassContext ctx;
  pm.run(g, ctx);
  CHECK(p->saw_teacher);
  CHECK(ctx.teacher == nullptr);
}

TEST_CASE("fixpoint repeats its children until nothing changes", "[passes][manager]") {
  Graph g = parse(R"(graph @main(%x: f32[N,4]) {
  %a = Identity(%x) : f32[N,4]
  %b = Identity(%a) : f32[N,4]
  %c = Identity(%b) : f32[N,4]
  %y = Relu(%c) : f32[N,4]
  return %y
}
)");
  PassManager pm(parse_pipeline("fixpoint(peel-identity,dce)"), test_registry());
  std::ostringstream log;
  PassContext ctx;
  ctx.log = &log;
  PipelineReport report = pm.run(g, ctx);
  CHECK(g.num_nodes() == 1);
  REQUIRE(report.passes.size() == 1);
  const PassRecord& fp = report.passes[0];
  CHECK(fp.name == "fixpoint");
  CHECK(fp.changed);
  CHECK(fp.stats.at("rounds") == 4);
  REQUIRE(fp.children.size() == 2);
  CHECK(fp.children[0].name == "peel-identity");
  CHECK(fp.children[0].stats.at("peeled") == 3);
  CHECK(fp.children[0].warnings ==
        std::vector<std::string>{"peeled 'a'", "peeled 'b'", "peeled 'c'"});
  CHECK(fp.children[0].nodes_after == 1);
  CHECK(report.warnings().size() == 3);
  CHECK(report.find("peel-identity") == &fp.children[0]);
  CHECK(fp.warnings.empty());
  CHECK_THAT(log.str(), Catch::Contains("running pass 'peel-identity'"));
}

TEST_CASE("a fixpoint that never converges stops with a warning", "[passes][manager]") {
  Graph g = parse(kSmallGraph);
  PassManager pm(parse_pipeline("fixpoint{max_rounds=5}(restless)"), test_registry());
  PassContext ctx;
  PipelineReport report = pm.run(g, ctx);
  const PassRecord& fp = report.passes.at(0);
  CHECK(fp.stats.at("rounds") == 5);
  REQUIRE(fp.warnings.size() == 1);
  CHECK_THAT(fp.warnings[0], Catch::Contains("did not converge in 5 rounds"));

  PassManager def(parse_pipeline("fixpoint(restless)"), test_registry());
  CHECK(def.run(g, ctx).passes.at(0).stats.at("rounds") == PassManager::kMaxFixpointRounds);
}

TEST_CASE("the graph is verified after each pass that changed it", "[passes][manager]") {
  Graph g = parse(kSmallGraph);
  PassManager pm(parse_pipeline("peel-identity,break-graph,peel-identity"), test_registry());
  PassContext ctx;
  try {
    pm.run(g, ctx);
    FAIL("a broken graph was not caught");
  } catch (const VerifyError& e) {
    REQUIRE_FALSE(e.diagnostics().empty());
    for (const auto& d : e.diagnostics())
      CHECK_THAT(d, Catch::StartsWith("after pass 'break-graph' (pipeline 1:15): "));
  }
  // With verification off the same pipeline runs through.
  Graph g2 = parse(kSmallGraph);
  PassManager off(parse_pipeline("break-graph"), test_registry());
  off.set_verify_each(false);
  CHECK_NOTHROW(off.run(g2, ctx));
}

TEST_CASE("the report records each pass's stats, timings and sizes", "[passes][manager]") {
  Graph g = parse(R"(graph @main(%x: f32[2,4]) {
  %w = const f32[4,4] random(seed=1)
  %unused = const f32[8] zeros
  %i = Identity(%x) : f32[2,4]
  %m = MatMul(%i, %w) : f32[2,4]
  %d = Relu(%m) : f32[2,4]
  return %m
}
)");
  PassManager pm = PassManager::from_text("remove-identity,dce{},const-fold{max_elements=100}");
  CHECK(pm.str() == "remove-identity,dce,const-fold{max_elements=100}");
  PassContext ctx;
  PipelineReport report = pm.run(g, ctx);
  CHECK(report.params_before == 24);
  CHECK(report.nodes_before == 3);
  REQUIRE(report.passes.size() == 4);
  CHECK(report.passes[0].name == "infer-shapes");
  const PassRecord& ri = report.passes[1];
  CHECK(ri.name == "remove-identity");
  CHECK(ri.changed);
  CHECK(ri.stats.at("removed") == 1);
  CHECK(ri.nodes_after == 2);
  const PassRecord& dce = report.passes[2];
  CHECK(dce.changed);
  CHECK(dce.stats.at("nodes_removed") == 1);
  CHECK(dce.stats.at("initializers_removed") == 1);
  CHECK(dce.params_after == 16);
  CHECK(dce.bytes_after == 64);
  const PassRecord& cf = report.passes[3];
  CHECK_FALSE(cf.changed);
  CHECK(cf.options == Options{{"max_elements", "100"}});
  for (const auto& r : report.passes)
    CHECK(r.seconds >= 0);
  CHECK(report.seconds >= 0);
  CHECK(report.params_after == 16);
  CHECK(report.nodes_after == 1);
}
