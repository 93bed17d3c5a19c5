// vkgrad/data/deconvolution.hpp — the blur model put back to work after the network.
//
// A regression network's output x_R is an accurate but slightly soft estimate of the sharp image
// x; the blurred input y still holds detail the network did not recover, and y = k * x for an
// unknown kernel k (motion_blur.hpp's model). Two steps use that:
//
//  1. estimate_blur_kernel(x_R, y): the kernel k on a size x size canvas that best explains y's
//     gradients from x_R's on the image interior, constrained to k >= 0 and sum k = 1 (a blur
//     moves light, it does not create or subtract it). The constraint is what makes this work:
//     the unconstrained least-squares kernel also absorbs x_R's residual softness — it becomes k
//     convolved with the inverse of that softness, which has negative lobes — and deconvolving y
//     with it leads straight back to x_R. On the simplex it cannot. Solved by FISTA (accelerated
//     projected gradient) with Euclidean projection onto the simplex. Gradients (forward
//     differences of the channel mean) make smooth shading irrelevant.
//     The normal equations need the Gram matrix G(p, q) = sum over the interior window of
//     a(n - p) a(n - q); it is taken as the window's autocorrelation R(p - q) (exact but for the
//     window's edge strips), so an iteration is one small convolution of the canvas with R —
//     summed directly while the iterate is sparse (a path's kernel is a thin curve), else by
//     FFTs of about twice the kernel's size — independent of the image size.
//  2. deconvolve(y, k, x_R, lambda): argmin over x of |k * x - y|^2 + lambda |x - x_R|^2, in
//     closed form per frequency, X = (conj(K) Y + lambda X_R) / (|K|^2 + lambda), on images
//     extended by reflection (as blur_image extends them) to keep the borders from ringing.
//
// refine_deblurred does both: on the 10 held-out validation faces the default model's 30.37 dB
// become 31.30 dB (weights/README.md). Written here from the textbook formulation (no code
// copied); double precision throughout; results do not depend on the number of threads.
#pragma once
#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <functional>
#include <vector>

#include "../ops/creation.hpp"    // from_vector
#include "../ops/elementwise.hpp" // clamp
#include "../ops/shape.hpp"       // narrow
#include "motion_blur.hpp"        // fft_size, reflect_index, fft_rows, fft_cols, blur_image

