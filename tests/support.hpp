// Helpers shared by the test translation units.
#pragma once
#include <doctest/doctest.h>

#include <string>

#include <vkgrad/testing/gradcheck.hpp>
#include <vkgrad/vkgrad.hpp>

namespace vkgrad::test {

/// tests/fixtures, as configured by meson (VKGRAD_FIXTURES) or relative to the source tree.
inline std::string fixtures() {
#ifdef VKGRAD_FIXTURES
    return VKGRAD_FIXTURES;
#else
    return "tests/fixtures";
#endif
}

/// Asserts that f throws vkgrad::Error whose message contains every one of `parts`.
template <class F> void check_error(F&& f, std::initializer_list<const char*> parts) {
    bool thrown = false;
    try {
        f();
    } catch (const Error& e) {
        thrown = true;
        const std::string msg = e.what();
        INFO("message: " << msg);
        for (const char* p : parts) CHECK_MESSAGE(msg.find(p) != std::string::npos, "missing '" << p << "'");
    }
    CHECK_MESSAGE(thrown, "expected a vkgrad::Error");
}

inline bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

inline int64_t count_parameters(const nn::Module& m) {
    int64_t n = 0;
    for (auto& p : m.parameters()) n += p.numel();
    return n;
}

/// Converts every floating tensor of m to float64 in place (the handles stay valid), for
/// finite-difference checks of whole networks; integer buffers (num_batches_tracked) stay.
inline void to_f64(nn::Module& m) {
    NoGradGuard ng;
    for (auto& [n, t] : m.state_dict()) {
        if (!is_floating(t.dtype())) continue;
        const Tensor c = to(detach(t), DType::f64);
        t.impl()->storage = c.impl()->storage;
        t.impl()->dtype = DType::f64;
    }
}

} // namespace vkgrad::test
