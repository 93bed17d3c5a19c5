// vkgrad/vulkan/context.hpp — one Vulkan device: instance, queue, memory, pipelines, submission.
//
// Device choice: a discrete GPU, else an integrated one, else a virtual one, else a CPU
// implementation such as lavapipe. VKGRAD_DEVICE=<index | name substring> picks one;
// VKGRAD_DEVICE=cpu turns the Vulkan path off. VKGRAD_VALIDATION=1 enables the Khronos
// validation layer and counts its messages (the tests require zero).
//
// Memory: tensors are sub-allocations of 64 MiB blocks (one VkBuffer per block; a tensor is
// an offset and a size in it). Device-local memory that the host can map is used directly;
// otherwise (or with VKGRAD_FORCE_STAGING=1) tensors live in device-local memory and
// uploads/downloads go through a host-visible staging buffer.
//
// Submission: dispatches are recorded into a command buffer, each followed by a barrier. A full
// batch is submitted without waiting and recording goes on in the second one; the host waits
// only when it needs a result (a download, a host write into device memory, flush()) or when
// both batches are still running. A batch holds references to the storages it uses, so memory
// is never reused while a pending dispatch may still read it.
#pragma once
#include <vulkan/vulkan.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/storage.hpp"
#include "spirv.hpp"

namespace vkgrad::vulkan {

inline const char* result_name(VkResult r) {
    switch (r) {
#define VKG_CASE(x) case x: return #x;
        VKG_CASE(VK_NOT_READY) VKG_CASE(VK_TIMEOUT) VKG_CASE(VK_INCOMPLETE)
        VKG_CASE(VK_ERROR_OUT_OF_HOST_MEMORY) VKG_CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
        VKG_CASE(VK_ERROR_INITIALIZATION_FAILED) VKG_CASE(VK_ERROR_DEVICE_LOST) VKG_CASE(VK_ERROR_MEMORY_MAP_FAILED)
        VKG_CASE(VK_ERROR_LAYER_NOT_PRESENT) VKG_CASE(VK_ERROR_EXTENSION_NOT_PRESENT)
        VKG_CASE(VK_ERROR_FEATURE_NOT_PRESENT) VKG_CASE(VK_ERROR_INCOMPATIBLE_DRIVER)
        VKG_CASE(VK_ERROR_TOO_MANY_OBJECTS) VKG_CASE(VK_ERROR_FORMAT_NOT_SUPPORTED)
        VKG_CASE(VK_ERROR_FRAGMENTED_POOL) VKG_CASE(VK_ERROR_OUT_OF_POOL_MEMORY)
#undef VKG_CASE
    default: return "VkResult error";
    }
}

/// Throws an Error naming the Vulkan call when it did not succeed.
inline void check(VkResult r, const char* call) {
    if (r != VK_SUCCESS) ::vkgrad::detail::fail("vulkan", call, " failed: ", result_name(r), " (", static_cast<int>(r), ")");
}
#define VKG_VK(call) ::vkgrad::vulkan::check((call), #call)

/// A zeroed Vulkan info struct with its sType set.
template <class T> T make(VkStructureType type) {
    T s{};
    s.sType = type;
    return s;
}

struct Options {
    std::string device;         ///< index or name substring; empty: the best device
    bool validation = false;    ///< the Khronos validation layer, its messages counted
    bool force_staging = false; ///< keep tensors in non-mappable memory even if mappable memory exists
    /// From VKGRAD_DEVICE, VKGRAD_VALIDATION and VKGRAD_FORCE_STAGING.
    static Options from_env() {
        Options o;
        if (const char* d = std::getenv("VKGRAD_DEVICE")) o.device = d;
        if (const char* v = std::getenv("VKGRAD_VALIDATION")) o.validation = std::string(v) == "1";
        if (const char* s = std::getenv("VKGRAD_FORCE_STAGING")) o.force_staging = std::string(s) == "1";
        return o;
    }
};

/// Counters a test can read: how often data crossed between host and device, and how work was submitted.
struct Counters {
    uint64_t uploads = 0, downloads = 0, dispatches = 0, submits = 0;
    uint64_t copies() const { return uploads + downloads; }
};

struct Block {
    VkDeviceMemory memory = VK_NULL_HANDLE;
    VkBuffer buffer = VK_NULL_HANDLE;
    VkDeviceSize size = 0;
    void* mapped = nullptr;
    std::map<VkDeviceSize, VkDeviceSize> free; ///< offset -> size, coalesced
};

struct Allocation {
    Block* block = nullptr;
    VkDeviceSize offset = 0, size = 0;
};

struct Pipeline {
    VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
    VkPipelineLayout layout = VK_NULL_HANDLE;
    VkPipeline pipeline = VK_NULL_HANDLE;
    uint32_t buffers = 0, push_bytes = 0, local_size = 0;
};

class Context;

/// Device memory behind a tensor.
class VulkanStorage final : public Storage {
public:
    VulkanStorage(Context& ctx, size_t n);
    ~VulkanStorage() override;
    VulkanStorage(const VulkanStorage&) = delete;
    VulkanStorage& operator=(const VulkanStorage&) = delete;
    const Allocation& allocation() const { return a_; }

private:
    Context& ctx_;
    Allocation a_;
};

class Context {
public:
    explicit Context(const Options& o = Options::from_env());
    ~Context();
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    const VkPhysicalDeviceProperties& properties() const { return props_; }
    std::string device_name() const { return props_.deviceName; }
    bool staging() const { return staging_; }
    uint64_t validation_messages() const { return validation_messages_; }
    Counters counters;

