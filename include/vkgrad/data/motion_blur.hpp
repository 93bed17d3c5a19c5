// vkgrad/data/motion_blur.hpp — synthetic camera-shake blur kernels, and blurring images with them.
//
// Kernels. A kernel is the image of a random camera trajectory, generated in the manner of
// G. Boracchi and A. Foi, "Modeling the performance of image restoration from motion blur",
// IEEE Trans. Image Processing 21(8), 2012, a common source of synthetic training blur. J. Rim
// et al., "Real-world blur dataset for learning and benchmarking deblurring algorithms" (ECCV
// 2020, RealBlur) train on synthetically blurred pairs whose kernels are centroid-aligned (their
// BSD-B set), as here; that BSD-B used this generator is our recollection, not verified. Written
// here from the description of the method (no code copied):
//   * The path is T samples x[0..T-1] in the plane (complex numbers, pixels), x[0] = 0, moving
//     with constant speed s = L / (T - 1), so its length is exactly L (drawn per kernel),
//     starting in a uniformly random direction.
//   * The velocity v has inertia: each step adds a small change dv to it and renormalises it to
//     speed s. dv has three parts, all drawn per step:
//       - a Gaussian perturbation (the hand's jitter): a * g * s * (N(0,1) + i N(0,1));
//       - a centripetal pull back toward where the exposure started: -a * c * s * x[t]
//         (x in pixels, so long paths are pulled back — they curl — more than short ones);
//       - rarely, an impulse ("big shake"): m * v * exp(i (pi + delta)), delta ~ U(-w/2, w/2),
//         which with m = 2 sends the path back roughly the way it came.
//     a ("anxiety"), g, c and the big-shake rate are drawn once per kernel, so kernels range
//     from nearly straight strokes to curved, hooked and looping paths.
//   * The path is splatted onto the canvas with bilinear (tent) weights, 1/T per sample, so the
//     kernel sums to 1 and its centroid equals the mean of the samples exactly (bilinear weights
//     reproduce linear functions). The path is translated — continuously, before splatting — so
//     that this mean lies on the centre pixel ((size-1)/2, (size-1)/2): no resampling of the
//     kernel, and blurring with it moves no image content on average. A path that would then
//     leave the canvas is scaled down about its mean until it fits, so no mass is ever lost;
//     the length reported is the length after that scaling.
//
// Blurring. blur_image is a true 2-D convolution (the kernel is flipped relative to
// correlation: a delta image gives back the kernel itself, not its mirror image), kernel
// centre on the output pixel, with borders extended as scipy.ndimage's mode='reflect'
// (d c b a | a b c d | d c b a, the edge sample repeated), output the size of the input —
// scipy.ndimage.convolve(img, kernel, mode='reflect') per channel. It is computed with FFTs
// (Eigen's unsupported FFT module, kissfft) of the reflect-padded image at a size with prime
// factors 2, 3 and 5 only; two channels share one complex transform (real + i·imaginary).
#pragma once
#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <string>
#include <vector>

#include <unsupported/Eigen/FFT>

#include "../core/error.hpp"
#include "../core/graph.hpp" // defines ~TensorImpl, which every Tensor needs
#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "../core/shape.hpp"
#include "../core/tensor.hpp"

