#include "io_test_support.h"

#include "shrink/core/error.h"
#include "shrink/io/files.h"
#include "shrink/io/npy.h"

#include <catch2/catch.hpp>

using namespace shrink;
using shrink::test::TempDir;

namespace {
std::string header_for(const std::string& dict) {
  std::string h = dict;
  size_t total = 10 + h.size() + 1;
  h.append((64 - total % 64) % 64, ' ');
  h += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(h.size() & 0xff);
  out += static_cast<char>(h.size() >> 8);
  return out + h;
}
} // namespace

TEST_CASE("npy round trips every supported type", "[io][npy]") {
  TempDir dir("npy");
  std::vector<Tensor> tensors = {
      Tensor::from_vector<float>({2, 3}, {1.5f, -2, 3, 4, 5, 6}),
      Tensor::from_vector<int64_t>({3}, {-1, 0, int64_t{1} << 40}),
      Tensor::from_vector<int32_t>({1, 2}, {7, -8}),
      Tensor::from_vector<uint8_t>({2, 2}, {0, 1, 254, 255}),
      Tensor::from_vector<int8_t>({4}, {-128, -1, 0, 127}),
      Tensor::from_vector<bool>({2}, {true, false}),
      Tensor::from_vector<float>({}, {42.0f}),
      Tensor(DType::f32, {0, 3}),
  };
  for (size_t i = 0; i < tensors.size(); ++i) {
    std::string path = dir.file("t" + std::to_string(i) + ".npy");
    save_npy(path, tensors[i]);
    Tensor back = load_npy(path);
    CHECK(back.equals(tensors[i]));
  }
  // Nothing but the files themselves: the atomic write leaves no temporary behind.
  CHECK(dir.list().size() == tensors.size());
}

TEST_CASE("npy headers follow the NumPy format", "[io][npy]") {
  std::string bytes = to_npy(Tensor::from_vector<float>({3}, {1, 2, 3}));
  // 10 bytes of magic, version and length, the dict, padding to 64: 128, then the data.
  REQUIRE(bytes.size() == 128 + 12);
  CHECK(bytes.substr(0, 6) == "\x93NUMPY");
  CHECK(bytes.find("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }") == 10);
  CHECK(bytes[127] == '\n');
  CHECK(to_npy(Tensor::from_vector<int64_t>({2, 1}, {1, 2})).find("'shape': (2, 1)") !=
        std::string::npos);
}

TEST_CASE("npy files written by NumPy load", "[io][npy]") {
  if (!test::python_has("numpy")) {
    WARN("skipped: /usr/bin/python3 has no numpy (apt-get install python3-numpy)");
    return;
  }
  TempDir dir("npy_numpy");
  auto r = test::run_command(
      std::string(test::kPython) + " -c " +
      test::shell_quote("import numpy as np, sys; d = sys.argv[1]; "
                        "np.save(d + '/a.npy', np.arange(24, dtype=np.float32).reshape(2, 3, 4)); "
                        "np.save(d + '/b.npy', np.array([[True, False]])); "
                        "np.save(d + '/c.npy', np.array(-5, dtype=np.int64)); "
                        "np.save(d + '/d.npy', np.zeros((2, 2), dtype=np.float64)); "
                        "np.save(d + '/e.npy', np.asfortranarray(np.ones((2, 3), np.float32)))") +
      " " + test::shell_quote(dir.path()));
  REQUIRE(r.status == 0);
  Tensor a = load_npy(dir.file("a.npy"));
  CHECK(a.shape() == Shape{2, 3, 4});
  CHECK(a.at(23) == 23.0);
  Tensor b = load_npy(dir.file("b.npy"));
  CHECK(b.dtype() == DType::boolean);
  CHECK(b.shape() == Shape{1, 2});
  Tensor c = load_npy(dir.file("c.npy"));
  CHECK(c.shape().empty());
  CHECK(c.at(0) == -5.0);
  CHECK_THROWS_WITH(load_npy(dir.file("d.npy")), Catch::Contains("'<f8' is not supported"));
  CHECK_THROWS_WITH(load_npy(dir.file("e.npy")), Catch::Contains("Fortran-order"));

  // And NumPy reads what shrink writes.
  save_npy(dir.file("s.npy"), Tensor::from_vector<int32_t>({2, 2}, {1, 2, 3, 4}));
  r = test::run_command(std::string(test::kPython) + " -c " +
                        test::shell_quote("import numpy as np, sys; a = np.load(sys.argv[1]); "
                                          "assert a.dtype == np.int32 and a.tolist() == [[1, 2], "
                                          "[3, 4]], a") +
                        " " + test::shell_quote(dir.file("s.npy")));
  CHECK(r.status == 0);
}

TEST_CASE("npy rejects corrupt and truncated files with clear errors", "[io][npy]") {
  CHECK_THROWS_WITH(parse_npy("", "x.npy"), Catch::Contains("'x.npy'") && Catch::Contains("empty"));
  CHECK_THROWS_WITH(parse_npy("PK\x03\x04 not numpy", "x.npy"), Catch::Contains("magic"));
  std::string good = to_npy(Tensor::from_vector<float>({4}, {1, 2, 3, 4}));
  // Every truncation is an Error, never a crash or a short tensor.
  for (size_t n = 1; n < good.size(); ++n)
    CHECK_THROWS_AS(parse_npy(good.substr(0, n), "t.npy"), Error);
  CHECK_THROWS_WITH(parse_npy(good + "xx", "t.npy"), Catch::Contains("needs 16 data bytes"));
  CHECK_THROWS_WITH(
      parse_npy(header_for("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }") +
                    std::string(4, '\0'),
                "be.npy"),
      Catch::Contains("'>f4' is not supported"));
  CHECK_THROWS_WITH(
      parse_npy(header_for("{'descr': '<f4', 'shape': (1,), }") + std::string(4, '\0'), "h.npy"),
      Catch::Contains("lacks"));
  CHECK_THROWS_WITH(
      parse_npy(header_for("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, "
                           "1000000, 1000000), }"),
                "huge.npy"),
      Catch::Contains("needs more data"));
  CHECK_THROWS_WITH(
      parse_npy(header_for("{'descr': '<f4', 'fortran_order': False, 'shape': (2,x), }"),
                "bad.npy"),
      Catch::Contains("shape"));
  CHECK_THROWS_WITH(load_npy("/nonexistent/dir/a.npy"),
                    Catch::Contains("/nonexistent/dir/a.npy") && Catch::Contains("No such file"));
}

TEST_CASE("save_npy into a missing directory fails and leaves nothing", "[io][npy]") {
  TempDir dir("npy_fail");
  std::string path = dir.file("missing/a.npy");
  CHECK_THROWS_WITH(save_npy(path, Tensor::scalar(1.0f)), Catch::Contains(path));
  CHECK(dir.list().empty());
  CHECK_THROWS_WITH(to_npy(Tensor(DType::bf16, {2})), Catch::Contains("bfloat16"));
}
