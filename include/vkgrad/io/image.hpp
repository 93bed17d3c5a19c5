// vkgrad/io/image.hpp — image files in and out (PNG, JPEG) and the usual data-pipeline
// transforms (resize, crops, flips).
//
// Needs stb_image and stb_image_write (Debian/Ubuntu: libstb-dev), which is why vkgrad.hpp
// never includes this file. Every translation unit that includes it compiles its own private
// copy of stb (STB_IMAGE_STATIC), restricted to PNG and JPEG: there is no separate object to
// link, nothing clashes when several files include this header, and stb's global settings
// (e.g. stbi_set_flip_vertically_on_load) set elsewhere in the program cannot change what
// load_image returns. A translation unit that includes stb_image.h / stb_image_write.h
// itself must do so before this header; that copy is then used instead.
//
// Images are float tensors [N, C, H, W] (or [C, H, W]) in one of two value ranges: [0, 1], or
// [-1, 1] as GANs and diffusion models use.
#pragma once
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

// The whole library, not single op headers: backward rules of the ops used here refer to
// ops defined all over ops/, and all of them must be defined in this translation unit.
#include "../vkgrad.hpp"
#include "atomic_file.hpp"
#include "read_file.hpp"

// ---- stb ------------------------------------------------------------------------------------
// stb is third-party code written for C; its warnings are not ours to fix, and a user's
// -Wall -Wextra (or stricter) build must stay clean. Unknown warning names are tolerated so the
// list works for both GCC and clang.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wunknown-warning-option"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wuseless-cast"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wcast-qual"
#pragma GCC diagnostic ignored "-Wcast-align"
#pragma GCC diagnostic ignored "-Wzero-as-null-pointer-constant"
#pragma GCC diagnostic ignored "-Wduplicated-branches"
#pragma GCC diagnostic ignored "-Wextra-semi-stmt"
#pragma GCC diagnostic ignored "-Wcomma"
#pragma GCC diagnostic ignored "-Wunused-macros"
#endif

#ifndef STBI_INCLUDE_STB_IMAGE_H
#ifndef STB_IMAGE_STATIC
#define STB_IMAGE_STATIC
#endif
#ifndef STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_IMPLEMENTATION
#define VKGRAD_DEFINED_STB_IMAGE_IMPLEMENTATION
#endif
#if !defined(STBI_ONLY_PNG) && !defined(STBI_ONLY_JPEG)
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define VKGRAD_DEFINED_STBI_ONLY
#endif
#if __has_include(<stb/stb_image.h>)
#include <stb/stb_image.h>
#else
#include <stb_image.h>
#endif
// A later #include <stb_image.h> in this translation unit must not compile stb a second time.
#ifdef VKGRAD_DEFINED_STB_IMAGE_IMPLEMENTATION
#undef STB_IMAGE_IMPLEMENTATION
#undef VKGRAD_DEFINED_STB_IMAGE_IMPLEMENTATION
#endif
#ifdef VKGRAD_DEFINED_STBI_ONLY
#undef STBI_ONLY_PNG
#undef STBI_ONLY_JPEG
#undef VKGRAD_DEFINED_STBI_ONLY
#endif
#endif // STBI_INCLUDE_STB_IMAGE_H

