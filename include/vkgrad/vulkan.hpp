// vkgrad/vulkan.hpp — the Vulkan device. Needs the Vulkan headers and loader (link -lvulkan);
// the kernels' SPIR-V is compiled in (vulkan/spirv.hpp), so no shader compiler is needed.
//
//   #include <vkgrad/vulkan.hpp>
//   if (vkgrad::vulkan::available()) {
//       vkgrad::Device gpu = vkgrad::vulkan::device();        // creates the context once
//       Tensor x = to(randn({4, 3}, gen), gpu);                // ops on x now run on the GPU
//   }
#pragma once
#include <memory>

#include "vkgrad.hpp"
#include "vulkan/backend.hpp"
#include "vulkan/context.hpp"

namespace vkgrad::vulkan {

namespace detail {
struct Runtime {
    std::unique_ptr<Context> ctx;
    std::unique_ptr<VulkanBackend> backend;
    std::string error; ///< why there is no device, once tried
    bool tried = false;
};
inline Runtime& runtime() {
    static Runtime r;
    return r;
}
} // namespace detail

/// The context, created on first use with Options::from_env(); throws (saying why) when there
/// is no usable Vulkan device.
inline Context& context() {
    auto& r = detail::runtime();
    if (!r.tried) {
        r.tried = true;
        try {
            r.ctx = std::make_unique<Context>();
            r.backend = std::make_unique<VulkanBackend>(*r.ctx);
            backend_slot(DeviceType::vulkan) = r.backend.get();
        } catch (const Error& e) {
            r.error = e.what();
        }
    }
    VKG_CHECK(r.ctx != nullptr, "vulkan", "no Vulkan device: ", r.error);
    return *r.ctx;
}
/// Whether a Vulkan device can be used (tries to create the context once).
inline bool available() {
    try {
        context();
        return true;
    } catch (const Error&) {
        return false;
    }
}
/// The Vulkan device, for to(x, device()).
inline Device device() {
    context();
    return Device{DeviceType::vulkan, 0};
}

} // namespace vkgrad::vulkan