namespace vkgrad::data {

/// Parameters of the trajectory generator. Quantities written "in [min, max]" are drawn
/// uniformly per kernel; the defaults give path lengths of about 15–100 pixels on a 71x71
/// canvas, from straight strokes to hooks, curls and the occasional loop. The settings of the
/// widely used re-implementation in DeblurGAN (anxiety 0.001–0.01, centripetal up to 0.7, paths
/// up to 60 px) made most of our longer paths into petals and figure-eights, because the pull
/// grows with the distance in pixels; the defaults here halve the anxiety range and cut the
/// pull to 0.3, chosen by looking at sheets of kernels. The per-step parameters assume about
/// 2000 steps: changing `steps` changes the shapes (the jitter accumulates as a random walk).
/// Drawn per kernel, in this order: L, a, g, c, the big-shake rate, the initial direction.
struct MotionBlurOptions {
    int64_t size = 71;         ///< canvas side in pixels (odd, >= 3); the kernel is size x size
    int64_t steps = 2000;      ///< T, samples along the path (sub-pixel steps: 100 px / 2000 = 0.05 px)
    double min_length = 15;    ///< path length L in [min_length, max_length] pixels (before fitting
    double max_length = 100;   ///<   to the canvas: see the file comment)
    double min_anxiety = 0.0005; ///< anxiety a in [min_anxiety, max_anxiety]: scales the jitter and
    double max_anxiety = 0.005;  ///<   the centripetal pull per step (`expl` in DeblurGAN's code)
    double max_jitter = 10;    ///< g in [0, max_jitter]: Gaussian perturbation of the velocity
    double max_centripetal = 0.3; ///< c in [0, max_centripetal]: pull toward the starting point
    double max_big_shakes = 2;  ///< expected number of impulses per path, in [0, max_big_shakes]
    double big_shake_magnitude = 2; ///< m: an impulse adds m * v turned by pi + delta
    double big_shake_spread = 1;    ///< w: delta ~ U(-w/2, w/2) radians
};

namespace detail {

inline void check_motion_blur_options(const MotionBlurOptions& o) {
    const char* op = "motion_blur_kernel";
    VKG_CHECK(o.size >= 3 && o.size % 2 == 1, op, "size must be odd and >= 3, got ", o.size);
    VKG_CHECK(o.size <= 4097, op, "size ", o.size, " is unreasonably large (at most 4097)");
    VKG_CHECK(o.steps >= 2 && o.steps <= 100'000'000, op, "steps must be in [2, 1e8], got ", o.steps);
    VKG_CHECK(std::isfinite(o.min_length) && std::isfinite(o.max_length) && o.min_length > 0 && o.min_length <= o.max_length,
              op, "need 0 < min_length <= max_length, got ", o.min_length, " and ", o.max_length);
    VKG_CHECK(std::isfinite(o.max_anxiety) && o.min_anxiety >= 0 && o.min_anxiety <= o.max_anxiety, op,
              "need 0 <= min_anxiety <= max_anxiety, got ", o.min_anxiety, " and ", o.max_anxiety);
    for (double v : {o.max_jitter, o.max_centripetal, o.max_big_shakes, o.big_shake_magnitude, o.big_shake_spread})
        VKG_CHECK(std::isfinite(v) && v >= 0, op,
                  "jitter, centripetal and big-shake parameters must be finite and >= 0, got ", v);
}

/// Smallest m >= n whose only prime factors are 2, 3 and 5 (kissfft's fast radices).
inline int64_t fft_size(int64_t n) {
    for (int64_t m = std::max<int64_t>(n, 1);; ++m) {
        int64_t r = m;
        for (int64_t p : {2, 3, 5})
            while (r % p == 0) r /= p;
        if (r == 1) return m;
    }
}

/// Index into [0, n) of position p under scipy.ndimage's 'reflect' (d c b a | a b c d | d c b a),
/// repeated for positions more than n outside (the pattern has period 2n).
inline int64_t reflect_index(int64_t p, int64_t n) {
    const int64_t period = 2 * n;
    p %= period;
    if (p < 0) p += period;
    return p < n ? p : period - 1 - p;
}

/// In-place FFT along the rows [r0, r1) of a row-major P x Q complex array (length Q).
template <class T>
void fft_rows(Eigen::FFT<T>& fft, std::complex<T>* a, int64_t Q, int64_t r0, int64_t r1, bool inverse,
              std::vector<std::complex<T>>& tmp) {
    tmp.resize(static_cast<size_t>(Q));
    for (int64_t r = r0; r < r1; ++r) {
        std::complex<T>* row = a + r * Q;
        std::copy(row, row + Q, tmp.begin());
        if (inverse) fft.inv(row, tmp.data(), static_cast<Eigen::Index>(Q));
        else fft.fwd(row, tmp.data(), static_cast<Eigen::Index>(Q));
    }
}

/// In-place FFT along the columns [q0, q1) (all of them by default; each of length P) of a
/// row-major P x Q complex array, a block of columns at a time so that the gathers read whole
/// cache lines.
template <class T>
void fft_cols(Eigen::FFT<T>& fft, std::complex<T>* a, int64_t P, int64_t Q, bool inverse,
              std::vector<std::complex<T>>& block, std::vector<std::complex<T>>& out, int64_t q0 = 0, int64_t q1 = -1) {
    constexpr int64_t B = 8;
    if (q1 < 0) q1 = Q;
    block.resize(static_cast<size_t>(P * B));
    out.resize(static_cast<size_t>(P));
    for (int64_t c0 = q0; c0 < q1; c0 += B) {
        const int64_t nb = std::min(B, q1 - c0);
        for (int64_t r = 0; r < P; ++r)
            for (int64_t j = 0; j < nb; ++j) block[static_cast<size_t>(j * P + r)] = a[r * Q + c0 + j];
        for (int64_t j = 0; j < nb; ++j) {
            std::complex<T>* col = block.data() + j * P;
            if (inverse) fft.inv(out.data(), col, static_cast<Eigen::Index>(P));
            else fft.fwd(out.data(), col, static_cast<Eigen::Index>(P));
            std::copy(out.begin(), out.end(), col);
        }
        for (int64_t r = 0; r < P; ++r)
            for (int64_t j = 0; j < nb; ++j) a[r * Q + c0 + j] = block[static_cast<size_t>(j * P + r)];
    }
}

/// Fills rows [0, rows.size()) x columns [0, cols.size()) of a row-major complex array (row
/// length Q) with two H x W planes read at (rows[i], cols[j]): `a` as the real part, `b` (or zero
/// when null) as the imaginary part — two real images sharing one complex transform.
template <class C, class S>
void gather_pair(C* A, int64_t Q, const S* a, const S* b, int64_t W, const std::vector<int64_t>& rows,
                 const std::vector<int64_t>& cols) {
    for (size_t i = 0; i < rows.size(); ++i) {
        const int64_t si = rows[i] * W;
        C* row = A + static_cast<int64_t>(i) * Q;
        for (size_t j = 0; j < cols.size(); ++j) {
            const int64_t sj = si + cols[j];
            row[j] = C(a[sj], b ? b[sj] : S(0));
        }
    }
}

/// blur_image in element type T (float for float32 images, double for float64).
template <class T> Tensor blur_planes(const Tensor& img, const Tensor& kernel) {
    using C = std::complex<T>;
    const int64_t H = img.size(-2), W = img.size(-1), planes = img.numel() / std::max<int64_t>(H * W, 1);
    const int64_t k = kernel.size(0), r = k / 2;
    const int64_t Hp = H + k - 1, Wp = W + k - 1;      // the reflect-padded image
    const int64_t P = fft_size(Hp), Q = fft_size(Wp); // circular wrap-around stays outside the valid part
    const std::vector<T> x = img.to_vector<T>(), kv = kernel.to_vector<T>(); // converted to T

    // Kernel spectrum, scaled by 1/(PQ) so that the unscaled inverse transforms give the result.
    std::vector<C> K(static_cast<size_t>(P * Q), C(0, 0));
    {
        Eigen::FFT<T> fft;
        fft.SetFlag(Eigen::FFT<T>::Unscaled);
        const T scale = T(1) / static_cast<T>(P * Q);
        for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j < k; ++j)
                K[static_cast<size_t>(i * Q + j)] = C(kv[static_cast<size_t>(i * k + j)] * scale, 0);
        std::vector<C> t1, t2;
        fft_rows(fft, K.data(), Q, 0, k, false, t1);
        fft_cols(fft, K.data(), P, Q, false, t1, t2);
    }

