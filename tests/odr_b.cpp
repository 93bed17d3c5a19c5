#include <vkgrad/testing/detparam.hpp>
#include <vkgrad/testing/gradcheck.hpp>
#include <vkgrad/io/checkpoint.hpp>
#include <vkgrad/io/progress.hpp>
#include <vkgrad/vkgrad.hpp>
#if __has_include(<stb/stb_image.h>)
#include <vkgrad/io/image.hpp> // stb is compiled into each translation unit with internal linkage
#endif

double odr_b_value() {
    using namespace vkgrad;
    const Tensor x = ones({2, 3});
    return sum(x).item();
}
