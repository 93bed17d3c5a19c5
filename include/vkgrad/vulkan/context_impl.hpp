// vkgrad/vulkan/context_impl.hpp — the definitions behind context.hpp (kept apart so the class
// reads as a summary).
#pragma once
#include <algorithm>
#include <cstdio>

namespace vkgrad::vulkan {

inline Context::Context(const Options& o) {
    VKG_CHECK(o.device != "cpu", "vulkan", "VKGRAD_DEVICE=cpu: the Vulkan backend is turned off");
    // instance, with the validation layer when asked for and present
    std::vector<const char*> layers, extensions;
    if (o.validation) {
        uint32_t n = 0;
        vkEnumerateInstanceLayerProperties(&n, nullptr);
        std::vector<VkLayerProperties> have(n);
        vkEnumerateInstanceLayerProperties(&n, have.data());
        const bool found = std::any_of(have.begin(), have.end(), [](const VkLayerProperties& l) {
            return std::strcmp(l.layerName, "VK_LAYER_KHRONOS_validation") == 0;
        });
        VKG_CHECK(found, "vulkan", "validation requested but VK_LAYER_KHRONOS_validation is not installed "
                                   "(apt-get install vulkan-validationlayers)");
        layers.push_back("VK_LAYER_KHRONOS_validation");
        extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    }
    auto app = make<VkApplicationInfo>(VK_STRUCTURE_TYPE_APPLICATION_INFO);
    app.pApplicationName = "vkgrad";
    app.apiVersion = VK_API_VERSION_1_1;
    auto ici = make<VkInstanceCreateInfo>(VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO);
    ici.pApplicationInfo = &app;
    ici.enabledLayerCount = static_cast<uint32_t>(layers.size());
    ici.ppEnabledLayerNames = layers.data();
    ici.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
    ici.ppEnabledExtensionNames = extensions.data();
    VKG_VK(vkCreateInstance(&ici, nullptr, &instance_));
    try {
        if (o.validation) {
            auto m = make<VkDebugUtilsMessengerCreateInfoEXT>(VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT);
            m.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
            m.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                            VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
            m.pfnUserCallback = &Context::on_message;
            m.pUserData = this;
            auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
                vkGetInstanceProcAddr(instance_, "vkCreateDebugUtilsMessengerEXT"));
            VKG_CHECK(create != nullptr, "vulkan", "vkCreateDebugUtilsMessengerEXT is missing");
            VKG_VK(create(instance_, &m, nullptr, &messenger_));
        }

        // physical device: the user's choice, else the best kind
        uint32_t n = 0;
        VKG_VK(vkEnumeratePhysicalDevices(instance_, &n, nullptr));
        VKG_CHECK(n > 0, "vulkan", "no Vulkan device found (install a driver; for the CPU one: mesa-vulkan-drivers)");
        std::vector<VkPhysicalDevice> devs(n);
        VKG_VK(vkEnumeratePhysicalDevices(instance_, &n, devs.data()));
        auto rank = [](VkPhysicalDeviceType t) {
            switch (t) {
            case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 4;
            case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 3;
            case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
            case VK_PHYSICAL_DEVICE_TYPE_CPU: return 1;
            default: return 0;
            }
        };
        std::string names;
        int best = -1;
        for (uint32_t i = 0; i < n; ++i) {
            VkPhysicalDeviceProperties p;
            vkGetPhysicalDeviceProperties(devs[i], &p);
            names += (i ? ", " : "") + std::to_string(i) + ": " + p.deviceName;
            const bool by_index = !o.device.empty() && o.device == std::to_string(i);
            const bool by_name = !o.device.empty() && std::string(p.deviceName).find(o.device) != std::string::npos;
            if (!o.device.empty()) {
                if ((by_index || by_name) && !physical_) physical_ = devs[i];
            } else if (rank(p.deviceType) > best) {
                best = rank(p.deviceType);
                physical_ = devs[i];
            }
        }
        VKG_CHECK(physical_ != VK_NULL_HANDLE, "vulkan", "VKGRAD_DEVICE='", o.device, "' matches no device (", names, ")");
        vkGetPhysicalDeviceProperties(physical_, &props_);
        vkGetPhysicalDeviceMemoryProperties(physical_, &mem_props_);

        // a queue family with compute
        uint32_t nf = 0;
        vkGetPhysicalDeviceQueueFamilyProperties(physical_, &nf, nullptr);
        std::vector<VkQueueFamilyProperties> fams(nf);
        vkGetPhysicalDeviceQueueFamilyProperties(physical_, &nf, fams.data());
        family_ = nf;
        for (uint32_t i = 0; i < nf && family_ == nf; ++i)
            if (fams[i].queueFlags & VK_QUEUE_COMPUTE_BIT) family_ = i;
        VKG_CHECK(family_ < nf, "vulkan", props_.deviceName, " has no compute queue");
        const float priority = 1.0f;
        auto qci = make<VkDeviceQueueCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO);
        qci.queueFamilyIndex = family_;
        qci.queueCount = 1;
        qci.pQueuePriorities = &priority;
        auto dci = make<VkDeviceCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO);
        dci.queueCreateInfoCount = 1;
        dci.pQueueCreateInfos = &qci;
        VKG_VK(vkCreateDevice(physical_, &dci, nullptr, &device_));
        vkGetDeviceQueue(device_, family_, 0, &queue_);

        auto pci = make<VkCommandPoolCreateInfo>(VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO);
        pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
        pci.queueFamilyIndex = family_;
        VKG_VK(vkCreateCommandPool(device_, &pci, nullptr, &cmd_pool_));
        for (Batch& b : batches_) {
            auto cai = make<VkCommandBufferAllocateInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO);
            cai.commandPool = cmd_pool_;
            cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
            cai.commandBufferCount = 1;
            VKG_VK(vkAllocateCommandBuffers(device_, &cai, &b.cmd));
            auto fci = make<VkFenceCreateInfo>(VK_STRUCTURE_TYPE_FENCE_CREATE_INFO);
            VKG_VK(vkCreateFence(device_, &fci, nullptr, &b.fence));
            VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kBatchDescriptors};
            auto dpi = make<VkDescriptorPoolCreateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO);
            dpi.maxSets = kBatchSets;
            dpi.poolSizeCount = 1;
            dpi.pPoolSizes = &ps;
            VKG_VK(vkCreateDescriptorPool(device_, &dpi, nullptr, &b.pool));
        }

        // the pipeline cache, seeded from disk so kernels are not rebuilt at every start
        std::vector<char> blob;
        if (std::ifstream f{cache_path(), std::ios::binary}) blob.assign(std::istreambuf_iterator<char>(f), {});
        auto cci = make<VkPipelineCacheCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO);
        cci.initialDataSize = blob.size();
        cci.pInitialData = blob.empty() ? nullptr : blob.data();
        if (vkCreatePipelineCache(device_, &cci, nullptr, &pipeline_cache_) != VK_SUCCESS) { // a stale file: start empty
            cci.initialDataSize = 0;
            cci.pInitialData = nullptr;
            VKG_VK(vkCreatePipelineCache(device_, &cci, nullptr, &pipeline_cache_));
        }

        // memory types: mappable device memory when there is some, else device-local + staging
        const auto local = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
        const auto host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
        uint32_t mappable = find_memory_type(~0u, local | host);
        staging_ = o.force_staging || mappable == UINT32_MAX;
        memory_type_ = staging_ ? find_memory_type(~0u, local) : mappable;
        if (memory_type_ == UINT32_MAX) memory_type_ = find_memory_type(~0u, host); // no device-local heap at all
        VKG_CHECK(memory_type_ != UINT32_MAX, "vulkan", props_.deviceName, " has no usable memory type");
        staging_type_ = find_memory_type(~0u, host);
        VKG_CHECK(!staging_ || staging_type_ != UINT32_MAX, "vulkan", props_.deviceName, " has no host-visible memory");
    } catch (...) {
        this->~Context();
        throw;
    }
}

