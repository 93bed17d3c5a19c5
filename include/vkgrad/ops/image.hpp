// vkgrad/ops/image.hpp — every image op: convolution, pooling, resampling, normalisation and
// the networks' small functional layers.
#pragma once
#include "conv.hpp"
#include "layers.hpp"
#include "norm.hpp"
#include "pool.hpp"
#include "resample.hpp"
