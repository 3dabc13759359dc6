// The recipe report as JSON and Markdown, and the sha256 digests it records.

#include "shrink/recipe/report.h"

#include "shrink/core/error.h"
#include "shrink/ir/stats.h"

#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace shrink {

namespace {

// FIPS 180-4 sha256, streamed in 64-byte blocks.
class Sha256 {
public:
  void update(const unsigned char* data, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      block_[fill_++] = data[i];
      if (fill_ == 64) {
        compress();
        fill_ = 0;
      }
    }
    bits_ += static_cast<uint64_t>(n) * 8;
  }
  std::string hex() {
    const uint64_t bits = bits_;
    const unsigned char pad = 0x80;
    update(&pad, 1);
    const unsigned char zero = 0;
    while (fill_ != 56)
      update(&zero, 1);
    unsigned char length[8];
    for (int i = 0; i < 8; ++i)
      length[i] = static_cast<unsigned char>(bits >> (56 - 8 * i));
    update(length, 8);
    std::string out;
    char buf[9];
    for (uint32_t h : h_) {
      std::snprintf(buf, sizeof buf, "%08x", h);
      out += buf;
    }
    return out;
  }

private:
  static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
  void compress() {
    static const uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2};
    uint32_t w[64];
    for (int i = 0; i < 16; ++i)
      w[i] = (uint32_t(block_[4 * i]) << 24) | (uint32_t(block_[4 * i + 1]) << 16) |
             (uint32_t(block_[4 * i + 2]) << 8) | uint32_t(block_[4 * i + 3]);
    for (int i = 16; i < 64; ++i) {
      uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6], h = h_[7];
    for (int i = 0; i < 64; ++i) {
      uint32_t t1 =
          h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h_[0] += a;
    h_[1] += b;
    h_[2] += c;
    h_[3] += d;
    h_[4] += e;
    h_[5] += f;
    h_[6] += g;
    h_[7] += h;
  }

  std::array<uint32_t, 8> h_ = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  unsigned char block_[64] = {};
  size_t fill_ = 0;
  uint64_t bits_ = 0;
};

std::string digest_json(const FileDigest& d) {
  return "{\"path\": " + json_string(d.path) + ", \"sha256\": " + json_string(d.sha256) + "}";
}

std::string metric_json(const std::optional<double>& m) {
  return m ? json_number(*m) : "null";
}

std::string measure_fields(const ModelMeasure& m) {
  return "\"params\": " + std::to_string(m.params) + ", \"bytes\": " + std::to_string(m.bytes) +
         ", \"flops\": " + std::to_string(m.flops) + ", \"metric\": " + metric_json(m.metric) +
         ", \"latency_ms\": " + metric_json(m.latency_ms);
}

std::string human_ms(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", ms);
  return buf;
}

std::string metric_cell(const std::optional<double>& m) {
  if (!m) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", *m);
  return buf;
}

} // namespace

std::string sha256_hex(const std::string& bytes) {
  Sha256 h;
  h.update(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  return h.hex();
}

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read '" + path + "' to hash it: " + std::strerror(errno));
  Sha256 h;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.update(reinterpret_cast<const unsigned char*>(buf.data()), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) throw Error("error while reading '" + path + "' to hash it");
  return h.hex();
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\r':
      out += "\\r";
      break;
    default:
      if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
  }
  return out + "\"";
}

std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  if (value == std::floor(value) && std::fabs(value) < 9e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", value);
    return buf;
  }
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

