// vkgrad/core/parallel.hpp — a small thread pool and a deterministic parallel_for.
//
// Work is cut into chunks whose boundaries depend only on the problem size, never on the
// number of threads; each chunk is computed the same way whichever thread runs it. So results
// are bitwise identical for any thread count (exact resume of training relies on this).
// Kernels that reduce across chunks keep one partial per chunk and add them in chunk order.
//
// The thread count defaults to the machine's cores; VKGRAD_NUM_THREADS or set_num_threads()
// change it. parallel_for called from inside a worker runs serially (no nested pools).
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vkgrad {

class ThreadPool {
public:
    explicit ThreadPool(int threads) { resize(threads); }
    ~ThreadPool() { stop(); }
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return static_cast<int>(workers_.size()) + 1; } // the caller works too

    void resize(int threads) {
        stop();
        quit_ = false;
        for (int i = 1; i < std::max(threads, 1); ++i) workers_.emplace_back([this] { worker(); });
    }

    /// Runs fn(i) for i in [0, n) across the pool and waits; rethrows the first exception.
    void run(int64_t n, const std::function<void(int64_t)>& fn) {
        if (n <= 0) return;
        if (workers_.empty() || n == 1 || in_worker()) {
            for (int64_t i = 0; i < n; ++i) fn(i);
            return;
        }
        std::lock_guard<std::mutex> one_job(job_mu_); // one parallel region at a time
        {
            std::lock_guard<std::mutex> lock(mu_);
            job_ = &fn;
            n_ = n;
            next_ = 0;
            active_ = static_cast<int>(workers_.size());
            error_ = nullptr;
            ++generation_;
        }
        cv_.notify_all();
        in_worker() = true; // a parallel_for inside fn runs serially instead of deadlocking
        work();
        in_worker() = false;
        spin_while([this] { return active_.load(std::memory_order_acquire) != 0; });
        std::unique_lock<std::mutex> lock(mu_);
        done_cv_.wait(lock, [this] { return active_ == 0; });
        job_ = nullptr;
        if (error_) std::rethrow_exception(error_);
    }

private:
    static bool& in_worker() {
        thread_local bool w = false;
        return w;
    }
    void work() {
        for (int64_t i; (i = next_.fetch_add(1)) < n_;) {
            try {
                (*job_)(i);
            } catch (...) {
                std::lock_guard<std::mutex> lock(mu_);
                if (!error_) error_ = std::current_exception();
                next_ = n_; // stop handing out chunks
            }
        }
    }
    /// Spins while cond() holds, at most about kSpin pauses. Ops run one parallel region after
    /// another, microseconds apart; a thread that went to sleep takes tens of microseconds to
    /// wake (and the waker pays a system call), so a short spin first saves both.
    static constexpr int kSpin = 2000;
    template <class F> static void spin_while(F&& cond) {
        for (int i = 0; i < kSpin && cond(); ++i) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
    }
    void worker() {
        in_worker() = true;
        uint64_t seen = 0;
        for (;;) {
            spin_while([&] { return generation_.load(std::memory_order_acquire) == seen && !quit_.load(); });
            {
                std::unique_lock<std::mutex> lock(mu_);
                cv_.wait(lock, [&] { return quit_ || generation_ != seen; });
                if (quit_) return;
                seen = generation_;
            }
            work();
            std::lock_guard<std::mutex> lock(mu_);
            if (--active_ == 0) done_cv_.notify_one();
        }
    }
    void stop() {
        {
            std::lock_guard<std::mutex> lock(mu_);
            quit_ = true;
        }
        cv_.notify_all();
        for (auto& t : workers_) t.join();
        workers_.clear();
    }

    std::vector<std::thread> workers_;
    std::mutex mu_, job_mu_;
    std::condition_variable cv_, done_cv_;
    const std::function<void(int64_t)>* job_ = nullptr;
    std::atomic<int64_t> next_{0};
    int64_t n_ = 0;
    std::atomic<int> active_{0};             // written under mu_; read unlocked by spin_while
    std::atomic<uint64_t> generation_{0};
    std::atomic<bool> quit_{false};
    std::exception_ptr error_;
};

inline int default_num_threads() {
    if (const char* e = std::getenv("VKGRAD_NUM_THREADS"); e && std::atoi(e) > 0) return std::atoi(e);
    const unsigned hw = std::thread::hardware_concurrency();
    return hw ? static_cast<int>(hw) : 1;
}

/// The process's pool, created on first use.
inline ThreadPool& thread_pool() {
    static ThreadPool pool(default_num_threads());
    return pool;
}
inline int num_threads() { return thread_pool().size(); }
/// Sets the number of threads kernels use (>= 1). Results do not depend on it.
inline void set_num_threads(int n) { thread_pool().resize(n < 1 ? 1 : n); }

/// Calls fn(lo, hi) over [0, n) in chunks of `grain` (the last may be shorter), in parallel.
/// Chunk boundaries depend on n and grain only.
inline void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    grain = std::max<int64_t>(grain, 1);
    const int64_t chunks = (n + grain - 1) / grain;
    thread_pool().run(chunks, [&](int64_t c) { fn(c * grain, std::min(n, (c + 1) * grain)); });
}

} // namespace vkgrad