namespace vkgrad::data {

/// Settings of the kernel estimate and the deconvolution (refine_deblurred uses them all).
struct DeblurRefineOptions {
    int64_t kernel_size = 71; // odd canvas, as `blur kernels --size`; also the interior margin
    int iterations = 300;     // FISTA steps (converged by about 300 on 512 px faces)
    double lambda = 0.03;     // weight of |x - x_R|^2 against the blur model; chosen on training faces
    int64_t max_fit_size = 1024; // the kernel is fitted on the central square of at most this side
                                 // (one kernel for the whole image: a photograph's centre holds plenty)
};

namespace detail {

using cd = std::complex<double>;

/// A P x Q complex FFT (row-major): forward unscaled, inverse scaled by 1 / (PQ). With threads
/// > 1 the rows and columns are shared out over the thread pool (each row's and column's
/// transform is the same whoever computes it, so results do not depend on the thread count);
/// use 1 inside work that is already parallel.
struct Fft2 {
    struct Work {
        Eigen::FFT<double> fft;
        std::vector<cd> t1, t2;
    };
    int64_t P, Q;
    std::vector<Work> work;
    Fft2(int64_t p, int64_t q, int threads) : P(p), Q(q), work(static_cast<size_t>(std::max(threads, 1))) {
        for (Work& w : work) w.fft.SetFlag(Eigen::FFT<double>::Unscaled);
    }
    /// Rows from `rows` on must be zero (their row transforms are skipped).
    void forward(std::vector<cd>& a, int64_t rows) {
        each_row(a, 0, rows, false);
        each_col(a, false);
    }
    /// Only rows [r0, r1) of the result are computed.
    void inverse(std::vector<cd>& a, int64_t r0, int64_t r1) {
        each_col(a, true);
        each_row(a, r0, r1, true);
        const double s = 1.0 / static_cast<double>(P * Q);
        for (int64_t i = r0 * Q; i < r1 * Q; ++i) a[static_cast<size_t>(i)] *= s;
    }

private:
    /// fn(part, lo, hi) over [0, n) cut into one part per Work, `align`-sized pieces.
    template <class Fn> void share(int64_t n, int64_t align, Fn fn) {
        const int64_t parts = static_cast<int64_t>(work.size());
        const int64_t step = ((n + parts - 1) / parts + align - 1) / align * align;
        const auto part = [&](int64_t c) { fn(work[static_cast<size_t>(c)], c * step, std::min(n, (c + 1) * step)); };
        if (parts == 1) part(0);
        else thread_pool().run(parts, part);
    }
    void each_row(std::vector<cd>& a, int64_t r0, int64_t r1, bool inverse) {
        share(r1 - r0, 1, [&](Work& w, int64_t lo, int64_t hi) {
            if (lo < hi) fft_rows(w.fft, a.data(), Q, r0 + lo, r0 + hi, inverse, w.t1);
        });
    }
    void each_col(std::vector<cd>& a, bool inverse) {
        share(Q, 8, [&](Work& w, int64_t lo, int64_t hi) {
            if (lo < hi) fft_cols(w.fft, a.data(), P, Q, inverse, w.t1, w.t2, lo, hi);
        });
    }
};

/// Euclidean projection of v onto {k >= 0, sum k = 1}: v - theta clipped at 0, with theta found
/// by Michelot's fixed point (1986): the mean excess over the entries still above theta, dropping
/// those at or below it until none drop. Each pass is linear; a few passes suffice.
inline void project_to_simplex(std::vector<double>& v) {
    std::vector<double> active(v);
    double theta = 0;
    for (;;) {
        double sum = 0;
        for (double x : active) sum += x;
        theta = (sum - 1) / static_cast<double>(active.size());
        const size_t before = active.size();
        active.erase(std::remove_if(active.begin(), active.end(), [&](double x) { return x <= theta; }), active.end());
        if (active.size() == before) break;
    }
    for (double& x : v) x = std::max(x - theta, 0.0);
}

/// Channel mean of a host [C, H, W] / [1, C, H, W] image, as H x W doubles.
inline std::vector<double> channel_mean(const Tensor& img) {
    const int64_t H = img.size(-2), W = img.size(-1), C = img.numel() / (H * W);
    const std::vector<double> v = img.to_vector<double>();
    std::vector<double> g(static_cast<size_t>(H * W), 0.0);
    for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < H * W; ++i) g[static_cast<size_t>(i)] += v[static_cast<size_t>(c * H * W + i)] / C;
    return g;
}

inline void check_image_pair(const Tensor& a, const Tensor& b, const char* op, const char* a_name, const char* b_name) {
    VKG_CHECK(a.defined() && b.defined(), op, "undefined tensor");
    VKG_CHECK((a.dim() == 3 || (a.dim() == 4 && a.size(0) == 1)), op, a_name, " must be [C, H, W] or [1, C, H, W], got ",
              to_string(a.shape()));
    VKG_CHECK(a.shape() == b.shape(), op, a_name, " and ", b_name, " must have one shape, got ", to_string(a.shape()),
              " and ", to_string(b.shape()));
    for (const Tensor* t : {&a, &b}) {
        VKG_CHECK(t->device().type == DeviceType::cpu, op, "needs host tensors, got one on ", to_string(t->device()));
        VKG_CHECK(t->dtype() == DType::f32 || t->dtype() == DType::f64, op, "images must be float32 or float64, got ",
                  dtype_name(t->dtype()));
    }
}

} // namespace detail

/// Whether refine_deblurred (and estimate_blur_kernel) can work on an H x W image: the kernel is
/// fitted on the interior that lies kernel_size pixels from every border.
inline bool can_refine(int64_t H, int64_t W, const DeblurRefineOptions& opt = {}) {
    return H > 3 * opt.kernel_size && W > 3 * opt.kernel_size;
}