inline Context::~Context() {
    if (device_) {
        try {
            flush(); // finishes both batches and drops the storages they held
        } catch (...) {
        }
        vkDeviceWaitIdle(device_);
        if (pipeline_cache_) { // best effort: a cache that cannot be saved only costs start-up time
            size_t n = 0;
            if (vkGetPipelineCacheData(device_, pipeline_cache_, &n, nullptr) == VK_SUCCESS && n > 0) {
                std::vector<char> blob(n);
                if (vkGetPipelineCacheData(device_, pipeline_cache_, &n, blob.data()) == VK_SUCCESS) {
                    std::error_code ec;
                    std::filesystem::create_directories(std::filesystem::path(cache_path()).parent_path(), ec);
                    const std::string tmp = cache_path() + ".partial";
                    if (std::ofstream f{tmp, std::ios::binary}) {
                        f.write(blob.data(), static_cast<std::streamsize>(n));
                        f.close();
                        if (f) std::filesystem::rename(tmp, cache_path(), ec);
                    }
                }
            }
            vkDestroyPipelineCache(device_, pipeline_cache_, nullptr);
        }
        for (auto& [name, p] : pipelines_) {
            vkDestroyPipeline(device_, p.pipeline, nullptr);
            vkDestroyPipelineLayout(device_, p.layout, nullptr);
            vkDestroyDescriptorSetLayout(device_, p.set_layout, nullptr);
        }
        auto free_block = [&](Block& b) {
            if (b.mapped) vkUnmapMemory(device_, b.memory);
            vkDestroyBuffer(device_, b.buffer, nullptr);
            vkFreeMemory(device_, b.memory, nullptr);
        };
        for (auto& b : blocks_) free_block(*b);
        if (staging_block_) free_block(*staging_block_);
        for (Batch& b : batches_) {
            b.keep_alive.clear();
            if (b.pool) vkDestroyDescriptorPool(device_, b.pool, nullptr);
            if (b.fence) vkDestroyFence(device_, b.fence, nullptr);
        }
        if (cmd_pool_) vkDestroyCommandPool(device_, cmd_pool_, nullptr);
        vkDestroyDevice(device_, nullptr);
    }
    if (messenger_) {
        auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
            vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
        if (destroy) destroy(instance_, messenger_, nullptr);
    }
    if (instance_) vkDestroyInstance(instance_, nullptr);
    device_ = VK_NULL_HANDLE;
    instance_ = VK_NULL_HANDLE;
    messenger_ = VK_NULL_HANDLE;
}

