// TorchThread: one thread of the process runs the slow torch compute (forward,
// transfers, read-back) of every environment, one job at a time. Loads stay on
// libuv's pool (worker.h).
//
// Why not libuv's pool directly: OpenMP keeps a team of threads per calling
// thread, so forwards that land on different pool threads each wake their own
// team and the idle teams spin on the same cores (2-core UNet step: 166-195 ms
// against Python's 115-155 ms on the same file; here 93-134 ms). One thread
// keeps one team, as Python's main thread does. Work is serial either way on a
// CPU (intra-op threads already use the cores) and on a GPU (one stream).
#pragma once

#include <functional>

namespace animatorch {

// Runs job on the torch thread and waits for it; its exception, if any, is
// rethrown here unchanged (c10::Error stays a c10::Error). Callers are libuv
// pool threads inside Napi::AsyncWorker::Execute, so environments' lifetimes
// and cancellation stay napi's business.
void RunOnTorchThread(const std::function<void()>& job);

// Says that setNumThreads changed torch's thread count: the torch thread
// applies it (at::init_num_threads) before its next job. Applying it on every
// job would be wrong: it rebuilds torch's pthreadpool each time (a UNet step
// on 2 cores spent 7% of its time in the fresh pool's spinning threads).
void TorchThreadsChanged();

}  // namespace animatorch
