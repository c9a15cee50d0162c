// TorchWorker: runs slow torch work (load, forward, transfers, read-back) off
// the event loop, by way of the libuv pool (and, for compute, the torch thread
// of torch-thread.h), and settles a Promise. Execute never touches JS values;
// every c10/std error becomes a rejection with a clear message.
#pragma once

#include "common.h"
#include "torch-thread.h"

#include <functional>
#include <memory>
#include <string>

namespace animatorch {

class TorchWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;                   // worker thread
  using Done = std::function<Napi::Value(Napi::Env)>;  // main thread

  // Where Execute runs the work: compute (forward, transfers, read-back) on the torch thread; loading
  // (file reading and unpickling, no intra-op parallelism) straight on the libuv pool, so a
  // pipeline's modules load side by side.
  enum class On { TorchThread, Pool };

  // `context` prefixes error messages (e.g. "forward of 'unet.pt'").
  static Napi::Promise Start(Napi::Env env, std::string context, Work work, Done done, On on = On::TorchThread) {
    auto* worker = new TorchWorker(env, std::move(context), std::move(work), std::move(done), on);
    Napi::Promise promise = worker->deferred_.Promise();
    worker->Napi::AsyncWorker::Queue();
    return promise;
  }

 protected:
  void Execute() override {
    try {
      auto run = [this] {
        c10::InferenceMode inference;  // thread-local: set on this thread
        work_();
      };
      if (on_ == On::TorchThread) RunOnTorchThread(run);
      else run();
    } catch (const c10::Error& e) {
      SetError(Prefix() + e.what_without_backtrace());
    } catch (const std::exception& e) {
      SetError(Prefix() + e.what());
    } catch (...) {
      SetError(Prefix() + "unknown native error");
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(Guarded(env, [&] { return done_(env); }));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  TorchWorker(Napi::Env env, std::string context, Work work, Done done, On on)
      : Napi::AsyncWorker(env, "animatorch"),
        deferred_(Napi::Promise::Deferred::New(env)),
        context_(std::move(context)),
        work_(std::move(work)),
        done_(std::move(done)),
        on_(on) {}

  std::string Prefix() const { return context_.empty() ? "" : context_ + ": "; }

  Napi::Promise::Deferred deferred_;
  std::string context_;
  Work work_;
  Done done_;
  On on_;
};

}  // namespace animatorch