inline std::string Context::cache_path() const {
    std::string dir;
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) dir = x;
    else if (const char* h = std::getenv("HOME"); h && *h) dir = std::string(h) + "/.cache";
    else dir = std::filesystem::temp_directory_path().string();
    char id[64];
    std::snprintf(id, sizeof id, "%08x-%08x", props_.vendorID, props_.deviceID);
    return dir + "/vkgrad/pipelines-" + id + ".bin";
}

inline uint32_t Context::find_memory_type(uint32_t bits, VkMemoryPropertyFlags want) const {
    for (uint32_t i = 0; i < mem_props_.memoryTypeCount; ++i)
        if ((bits & (1u << i)) && (mem_props_.memoryTypes[i].propertyFlags & want) == want) return i;
    return UINT32_MAX;
}

inline std::unique_ptr<Block> Context::make_block(VkDeviceSize size, uint32_t type, bool map) {
    auto b = std::make_unique<Block>();
    b->size = size;
    auto bci = make<VkBufferCreateInfo>(VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO);
    bci.size = size;
    bci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    VKG_VK(vkCreateBuffer(device_, &bci, nullptr, &b->buffer));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(device_, b->buffer, &req);
    auto mai = make<VkMemoryAllocateInfo>(VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO);
    mai.allocationSize = req.size;
    mai.memoryTypeIndex = type;
    const VkResult r = vkAllocateMemory(device_, &mai, nullptr, &b->memory);
    if (r != VK_SUCCESS) {
        vkDestroyBuffer(device_, b->buffer, nullptr);
        ::vkgrad::detail::fail("vulkan", "cannot allocate ", size >> 20, " MiB of device memory on ", props_.deviceName,
                               ": ", result_name(r));
    }
    VKG_VK(vkBindBufferMemory(device_, b->buffer, b->memory, 0));
    if (map) VKG_VK(vkMapMemory(device_, b->memory, 0, VK_WHOLE_SIZE, 0, &b->mapped));
    b->free[0] = size;
    return b;
}

