#include "shrink/io/npy.h"

#include "shrink/core/error.h"
#include "shrink/io/files.h"

#include <cctype>
#include <cstring>
#include <limits>

namespace shrink {

namespace {

const char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

struct TypeCode {
  const char* descr;
  DType dtype;
};

// '<' and '|' are the byte orders NumPy writes on little-endian machines; '=' (native) is
// accepted too because this code only runs on little-endian hosts.
const TypeCode kTypes[] = {{"f4", DType::f32},    {"f2", DType::f16}, {"i8", DType::i64},
                           {"i4", DType::i32},    {"u1", DType::u8},  {"i1", DType::i8},
                           {"b1", DType::boolean}};

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw Error("'" + source + "' is not a valid .npy file: " + what);
}

// A small reader for the Python literal dict of the header; only the three keys NumPy writes
// are understood, which is all a .npy header may contain.
class HeaderParser {
public:
  HeaderParser(const std::string& text, const std::string& source) : s_(text), source_(source) {}

  void parse(std::string& descr, bool& fortran, Shape& shape) {
    bool have_descr = false, have_order = false, have_shape = false;
    skip_ws();
    expect('{');
    while (true) {
      skip_ws();
      if (peek() == '}') break;
      std::string key = parse_string();
      skip_ws();
      expect(':');
      skip_ws();
      if (key == "descr") {
        descr = parse_string();
        have_descr = true;
      } else if (key == "fortran_order") {
        fortran = parse_bool();
        have_order = true;
      } else if (key == "shape") {
        shape = parse_shape();
        have_shape = true;
      } else {
        fail(source_, "unknown header key '" + key + "'");
      }
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      skip_ws();
      if (peek() != '}')
        fail(source_, "expected ',' or '}' in the header at offset " + std::to_string(pos_));
    }
    if (!have_descr || !have_order || !have_shape)
      fail(source_, "the header lacks one of 'descr', 'fortran_order', 'shape'");
  }

private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_ws() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_])))
      ++pos_;
  }
  void expect(char c) {
    if (peek() != c)
      fail(source_,
           std::string("expected '") + c + "' in the header at offset " + std::to_string(pos_));
    ++pos_;
  }
  std::string parse_string() {
    char q = peek();
    if (q != '\'' && q != '"')
      fail(source_, "expected a quoted string in the header at offset " + std::to_string(pos_));
    ++pos_;
    size_t end = s_.find(q, pos_);
    if (end == std::string::npos) fail(source_, "unterminated string in the header");
    std::string out = s_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return out;
  }
  bool parse_bool() {
    if (s_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    if (s_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      return false;
    }
    fail(source_, "'fortran_order' must be True or False");
  }
  Shape parse_shape() {
    Shape shape;
    expect('(');
    while (true) {
      skip_ws();
      if (peek() == ')') {
        ++pos_;
        return shape;
      }
      if (!std::isdigit(static_cast<unsigned char>(peek())))
        fail(source_, "the shape must be a tuple of non-negative integers");
      int64_t v = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        if (v > (std::numeric_limits<int64_t>::max() - 9) / 10)
          fail(source_, "a dimension of the shape is too large");
        v = v * 10 + (s_[pos_++] - '0');
      }
      shape.push_back(v);
      skip_ws();
      if (peek() == ',')
        ++pos_;
      else if (peek() != ')')
        fail(source_, "expected ',' or ')' in the shape");
    }
  }

  const std::string& s_;
  const std::string& source_;
  size_t pos_ = 0;
};

uint32_t read_le(const std::string& bytes, size_t at, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i)
    v |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
  return v;
}

} // namespace

