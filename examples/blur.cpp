// blur — synthetic camera-shake blur for training deblurring networks.
//
//   blur kernels --out KERNELS.npy [--count 1000] [--size 71] [--seed 0]
//                [--min-length 15] [--max-length 100]
//   blur apply --kernels KERNELS.npy --in DIR --out DIR [--size 512] [--seed 0] [--noise SIGMA]
//              [--sharp DIR]
//
// `kernels` draws random camera trajectories (Boracchi & Foi 2012; see
// include/vkgrad/data/motion_blur.hpp) and writes them as float32 [N, size, size], each summing
// to 1 with its centroid on the centre pixel, then prints the path-length statistics.
//
// `apply` finds every PNG/JPEG under --in (recursively, sorted by relative path), resizes its
// shorter side to --size (area averaging when shrinking, bicubic when enlarging) and crops the
// centre --size x --size, convolves it with a kernel picked uniformly by Generator(--seed)
// (reflected borders, output the same size), adds Gaussian noise of standard deviation SIGMA
// (in [0, 1] units, drawn from a second generator so the kernel choice does not depend on
// --noise), clamps to [0, 1] and writes an 8-bit PNG under the same relative name (extension
// .png) in --out. --sharp DIR also writes the resized, cropped sharp image there, so that
// --sharp and --out hold aligned pairs. OUT/blur.json records the settings and, for every
// output file, the index of its kernel.
//
// Errors (exit code 1) name the file: a missing or unreadable kernel file, one that is not
// float [N, k, k] with k odd, an input folder without images, an unreadable image.
#include <vkgrad/data/motion_blur.hpp>
#include <vkgrad/io/atomic_file.hpp>
#include <vkgrad/io/image.hpp>
#include <vkgrad/io/json.hpp>
#include <vkgrad/io/npy.hpp>
#include <vkgrad/io/progress.hpp>

#include "image_folders.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

using namespace vkgrad;
namespace fs = std::filesystem;

