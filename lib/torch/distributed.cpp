// The data-parallel process group on c10d's ProcessGroupGloo, and the local launcher.
//
// This is the only translation unit that includes c10d and Gloo headers (they are heavy, and
// ProcessGroupGloo.hpp needs USE_C10D_GLOO plus Debian's libgloo-dev). Debian's libtorch_cpu
// links the same libgloo0 that libgloo-dev describes, so the class layouts agree.

#define USE_C10D_GLOO 1

#include "shrink/torch/distributed.h"

#include "shrink/core/error.h"

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace shrink {

namespace {

const char* const kWorldSizeVar = "SHRINK_WORLD_SIZE";
const char* const kRankVar = "SHRINK_RANK";
const char* const kRendezvousVar = "SHRINK_RENDEZVOUS";
const char* const kTimeoutVar = "SHRINK_DDP_TIMEOUT";

// Parses an environment variable as a whole number; throws naming the variable.
long env_int(const char* name, const char* text) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0')
    throw Error(std::string("data-parallel training: ") + name + "='" + text +
                "' is not a whole number");
  return v;
}

bool is_tcp(const std::string& rendezvous) {
  return rendezvous.rfind("tcp://", 0) == 0;
}

// The file behind a file rendezvous ("file://", "file:" or a bare path).
std::string store_path(const std::string& rendezvous) {
  if (rendezvous.rfind("file://", 0) == 0) return rendezvous.substr(7);
  if (rendezvous.rfind("file:", 0) == 0) return rendezvous.substr(5);
  return rendezvous;
}

std::string where(const DataParallelOptions& o) {
  return "rank " + std::to_string(o.rank) + " of " + std::to_string(o.world_size) +
         ", rendezvous '" + o.rendezvous + "'";
}

} // namespace

DataParallelOptions resolve_data_parallel(const DataParallelOptions& options) {
  DataParallelOptions o = options;
  if (o.world_size == 0) {
    const char* ws = std::getenv(kWorldSizeVar);
    if (!ws || !*ws) {
      o.world_size = 1;
      o.rank = 0;
      return o;
    }
    o.world_size = static_cast<int>(env_int(kWorldSizeVar, ws));
    const char* rank = std::getenv(kRankVar);
    if (o.world_size > 1 && (!rank || !*rank))
      throw Error(std::string("data-parallel training: ") + kWorldSizeVar + "=" + ws + " but " +
                  kRankVar + " is not set; give every process its rank 0.." +
                  std::to_string(o.world_size - 1));
    o.rank = rank && *rank ? static_cast<int>(env_int(kRankVar, rank)) : 0;
    if (const char* r = std::getenv(kRendezvousVar)) o.rendezvous = r;
    if (const char* t = std::getenv(kTimeoutVar))
      o.timeout_seconds = double(env_int(kTimeoutVar, t));
  }
  if (o.world_size < 1)
    throw Error("data-parallel training: world size " + std::to_string(o.world_size) +
                " must be at least 1");
  if (o.rank < 0 || o.rank >= o.world_size)
    throw Error("data-parallel training: rank " + std::to_string(o.rank) + " is outside [0, " +
                std::to_string(o.world_size) + ")");
  if (o.world_size > 1 && o.rendezvous.empty())
    throw Error("data-parallel training with " + std::to_string(o.world_size) +
                " processes needs a rendezvous: set DataParallelOptions::rendezvous or " +
                kRendezvousVar +
                " to a new file path that every process can see, or to tcp://HOST:PORT");
  if (!(o.timeout_seconds > 0)) throw Error("data-parallel training: the timeout must be positive");
  return o;
}

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

ProcessGroup::ProcessGroup(const DataParallelOptions& options)
    : options_(resolve_data_parallel(options)), impl_(std::make_unique<Impl>()) {
  if (options_.rendezvous.empty())
    throw Error("data-parallel training: a process group needs a rendezvous (a new file path "
                "or tcp://HOST:PORT)");
  const auto timeout =
      std::chrono::milliseconds(static_cast<int64_t>(std::ceil(options_.timeout_seconds * 1000.0)));
  const std::string& rv = options_.rendezvous;
  try {
    if (is_tcp(rv)) {
      const std::string hp = rv.substr(6);
      const size_t colon = hp.rfind(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == hp.size())
        throw Error("data-parallel training: rendezvous '" + rv + "' must be tcp://HOST:PORT");
      c10d::TCPStoreOptions so;
      so.port = static_cast<uint16_t>(env_int("port", hp.c_str() + colon + 1));
      so.isServer = options_.rank == 0;
      so.numWorkers = static_cast<size_t>(options_.world_size);
      so.timeout = timeout;
      impl_->store = c10::make_intrusive<c10d::TCPStore>(hp.substr(0, colon), so);
    } else {
      impl_->store = c10::make_intrusive<c10d::FileStore>(store_path(rv), options_.world_size);
    }
    impl_->store->setTimeout(timeout);
    auto go = c10d::ProcessGroupGloo::Options::create(timeout);
    // GLOO_SOCKET_IFNAME picks the network interface as in PyTorch; otherwise the address the
    // host name resolves to (loopback on a single machine).
    const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
    go->devices.push_back(ifname && *ifname
                              ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                              : c10d::ProcessGroupGloo::createDefaultDevice());
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, options_.rank,
                                                               options_.world_size, go);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error("data-parallel training: could not meet the other processes (" + where(options_) +
                ") within " + std::to_string(options_.timeout_seconds) + " s: " + e.what() +
                "; start every rank with the same world size and rendezvous, and use a "
                "rendezvous file that did not exist before");
  }
}

