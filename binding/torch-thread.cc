#include "torch-thread.h"

#include <ATen/Parallel.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

namespace animatorch {
namespace {

std::atomic<int> threadsGeneration{0};

struct Job {
  const std::function<void()>* run;
  std::exception_ptr error;
  bool done = false;
};

class TorchThread {
 public:
  TorchThread() : thread_([this] { Loop(); }) { thread_.detach(); }

  void Run(const std::function<void()>& run) {
    Job job{&run};
    std::unique_lock<std::mutex> lock(mutex_);
    queue_.push_back(&job);
    wake_.notify_one();
    done_.wait(lock, [&] { return job.done; });
    if (job.error) std::rethrow_exception(job.error);
  }

 private:
  void Loop() {
    int appliedGeneration = -1;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return !queue_.empty(); });
      Job* job = queue_.front();
      queue_.pop_front();
      lock.unlock();
      try {
        // OpenMP's team size is per thread: this applies setNumThreads (or torch's default, physical cores)
        // here, as torch does for its own threads.
        int generation = threadsGeneration.load();
        if (generation != appliedGeneration) {
          at::init_num_threads();
          appliedGeneration = generation;
        }
        (*job->run)();
      } catch (...) {
        job->error = std::current_exception();
      }
      lock.lock();
      job->done = true;
      done_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::deque<Job*> queue_;
  std::thread thread_;
};

}  // namespace

void RunOnTorchThread(const std::function<void()>& job) {
  // Never destroyed: the thread is detached and may be waiting when the process exits;
  // worker_threads and Electron renderers share it (their jobs carry no JS state).
  static TorchThread* const thread = new TorchThread();
  thread->Run(job);
}

void TorchThreadsChanged() { threadsGeneration.fetch_add(1); }

}  // namespace animatorch
