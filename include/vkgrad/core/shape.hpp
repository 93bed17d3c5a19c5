// vkgrad/core/shape.hpp — shapes, dtypes and devices: the metadata every tensor carries.
#pragma once
#include <algorithm>
#include <cstdint>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "error.hpp"

namespace vkgrad {

using Shape = std::vector<int64_t>;

/// Element types. f32 is what networks use, f64 serves gradient checks and statistics,
/// i64 holds indices (index_select, gather) and integer data converted on load.
enum class DType { f32, f64, i64 };

inline size_t dtype_size(DType t) { return t == DType::f32 ? 4 : 8; }
inline const char* dtype_name(DType t) {
    switch (t) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i64: return "int64";
    }
    return "?";
}
inline bool is_floating(DType t) { return t != DType::i64; }

/// Where a tensor's storage lives. Only `cpu` exists in the core; the Vulkan backend
/// (vkgrad/vulkan.hpp) registers itself for `vulkan` without the core knowing Vulkan.
enum class DeviceType { cpu, vulkan };
struct Device {
    DeviceType type = DeviceType::cpu;
    int index = 0;
    bool operator==(const Device& o) const { return type == o.type && index == o.index; }
    bool operator!=(const Device& o) const { return !(*this == o); }
};
inline std::string to_string(const Device& d) {
    return d.type == DeviceType::cpu ? std::string("cpu") : "vulkan:" + std::to_string(d.index);
}

inline int64_t numel(const Shape& s) {
    int64_t n = 1;
    for (auto d : s) n *= d;
    return n;
}

inline std::string to_string(const Shape& s) {
    std::ostringstream o;
    o << '[';
    for (size_t i = 0; i < s.size(); ++i) o << (i ? "," : "") << s[i];
    o << ']';
    return o.str();
}

/// Row-major (C order) strides in elements.
inline Shape contiguous_strides(const Shape& s) {
    Shape st(s.size());
    int64_t acc = 1;
    for (size_t i = s.size(); i-- > 0;) {
        st[i] = acc;
        acc *= s[i];
    }
    return st;
}

/// Strides (in elements) of `s` aligned to the broadcast shape `out`: 0 on broadcast axes.
inline Shape broadcast_strides(const Shape& s, const Shape& out) {
    Shape st(out.size(), 0);
    const Shape cs = contiguous_strides(s);
    const size_t off = out.size() - s.size();
    for (size_t i = 0; i < s.size(); ++i) st[off + i] = s[i] == 1 ? 0 : cs[i];
    return st;
}

/// Maps a possibly negative axis into [0, ndim); throws naming `op` when out of range.
inline int normalize_axis(int64_t axis, size_t ndim, const char* op) {
    const int64_t n = static_cast<int64_t>(ndim);
    VKG_CHECK(axis >= -n && axis < (n == 0 ? 1 : n), op, "axis ", axis, " is out of range for a tensor of ", ndim,
              " dimensions");
    return static_cast<int>(axis < 0 ? axis + n : axis);
}

/// numpy broadcasting of two shapes; throws naming `op` and both shapes when incompatible.
inline Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
    const size_t n = std::max(a.size(), b.size());
    Shape out(n);
    for (size_t i = 0; i < n; ++i) {
        const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
        const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
        VKG_CHECK(da == db || da == 1 || db == 1, op, "shapes ", to_string(a), " and ", to_string(b),
                  " cannot be broadcast together");
        out[i] = da == 1 ? db : da;
    }
    return out;
}

} // namespace vkgrad
