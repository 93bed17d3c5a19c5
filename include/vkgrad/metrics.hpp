// vkgrad/metrics.hpp — image-quality metrics: PSNR, SSIM, the Fréchet distance (FID).
#pragma once
#include "metrics/fid.hpp"
#include "metrics/image_quality.hpp"
