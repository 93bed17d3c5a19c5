// PSNR, SSIM and the Fréchet distance against scikit-image / scipy
// (tests/reference/make_metric_fixtures.py), on synthetic images and real photographs.
#include "support.hpp"

#include <filesystem>

#include <vkgrad/io/image.hpp>
#include <vkgrad/metrics.hpp>

using namespace vkgrad;

namespace {

Tensor fx(const std::string& name) { return io::load_npy(test::fixtures() + "/metrics/" + name + ".npy"); }

/// uint8 [H, W, 3] (loaded as int64) -> float [3, H, W] in [0, 1]
Tensor hwc_to_chw(const Tensor& hwc) { return permute(to(hwc, DType::f32), {2, 0, 1}) / 255.0; }

constexpr double kMetricTol = 1e-4; // issue 5/8: PSNR and SSIM against scikit-image

void check_four(const Tensor& pred, const Tensor& gt, const std::vector<double>& want) {
    CHECK(metrics::psnr(pred, gt) == doctest::Approx(want[0]).epsilon(kMetricTol));
    CHECK(metrics::psnr(pred, gt, {true, 0}) == doctest::Approx(want[1]).epsilon(kMetricTol));
    CHECK(metrics::ssim(pred, gt) == doctest::Approx(want[2]).epsilon(kMetricTol));
    CHECK(metrics::ssim(pred, gt, true) == doctest::Approx(want[3]).epsilon(kMetricTol));
}

} // namespace

TEST_CASE("PSNR and SSIM match scikit-image on synthetic images") {
    const Tensor a = hwc_to_chw(fx("synthetic_a")), b = hwc_to_chw(fx("synthetic_b"));
    check_four(a, b, fx("synthetic_metrics").to_vector<double>());
    CHECK(metrics::psnr(a, a) == std::numeric_limits<double>::infinity());
    CHECK(metrics::ssim(a, a) == doctest::Approx(1.0));
    CHECK(metrics::psnr(unsqueeze(a, 0), unsqueeze(b, 0)) == metrics::psnr(a, b)); // [1, C, H, W] too
    test::check_error([&] { metrics::psnr(a, narrow(b, 1, 0, 30)); }, {"psnr", "differ in shape"});
    test::check_error([&] { metrics::ssim(narrow(a, 1, 0, 8), narrow(b, 1, 0, 8)); }, {"ssim", "11x11"});
    test::check_error([&] { metrics::psnr(a, b, {false, 20}); }, {"psnr", "crop_border"});
}

TEST_CASE("PSNR and SSIM match scikit-image on real photographs") {
    const std::string dir = test::fixtures() + "/../../../shared/data/natural/kodak24";
    if (!std::filesystem::exists(dir)) {
        MESSAGE("skipped: ../shared/data absent (a fresh clone without the shared data)");
        return;
    }
    const auto want = fx("kodak_metrics").to_vector<double>(); // [image, degradation, metric]
    int i = 0;
    for (const char* name : {"kodim01.png", "kodim02.png", "kodim03.png"}) {
        INFO(name);
        const Tensor img = squeeze(io::load_image(dir + "/" + name), 0);
        const int64_t H = img.size(1), W = img.size(2);
        // the degradations of make_metric_fixtures.py: a wrapped shift by (1, 2), and a fixed pattern
        const Tensor shifted = concat({narrow(img, 1, H - 1, 1), narrow(img, 1, 0, H - 1)}, 1);
        const Tensor rolled = concat({narrow(shifted, 2, W - 2, 2), narrow(shifted, 2, 0, W - 2)}, 2);
        std::vector<float> noise(static_cast<size_t>(3 * H * W));
        for (int64_t c = 0; c < 3; ++c)
            for (int64_t y = 0; y < H; ++y)
                for (int64_t x = 0; x < W; ++x)
                    noise[static_cast<size_t>((c * H + y) * W + x)] = static_cast<float>((y * 7 + x * 13 + c * 5) % 21 - 10);
        const Tensor noisy = clamp(img + from_vector(noise, {3, H, W}) / 255.0, 0, 1);
        for (int k = 0; k < 2; ++k) {
            const auto* w = want.data() + (i * 2 + k) * 4;
            check_four(k == 0 ? rolled : noisy, img, {w[0], w[1], w[2], w[3]});
        }
        ++i;
    }
}

TEST_CASE("the Fréchet distance matches scipy's sqrtm") {
    const auto a = metrics::feature_statistics(fx("fid_f1")), b = metrics::feature_statistics(fx("fid_f2"));
    const double want = fx("fid_value").item(), got = metrics::frechet_distance(a, b);
    MESSAGE("FID " << got << " vs scipy " << want << ", relative error " << std::abs(got - want) / want);
    CHECK(std::abs(got - want) <= 1e-6 * want);
    CHECK(std::abs(metrics::frechet_distance(a, a)) < 1e-9);
    test::check_error([&] { metrics::feature_statistics(zeros({1, 4})); }, {"feature_statistics", "N >= 2"});
}