inline Allocation Context::allocate(VkDeviceSize bytes) {
    const VkDeviceSize align = std::max<VkDeviceSize>(props_.limits.minStorageBufferOffsetAlignment, 16);
    const VkDeviceSize size = std::max<VkDeviceSize>((bytes + align - 1) / align * align, align);
    VKG_CHECK(size <= props_.limits.maxStorageBufferRange, "vulkan", "a tensor of ", bytes, " bytes exceeds ",
              props_.deviceName, "'s maxStorageBufferRange of ", props_.limits.maxStorageBufferRange,
              " bytes; split it into smaller tensors");
    auto take = [&](Block& b) -> Allocation {
        for (auto it = b.free.begin(); it != b.free.end(); ++it) // first fit keeps blocks compact
            if (it->second >= size) {
                Allocation a{&b, it->first, size};
                const VkDeviceSize rest = it->second - size, at = it->first + size;
                b.free.erase(it);
                if (rest) b.free[at] = rest;
                return a;
            }
        return {};
    };
    for (auto& b : blocks_)
        if (Allocation a = take(*b); a.block) return a;
    blocks_.push_back(make_block(std::max(size, kBlockBytes), memory_type_, !staging_));
    return take(*blocks_.back());
}

inline void Context::release(const Allocation& a) {
    if (!a.block) return;
    auto& f = a.block->free;
    auto it = f.emplace(a.offset, a.size).first;
    if (auto next = std::next(it); next != f.end() && it->first + it->second == next->first) { // merge right
        it->second += next->second;
        f.erase(next);
    }
    if (it != f.begin()) // merge left
        if (auto prev = std::prev(it); prev->first + prev->second == it->first) {
            prev->second += it->second;
            f.erase(it);
        }
}

/// The host-visible staging buffer, grown to at least `bytes`.
inline Block& Context::staging_buffer(VkDeviceSize bytes) {
    if (staging_block_ && staging_block_->size >= bytes) return *staging_block_;
    if (staging_block_) {
        vkUnmapMemory(device_, staging_block_->memory);
        vkDestroyBuffer(device_, staging_block_->buffer, nullptr);
        vkFreeMemory(device_, staging_block_->memory, nullptr);
        staging_block_.reset();
    }
    staging_block_ = make_block(std::max<VkDeviceSize>(bytes, VkDeviceSize(16) << 20), staging_type_, true);
    return *staging_block_;
}

inline void Context::write(const Allocation& a, const void* src, size_t bytes) {
    ++counters.uploads;
    if (bytes == 0) return;
    flush(); // recorded work may still use this memory (a freed tensor's): finish it first
    if (!staging_) {
        std::memcpy(static_cast<char*>(a.block->mapped) + a.offset, src, bytes);
        return;
    }
    Block& s = staging_buffer(bytes);
    std::memcpy(s.mapped, src, bytes);
    begin_batch();
    VkBufferCopy region{0, a.offset, bytes};
    vkCmdCopyBuffer(cmd_, s.buffer, a.block->buffer, 1, &region);
    flush();
}

