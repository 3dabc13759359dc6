#pragma once
// Small helpers shared by the compression passes' implementations (not installed).

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

namespace shrink::compress_util {

using Clock = std::chrono::steady_clock;

/// Wall seconds since `t0`.
inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// A number for messages and logs: integers without a fraction, others with 4 significant digits.
inline std::string num(double v) {
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  else
    std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

} // namespace shrink::compress_util