    Tensor out = empty_cpu(img.shape(), img.dtype());
    T* y = out.data<T>();
    // Padded position (i, j) holds image pixel (reflect(i - r), reflect(j - r)). The linear
    // convolution of the padded image with the kernel at (i + k - 1, j + k - 1) is output pixel
    // (i, j): it reads padded rows i .. i + k - 1, all below Hp <= P, so the circular
    // convolution of size P x Q equals it there (wrap-around only touches rows and columns < k - 1).
    std::vector<int64_t> rows(static_cast<size_t>(Hp)), cols(static_cast<size_t>(Wp));
    for (int64_t i = 0; i < Hp; ++i) rows[static_cast<size_t>(i)] = reflect_index(i - r, H);
    for (int64_t j = 0; j < Wp; ++j) cols[static_cast<size_t>(j)] = reflect_index(j - r, W);
    const int64_t pairs = (planes + 1) / 2;
    parallel_for(pairs, 1, [&](int64_t lo, int64_t hi) {
        Eigen::FFT<T> fft;
        fft.SetFlag(Eigen::FFT<T>::Unscaled);
        std::vector<C> A(static_cast<size_t>(P * Q)), t1, t2;
        for (int64_t pr = lo; pr < hi; ++pr) {
            const int64_t p0 = 2 * pr;
            const bool two = p0 + 1 < planes;
            const T* a = x.data() + p0 * H * W;
            const T* b = two ? a + H * W : nullptr;
            std::fill(A.begin(), A.end(), C(0, 0));
            gather_pair(A.data(), Q, a, b, W, rows, cols);
            fft_rows(fft, A.data(), Q, 0, Hp, false, t1); // rows Hp..P-1 are zero: their transform is too
            fft_cols(fft, A.data(), P, Q, false, t1, t2);
            for (size_t e = 0; e < A.size(); ++e) A[e] *= K[e];
            fft_cols(fft, A.data(), P, Q, true, t1, t2);
            fft_rows(fft, A.data(), Q, k - 1, k - 1 + H, true, t1); // only the rows of the output
            T* ya = y + p0 * H * W;
            T* yb = two ? ya + H * W : nullptr;
            for (int64_t i = 0; i < H; ++i) {
                const C* row = A.data() + (i + k - 1) * Q + (k - 1);
                for (int64_t j = 0; j < W; ++j) ya[i * W + j] = row[j].real();
                if (two)
                    for (int64_t j = 0; j < W; ++j) yb[i * W + j] = row[j].imag();
            }
        }
    });
    return out;
}

} // namespace detail