/// Estimates the blur kernel k with blurred ≈ k * sharp (true convolution, blur_image's
/// convention) from a sharp estimate, say a network's output.
/// requires: sharp and blurred host float32/float64 tensors of one shape [C, H, W] or [1, C, H, W];
///   opt.kernel_size odd and >= 3; H and W > 3 * kernel_size (the fit uses the interior that lies
///   kernel_size pixels from every border); opt.iterations >= 1.
/// ensures: a float32 [kernel_size, kernel_size] tensor, non-negative, summing to 1, its centre
///   element the zero shift, fitted on the central max_fit_size square of larger images. Results
///   do not depend on the number of threads.
/// throws: vkgrad::Error naming the shapes or settings when the requirements are violated.
inline Tensor estimate_blur_kernel(const Tensor& sharp, const Tensor& blurred, const DeblurRefineOptions& opt = {}) {
    using detail::cd;
    const char* op = "estimate_blur_kernel";
    detail::check_image_pair(sharp, blurred, op, "sharp", "blurred");
    const int64_t S = opt.kernel_size, r = S / 2, H = sharp.size(-2), W = sharp.size(-1);
    VKG_CHECK(S >= 3 && S % 2 == 1, op, "kernel_size must be odd and at least 3, got ", S);
    VKG_CHECK(opt.iterations >= 1, op, "iterations must be at least 1, got ", opt.iterations);
    VKG_CHECK(can_refine(H, W, opt), op, "a ", S, " px kernel needs an image over ", 3 * S, " px on each side, got ",
              H, " x ", W);
    VKG_CHECK(opt.max_fit_size > 3 * S, op, "max_fit_size must be over ", 3 * S, " (3 kernel sizes), got ", opt.max_fit_size);
    if (H > opt.max_fit_size || W > opt.max_fit_size) { // the central square: memory and time stay bounded
        const auto centre = [&](const Tensor& t) {
            const int64_t h = std::min(H, opt.max_fit_size), w = std::min(W, opt.max_fit_size);
            return narrow(narrow(t, -2, (H - h) / 2, h), -1, (W - w) / 2, w);
        };
        return estimate_blur_kernel(centre(sharp), centre(blurred), opt);
    }

    // Gradients of the channel means; u = a and v = b restricted to the interior window.
    const std::vector<double> a0 = detail::channel_mean(sharp), b0 = detail::channel_mean(blurred);
    const int64_t P = detail::fft_size(H), Q = detail::fft_size(W); // zero-padded: the window is S from
    // every border, so lags up to S - 1 never wrap around
    std::vector<cd> A(static_cast<size_t>(P * Q)), U(A.size()), V(A.size());
    const auto at = [&](const std::vector<double>& g, int64_t i, int64_t j) { return g[static_cast<size_t>(i * W + j)]; };
    for (int64_t i = 0; i < H; ++i)
        for (int64_t j = 0; j < W; ++j) {
            const double ax = j + 1 < W ? at(a0, i, j + 1) - at(a0, i, j) : 0, ay = i + 1 < H ? at(a0, i + 1, j) - at(a0, i, j) : 0;
            const double bx = j + 1 < W ? at(b0, i, j + 1) - at(b0, i, j) : 0, by = i + 1 < H ? at(b0, i + 1, j) - at(b0, i, j) : 0;
            const size_t e = static_cast<size_t>(i * Q + j);
            A[e] = cd(ax, ay); // the two gradient directions share a transform (real + i imaginary)
            if (i >= S && i < H - S && j >= S && j < W - S) U[e] = cd(ax, ay), V[e] = cd(bx, by);
        }
    detail::Fft2 big(P, Q, num_threads());
    big.forward(A, H), big.forward(U, H - S), big.forward(V, H - S);
    // Unpack each two-signal transform Z = F(x) + i F(y): F(x)[f] = (Z[f] + conj Z[-f]) / 2,
    // F(y)[f] = (Z[f] - conj Z[-f]) / 2i. R = sum_d corr(u_d, a_d), c' = sum_d corr(v_d, a_d), and
    // both are real, so they too share one inverse transform: real part R, imaginary part c'.
    std::vector<cd> RC(A.size());
    for (int64_t i = 0; i < P; ++i)
        for (int64_t j = 0; j < Q; ++j) {
            const size_t e = static_cast<size_t>(i * Q + j), m = static_cast<size_t>(((P - i) % P) * Q + (Q - j) % Q);
            const auto split = [&](const std::vector<cd>& Z, cd& x, cd& y) {
                x = (Z[e] + std::conj(Z[m])) * 0.5, y = (Z[e] - std::conj(Z[m])) * cd(0, -0.5);
            };
            cd ax, ay, ux, uy, vx, vy;
            split(A, ax, ay), split(U, ux, uy), split(V, vx, vy);
            const cd R = std::conj(ux) * ax + std::conj(uy) * ay, C = std::conj(vx) * ax + std::conj(vy) * ay;
            RC[e] = R + cd(0, 1) * C;
        }
    big.inverse(RC, 0, P);
    // lag s lives at index s mod P (rows) / mod Q (columns)
    const auto lag = [&](int64_t si, int64_t sj) {
        return RC[static_cast<size_t>(((si % P + P) % P) * Q + (sj % Q + Q) % Q)];
    };

    // The Gram operator on the canvas: (G k)(p) = sum_q R(p - q) k(q), by FFTs of size N >= 2S - 1.
    const int64_t N = detail::fft_size(2 * S - 1);
    std::vector<double> Rhat(static_cast<size_t>(N * N)), Rs(static_cast<size_t>((2 * S - 1) * (2 * S - 1)));
    {
        // R at lags [-(S-1), S-1]^2, twice: as a (2S-1)^2 table for the direct sum, and wrapped
        // onto the N x N torus for the FFTs
        std::vector<cd> Rn(static_cast<size_t>(N * N));
        for (int64_t si = -(S - 1); si <= S - 1; ++si)
            for (int64_t sj = -(S - 1); sj <= S - 1; ++sj) { // symmetrised: R(s) and R(-s) differ by the edge strips
                const double v = 0.5 * (lag(si, sj).real() + lag(-si, -sj).real());
                Rs[static_cast<size_t>((si + S - 1) * (2 * S - 1) + sj + S - 1)] = v;
                Rn[static_cast<size_t>(((si + N) % N) * N + (sj + N) % N)] = v;
            }
        detail::Fft2 small(N, N, 1);
        small.forward(Rn, N);
        for (size_t e = 0; e < Rn.size(); ++e) Rhat[e] = Rn[e].real(); // symmetric: a real spectrum
    }
    double L = 0; // Lipschitz constant of the gradient: the largest eigenvalue, bounded by max |R^|
    for (double v : Rhat) L = std::max(L, std::abs(v));
    VKG_CHECK(L > 0, op, "the sharp image has no gradients in its interior: no kernel can be estimated");
    // c(p) = sum_{n in window} a(n - p) b(n) = c'(-p), p = kernel index - r
    std::vector<double> c(static_cast<size_t>(S * S));
    for (int64_t i = 0; i < S; ++i)
        for (int64_t j = 0; j < S; ++j) c[static_cast<size_t>(i * S + j)] = lag(r - i, r - j).imag();

    detail::Fft2 small(N, N, num_threads());
    std::vector<cd> buf(static_cast<size_t>(N * N));
    std::vector<int64_t> nonzero;
    const auto gram = [&](const std::vector<double>& z, std::vector<double>& out) {
        // A sparse z (a path's kernel is a thin curve: typically a few hundred of the S^2
        // entries) is cheaper summed directly, a shifted copy of R per entry, than by FFTs.
        nonzero.clear();
        for (int64_t q = 0; q < S * S; ++q)
            if (z[static_cast<size_t>(q)] != 0) nonzero.push_back(q);
        if (static_cast<int64_t>(nonzero.size()) * 8 <= S * S) {
            std::fill(out.begin(), out.end(), 0.0);
            const int64_t D = 2 * S - 1;
            for (int64_t q : nonzero) {
                const double zq = z[static_cast<size_t>(q)];
                const int64_t qi = q / S, qj = q % S;
                for (int64_t i = 0; i < S; ++i) {
                    const double* Rrow = Rs.data() + (i - qi + S - 1) * D + (S - 1 - qj); // R(i - qi, j - qj) at j
                    double* o = out.data() + i * S;
                    for (int64_t j = 0; j < S; ++j) o[j] += zq * Rrow[j];
                }
            }
            return;
        }
        std::fill(buf.begin(), buf.end(), cd(0, 0));
        for (int64_t i = 0; i < S; ++i)
            for (int64_t j = 0; j < S; ++j) buf[static_cast<size_t>(i * N + j)] = z[static_cast<size_t>(i * S + j)];
        small.forward(buf, S);
        for (size_t e = 0; e < buf.size(); ++e) buf[e] *= Rhat[e];
        small.inverse(buf, 0, S);
        for (int64_t i = 0; i < S; ++i)
            for (int64_t j = 0; j < S; ++j) out[static_cast<size_t>(i * S + j)] = buf[static_cast<size_t>(i * N + j)].real();
    };
    // FISTA from the identity kernel (no blur).
    std::vector<double> k(static_cast<size_t>(S * S), 0.0), z, g(k.size()), next(k.size());
    k[static_cast<size_t>(r * S + r)] = 1;
    z = k;
    double t = 1;
    for (int it = 0; it < opt.iterations; ++it) {
        gram(z, g);
        for (size_t e = 0; e < k.size(); ++e) next[e] = z[e] - (g[e] - c[e]) / L;
        detail::project_to_simplex(next);
        const double tn = 0.5 * (1 + std::sqrt(1 + 4 * t * t));
        for (size_t e = 0; e < k.size(); ++e) z[e] = next[e] + (t - 1) / tn * (next[e] - k[e]);
        k.swap(next), t = tn;
    }
    return from_vector(std::vector<float>(k.begin(), k.end()), {S, S});
}

