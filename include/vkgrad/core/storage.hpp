// vkgrad/core/storage.hpp — the memory behind tensors.
//
// A Storage is a block of bytes on one device, shared by every tensor that views it
// (reshape, detach). Backends subclass it: the CPU one owns aligned host memory; the
// Vulkan one (issue 4/8) owns a sub-allocation of device memory.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "allocator.hpp"
#include "shape.hpp"

namespace vkgrad {

class Storage {
public:
    virtual ~Storage() = default;
    Device device() const { return device_; }
    size_t nbytes() const { return nbytes_; }
    /// Host pointer; nullptr for storages that are not host-visible.
    virtual void* host_data() { return nullptr; }
    /// Bumped by every in-place write, so autograd can detect a saved tensor that changed.
    uint64_t version = 0;

protected:
    Storage(Device d, size_t n) : device_(d), nbytes_(n) {}
    Device device_;
    size_t nbytes_;
};

/// Host memory from the caching allocator, aligned to 64 bytes.
class CpuStorage final : public Storage {
public:
    explicit CpuStorage(size_t n) : Storage(Device{}, n), ptr_(static_cast<std::byte*>(cpu_allocator().allocate(n))) {}
    ~CpuStorage() override { cpu_allocator().deallocate(ptr_, nbytes_); }
    CpuStorage(const CpuStorage&) = delete;
    CpuStorage& operator=(const CpuStorage&) = delete;
    void* host_data() override { return ptr_; }

private:
    std::byte* ptr_ = nullptr;
};

} // namespace vkgrad