/// One random camera trajectory, placed on the canvas: sample t is at column x[t], row y[t]
/// (pixel units, 0 at the first pixel's centre).
struct MotionBlurPath {
    std::vector<double> x, y;
    double length = 0; ///< the path length in pixels, after any scaling to fit the canvas
};

/// Draws a trajectory as the file comment describes, centred and fitted to the canvas.
/// requires: opt has size odd >= 3, steps >= 2, 0 < min_length <= max_length, 0 <= min_anxiety
///   <= max_anxiety, the other parameters finite and >= 0.
/// ensures: opt.steps samples, each within [0, size-1] in both coordinates; their mean is
///   ((size-1)/2, (size-1)/2) up to rounding; consecutive samples are equally spaced;
///   length = (steps-1) * spacing, in [0, max_length]. The numbers drawn from gen depend on
///   opt only, so the same seed and options give the same path on every machine.
/// throws: vkgrad::Error naming the parameter when opt violates the requirements.
inline MotionBlurPath motion_blur_path(Generator& gen, const MotionBlurOptions& opt = {}) {
    detail::check_motion_blur_options(opt);
    using Cx = std::complex<double>;
    const int64_t T = opt.steps;
    const double L = opt.min_length + (opt.max_length - opt.min_length) * gen.uniform();
    const double a = opt.min_anxiety + (opt.max_anxiety - opt.min_anxiety) * gen.uniform();
    const double g = opt.max_jitter * gen.uniform();
    const double c = opt.max_centripetal * gen.uniform();
    const double p_big = opt.max_big_shakes * gen.uniform() / static_cast<double>(T - 1); // per step
    const double angle = 2.0 * M_PI * gen.uniform();
    const double s = L / static_cast<double>(T - 1);

    std::vector<Cx> p(static_cast<size_t>(T));
    Cx v = std::polar(s, angle), cur(0, 0);
    p[0] = cur;
    for (int64_t t = 0; t + 1 < T; ++t) {
        const double n1 = gen.normal(), n2 = gen.normal();
        Cx dv = a * s * (g * Cx(n1, n2) - c * cur);
        if (gen.uniform() < p_big) {
            const double delta = opt.big_shake_spread * (gen.uniform() - 0.5);
            dv += opt.big_shake_magnitude * v * std::polar(1.0, M_PI + delta);
        }
        Cx nv = v + dv;
        const double m = std::abs(nv);
        v = m > 0 ? nv * (s / m) : v; // an exact cancellation keeps the old direction
        cur += v;
        p[static_cast<size_t>(t + 1)] = cur;
    }

    Cx mean(0, 0);
    for (const Cx& q : p) mean += q;
    mean /= static_cast<double>(T);
    double dev = 0;
    for (const Cx& q : p) dev = std::max({dev, std::abs(q.real() - mean.real()), std::abs(q.imag() - mean.imag())});
    const double half = static_cast<double>(opt.size - 1) / 2.0;
    const double f = dev > half ? half / dev : 1.0;

    MotionBlurPath out;
    out.x.resize(static_cast<size_t>(T));
    out.y.resize(static_cast<size_t>(T));
    const double hi = static_cast<double>(opt.size - 1);
    for (size_t t = 0; t < p.size(); ++t) {
        out.x[t] = std::clamp(half + (p[t].real() - mean.real()) * f, 0.0, hi);
        out.y[t] = std::clamp(half + (p[t].imag() - mean.imag()) * f, 0.0, hi);
    }
    out.length = L * f;
    return out;
}

