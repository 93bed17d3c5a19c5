// vkgrad/core/allocator.hpp — host memory for tensors: aligned, cached, and counted.
//
// Training allocates the same large buffers every step. Fresh large allocations come from
// mmap and pay a page fault per 4 KiB on first touch (about as long as the op itself for an
// elementwise op on a few MB), so freed blocks of 64 KiB and more are kept and handed out
// again for requests of the same size class. Classes are 4 per power of two, so at most 25%
// of a block is unused. The cache holds up to twice the most bytes the process ever had live
// at once (and at least 2 GiB): a step that needed that much will need it again, in the same
// size classes, and the classes' own peaks come at different moments, so the blocks a step
// reuses add up to more than its peak. A fixed 2 GiB cap, below that, made every step of a
// NAFNet training at 442x442 fault ~700 MB in afresh (page clearing was 15 % of its time);
// with this bound the steps after the first fault almost nothing and the resident size did not
// grow. The allocator also counts live and peak bytes, which is how memory use is measured in
// tests and benchmarks.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <new>

namespace vkgrad {

struct MemoryStats {
    size_t live_bytes = 0;   ///< bytes held by tensors now (requested sizes)
    size_t peak_bytes = 0;   ///< maximum of live_bytes since the last reset_peak()
    size_t cached_bytes = 0; ///< freed blocks kept for reuse
};

class CpuAllocator {
public:
    static constexpr size_t kAlign = 64;           // a cache line; enough for AVX-512
    static constexpr size_t kCacheFrom = 64 << 10; // smaller blocks go straight to the heap
    static constexpr size_t kMinCacheLimit = size_t(2) << 30; // the cache may always hold this much

    void* allocate(size_t n) {
        if (n == 0) return nullptr;
        const size_t c = size_class(n);
        void* p = nullptr;
        {
            std::lock_guard<std::mutex> lock(mu_);
            stats_.live_bytes += n;
            if (stats_.live_bytes > stats_.peak_bytes) stats_.peak_bytes = stats_.live_bytes;
            if (stats_.live_bytes > high_water_) high_water_ = stats_.live_bytes;
            auto it = free_.find(c);
            if (it != free_.end()) {
                p = it->second;
                free_.erase(it);
                stats_.cached_bytes -= c;
            }
        }
        return p ? p : ::operator new(c, std::align_val_t(kAlign));
    }

    void deallocate(void* p, size_t n) {
        if (!p) return;
        const size_t c = size_class(n);
        {
            std::lock_guard<std::mutex> lock(mu_);
            stats_.live_bytes -= n;
            if (c >= kCacheFrom && stats_.cached_bytes + c <= std::max(kMinCacheLimit, 2 * high_water_)) {
                free_.emplace(c, p);
                stats_.cached_bytes += c;
                return;
            }
        }
        ::operator delete(p, std::align_val_t(kAlign));
    }

    MemoryStats stats() {
        std::lock_guard<std::mutex> lock(mu_);
        return stats_;
    }
    /// Starts a new peak measurement from the bytes live now.
    void reset_peak() {
        std::lock_guard<std::mutex> lock(mu_);
        stats_.peak_bytes = stats_.live_bytes;
    }
    /// Returns every cached block to the system.
    void empty_cache() {
        std::lock_guard<std::mutex> lock(mu_);
        for (auto& [c, p] : free_) ::operator delete(p, std::align_val_t(kAlign));
        free_.clear();
        stats_.cached_bytes = 0;
    }
    ~CpuAllocator() { empty_cache(); }

    /// Small sizes round to the alignment; from kCacheFrom up, to 4 classes per power of two.
    static size_t size_class(size_t n) {
        const size_t a = (n + kAlign - 1) / kAlign * kAlign;
        if (a < kCacheFrom) return a;
        size_t top = size_t(1) << (63 - __builtin_clzll(a)); // largest power of two <= a
        const size_t step = top / 4;
        return (a + step - 1) / step * step;
    }

private:
    std::mutex mu_;
    std::multimap<size_t, void*> free_;
    MemoryStats stats_;
    size_t high_water_ = 0; ///< the most bytes ever live at once (reset_peak leaves it)
};

/// The process's host allocator (one per process, like malloc's heap).
inline CpuAllocator& cpu_allocator() {
    static CpuAllocator a;
    return a;
}

} // namespace vkgrad
