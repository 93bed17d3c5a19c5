// vkgrad/vkgrad.hpp — the CPU library in one include. Needs Eigen only.
//
//   #include <vkgrad/vkgrad.hpp>
//   vkgrad::Generator gen(0);
//   auto x = vkgrad::randn({4, 3}, gen).requires_grad_();
//   auto loss = vkgrad::sum(vkgrad::tanh(x));
//   loss.backward();            // x.grad() now holds 1 - tanh(x)^2
//
// Parts with other dependencies have their own headers and are never pulled in here
// (vkgrad/vulkan.hpp, vkgrad/io/image.hpp, ...). Compile with -O2 or higher and
// -march=native (at least AVX2 + FMA): the packed SGEMM needs them, Eigen is much slower without.
#pragma once

#include "core/allocator.hpp"
#include "core/backend.hpp"
#include "core/error.hpp"
#include "core/graph.hpp"
#include "core/parallel.hpp"
#include "core/random.hpp"
#include "core/shape.hpp"
#include "core/tensor.hpp"

#include "ops/image.hpp"
#include "ops/creation.hpp"
#include "ops/elementwise.hpp"
#include "ops/indexing.hpp"
#include "ops/inplace.hpp"
#include "ops/linalg.hpp"
#include "ops/reduce.hpp"
#include "ops/shape.hpp"

#include "autograd/engine.hpp"

#include "nn/init.hpp"
#include "nn/conv.hpp"
#include "nn/layers.hpp"
#include "nn/linear.hpp"
#include "nn/module.hpp"
#include "nn/norm.hpp"
#include "nn/sequential.hpp"

#include "io/npy.hpp"
#include "losses.hpp"
#include "optim.hpp"
