// vkgrad/cpu/conv.hpp — 2-d convolution on the CPU: packed im2col tiles feeding a GEMM (gemm.hpp).
//
// The output pixels are cut into tiles of at most kTileElems col elements, so the workspace
// stays bounded (never a whole im2col of a large image) and hot in cache. A 1x1, stride-1,
// unpadded convolution reads its input directly as the GEMM operand. Depthwise convolutions
// (stride 1) skip the GEMM altogether (see depthwise_forward). Parallel work units and their
// GEMM sizes depend on the shapes only, so results do not depend on the thread count.
#pragma once
#include <algorithm>
#include <vector>


#include "../core/backend.hpp"
#include "../core/parallel.hpp"
#include "gemm.hpp"

namespace vkgrad::cpu {

struct ConvGeom {
    int64_t N, C, H, W, O, kh, kw, Ho, Wo, G;
    ConvParams p;
    int64_t Cg() const { return C / G; }
    int64_t Og() const { return O / G; }
    int64_t kk() const { return kh * kw; }
    int64_t K() const { return Cg() * kk(); }
    int64_t P() const { return Ho * Wo; }
    int64_t HW() const { return H * W; }
    bool pointwise() const {
        return kh == 1 && kw == 1 && p.stride[0] == 1 && p.stride[1] == 1 && p.padding[0] == 0 && p.padding[1] == 0 &&
               p.padding[2] == 0 && p.padding[3] == 0;
    }
};

inline ConvGeom conv_geom(const Shape& x, const Shape& w, const Shape& y, const ConvParams& p) {
    return {x[0], x[1], x[2], x[3], w[0], w[2], w[3], y[2], y[3], p.groups, p};
}

constexpr int64_t kTileElems = int64_t(1) << 18; // 1 MiB of float col per tile
constexpr int64_t kMinTile = 256;                 // pixels: GEMMs narrower than this run far below peak

inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/// Output columns [lo, hi) of the row range [ow0, ow1) whose input column ow*sw + off is inside [0, W).
inline void valid_cols(int64_t ow0, int64_t ow1, int64_t off, int64_t sw, int64_t W, int64_t& lo, int64_t& hi) {
    lo = std::clamp(-floor_div(off, sw), ow0, ow1); // first ow with ow*sw + off >= 0
    hi = std::clamp(floor_div(W - 1 - off, sw) + 1, lo, ow1);
}

/// Visits, for output pixels [p0, p1) and kernel tap (ki, kj), each output row segment:
/// f(col offset of the segment start, ow0, ow1, input row ih or -1 when outside, off)
template <class F> void for_each_segment(const ConvGeom& g, int64_t p0, int64_t p1, int64_t ki, F&& f) {
    for (int64_t p = p0; p < p1;) {
        const int64_t oh = p / g.Wo, ow0 = p % g.Wo, ow1 = std::min(g.Wo, ow0 + (p1 - p));
        const int64_t ih = oh * g.p.stride[0] - g.p.padding[0] + ki * g.p.dilation[0];
        f(p - p0, ow0, ow1, ih >= 0 && ih < g.H ? ih : -1);
        p += ow1 - ow0;
    }
}

/// col[(c*kh + ki)*kw + kj][p - p0] = x[c][ih][iw] (0 outside), for nc channels from x.
template <class T> void im2col(const T* x, int64_t nc, const ConvGeom& g, int64_t p0, int64_t p1, T* col) {
    const int64_t n = p1 - p0, sw = g.p.stride[1];
    for (int64_t c = 0; c < nc; ++c)
        for (int64_t ki = 0; ki < g.kh; ++ki)
            for (int64_t kj = 0; kj < g.kw; ++kj) {
                T* row = col + ((c * g.kh + ki) * g.kw + kj) * n;
                const int64_t off = kj * g.p.dilation[1] - g.p.padding[2];
                for_each_segment(g, p0, p1, ki, [&](int64_t at, int64_t ow0, int64_t ow1, int64_t ih) {
                    T* r = row + at - ow0;
                    if (ih < 0) {
                        std::fill(r + ow0, r + ow1, T(0));
                        return;
                    }
                    const T* xr = x + c * g.HW() + ih * g.W + off;
                    int64_t lo, hi;
                    valid_cols(ow0, ow1, off, sw, g.W, lo, hi);
                    std::fill(r + ow0, r + lo, T(0));
                    if (sw == 1) std::copy(xr + lo, xr + hi, r + lo);
                    else
                        for (int64_t ow = lo; ow < hi; ++ow) r[ow] = xr[ow * sw];
                    std::fill(r + hi, r + ow1, T(0));
                });
            }
}

/// The adjoint of im2col: x[c][ih][iw] += col[...][p - p0].
template <class T> void col2im(const T* col, int64_t nc, const ConvGeom& g, int64_t p0, int64_t p1, T* x) {
    const int64_t n = p1 - p0, sw = g.p.stride[1];
    for (int64_t c = 0; c < nc; ++c)
        for (int64_t ki = 0; ki < g.kh; ++ki)
            for (int64_t kj = 0; kj < g.kw; ++kj) {
                const T* row = col + ((c * g.kh + ki) * g.kw + kj) * n;
                const int64_t off = kj * g.p.dilation[1] - g.p.padding[2];
                for_each_segment(g, p0, p1, ki, [&](int64_t at, int64_t ow0, int64_t ow1, int64_t ih) {
                    if (ih < 0) return;
                    const T* r = row + at - ow0;
                    T* xr = x + c * g.HW() + ih * g.W + off;
                    int64_t lo, hi;
                    valid_cols(ow0, ow1, off, sw, g.W, lo, hi);
                    for (int64_t ow = lo; ow < hi; ++ow) xr[ow * sw] += r[ow];
                });
            }
}


/// Pixels per tile for `rows` col rows.
inline int64_t tile_pixels(int64_t rows, int64_t P) {
    return std::min(P, std::max(kTileElems / std::max<int64_t>(rows, 1), kMinTile));
}
/// Channels per block for the adjoint kernels (about 256 col rows).
inline int64_t channel_block(const ConvGeom& g) { return std::clamp<int64_t>(256 / g.kk(), 1, g.Cg()); }

/// Work units a kernel wants before it also cuts its GEMMs' rows (output channels).
constexpr int64_t kMinUnits = 16;
/// Rows per chunk when a kernel has only `units` units of `rows` rows: a low-resolution layer
/// is a single pixel tile, and one unit would leave every other core idle. Chunks are
/// multiples of `align`; the cut depends on the shapes only, so results do not depend on the
/// thread count.
inline int64_t row_chunk(int64_t units, int64_t rows, int64_t align) {
    if (units >= kMinUnits || rows <= align) return rows;
    const int64_t want = (kMinUnits + units - 1) / units, chunk = (rows + want - 1) / want;
    return std::min(rows, (chunk + align - 1) / align * align);
}
/// Row alignment for the adjoint kernels' chunks: whole register tiles (6 or 8 rows), and at
/// least the 16 rows below which gemm leaves the packed kernel.
constexpr int64_t kAdjointRowAlign = 48;

/// y[n, o] = sum_c w[o, c] * x[n, c] over kernel taps (+ bias[o] when given, added to each tile
/// while it is still in cache); parallel over (image, group, tile) and, when those are few, over
/// chunks of output channels too (whole packed blocks of the weights).
template <class T>
void conv2d_forward_gemm(const T* x, const T* w, T* y, const ConvGeom& g, const T* bias = nullptr) {
    const int64_t K = g.K(), P = g.P(), Og = g.Og(), tile = tile_pixels(K, P), tiles = (P + tile - 1) / tile;
    const int64_t mc = row_chunk(g.N * g.G * tiles, Og, kGemmRowBlock), chunks = (Og + mc - 1) / mc;
    std::vector<LeftOperand<T>> wpack; // each group's weights packed once, shared by all tiles
    for (int64_t gi = 0; gi < g.G; ++gi) wpack.emplace_back(Og, K, MatView<const T>{w + gi * Og * K, K, 1});
    parallel_for(g.N * g.G * tiles * chunks, 1, [&](int64_t lo, int64_t hi) {
        std::vector<T> buf(g.pointwise() ? 0 : static_cast<size_t>(K * tile));
        for (int64_t u = lo; u < hi; ++u) {
            const int64_t m = u % chunks, t = (u / chunks) % tiles, gi = (u / chunks / tiles) % g.G;
            const int64_t n = u / chunks / tiles / g.G, m0 = m * mc, rows = std::min(mc, Og - m0);
            const int64_t p0 = t * tile, p1 = std::min(P, p0 + tile), cnt = p1 - p0;
            const T* xg = x + (n * g.C + gi * g.Cg()) * g.HW();
            const MatView<const T> wm{w + (gi * Og + m0) * K, K, 1};
            T* out = y + (n * g.O + gi * Og + m0) * P + p0;
            if (g.pointwise()) {
                gemm<T>(rows, cnt, K, wm, {xg + p0, g.HW(), 1}, out, P, false, wpack[gi].packed_from(m0));
            } else {
                im2col(xg, g.Cg(), g, p0, p1, buf.data());
                gemm<T>(rows, cnt, K, wm, {buf.data(), cnt, 1}, out, P, false, wpack[gi].packed_from(m0));
            }
            if (bias)
                for (int64_t r = 0; r < rows; ++r) {
                    const T b = bias[gi * Og + m0 + r];
                    for (int64_t q = 0; q < cnt; ++q) out[r * P + q] += b;
                }
        }
    });
}

/// gx = the adjoint of conv2d_forward in x; parallel over (image, group, channel block) and,
/// for a 1x1 convolution, over pixel tiles too: its tiles write disjoint pixels. (A larger
/// kernel's col2im adds across tile borders, so its tiles stay in one unit.) Channel blocks are
/// made smaller when the units are few: NAFNet's 1x1 convolutions have a single block.
template <class T> void conv2d_input_grad_gemm(const T* gy, const T* w, T* gx, const ConvGeom& g) {
    const int64_t K = g.K(), P = g.P(), Og = g.Og(), cb0 = channel_block(g), tile = tile_pixels(cb0 * g.kk(), P);
    const int64_t tiles = g.pointwise() ? (P + tile - 1) / tile : 1;
    const int64_t cb = row_chunk(g.N * g.G * tiles * ((g.Cg() + cb0 - 1) / cb0), cb0,
                                 (kAdjointRowAlign + g.kk() - 1) / g.kk());
    const int64_t blocks = (g.Cg() + cb - 1) / cb;
    if (!g.pointwise()) std::fill(gx, gx + g.N * g.C * g.HW(), T(0)); // col2im adds; a 1x1 GEMM writes
    parallel_for(g.N * g.G * blocks * tiles, 1, [&](int64_t lo, int64_t hi) {
        std::vector<T> buf(g.pointwise() ? 0 : static_cast<size_t>(cb * g.kk() * tile));
        for (int64_t u = lo; u < hi; ++u) {
            const int64_t t = u % tiles, b = (u / tiles) % blocks, gi = (u / tiles / blocks) % g.G;
            const int64_t n = u / tiles / blocks / g.G;
            const int64_t c0 = b * cb, nc = std::min(cb, g.Cg() - c0), rows = nc * g.kk();
            T* gxb = gx + (n * g.C + gi * g.Cg() + c0) * g.HW();
            const MatView<const T> wt{w + gi * Og * K + c0 * g.kk(), 1, K}; // [rows, Og] = w block transposed
            const int64_t first = g.pointwise() ? t * tile : 0, last = g.pointwise() ? std::min(P, first + tile) : P;
            for (int64_t p0 = first; p0 < last; p0 += tile) {
                const int64_t cnt = std::min(tile, last - p0);
                const MatView<const T> gyt{gy + (n * g.O + gi * Og) * P + p0, P, 1};
                if (g.pointwise()) {
                    gemm<T>(rows, cnt, Og, wt, gyt, gxb + p0, g.HW());
                } else {
                    gemm<T>(rows, cnt, Og, wt, gyt, buf.data(), cnt);
                    col2im(buf.data(), nc, g, p0, p0 + cnt, gxb);
                }
            }
        }
    });
}

/// Pixels per weight-gradient part: each part (a segment of one image's pixels, or several whole
/// small images) sums into its own partial, so a large image's reduction over pixels runs on
/// every core; fixed, so the result is the same for any thread count.
constexpr int64_t kWeightGradPart = 16384;

/// gw = the adjoint of conv2d_forward in w: for each (group, channel block), a sum over images
/// and pixels. Parallel over (group, channel block, part of about kWeightGradPart pixels) and,
/// when those are few, chunks of output channels; each part's partial is kept apart and the
/// partials are added in order. The partials hold about N * P / kWeightGradPart + 1 copies of
/// the weights.
template <class T> void conv2d_weight_grad_gemm(const T* x, const T* gy, T* gw, const ConvGeom& g) {
    const int64_t K = g.K(), P = g.P(), Og = g.Og(), cb = channel_block(g), blocks = (g.Cg() + cb - 1) / cb;
    const int64_t tile = tile_pixels(cb * g.kk(), P);
    const int64_t seg = std::max(kWeightGradPart, tile), segs = (P + seg - 1) / seg; // segments of an image
    const int64_t per = P >= seg ? 1 : std::min(g.N, seg / P), image_groups = (g.N + per - 1) / per;
    const int64_t parts = image_groups * segs, part_size = Og * cb * g.kk(); // a partial is [Og, rows]
    if (parts == 0) return std::fill(gw, gw + g.O * K, T(0)); // no pixels: a zero gradient
    const int64_t mc = row_chunk(g.G * blocks * parts, Og, kAdjointRowAlign), chunks = (Og + mc - 1) / mc;
    std::vector<T> partial(static_cast<size_t>(g.G * blocks * parts * part_size));
    parallel_for(g.G * blocks * parts * chunks, 1, [&](int64_t lo, int64_t hi) {
        std::vector<T> buf(g.pointwise() ? 0 : static_cast<size_t>(cb * g.kk() * tile));
        for (int64_t u = lo; u < hi; ++u) {
            const int64_t m = u % chunks, pi = u / chunks; // pi: which partial, (group, block, part)
            const int64_t s = pi % segs, ig = (pi / segs) % image_groups, b = (pi / parts) % blocks, gi = pi / parts / blocks;
            const int64_t c0 = b * cb, nc = std::min(cb, g.Cg() - c0), rows = nc * g.kk();
            const int64_t m0 = m * mc, mrows = std::min(mc, Og - m0);
            T* acc = partial.data() + pi * part_size + m0 * rows; // rows [m0, m0 + mrows) of [Og, rows]
            bool first = true;
            for (int64_t n = ig * per; n < std::min(g.N, (ig + 1) * per); ++n) {
                const T* xb = x + (n * g.C + gi * g.Cg() + c0) * g.HW();
                const int64_t end = std::min(P, (s + 1) * seg);
                for (int64_t p0 = s * seg; p0 < end; p0 += tile, first = false) {
                    const int64_t cnt = std::min(tile, end - p0);
                    const MatView<const T> gyt{gy + (n * g.O + gi * Og + m0) * P + p0, P, 1};
                    if (g.pointwise()) {
                        gemm<T>(mrows, rows, cnt, gyt, {xb + p0, 1, g.HW()}, acc, rows, !first);
                    } else {
                        im2col(xb, nc, g, p0, p0 + cnt, buf.data());
                        gemm<T>(mrows, rows, cnt, gyt, {buf.data(), 1, cnt}, acc, rows, !first);
                    }
                }
            }
        }
    });
    for (int64_t gi = 0; gi < g.G; ++gi)
        for (int64_t b = 0; b < blocks; ++b) {
            const int64_t c0 = b * cb, rows = std::min(cb, g.Cg() - c0) * g.kk();
            const T* part = partial.data() + (gi * blocks + b) * parts * part_size;
            for (int64_t o = 0; o < Og; ++o) {
                T* out = gw + gi * Og * K + o * K + c0 * g.kk();
                std::copy(part + o * rows, part + (o + 1) * rows, out);
                for (int64_t q = 1; q < parts; ++q)
                    for (int64_t r = 0; r < rows; ++r) out[r] += part[q * part_size + o * rows + r];
            }
        }
}

// --- depthwise (one input and one output channel per group, stride 1) -----------------------
//
// NAFNet's 3x3 depthwise convs are a third of its training time through im2col: each channel
// is a 1 x 9 by 9 x P GEMM, too thin for the GEMM kernel, and the 9 x P copy is larger than the
// plane itself. Directly, each tap is one row-wise saxpy over the plane (or, for the weight
// gradient, one dot product), and a plane stays in cache across the taps. Same arithmetic
// order for any thread count: work is split by plane (forward, input gradient) or by channel.

inline bool depthwise_direct(const ConvGeom& g) {
    return g.G == g.C && g.G == g.O && g.p.stride[0] == 1 && g.p.stride[1] == 1;
}

/// For tap (ki, kj): output rows [oh0, oh1) read input rows oh + dh, and output columns
/// [ow0, ow1) read input columns ow + dw, all inside the input.
struct TapRange {
    int64_t dh, dw, oh0, oh1, ow0, ow1;
};
inline TapRange tap_range(const ConvGeom& g, int64_t ki, int64_t kj) {
    TapRange t;
    t.dh = ki * g.p.dilation[0] - g.p.padding[0];
    t.dw = kj * g.p.dilation[1] - g.p.padding[2];
    t.oh0 = std::clamp<int64_t>(-t.dh, 0, g.Ho);
    t.oh1 = std::clamp<int64_t>(g.H - t.dh, t.oh0, g.Ho);
    t.ow0 = std::clamp<int64_t>(-t.dw, 0, g.Wo);
    t.ow1 = std::clamp<int64_t>(g.W - t.dw, t.ow0, g.Wo);
    return t;
}

template <class T> void depthwise_forward(const T* x, const T* w, T* y, const ConvGeom& g, const T* bias = nullptr) {
    parallel_for(g.N * g.C, 1, [&](int64_t lo, int64_t hi) {
        for (int64_t u = lo; u < hi; ++u) {
            const int64_t c = u % g.C;
            const T* xp = x + u * g.HW();
            T* yp = y + u * g.P();
            std::fill(yp, yp + g.P(), T(0));
            for (int64_t ki = 0; ki < g.kh; ++ki)
                for (int64_t kj = 0; kj < g.kw; ++kj) {
                    const T wv = w[(c * g.kh + ki) * g.kw + kj];
                    const TapRange t = tap_range(g, ki, kj);
                    for (int64_t oh = t.oh0; oh < t.oh1; ++oh) {
                        const T* xr = xp + (oh + t.dh) * g.W + t.dw;
                        T* yr = yp + oh * g.Wo;
                        for (int64_t ow = t.ow0; ow < t.ow1; ++ow) yr[ow] += wv * xr[ow];
                    }
                }
            if (bias)
                for (int64_t i = 0; i < g.P(); ++i) yp[i] += bias[c];
        }
    });
}

template <class T> void depthwise_input_grad(const T* gy, const T* w, T* gx, const ConvGeom& g) {
    parallel_for(g.N * g.C, 1, [&](int64_t lo, int64_t hi) {
        for (int64_t u = lo; u < hi; ++u) {
            const int64_t c = u % g.C;
            const T* gp = gy + u * g.P();
            T* xp = gx + u * g.HW();
            std::fill(xp, xp + g.HW(), T(0));
            for (int64_t ki = 0; ki < g.kh; ++ki)
                for (int64_t kj = 0; kj < g.kw; ++kj) {
                    const T wv = w[(c * g.kh + ki) * g.kw + kj];
                    const TapRange t = tap_range(g, ki, kj);
                    for (int64_t oh = t.oh0; oh < t.oh1; ++oh) {
                        T* xr = xp + (oh + t.dh) * g.W + t.dw;
                        const T* gr = gp + oh * g.Wo;
                        for (int64_t ow = t.ow0; ow < t.ow1; ++ow) xr[ow] += wv * gr[ow];
                    }
                }
        }
    });
}

/// sum a[i] b[i] in 8 interleaved partial sums: a fixed order the compiler can vectorise (a
/// single running sum cannot be reordered without -ffast-math, and would run scalar).
template <class T> T dot_lanes(const T* a, const T* b, int64_t n) {
    T lane[8] = {};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; ++k) lane[k] += a[i + k] * b[i + k];
    for (; i < n; ++i) lane[0] += a[i] * b[i];
    return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

/// Each tap's sum runs over images and rows in order, each row's dot product accumulated in
/// double: the sum has N * Ho terms of up to Wo products, more than float should add up alone.
template <class T> void depthwise_weight_grad(const T* x, const T* gy, T* gw, const ConvGeom& g) {
    parallel_for(g.C, 1, [&](int64_t lo, int64_t hi) {
        for (int64_t c = lo; c < hi; ++c)
            for (int64_t ki = 0; ki < g.kh; ++ki)
                for (int64_t kj = 0; kj < g.kw; ++kj) {
                    const TapRange t = tap_range(g, ki, kj);
                    double acc = 0;
                    for (int64_t n = 0; n < g.N; ++n) {
                        const T* xp = x + (n * g.C + c) * g.HW();
                        const T* gp = gy + (n * g.C + c) * g.P();
                        for (int64_t oh = t.oh0; oh < t.oh1; ++oh) {
                            const T* xr = xp + (oh + t.dh) * g.W + t.dw;
                            const T* gr = gp + oh * g.Wo;
                            acc += static_cast<double>(dot_lanes(gr + t.ow0, xr + t.ow0, t.ow1 - t.ow0));
                        }
                    }
                    gw[(c * g.kh + ki) * g.kw + kj] = static_cast<T>(acc);
                }
    });
}

// --- dispatch: the direct depthwise kernels where they apply, im2col + GEMM otherwise ---------

/// `bias` (O values, or null): added to each output channel as the last step, as a separate add
/// would, but while the output is still in cache.
template <class T> void conv2d_forward(const T* x, const T* w, T* y, const ConvGeom& g, const T* bias = nullptr) {
    if (depthwise_direct(g)) depthwise_forward(x, w, y, g, bias);
    else conv2d_forward_gemm(x, w, y, g, bias);
}
template <class T> void conv2d_input_grad(const T* gy, const T* w, T* gx, const ConvGeom& g) {
    if (depthwise_direct(g)) depthwise_input_grad(gy, w, gx, g);
    else conv2d_input_grad_gemm(gy, w, gx, g);
}
template <class T> void conv2d_weight_grad(const T* x, const T* gy, T* gw, const ConvGeom& g) {
    if (depthwise_direct(g)) depthwise_weight_grad(x, gy, gw, g);
    else conv2d_weight_grad_gemm(x, gy, gw, g);
}

} // namespace vkgrad::cpu