inline void Context::read(const Allocation& a, void* dst, size_t bytes) {
    ++counters.downloads;
    if (bytes == 0) return;
    flush(); // the results of recorded work must be there
    if (!staging_) {
        std::memcpy(dst, static_cast<const char*>(a.block->mapped) + a.offset, bytes);
        return;
    }
    Block& s = staging_buffer(bytes);
    begin_batch();
    VkBufferCopy region{a.offset, 0, bytes};
    vkCmdCopyBuffer(cmd_, a.block->buffer, s.buffer, 1, &region);
    flush();
    std::memcpy(dst, s.mapped, bytes);
}

inline const Pipeline& Context::pipeline(const std::string& name, uint32_t buffers, uint32_t push_bytes,
                                         uint32_t local_size, const std::vector<uint32_t>& spec) {
    std::string key = name + "/" + std::to_string(local_size);
    for (uint32_t s : spec) key += "/" + std::to_string(s);
    if (auto it = pipelines_.find(key); it != pipelines_.end()) return it->second;
    const spirv::Kernel* k = nullptr;
    for (const auto& kk : spirv::kernels)
        if (kk.name == name) k = &kk;
    VKG_CHECK(k != nullptr, "vulkan", "no kernel '", name, "' in spirv.hpp");
    VKG_CHECK(push_bytes <= props_.limits.maxPushConstantsSize, "vulkan", "kernel '", name, "' needs ", push_bytes,
              " bytes of push constants, ", props_.deviceName, " allows ", props_.limits.maxPushConstantsSize);
    Pipeline p;
    p.buffers = buffers;
    p.push_bytes = push_bytes;
    p.local_size = local_size;
    std::vector<VkDescriptorSetLayoutBinding> binds(buffers);
    for (uint32_t i = 0; i < buffers; ++i)
        binds[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
    auto dl = make<VkDescriptorSetLayoutCreateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO);
    dl.bindingCount = buffers;
    dl.pBindings = binds.data();
    VKG_VK(vkCreateDescriptorSetLayout(device_, &dl, nullptr, &p.set_layout));
    VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes};
    auto pl = make<VkPipelineLayoutCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO);
    pl.setLayoutCount = 1;
    pl.pSetLayouts = &p.set_layout;
    pl.pushConstantRangeCount = push_bytes ? 1 : 0;
    pl.pPushConstantRanges = &range;
    VKG_VK(vkCreatePipelineLayout(device_, &pl, nullptr, &p.layout));
    auto smi = make<VkShaderModuleCreateInfo>(VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO);
    smi.codeSize = k->size;
    smi.pCode = k->words;
    VkShaderModule module;
    VKG_VK(vkCreateShaderModule(device_, &smi, nullptr, &module));
    std::vector<uint32_t> values{local_size};
    values.insert(values.end(), spec.begin(), spec.end());
    std::vector<VkSpecializationMapEntry> entries;
    for (uint32_t i = 0; i < values.size(); ++i) entries.push_back({i, i * 4, 4});
    VkSpecializationInfo si{static_cast<uint32_t>(entries.size()), entries.data(), values.size() * 4, values.data()};
    auto cpi = make<VkComputePipelineCreateInfo>(VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO);
    cpi.stage = make<VkPipelineShaderStageCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO);
    cpi.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    cpi.stage.module = module;
    cpi.stage.pName = "main";
    cpi.stage.pSpecializationInfo = &si;
    cpi.layout = p.layout;
    const VkResult r = vkCreateComputePipelines(device_, pipeline_cache_, 1, &cpi, nullptr, &p.pipeline);
    vkDestroyShaderModule(device_, module, nullptr);
    check(r, "vkCreateComputePipelines");
    return pipelines_.emplace(key, p).first->second;
}

inline void Context::begin_batch() {
    if (recording_) return;
    Batch& b = batches_[cur_];
    wait(b); // its previous submission must be done before its buffers are reused
    cmd_ = b.cmd;
    auto bi = make<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    VKG_VK(vkBeginCommandBuffer(cmd_, &bi));
    recording_ = true;
}