#ifndef INCLUDE_STB_IMAGE_WRITE_H
#ifndef STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_STATIC
#endif
#ifndef STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define VKGRAD_DEFINED_STB_IMAGE_WRITE_IMPLEMENTATION
#endif
#if __has_include(<stb/stb_image_write.h>)
#include <stb/stb_image_write.h>
#else
#include <stb_image_write.h>
#endif
#ifdef VKGRAD_DEFINED_STB_IMAGE_WRITE_IMPLEMENTATION
#undef STB_IMAGE_WRITE_IMPLEMENTATION
#undef VKGRAD_DEFINED_STB_IMAGE_WRITE_IMPLEMENTATION
#endif
#endif // INCLUDE_STB_IMAGE_WRITE_H

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace vkgrad::io {

/// The value range of image tensors: `unit` is [0, 1], `symmetric` is [-1, 1].
enum class Range { unit, symmetric };

/// How resize() computes output pixels; see resize().
enum class Resize { bilinear, bicubic, area };

/// load_image() refuses images larger than this: a corrupt or hostile header must not make
/// it allocate gigabytes (2^28 pixels are already 3 GiB as float32 RGB).
constexpr int64_t max_image_side = 32768;
constexpr int64_t max_image_pixels = int64_t(1) << 28;

namespace detail {

inline bool is_png(const std::string& b) { return b.size() >= 8 && std::memcmp(b.data(), "\x89PNG\r\n\x1a\n", 8) == 0; }
inline bool is_jpeg(const std::string& b) { return b.size() >= 3 && std::memcmp(b.data(), "\xff\xd8\xff", 3) == 0; }

/// Width and height as a PNG header states them, read without stb: stb refuses headers whose
/// pixel count overflows its int arithmetic, and then cannot tell us the size it refused.
/// (JPEG sizes are 16-bit, small enough for stb to report.) Returns false for anything else.
inline bool png_declared_size(const std::string& b, int64_t& w, int64_t& h) {
    if (!is_png(b) || b.size() < 24 || std::memcmp(b.data() + 12, "IHDR", 4) != 0) return false;
    auto be32 = [&](size_t i) {
        int64_t v = 0;
        for (size_t k = 0; k < 4; ++k) v = v << 8 | static_cast<unsigned char>(b[i + k]);
        return v;
    };
    w = be32(16);
    h = be32(20);
    return true;
}

inline void check_image_size(const std::string& path, int64_t w, int64_t h) {
    VKG_CHECK(w <= max_image_side && h <= max_image_side && w * h <= max_image_pixels, "load_image", "'", path,
              "' is ", w, "x", h, " pixels (width x height), over the limit of ", max_image_side,
              " pixels per side and ", max_image_pixels, " (2^28) pixels in all; is the file corrupt?");
}

struct StbFree {
    void operator()(void* p) const { stbi_image_free(p); }
};

/// Pixel v of a sample type with maximum value `max`, mapped to the range r; exact at both ends.
inline float to_range(double v, double max, Range r) {
    return static_cast<float>(r == Range::unit ? v / max : (2.0 * v - max) / max);
}

/// Value x in range r as an 8-bit pixel: clamped, rounded to nearest; NaN becomes 0.
inline unsigned char to_byte(double x, Range r) {
    double u = r == Range::unit ? x : (x + 1.0) / 2.0;
    if (!(u >= 0.0)) u = 0.0; // also catches NaN
    if (u > 1.0) u = 1.0;
    return static_cast<unsigned char>(std::floor(u * 255.0 + 0.5));
}

inline const char* range_name(Range r) { return r == Range::unit ? "[0, 1]" : "[-1, 1]"; }

/// The image as a host [C, H, W] tensor with C 1 or 3, or an error naming the shape.
inline Tensor host_chw(const Tensor& img, const char* op, const std::string& path) {
    VKG_CHECK(img.defined(), op, "'", path, "': the image tensor is undefined");
    const Shape& s = img.shape();
    const bool chw = s.size() == 3 && (s[0] == 1 || s[0] == 3);
    const bool nchw = s.size() == 4 && s[0] == 1 && (s[1] == 1 || s[1] == 3);
    VKG_CHECK(chw || nchw, op, "'", path, "': needs an image of shape [3,H,W], [1,3,H,W] (RGB), [1,H,W] or ",
              "[1,1,H,W] (gray), got ", to_string(s));
    VKG_CHECK(is_floating(img.dtype()), op, "'", path, "': needs a float32 or float64 image, got ",
              dtype_name(img.dtype()));
    const int64_t c = s[s.size() - 3], h = s[s.size() - 2], w = s[s.size() - 1];
    // PNG sizes are 31-bit; stb also needs the row stride to fit an int
    VKG_CHECK(h >= 1 && w >= 1 && h <= INT_MAX && w <= INT_MAX / c, op, "'", path, "': cannot store a ", h, "x", w,
              " image (shape ", to_string(s), ")");
    return reshape(to(detach(img), Device{}), {c, h, w});
}

inline void append_bytes(void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
}

inline void check_spatial(const char* op, const Tensor& img) {
    VKG_CHECK(img.defined() && img.dim() >= 2, op, "needs an image [..., H, W], got ",
              img.defined() ? to_string(img.shape()) : "undefined");
}

inline void check_crop(const char* op, const Tensor& img, int64_t h, int64_t w) {
    check_spatial(op, img);
    const int64_t H = img.size(-2), W = img.size(-1);
    VKG_CHECK(h >= 1 && w >= 1, op, "crop size ", h, "x", w, " (height x width) must be positive");
    VKG_CHECK(h <= H && w <= W, op, "crop ", h, "x", w, " (height x width) is larger than the image ", H, "x", W,
              " (shape ", to_string(img.shape()), ")");
}

inline Tensor crop(const Tensor& img, int64_t top, int64_t left, int64_t h, int64_t w) {
    return narrow(narrow(img, -2, top, h), -1, left, w);
}

/// [out, in] matrix of exact area weights: output pixel i covers input interval
/// [i*in/out, (i+1)*in/out), and each input pixel weighs the length of its overlap with it,
/// divided by the interval's length. Scaled by `out`, all bounds are integers, so the
/// overlaps are computed exactly.
inline Tensor area_matrix(int64_t in, int64_t out, const Tensor& like) {
    std::vector<double> m(static_cast<size_t>(in * out), 0.0);
    for (int64_t i = 0; i < out; ++i) {
        const int64_t lo = i * in, hi = (i + 1) * in;
        for (int64_t j = lo / out; j * out < hi; ++j) {
            const int64_t overlap = std::min(hi, (j + 1) * out) - std::max(lo, j * out);
            m[static_cast<size_t>(i * in + j)] = static_cast<double>(overlap) / static_cast<double>(in);
        }
    }
    return from_vector(m, {out, in}, {like.dtype(), like.device()});
}

} // namespace detail

/// Reads a PNG or JPEG file.
/// requires: the file is a PNG (8 or 16 bits per sample; gray, gray+alpha, RGB, RGBA or
///   palette) or a baseline/progressive JPEG, at most max_image_side pixels per side and
///   max_image_pixels in all.
/// ensures: returns a host float32 tensor [1, 3, H, W] with values in r. Gray images are
///   repeated into the three channels; alpha is dropped (not composited). 16-bit PNGs keep
///   their full precision.
/// throws: vkgrad::Error naming the path if the file is missing or unreadable, is not a PNG
///   or JPEG, is damaged or truncated (with stb's reason), or is too large — the size is
///   checked from the header before anything is decoded.
inline Tensor load_image(const std::string& path, Range r = Range::unit) {
    // Reading the file ourselves, not with stbi_load, lets every error name the path.
    const std::string bytes = read_file(path, "load_image", INT_MAX, "an image"); // stb takes the length as an int
    VKG_CHECK(!bytes.empty(), "load_image", "'", path, "' is empty");
    const bool png = detail::is_png(bytes);
    VKG_CHECK(png || detail::is_jpeg(bytes), "load_image", "'", path,
              "' is not a PNG or JPEG image (the only formats load_image reads)");
    const char* format = png ? "PNG" : "JPEG";
    const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
    const int len = static_cast<int>(bytes.size());

    int w = 0, h = 0, channels = 0;
    if (!stbi_info_from_memory(data, len, &w, &h, &channels)) {
        const std::string why = stbi_failure_reason() ? stbi_failure_reason() : "unknown";
        int64_t dw = 0, dh = 0;
        if (detail::png_declared_size(bytes, dw, dh)) detail::check_image_size(path, dw, dh);
        ::vkgrad::detail::fail("load_image", "cannot read '", path, "': a damaged or truncated ", format,
                               ", or a kind stb_image does not support (stb_image: ", why, ")");
    }
    detail::check_image_size(path, w, h);

    // Decoding to 3 channels makes stb do the gray -> RGB and alpha-dropping conversions.
    const bool wide = png && stbi_is_16_bit_from_memory(data, len);
    int dw = 0, dh = 0;
    std::unique_ptr<void, detail::StbFree> pixels(
        wide ? static_cast<void*>(stbi_load_16_from_memory(data, len, &dw, &dh, &channels, 3))
             : static_cast<void*>(stbi_load_from_memory(data, len, &dw, &dh, &channels, 3)));
    if (!pixels) {
        const char* why = stbi_failure_reason();
        ::vkgrad::detail::fail("load_image", "decoding '", path, "' failed: a damaged or truncated ", format,
                               " file (stb_image: ", why ? why : "unknown", ")");
    }
    VKG_CHECK(dw == w && dh == h, "load_image", "'", path, "': header says ", w, "x", h, " but ", dw, "x", dh,
              " pixels were decoded");

    const int64_t H = h, W = w, plane = H * W;
    Tensor out = empty_cpu({1, 3, H, W}, DType::f32);
    float* o = out.data<float>();
    auto convert = [&](const auto* px, double max) { // interleaved HWC -> planar CHW
        for (int64_t i = 0; i < plane; ++i)
            for (int64_t c = 0; c < 3; ++c) o[c * plane + i] = detail::to_range(px[i * 3 + c], max, r);
    };
    if (wide) convert(static_cast<const stbi_us*>(pixels.get()), 65535.0);
    else convert(static_cast<const stbi_uc*>(pixels.get()), 255.0);
    return out;
}

/// Writes an 8-bit PNG, atomically (see write_atomically): a failed save leaves any old file
/// at `path` untouched and no temporary file behind.
/// requires: img is float32 or float64 of shape [3,H,W] or [1,3,H,W] (RGB), or [1,H,W] or
///   [1,1,H,W] (gray); on any device; values are in r.
/// ensures: each value is clamped to r, mapped to 0..255 and rounded to nearest
///   (floor(u * 255 + 0.5) for u in [0, 1]), so load_image(path, r) returns exactly the values
///   of an image that load_image produced. NaN is written as 0. Gradients are not tracked.
/// throws: vkgrad::Error naming the path and the shape for any other shape or dtype, and when
///   the file cannot be written.
inline void save_png(const std::string& path, const Tensor& img, Range r = Range::unit) {
    const Tensor chw = detail::host_chw(img, "save_png", path);
    const int64_t C = chw.size(0), H = chw.size(1), W = chw.size(2), plane = H * W;
    std::vector<unsigned char> px(static_cast<size_t>(C * plane));
    visit_dtype(chw.dtype(), [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        const T* src = chw.template data<T>();
        for (int64_t i = 0; i < plane; ++i) // planar CHW -> interleaved HWC
            for (int64_t c = 0; c < C; ++c)
                px[static_cast<size_t>(i * C + c)] = detail::to_byte(static_cast<double>(src[c * plane + i]), r);
    });
    // Encoding to memory first means a failing encoder never touches the file system.
    std::string encoded;
    const int ok = stbi_write_png_to_func(detail::append_bytes, &encoded, static_cast<int>(W), static_cast<int>(H),
                                          static_cast<int>(C), px.data(), static_cast<int>(W * C));
    VKG_CHECK(ok != 0, "save_png", "'", path, "': PNG encoding failed");
    write_atomically(path, [&](std::ostream& o) { o.write(encoded.data(), static_cast<std::streamsize>(encoded.size())); });
}

/// Tiles a batch into one image, torchvision.utils.make_grid's layout: images fill rows of
/// `cols` cells left to right, top to bottom, with `pad` pixels of black (0 in Range::unit,
/// -1 in Range::symmetric) around and between the cells; unused cells of the last row stay
/// black.
/// requires: batch is a floating [N, C, H, W] tensor with N >= 1; cols >= 0 (0 picks
///   ceil(sqrt(N)); more than N is reduced to N); pad >= 0.
/// ensures: returns [C, pad + rows*(H + pad), pad + cols*(W + pad)] with rows = ceil(N / cols),
///   on batch's device and dtype; differentiable, as it is composed from ops.
inline Tensor make_grid(const Tensor& batch, int64_t cols = 0, int64_t pad = 2, Range r = Range::unit) {
    VKG_CHECK(batch.defined() && batch.dim() == 4 && batch.size(0) >= 1, "make_grid",
              "needs a batch [N, C, H, W] with N >= 1, got ", batch.defined() ? to_string(batch.shape()) : "undefined");
    VKG_CHECK(is_floating(batch.dtype()), "make_grid", "needs a floating batch, got ", dtype_name(batch.dtype()));
    VKG_CHECK(cols >= 0 && pad >= 0, "make_grid", "cols (", cols, ") and pad (", pad, ") must be >= 0");
    const int64_t N = batch.size(0), C = batch.size(1), H = batch.size(2), W = batch.size(3);
    if (cols == 0)
        while (cols * cols < N) ++cols;
    cols = std::min(cols, N);
    const int64_t rows = (N + cols - 1) / cols;
    const double black = r == Range::unit ? 0.0 : -1.0;
    Tensor x = batch;
    if (rows * cols > N) x = concat({x, full({rows * cols - N, C, H, W}, black, {x.dtype(), x.device()})}, 0);
    // Each cell carries the padding below and right of it; the grid's top and left border last.
    x = vkgrad::pad(x, {0, pad, 0, pad}, PadMode::constant, black);
    x = permute(reshape(x, {rows, cols, C, H + pad, W + pad}), {2, 0, 3, 1, 4});
    x = reshape(x, {C, rows * (H + pad), cols * (W + pad)});
    return vkgrad::pad(x, {pad, 0, pad, 0}, PadMode::constant, black);
}

/// Writes make_grid(batch, cols, pad, r) as one PNG (see save_png), e.g. a batch of samples.
/// requires: as make_grid, with C 1 or 3.
inline void save_grid(const std::string& path, const Tensor& batch, int64_t cols = 0, int64_t pad = 2,
                      Range r = Range::unit) {
    NoGradGuard no_grad;
    save_png(path, make_grid(batch, cols, pad, r), r);
}

/// Resizes the last two axes of a floating [N, C, H, W] tensor to h x w.
///   bilinear, bicubic: torch's F.interpolate(mode, align_corners=False) without antialiasing:
///     good for upscaling (bicubic is sharper, but overshoots, so clamp if the range matters);
///     downscaling by more than 2x aliases, as it samples rather than averages.
///   area: each output pixel is the exact area-weighted average of the input pixels its
///     footprint covers, also for non-integer factors (input pixels cut by a footprint's edge
///     count with the covered fraction). The right choice for downscaling: it is antialiased
///     and keeps the image's mean. For integer factors it equals torch's mode='area'
///     (adaptive_avg_pool2d); for other factors torch averages whole pixels over overlapping
///     bins instead, so results differ there.
/// requires: h, w >= 1.
/// ensures: returns [N, C, h, w]; differentiable in img (two matrix products, or block means
///   for integer area factors).
inline Tensor resize(const Tensor& img, int64_t h, int64_t w, Resize mode) {
    vkgrad::detail::check_image("resize", img);
    VKG_CHECK(is_floating(img.dtype()), "resize", "needs a floating tensor, got ", dtype_name(img.dtype()));
    VKG_CHECK(h >= 1 && w >= 1, "resize", "output size ", h, "x", w, " must be positive");
    if (mode == Resize::bilinear) return interpolate(img, h, w, Interp::bilinear, false);
    if (mode == Resize::bicubic) return interpolate(img, h, w, Interp::bicubic, false);
    const int64_t N = img.size(0), C = img.size(1), H = img.size(2), W = img.size(3);
    if (H % h == 0 && W % w == 0) // integer factors: block means, the same weights without two dense products
        return mean(reshape(img, {N, C, h, H / h, w, W / w}), {3, 5});
    const Tensor rows = detail::area_matrix(H, h, img), cols = detail::area_matrix(W, w, img);
    return matmul(matmul(rows, img), transpose(cols, 0, 1));
}

/// The central h x w window of the last two axes; with an odd margin the extra row/column is
/// left at the bottom/right (top = (H - h) / 2, rounded down).
/// requires: img has at least 2 axes; 1 <= h <= H, 1 <= w <= W.
/// ensures: shape [..., h, w]; differentiable.
inline Tensor center_crop(const Tensor& img, int64_t h, int64_t w) {
    detail::check_crop("center_crop", img, h, w);
    return detail::crop(img, (img.size(-2) - h) / 2, (img.size(-1) - w) / 2, h, w);
}

/// An h x w window of the last two axes at a uniformly random position; one window for the
/// whole tensor (all images of a batch are cut alike).
/// requires: img has at least 2 axes; 1 <= h <= H, 1 <= w <= W.
/// ensures: shape [..., h, w]; draws two numbers from gen (top, then left), so runs with the
///   same seed cut the same windows; differentiable.
inline Tensor random_crop(const Tensor& img, int64_t h, int64_t w, Generator& gen) {
    detail::check_crop("random_crop", img, h, w);
    auto pick = [&gen](int64_t n) { // uniform in [0, n); uniform() < 1 keeps it below n
        return std::min(n - 1, static_cast<int64_t>(gen.uniform() * static_cast<double>(n)));
    };
    const int64_t top = pick(img.size(-2) - h + 1);
    const int64_t left = pick(img.size(-1) - w + 1);
    return detail::crop(img, top, left, h, w);
}

/// Mirrors the last axis (left <-> right). requires: at least 2 axes. Differentiable.
inline Tensor hflip(const Tensor& img) {
    detail::check_spatial("hflip", img);
    return flip(img, {-1});
}

/// Mirrors the second-to-last axis (top <-> bottom). requires: at least 2 axes. Differentiable.
inline Tensor vflip(const Tensor& img) {
    detail::check_spatial("vflip", img);
    return flip(img, {-2});
}

} // namespace vkgrad::io