/// The kernel of a path: each sample adds 1/steps to its four neighbouring pixels with
/// bilinear weights; the sum is then renormalised to 1 in double precision.
/// requires: size >= 2; path non-empty with x and y of equal length, within [0, size-1].
/// ensures: float32 [size, size], non-negative, sums to 1 (within float rounding), centroid
///   equal to the mean of the samples (within float rounding).
/// throws: vkgrad::Error when the path is empty or leaves the canvas.
inline Tensor splat_path(const MotionBlurPath& path, int64_t size) {
    const char* op = "splat_path";
    VKG_CHECK(size >= 2, op, "size must be >= 2, got ", size);
    VKG_CHECK(!path.x.empty() && path.x.size() == path.y.size(), op, "needs a non-empty path with as many x as y, got ",
              path.x.size(), " and ", path.y.size());
    const double hi = static_cast<double>(size - 1);
    std::vector<double> acc(static_cast<size_t>(size * size), 0.0);
    const double w = 1.0 / static_cast<double>(path.x.size());
    for (size_t t = 0; t < path.x.size(); ++t) {
        const double px = path.x[t], py = path.y[t];
        VKG_CHECK(px >= 0 && px <= hi && py >= 0 && py <= hi, op, "sample ", t, " at (", px, ", ", py,
                  ") is outside the ", size, "x", size, " canvas");
        const int64_t i = std::min<int64_t>(static_cast<int64_t>(py), size - 2);
        const int64_t j = std::min<int64_t>(static_cast<int64_t>(px), size - 2);
        const double fy = py - static_cast<double>(i), fx = px - static_cast<double>(j);
        double* q = acc.data() + i * size + j;
        q[0] += w * (1 - fy) * (1 - fx);
        q[1] += w * (1 - fy) * fx;
        q[size] += w * fy * (1 - fx);
        q[size + 1] += w * fy * fx;
    }
    double sum = 0;
    for (double v : acc) sum += v;
    Tensor k = empty_cpu({size, size}, DType::f32);
    float* d = k.data<float>();
    for (size_t e = 0; e < acc.size(); ++e) d[e] = static_cast<float>(acc[e] / sum);
    return k;
}

/// One random camera-shake kernel: motion_blur_path, then splat_path.
/// requires: as motion_blur_path.
/// ensures: float32 [opt.size, opt.size], non-negative, sum 1, centroid at the centre pixel
///   ((size-1)/2 in both axes, within float rounding); *length (when given) receives the path
///   length in pixels. Reproducible: the same generator state and options give the same kernel.
/// throws: vkgrad::Error when opt violates the requirements.
inline Tensor motion_blur_kernel(Generator& gen, const MotionBlurOptions& opt = {}, double* length = nullptr) {
    const MotionBlurPath path = motion_blur_path(gen, opt);
    if (length) *length = path.length;
    return splat_path(path, opt.size);
}