    // --- memory ---
    Allocation allocate(VkDeviceSize bytes);
    void release(const Allocation& a);
    /// Host -> device and device -> host; `bytes` at the start of the allocation.
    void write(const Allocation& a, const void* src, size_t bytes);
    void read(const Allocation& a, void* dst, size_t bytes);

    // --- kernels ---
    /// The pipeline of kernel `name` (from spirv.hpp) with `buffers` storage buffers, a push
    /// constant block of `push_bytes`, workgroup size `local_size` and extra specialization
    /// constants (ids 1, 2, ...). Built once, then cached.
    const Pipeline& pipeline(const std::string& name, uint32_t buffers, uint32_t push_bytes, uint32_t local_size,
                             const std::vector<uint32_t>& spec = {});
    /// Records one dispatch of `groups` workgroups over the given storages (in binding order);
    /// `push` is copied. The storages stay alive until the batch has run.
    void dispatch(const Pipeline& p, const std::vector<std::shared_ptr<Storage>>& storages, const void* push,
                  uint32_t groups);
    /// Submits what is recorded and waits for it.
    void flush();

    static constexpr uint32_t kMaxGroups = 65535;

private:
    void begin_batch();
    uint32_t find_memory_type(uint32_t bits, VkMemoryPropertyFlags want) const;
    std::unique_ptr<Block> make_block(VkDeviceSize size, uint32_t type, bool map);
    Block& staging_buffer(VkDeviceSize bytes);
    std::string cache_path() const;

    VkInstance instance_ = VK_NULL_HANDLE;
    VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
    VkPhysicalDevice physical_ = VK_NULL_HANDLE;
    VkPhysicalDeviceProperties props_{};
    VkPhysicalDeviceMemoryProperties mem_props_{};
    VkDevice device_ = VK_NULL_HANDLE;
    VkQueue queue_ = VK_NULL_HANDLE;
    uint32_t family_ = 0;
    VkCommandPool cmd_pool_ = VK_NULL_HANDLE;
    /// Two batches: one records while the other may still run on the device.
    struct Batch {
        VkCommandBuffer cmd = VK_NULL_HANDLE;
        VkFence fence = VK_NULL_HANDLE;
        VkDescriptorPool pool = VK_NULL_HANDLE;
        std::vector<std::shared_ptr<Storage>> keep_alive; ///< storages its commands use
        bool in_flight = false;
    };
    Batch batches_[2];
    int cur_ = 0;
    VkCommandBuffer cmd_ = VK_NULL_HANDLE; ///< the recording batch's command buffer
    void submit();
    void wait(Batch& b);
    VkPipelineCache pipeline_cache_ = VK_NULL_HANDLE;
    bool recording_ = false, staging_ = false;
    uint32_t batch_dispatches_ = 0, batch_descriptors_ = 0;
    uint32_t memory_type_ = 0, staging_type_ = 0;
    std::vector<std::unique_ptr<Block>> blocks_;
    std::unique_ptr<Block> staging_block_;
    std::map<std::string, Pipeline> pipelines_;
    uint64_t validation_messages_ = 0;

    static constexpr VkDeviceSize kBlockBytes = VkDeviceSize(64) << 20;
    static constexpr uint32_t kBatchDispatches = 512, kBatchSets = 1024, kBatchDescriptors = 4096;

    static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                      VkDebugUtilsMessageTypeFlagsEXT, const VkDebugUtilsMessengerCallbackDataEXT* data,
                                                      void* self) {
        if (severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
            ++static_cast<Context*>(self)->validation_messages_;
            std::fprintf(stderr, "vulkan validation: %s\n", data->pMessage);
        }
        return VK_FALSE;
    }
};

} // namespace vkgrad::vulkan

#include "context_impl.hpp"