/// The image x nearest `prior` that `kernel` blurs into `blurred`:
/// argmin |kernel * x - blurred|^2 + lambda |x - prior|^2 per channel, borders extended by
/// reflection (blur_image's), solved exactly per frequency.
/// requires: blurred and prior host float32/float64 of one shape [C, H, W] or [1, C, H, W];
///   kernel a host float [k, k], k odd; lambda > 0.
/// ensures: a new tensor of blurred's shape and dtype (not clamped); results do not depend on
///   the number of threads.
/// throws: vkgrad::Error naming the shapes or the value when the requirements are violated.
inline Tensor deconvolve(const Tensor& blurred, const Tensor& kernel, const Tensor& prior, double lambda) {
    using detail::cd;
    const char* op = "deconvolve";
    detail::check_image_pair(blurred, prior, op, "blurred", "prior");
    VKG_CHECK(kernel.defined() && kernel.dim() == 2 && kernel.size(0) == kernel.size(1) && kernel.size(0) % 2 == 1, op,
              "kernel must be square [k, k] with k odd, got ", kernel.defined() ? to_string(kernel.shape()) : "undefined");
    VKG_CHECK(kernel.device().type == DeviceType::cpu, op, "needs a host kernel");
    VKG_CHECK(std::isfinite(lambda) && lambda > 0, op, "lambda must be positive, got ", lambda);
    const int64_t H = blurred.size(-2), W = blurred.size(-1), C = blurred.numel() / std::max<int64_t>(H * W, 1);
    const int64_t ks = kernel.size(0), r = ks / 2, pad = ks;
    const int64_t P = detail::fft_size(H + 2 * pad), Q = detail::fft_size(W + 2 * pad);
    const std::vector<double> kv = kernel.to_vector<double>(), y = blurred.to_vector<double>(), xr = prior.to_vector<double>();

    // The two filters, F1 = conj(K) / (|K|^2 + lambda) on y and F2 = lambda / (|K|^2 + lambda) on the
    // prior: both are spectra of real kernels, so two channels can share each transform.
    std::vector<cd> F1(static_cast<size_t>(P * Q)), F2(F1.size());
    {
        std::vector<cd> K(F1.size());
        for (int64_t i = 0; i < ks; ++i)
            for (int64_t j = 0; j < ks; ++j)
                K[static_cast<size_t>(((i - r + P) % P) * Q + (j - r + Q) % Q)] = kv[static_cast<size_t>(i * ks + j)];
        detail::Fft2 fft(P, Q, num_threads());
        fft.forward(K, P);
        for (size_t e = 0; e < K.size(); ++e) {
            const double d = std::norm(K[e]) + lambda;
            F1[e] = std::conj(K[e]) / d, F2[e] = lambda / d;
        }
    }
    std::vector<int64_t> rows(static_cast<size_t>(P)), cols(static_cast<size_t>(Q));
    for (int64_t i = 0; i < P; ++i) rows[static_cast<size_t>(i)] = detail::reflect_index(i - pad, H);
    for (int64_t j = 0; j < Q; ++j) cols[static_cast<size_t>(j)] = detail::reflect_index(j - pad, W);
    std::vector<double> out(y.size());
    parallel_for((C + 1) / 2, 1, [&](int64_t lo, int64_t hi) {
        detail::Fft2 fft(P, Q, 1); // the channel pairs are the parallel work here
        std::vector<cd> Zy(F1.size()), Zx(F1.size());
        for (int64_t pr = lo; pr < hi; ++pr) {
            const int64_t c0 = 2 * pr;
            const bool two = c0 + 1 < C;
            const auto plane = [&](const std::vector<double>& v, int64_t c) { return c < C ? v.data() + c * H * W : nullptr; };
            detail::gather_pair(Zy.data(), Q, plane(y, c0), plane(y, c0 + 1), W, rows, cols);
            detail::gather_pair(Zx.data(), Q, plane(xr, c0), plane(xr, c0 + 1), W, rows, cols);
            fft.forward(Zy, P), fft.forward(Zx, P);
            for (size_t e = 0; e < Zy.size(); ++e) Zy[e] = F1[e] * Zy[e] + F2[e] * Zx[e];
            fft.inverse(Zy, pad, pad + H);
            for (int64_t i = 0; i < H; ++i)
                for (int64_t j = 0; j < W; ++j) {
                    const cd v = Zy[static_cast<size_t>((i + pad) * Q + j + pad)];
                    out[static_cast<size_t>(c0 * H * W + i * W + j)] = v.real();
                    if (two) out[static_cast<size_t>((c0 + 1) * H * W + i * W + j)] = v.imag();
                }
        }
    });
    return blurred.dtype() == DType::f32 ? from_vector(std::vector<float>(out.begin(), out.end()), blurred.shape())
                                         : from_vector(out, blurred.shape(), {DType::f64});
}

/// A network's deblurred output made consistent with the blur: the kernel estimated from
/// (restored, blurred), then the deconvolution of blurred towards restored, clamped to [0, 1].
/// requires: as estimate_blur_kernel (can_refine(H, W, opt)). kernel_out, when given, receives
///   the estimated kernel.
/// ensures: a new tensor of blurred's shape and dtype in [0, 1].
inline Tensor refine_deblurred(const Tensor& blurred, const Tensor& restored, const DeblurRefineOptions& opt = {},
                               Tensor* kernel_out = nullptr) {
    const Tensor k = estimate_blur_kernel(restored, blurred, opt);
    if (kernel_out) *kernel_out = k;
    return clamp(deconvolve(blurred, k, restored, opt.lambda), 0, 1);
}

} // namespace vkgrad::data