std::string RecipeReport::to_json() const {
  std::ostringstream out;
  out << "{\n  \"recipe\": " << digest_json(recipe) << ",\n";
  out << "  \"input\": {\"path\": " << json_string(input.path)
      << ", \"sha256\": " << json_string(input.sha256) << ", " << measure_fields(input_measure)
      << "},\n";
  out << "  \"data\": {";
  for (size_t i = 0; i < data.size(); ++i) {
    const DataReport& d = data[i];
    out << (i ? ",\n" : "\n") << "    " << json_string(d.role)
        << ": {\"spec\": " << json_string(d.spec)
        << ", \"description\": " << json_string(d.description) << ", \"samples\": " << d.samples;
    if (!d.metric.empty()) out << ", \"metric\": " << json_string(d.metric);
    out << ", \"files\": [";
    for (size_t j = 0; j < d.files.size(); ++j)
      out << (j ? ", " : "") << digest_json(d.files[j]);
    out << "]}";
  }
  out << (data.empty() ? "},\n" : "\n  },\n");
  out << "  \"steps\": [";
  for (size_t i = 0; i < steps.size(); ++i) {
    const StepReport& s = steps[i];
    out << (i ? ",\n" : "\n") << "    {\"pass\": " << json_string(s.pass) << ", \"options\": {";
    bool first = true;
    for (const auto& [k, v] : s.options) {
      out << (first ? "" : ", ") << json_string(k) << ": " << json_string(v);
      first = false;
    }
    out << "}, \"seconds\": " << json_number(s.seconds) << ", " << measure_fields(s.after) << "}";
  }
  out << (steps.empty() ? "],\n" : "\n  ],\n");
  out << "  \"output\": " << digest_json(output) << ",\n";
  out << "  \"versions\": {";
  bool first = true;
  for (const auto& [k, v] : versions) {
    out << (first ? "" : ", ") << json_string(k) << ": " << json_string(v);
    first = false;
  }
  out << "},\n  \"seed\": " << seed << "\n}\n";
  return out.str();
}

std::string RecipeReport::to_markdown() const {
  std::ostringstream out;
  out << "# shrink report\n\n";
  out << "- recipe: `" << recipe.path << "` (sha256 `" << recipe.sha256 << "`)\n";
  out << "- input: `" << input.path << "` (sha256 `" << input.sha256 << "`)\n";
  for (const DataReport& d : data) {
    out << "- data." << d.role << ": " << d.description;
    for (const FileDigest& f : d.files)
      out << "; `" << f.path << "` (sha256 `" << f.sha256 << "`)";
    out << "\n";
  }
  if (!output.path.empty())
    out << "- output: `" << output.path << "` (sha256 `" << output.sha256 << "`)\n";
  out << "- seed: " << seed << "\n- versions:";
  for (const auto& [k, v] : versions)
    out << " " << k << " " << v << ";";
  out << "\n\n| step | pass | params | size | FLOPs | " << (metric.empty() ? "metric" : metric)
      << " | latency (ms) | seconds |\n|---:|---|---:|---:|---:|---:|---:|---:|\n";
  auto row = [&](const std::string& step, const std::string& pass, const ModelMeasure& m,
                 const std::string& seconds) {
    out << "| " << step << " | " << pass << " | " << human_count(static_cast<double>(m.params))
        << " | " << human_bytes(static_cast<double>(m.bytes)) << " | "
        << human_count(static_cast<double>(m.flops)) << " | " << metric_cell(m.metric) << " | "
        << (m.latency_ms ? human_ms(*m.latency_ms) : "-") << " | " << seconds << " |\n";
  };
  row("0", "input", input_measure, "-");
  for (size_t i = 0; i < steps.size(); ++i) {
    std::string pass = "`" + steps[i].pass;
    if (!steps[i].options.empty()) {
      pass += "{";
      bool first = true;
      for (const auto& [k, v] : steps[i].options) {
        pass += (first ? "" : ",") + k + "=" + v;
        first = false;
      }
      pass += "}";
    }
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.2f", steps[i].seconds);
    row(std::to_string(i + 1), pass + "`", steps[i].after, secs);
  }
  for (const StepReport& s : steps)
    for (const std::string& w : s.warnings)
      out << "\nwarning (" << s.pass << "): " << w << "\n";
  return out.str();
}

} // namespace shrink