inline void Context::dispatch(const Pipeline& p, const std::vector<std::shared_ptr<Storage>>& storages, const void* push,
                              uint32_t groups) {
    VKG_CHECK(storages.size() == p.buffers, "vulkan", "dispatch with ", storages.size(), " buffers, the kernel has ",
              p.buffers);
    if (batch_dispatches_ >= kBatchDispatches || batch_descriptors_ + p.buffers > kBatchDescriptors) submit(); // no wait
    begin_batch();
    auto ai = make<VkDescriptorSetAllocateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO);
    ai.descriptorPool = batches_[cur_].pool;
    ai.descriptorSetCount = 1;
    ai.pSetLayouts = &p.set_layout;
    VkDescriptorSet set;
    VKG_VK(vkAllocateDescriptorSets(device_, &ai, &set));
    std::vector<VkDescriptorBufferInfo> infos(p.buffers);
    std::vector<VkWriteDescriptorSet> writes(p.buffers);
    for (uint32_t i = 0; i < p.buffers; ++i) {
        const auto* vs = dynamic_cast<const VulkanStorage*>(storages[i].get());
        VKG_CHECK(vs != nullptr, "vulkan", "dispatch got a storage that is not on the Vulkan device");
        const Allocation& a = vs->allocation();
        infos[i] = {a.block->buffer, a.offset, a.size};
        writes[i] = make<VkWriteDescriptorSet>(VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET);
        writes[i].dstSet = set;
        writes[i].dstBinding = i;
        writes[i].descriptorCount = 1;
        writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        writes[i].pBufferInfo = &infos[i];
        batches_[cur_].keep_alive.push_back(storages[i]);
    }
    vkUpdateDescriptorSets(device_, p.buffers, writes.data(), 0, nullptr);
    vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, p.pipeline);
    vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, p.layout, 0, 1, &set, 0, nullptr);
    if (p.push_bytes) vkCmdPushConstants(cmd_, p.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, p.push_bytes, push);
    vkCmdDispatch(cmd_, std::clamp<uint32_t>(groups, 1, kMaxGroups), 1, 1);
    // every later dispatch or copy sees this one's writes (simple and always correct)
    auto mb = make<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT;
    mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                       VK_ACCESS_TRANSFER_WRITE_BIT;
    vkCmdPipelineBarrier(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, nullptr, 0,
                         nullptr);
    ++batch_dispatches_;
    batch_descriptors_ += p.buffers;
    ++counters.dispatches;
}

/// Submits the recording batch without waiting; the next one records in the other slot.
inline void Context::submit() {
    if (!recording_) return;
    recording_ = false;
    Batch& b = batches_[cur_];
    VKG_VK(vkEndCommandBuffer(b.cmd));
    auto si = make<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO);
    si.commandBufferCount = 1;
    si.pCommandBuffers = &b.cmd;
    VKG_VK(vkQueueSubmit(queue_, 1, &si, b.fence));
    b.in_flight = true;
    batch_dispatches_ = batch_descriptors_ = 0;
    cur_ ^= 1;
    ++counters.submits;
}

/// Waits for a submitted batch and recycles its command buffer, descriptors and storages.
inline void Context::wait(Batch& b) {
    if (!b.in_flight) return;
    VKG_VK(vkWaitForFences(device_, 1, &b.fence, VK_TRUE, UINT64_MAX));
    VKG_VK(vkResetFences(device_, 1, &b.fence));
    VKG_VK(vkResetCommandBuffer(b.cmd, 0));
    VKG_VK(vkResetDescriptorPool(device_, b.pool, 0));
    b.keep_alive.clear();
    b.in_flight = false;
}

inline void Context::flush() {
    submit();
    for (Batch& b : batches_) wait(b);
}

inline VulkanStorage::VulkanStorage(Context& ctx, size_t n)
    : Storage(Device{DeviceType::vulkan, 0}, n), ctx_(ctx), a_(ctx.allocate(n)) {}
inline VulkanStorage::~VulkanStorage() { ctx_.release(a_); }

} // namespace vkgrad::vulkan
