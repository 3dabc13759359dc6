#include "shrink/io/files.h"

#include "shrink/core/error.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace shrink {

std::string read_file(const std::string& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    throw Error("cannot open " + what + " '" + path + "': " + std::strerror(err) +
                (err == ENOENT ? " (check the path)" : ""));
  }
  if (S_ISDIR(st.st_mode))
    throw Error("cannot read " + what + " '" + path + "': it is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    throw Error("cannot open " + what + " '" + path + "': " + std::strerror(err));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw Error("cannot read " + what + " '" + path + "': read error");
  return buffer.str();
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
  // The pid keeps two processes writing the same target from sharing a temporary file.
  const std::string tmp = path + ".tmp-" + std::to_string(static_cast<long>(::getpid()));
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) {
    int err = errno;
    throw Error("cannot write '" + path + "': cannot create '" + tmp + "': " + std::strerror(err) +
                " (check that the directory exists and is writable)");
  }
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  int err = ok ? 0 : errno;
  if (std::fflush(f) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (std::fclose(f) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    std::remove(tmp.c_str());
    throw Error("cannot write '" + path + "': " + std::strerror(err) +
                " (is the disk full?); nothing was written");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    std::remove(tmp.c_str());
    throw Error("cannot write '" + path + "': rename from '" + tmp +
                "' failed: " + std::strerror(err) + "; nothing was written");
  }
}

} // namespace shrink
