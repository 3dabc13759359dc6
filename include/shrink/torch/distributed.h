#pragma once
/// \file
/// Data-parallel training across processes: a group of processes that sum tensors with c10d's
/// Gloo process group (CPU, TCP), the resolution of `DataParallelOptions` against the
/// environment, and a launcher that starts the processes of a group on this machine.
///
/// ```cpp
/// // One process per rank, each with the same model, data and options:
/// shrink::DistillOptions o;
/// o.parallel.world_size = 2;
/// o.parallel.rank = rank;                            // 0 or 1
/// o.parallel.rendezvous = "/tmp/run-42.store";       // or "tcp://node0:29500"
/// trainer.distill(student, teacher, train, &test, o);
///
/// // Or from the shell, with the CLI or any program that distills:
/// //   SHRINK_WORLD_SIZE=2 SHRINK_RANK=0 SHRINK_RENDEZVOUS=/tmp/run-42.store shrink run r.yaml &
/// //   SHRINK_WORLD_SIZE=2 SHRINK_RANK=1 SHRINK_RENDEZVOUS=/tmp/run-42.store shrink run r.yaml
/// // Or: shrink::launch_data_parallel({"shrink", "run", "r.yaml"}, 2, "/tmp/run-42.store");
/// ```
///
/// The header needs no LibTorch header: only `lib/torch/distributed.cpp` includes c10d and Gloo.

#include "shrink/ir/interfaces.h"

#include <memory>
#include <string>
#include <vector>

namespace at {
class Tensor;
} // namespace at

namespace shrink {

/// `options` with the environment applied: `world_size == 0` takes `SHRINK_WORLD_SIZE`,
/// `SHRINK_RANK` and `SHRINK_RENDEZVOUS` (and `SHRINK_DDP_TIMEOUT`, seconds, when set), or one
/// process when `SHRINK_WORLD_SIZE` is unset. Throws `Error` for a malformed variable, a rank
/// outside [0, world_size), and a group of several processes without a rendezvous.
DataParallelOptions resolve_data_parallel(const DataParallelOptions& options);

/// One process of a data-parallel group (c10d `ProcessGroupGloo` over TCP). Every collective
/// must be called by every process of the group in the same order. A collective that fails
/// (another process died or timed out) throws `Error` naming this rank and the rendezvous.
class ProcessGroup {
public:
  /// Meets the other `options.world_size - 1` processes at `options.rendezvous` (the options
  /// as returned by `resolve_data_parallel`); blocks until all arrived or the timeout passed.
  explicit ProcessGroup(const DataParallelOptions& options);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  /// This process's rank.
  int rank() const { return options_.rank; }
  /// The number of processes.
  int world_size() const { return options_.world_size; }
  /// The options the group was made with.
  const DataParallelOptions& options() const { return options_; }

  /// Replaces `tensor` (contiguous, CPU) by the element-wise sum over all processes. Every
  /// process gets the same bits.
  void all_reduce_sum(at::Tensor& tensor);
  /// Replaces `tensor` (contiguous, CPU) by the one of process `root`.
  void broadcast(at::Tensor& tensor, int root = 0);
  /// Waits until every process arrived here.
  void barrier();

private:
  struct Impl;
  DataParallelOptions options_;
  std::unique_ptr<Impl> impl_;
};

/// Starts `world_size` copies of the program `argv` (searched on `PATH` when it has no `/`)
/// on this machine with `SHRINK_WORLD_SIZE`, `SHRINK_RANK` and `SHRINK_RENDEZVOUS` set, and
/// waits for them. When one fails, the others are stopped (SIGTERM). Returns 0 when all
/// succeeded, else the first failure's exit status (128 + signal for a signal). Removes a
/// stale rendezvous file first. Throws `Error` when a process cannot be started.
int launch_data_parallel(const std::vector<std::string>& argv, int world_size,
                         const std::string& rendezvous);

} // namespace shrink