ProcessGroup::~ProcessGroup() = default;

void ProcessGroup::all_reduce_sum(at::Tensor& tensor) {
  std::vector<at::Tensor> t{tensor};
  try {
    impl_->group->allreduce(t)->wait();
  } catch (const std::exception& e) {
    throw Error("data-parallel training: the gradient all-reduce failed (" + where(options_) +
                "); another process probably stopped, see its log: " + e.what());
  }
}

void ProcessGroup::broadcast(at::Tensor& tensor, int root) {
  std::vector<at::Tensor> t{tensor};
  c10d::BroadcastOptions bo;
  bo.rootRank = root;
  try {
    impl_->group->broadcast(t, bo)->wait();
  } catch (const std::exception& e) {
    throw Error("data-parallel training: a broadcast from rank " + std::to_string(root) +
                " failed (" + where(options_) + "); another process probably stopped: " + e.what());
  }
}

void ProcessGroup::barrier() {
  try {
    impl_->group->barrier()->wait();
  } catch (const std::exception& e) {
    throw Error("data-parallel training: a barrier failed (" + where(options_) +
                "); another process probably stopped: " + e.what());
  }
}

int launch_data_parallel(const std::vector<std::string>& argv, int world_size,
                         const std::string& rendezvous) {
  if (argv.empty()) throw Error("launch_data_parallel: no program given");
  if (world_size < 1)
    throw Error("launch_data_parallel: world size " + std::to_string(world_size) +
                " must be at least 1");
  if (rendezvous.empty())
    throw Error("launch_data_parallel: give a rendezvous (a new file path or tcp://HOST:PORT)");
  // A file left by a crashed run holds its keys, which would confuse the new group.
  if (!is_tcp(rendezvous)) {
    struct stat st;
    const std::string path = store_path(rendezvous);
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) ::unlink(path.c_str());
  }

  std::vector<std::string> base_env;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const std::string key = kv.substr(0, kv.find('='));
    if (key != kWorldSizeVar && key != kRankVar && key != kRendezvousVar) base_env.push_back(kv);
  }
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  std::vector<pid_t> pids;
  auto stop_all = [&] {
    for (pid_t p : pids)
      if (p > 0) ::kill(p, SIGTERM);
  };
  for (int rank = 0; rank < world_size; ++rank) {
    std::vector<std::string> env = base_env;
    env.push_back(std::string(kWorldSizeVar) + "=" + std::to_string(world_size));
    env.push_back(std::string(kRankVar) + "=" + std::to_string(rank));
    env.push_back(std::string(kRendezvousVar) + "=" + rendezvous);
    std::vector<char*> envp;
    for (std::string& kv : env)
      envp.push_back(kv.data());
    envp.push_back(nullptr);
    pid_t pid = 0;
    const int rc = ::posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), envp.data());
    if (rc != 0) {
      stop_all();
      for (pid_t p : pids)
        ::waitpid(p, nullptr, 0);
      throw Error("launch_data_parallel: cannot start '" + argv[0] + "' for rank " +
                  std::to_string(rank) + ": " + std::strerror(rc));
    }
    pids.push_back(pid);
  }

  // Polls only our own children, so that an embedding program's other children are not reaped.
  int result = 0;
  size_t running = pids.size();
  while (running > 0) {
    bool reaped = false;
    for (pid_t& p : pids) {
      if (p <= 0) continue;
      int status = 0;
      const pid_t r = ::waitpid(p, &status, WNOHANG);
      if (r == 0 || (r < 0 && errno == EINTR)) continue;
      p = -1;
      --running;
      reaped = true;
      const int code = r < 0                 ? 1
                       : WIFEXITED(status)   ? WEXITSTATUS(status)
                       : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                             : 1;
      if (code != 0 && result == 0) {
        result = code;
        stop_all();
      }
    }
    if (!reaped && running > 0) ::usleep(20000);
  }
  return result;
}

} // namespace shrink
