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

} // namespace vkgrad::test