Tensor parse_npy(const std::string& bytes, const std::string& source) {
  if (bytes.size() < kMagicLen + 2 || std::memcmp(bytes.data(), kMagic, kMagicLen) != 0)
    fail(source, bytes.empty() ? "the file is empty" : "it does not start with the NumPy magic");
  int major = static_cast<unsigned char>(bytes[6]);
  if (major < 1 || major > 3)
    fail(source, "unknown format version " + std::to_string(major) + " (1, 2 and 3 are known)");
  size_t len_bytes = major == 1 ? 2 : 4;
  if (bytes.size() < kMagicLen + 2 + len_bytes) fail(source, "the header is truncated");
  size_t header_len = read_le(bytes, kMagicLen + 2, len_bytes);
  size_t data_start = kMagicLen + 2 + len_bytes + header_len;
  if (data_start > bytes.size())
    fail(source, "the header is truncated (it says " + std::to_string(header_len) +
                     " bytes, the file has " + std::to_string(bytes.size()) + ")");
  std::string header = bytes.substr(kMagicLen + 2 + len_bytes, header_len);

  std::string descr;
  bool fortran = false;
  Shape shape;
  HeaderParser(header, source).parse(descr, fortran, shape);
  if (fortran)
    fail(source, "Fortran-order arrays are not supported; save it with "
                 "numpy.save(path, numpy.ascontiguousarray(a))");
  if (descr.size() != 3 || (descr[0] != '<' && descr[0] != '|' && descr[0] != '='))
    fail(source, "element type '" + descr +
                     "' is not supported (only little-endian f4, f2, i8, i4, u1, i1, b1)");
  const TypeCode* code = nullptr;
  for (const auto& t : kTypes)
    if (descr.compare(1, 2, t.descr) == 0) code = &t;
  if (!code)
    fail(source, "element type '" + descr + "' is not supported (f4, f2, i8, i4, u1, i1, b1 are)");

  // The element count is checked against the file size before anything is allocated, so a
  // corrupt shape cannot ask for an absurd amount of memory.
  size_t available = bytes.size() - data_start;
  size_t esize = dtype_size(code->dtype);
  size_t numel = 1;
  for (int64_t d : shape) {
    if (d != 0 && numel > available / static_cast<size_t>(d))
      fail(source, "the shape " + shape_str(shape) + " needs more data than the file holds");
    numel *= static_cast<size_t>(d);
  }
  if (numel * esize != available)
    fail(source, "the shape " + shape_str(shape) + " of " + descr + " needs " +
                     std::to_string(numel * esize) + " data bytes, the file has " +
                     std::to_string(available) + " (truncated or corrupt)");
  Tensor t(code->dtype, shape);
  if (numel) std::memcpy(t.raw_mutable(), bytes.data() + data_start, numel * esize);
  return t;
}

Tensor load_npy(const std::string& path) {
  return parse_npy(read_file(path, ".npy file"), path);
}

std::string to_npy(const Tensor& tensor) {
  const char* descr = nullptr;
  switch (tensor.dtype()) {
  case DType::f32:
    descr = "<f4";
    break;
  case DType::f16:
    descr = "<f2";
    break;
  case DType::i64:
    descr = "<i8";
    break;
  case DType::i32:
    descr = "<i4";
    break;
  case DType::u8:
    descr = "|u1";
    break;
  case DType::i8:
    descr = "|i1";
    break;
  case DType::boolean:
    descr = "|b1";
    break;
  case DType::bf16:
    throw Error("cannot write a bf16 tensor as .npy: NumPy has no bfloat16 type; cast it to f32 "
                "first");
  }
  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < tensor.shape().size(); ++i) {
    dict += std::to_string(tensor.shape()[i]);
    if (tensor.shape().size() == 1 || i + 1 < tensor.shape().size()) dict += ",";
    if (i + 1 < tensor.shape().size()) dict += " ";
  }
  dict += "), }";
  // NumPy pads the header with spaces and a final newline so that the data starts at a multiple
  // of 64 bytes.
  size_t prefix = kMagicLen + 2 + 2;
  int major = 1;
  if (prefix + dict.size() + 1 > 65535) {
    major = 2;
    prefix = kMagicLen + 2 + 4;
  }
  size_t total = prefix + dict.size() + 1;
  size_t padded = (total + 63) / 64 * 64;
  dict.append(padded - total, ' ');
  dict += '\n';
  std::string out(kMagic, kMagicLen);
  out += static_cast<char>(major);
  out += '\0';
  size_t hl = dict.size();
  for (size_t i = 0; i < (major == 1 ? 2u : 4u); ++i)
    out += static_cast<char>((hl >> (8 * i)) & 0xff);
  out += dict;
  if (tensor.nbytes()) out.append(static_cast<const char*>(tensor.raw()), tensor.nbytes());
  return out;
}

void save_npy(const std::string& path, const Tensor& tensor) {
  write_file_atomically(path, to_npy(tensor));
}

} // namespace shrink
