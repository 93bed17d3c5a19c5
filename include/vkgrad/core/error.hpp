// vkgrad/core/error.hpp — the one exception type and the check macro every op uses.
//
// Errors name the operation and the offending shapes/dtypes/paths, so a user can find the
// mistake without a debugger. Messages are built only when a check fails.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace vkgrad {

/// Thrown for every misuse vkgrad detects: wrong shapes or dtypes, bad files, bad arguments.
/// `what()` starts with the name of the operation, e.g. "add: shapes [2,3] and [4] ...".
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Args>
[[noreturn]] inline void fail(const char* op, const Args&... args) {
    std::ostringstream s;
    s << op << ": ";
    (s << ... << args);
    throw Error(s.str());
}
} // namespace detail
} // namespace vkgrad

/// VKG_CHECK(cond, "op", parts...): throw vkgrad::Error("op: parts...") unless cond holds.
#define VKG_CHECK(cond, op, ...)                                  \
    do {                                                          \
        if (!(cond)) ::vkgrad::detail::fail(op, __VA_ARGS__);     \
    } while (0)
