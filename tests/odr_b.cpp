#include <vkgrad/testing/detparam.hpp>
#include <vkgrad/testing/gradcheck.hpp>
#include <vkgrad/vkgrad.hpp>

double odr_b_value() {
    using namespace vkgrad;
    const Tensor x = ones({2, 3});
    return sum(x).item();
}
