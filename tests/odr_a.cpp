// With odr_b.cpp: two translation units including the whole library must link (every
// function defined in a header is inline) and behave as one.
#include <vkgrad/testing/detparam.hpp>
#include <vkgrad/testing/gradcheck.hpp>
#include <vkgrad/io/checkpoint.hpp>
#include <vkgrad/io/progress.hpp>
#include <vkgrad/vkgrad.hpp>
#if __has_include(<stb/stb_image.h>)
#include <vkgrad/io/image.hpp> // stb is compiled into each translation unit with internal linkage
#endif

double odr_b_value();

int main() {
    using namespace vkgrad;
    Generator gen(7);
    nn::Linear lin(3, 2, gen);
    Tensor y = sum(lin(randn({4, 3}, gen)));
    y.backward();
    const double a = lin.weight.grad().defined() ? 1.0 : 0.0;
    return (a == 1.0 && odr_b_value() == 6.0) ? 0 : 1;
}