namespace {

int usage(const char* argv0) {
    std::fprintf(stderr,
                 "usage: %s kernels --out KERNELS.npy [--count 1000] [--size 71] [--seed 0]\n"
                 "                  [--min-length 15] [--max-length 100]\n"
                 "       %s apply --kernels KERNELS.npy --in DIR --out DIR [--size 512] [--seed 0]\n"
                 "                [--noise SIGMA] [--sharp DIR]\n",
                 argv0, argv0);
    return 2;
}

/// The argument after flag `a` as a number, or exit 2 with a message.
struct Args {
    int argc;
    char** argv;
    int i = 2;
    std::string value(const std::string& a) {
        if (i + 1 >= argc) {
            std::fprintf(stderr, "blur: %s needs a value\n", a.c_str());
            std::exit(2);
        }
        return argv[++i];
    }
    template <class T> T number(const std::string& a) {
        const std::string v = value(a);
        try {
            size_t used = 0;
            const double d = std::stod(v, &used);
            if (used == v.size() && std::isfinite(d)) {
                if constexpr (std::is_integral_v<T>) {
                    if (d == std::floor(d) && std::abs(d) < 9e15 && (std::is_signed_v<T> || d >= 0))
                        return static_cast<T>(d);
                } else {
                    return static_cast<T>(d);
                }
            }
        } catch (const std::exception&) {
        }
        const char* kind = !std::is_integral_v<T>  ? "a number"
                           : std::is_signed_v<T>   ? "an integer"
                                                   : "a non-negative integer";
        std::fprintf(stderr, "blur: %s needs %s, got '%s'\n", a.c_str(), kind, v.c_str());
        std::exit(2);
    }
};

int run_kernels(Args args) {
    std::string out;
    int64_t count = 1000;
    uint64_t seed = 0;
    data::MotionBlurOptions opt;
    for (; args.i < args.argc; ++args.i) {
        const std::string a = args.argv[args.i];
        if (a == "--out") out = args.value(a);
        else if (a == "--count") count = args.number<int64_t>(a);
        else if (a == "--size") opt.size = args.number<int64_t>(a);
        else if (a == "--seed") seed = args.number<uint64_t>(a);
        else if (a == "--min-length") opt.min_length = args.number<double>(a);
        else if (a == "--max-length") opt.max_length = args.number<double>(a);
        else return usage(args.argv[0]);
    }
    if (out.empty()) return usage(args.argv[0]);
    std::vector<double> len;
    const auto t0 = std::chrono::steady_clock::now();
    const Tensor k = data::motion_blur_kernels(count, seed, opt, &len);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    io::save_npy(out, k);
    std::sort(len.begin(), len.end());
    const size_t n = len.size();
    const double median = n % 2 ? len[n / 2] : 0.5 * (len[n / 2 - 1] + len[n / 2]);
    std::printf("%lld kernels %lldx%lld (seed %llu) in %.2f s -> %s\n", static_cast<long long>(count),
                static_cast<long long>(opt.size), static_cast<long long>(opt.size), static_cast<unsigned long long>(seed),
                secs, out.c_str());
    std::printf("path length (px): min %.1f  median %.1f  max %.1f\n", len.front(), median, len.back());
    return 0;
}

/// The kernel file as float32 [N, k, k], k odd, or an error naming it.
Tensor load_kernels(const std::string& path) {
    VKG_CHECK(fs::exists(path), "blur apply", "kernel file '", path,
              "' does not exist (make one with: blur kernels --out ", path, ")");
    Tensor k = io::load_npy(path);
    VKG_CHECK(k.dtype() == DType::f32 || k.dtype() == DType::f64, "blur apply", "kernel file '", path,
              "' must hold floats, got ", dtype_name(k.dtype()));
    VKG_CHECK(k.dim() == 3 && k.size(0) >= 1 && k.size(1) == k.size(2) && k.size(1) % 2 == 1, "blur apply", "kernel file '",
              path, "' must be [N, k, k] with N >= 1 and k odd, got ", to_string(k.shape()));
    k = to(k, DType::f32);
    const float* d = k.data<float>();
    const int64_t kk = k.size(1) * k.size(2);
    for (int64_t i = 0; i < k.size(0); ++i) {
        double s = 0;
        bool finite = true;
        for (int64_t e = 0; e < kk; ++e) finite = finite && std::isfinite(d[i * kk + e]), s += d[i * kk + e];
        VKG_CHECK(finite && std::abs(s - 1.0) < 1e-3, "blur apply", "kernel ", i, " of '", path,
                  "' sums to ", s, ", not 1 (blur kernels must be normalised)");
    }
    return k;
}

/// Shorter side to `size` (area when shrinking, bicubic when enlarging), then the central square.
Tensor resize_crop(const Tensor& img, int64_t size) {
    const int64_t H = img.size(2), W = img.size(3), s = std::min(H, W);
    Tensor out = img;
    if (s != size) { // io::resize takes block means itself for integer factors
        const double f = static_cast<double>(size) / static_cast<double>(s);
        const int64_t h = H == s ? size : std::max<int64_t>(size, std::llround(static_cast<double>(H) * f));
        const int64_t w = W == s ? size : std::max<int64_t>(size, std::llround(static_cast<double>(W) * f));
        out = io::resize(img, h, w, s > size ? io::Resize::area : io::Resize::bicubic);
        if (s < size) out = clamp(out, 0.0, 1.0);
    }
    return io::center_crop(out, size, size);
}

int run_apply(Args args) {
    std::string kernels_path, in, out, sharp;
    int64_t size = 512;
    uint64_t seed = 0;
    double noise = 0;
    for (; args.i < args.argc; ++args.i) {
        const std::string a = args.argv[args.i];
        if (a == "--kernels") kernels_path = args.value(a);
        else if (a == "--in") in = args.value(a);
        else if (a == "--out") out = args.value(a);
        else if (a == "--sharp") sharp = args.value(a);
        else if (a == "--size") size = args.number<int64_t>(a);
        else if (a == "--seed") seed = args.number<uint64_t>(a);
        else if (a == "--noise") noise = args.number<double>(a);
        else return usage(args.argv[0]);
    }
    if (kernels_path.empty() || in.empty() || out.empty()) return usage(args.argv[0]);
    VKG_CHECK(size >= 1, "blur apply", "--size must be >= 1, got ", size);
    VKG_CHECK(noise >= 0, "blur apply", "--noise must be >= 0, got ", noise);

    const Tensor kernels = load_kernels(kernels_path);
    const auto images = cli::images_under(in, "--in", "blur apply");
    const auto out_name = cli::png_names(images, "blur apply"); // input -> output relative path
    fs::create_directories(out);
    if (!sharp.empty()) fs::create_directories(sharp);

    const int64_t N = kernels.size(0), k = kernels.size(1);
    Generator pick(seed), noise_gen(splitmix64(seed ^ 0x6e6f697365ull)); // "noise"
    NoGradGuard no_grad;
    io::Json::Object mapping;
    io::Progress bar(static_cast<int64_t>(images.size()), 2.0, stderr, "image");
    int64_t done = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& [rel, path] : images) {
        const int64_t idx = std::min(N - 1, static_cast<int64_t>(pick.uniform() * static_cast<double>(N)));
        Tensor img;
        try {
            img = io::load_image(path.string());
        } catch (const Error& e) {
            VKG_CHECK(false, "blur apply", "cannot read image '", path.string(), "': ", e.what());
        }
        const Tensor sharp_img = resize_crop(img, size);
        Tensor blurred = data::blur_image(sharp_img, from_data(kernels.data<float>() + idx * k * k, {k, k}));
        if (noise > 0) {
            float* p = blurred.data<float>();
            for (int64_t e = 0; e < blurred.numel(); ++e) p[e] += static_cast<float>(noise * noise_gen.normal());
        }
        blurred = clamp(blurred, 0.0, 1.0);
        const std::string o = out_name.at(rel);
        fs::create_directories((fs::path(out) / o).parent_path());
        io::save_png((fs::path(out) / o).string(), blurred);
        if (!sharp.empty()) {
            fs::create_directories((fs::path(sharp) / o).parent_path());
            io::save_png((fs::path(sharp) / o).string(), sharp_img);
        }
        mapping.emplace_back(o, idx);
        bar.update(++done, {{"kernel", static_cast<double>(idx)}});
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    io::Json::Object top{{"kernels", fs::absolute(kernels_path).lexically_normal().string()},
                         {"kernel_count", N},
                         {"kernel_size", k},
                         {"seed", static_cast<int64_t>(seed)},
                         {"size", size},
                         {"noise", noise},
                         {"images", io::Json(std::move(mapping))}};
    io::write_atomically((fs::path(out) / "blur.json").string(),
                         [&](std::ostream& f) { f << io::Json(top).dump() << "\n"; });
    std::printf("%lld images (%lldx%lld) in %.1f s (%.3f s per image) -> %s\n", static_cast<long long>(done),
                static_cast<long long>(size), static_cast<long long>(size), secs, secs / static_cast<double>(done),
                out.c_str());
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage(argv[0]);
    const std::string cmd = argv[1];
    try {
        if (cmd == "kernels") return run_kernels(Args{argc, argv});
        if (cmd == "apply") return run_apply(Args{argc, argv});
    } catch (const Error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    } catch (const std::exception& e) { // std::filesystem errors (permissions, full disk)
        std::fprintf(stderr, "blur: %s\n", e.what());
        return 1;
    }
    return usage(argv[0]);
}