/// `count` kernels drawn one after another from Generator(seed): kernel i is the same whatever
/// count is (a longer set extends a shorter one).
/// requires: count >= 1; opt as motion_blur_path.
/// ensures: float32 [count, opt.size, opt.size], each as motion_blur_kernel; *lengths (when
///   given) receives the count path lengths.
/// throws: vkgrad::Error when count < 1 or opt violates the requirements.
inline Tensor motion_blur_kernels(int64_t count, uint64_t seed, const MotionBlurOptions& opt = {},
                                  std::vector<double>* lengths = nullptr) {
    VKG_CHECK(count >= 1, "motion_blur_kernels", "count must be >= 1, got ", count);
    detail::check_motion_blur_options(opt);
    Generator gen(seed);
    const int64_t n = opt.size * opt.size;
    Tensor out = empty_cpu({count, opt.size, opt.size}, DType::f32);
    float* d = out.data<float>();
    if (lengths) lengths->assign(static_cast<size_t>(count), 0.0);
    for (int64_t i = 0; i < count; ++i) {
        double len = 0;
        const Tensor k = motion_blur_kernel(gen, opt, &len);
        std::copy(k.data<float>(), k.data<float>() + n, d + i * n);
        if (lengths) (*lengths)[static_cast<size_t>(i)] = len;
    }
    return out;
}

/// Blurs images with one kernel: scipy.ndimage.convolve(channel, kernel, mode='reflect') for
/// every channel — a true convolution (kernel flipped relative to correlation), centred, with
/// 'reflect' borders (d c b a | a b c d | d c b a), the output the size of the input. The
/// kernel is used as given (not renormalised): a kernel summing to 1 keeps the brightness.
/// Channels are processed in parallel (two per complex FFT); results do not depend on the
/// number of threads.
/// requires: img a host float32 or float64 tensor [C, H, W] or [N, C, H, W] with H, W >= 1;
///   kernel a host float32 or float64 tensor [k, k] with k odd.
/// ensures: returns a new host tensor of img's shape and dtype; computed in img's precision
///   (float32 results are within about 1e-6 of exact for values in [0, 1]).
/// throws: vkgrad::Error naming the shapes, dtypes or device when the requirements are violated.
inline Tensor blur_image(const Tensor& img, const Tensor& kernel) {
    const char* op = "blur_image";
    VKG_CHECK(img.defined() && kernel.defined(), op, "undefined tensor");
    VKG_CHECK(img.dim() == 3 || img.dim() == 4, op, "image must be [C, H, W] or [N, C, H, W], got ",
              to_string(img.shape()));
    VKG_CHECK(kernel.dim() == 2 && kernel.size(0) == kernel.size(1) && kernel.size(0) % 2 == 1, op,
              "kernel must be square [k, k] with k odd, got ", to_string(kernel.shape()));
    VKG_CHECK(img.dtype() == DType::f32 || img.dtype() == DType::f64, op, "image must be float32 or float64, got ",
              dtype_name(img.dtype()));
    VKG_CHECK(kernel.dtype() == DType::f32 || kernel.dtype() == DType::f64, op,
              "kernel must be float32 or float64, got ", dtype_name(kernel.dtype()));
    VKG_CHECK(img.device().type == DeviceType::cpu && kernel.device().type == DeviceType::cpu, op,
              "needs host tensors, got the image on ", to_string(img.device()), " and the kernel on ",
              to_string(kernel.device()), " (copy them with to(t, Device{}))");
    VKG_CHECK(img.size(-1) >= 1 && img.size(-2) >= 1, op, "image has no pixels: ", to_string(img.shape()));
    if (img.numel() == 0) return empty_cpu(img.shape(), img.dtype());
    return img.dtype() == DType::f32 ? detail::blur_planes<float>(img, kernel) : detail::blur_planes<double>(img, kernel);
}

} // namespace vkgrad::data
