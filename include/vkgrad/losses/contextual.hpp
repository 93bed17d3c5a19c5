// vkgrad/losses/contextual.hpp — the contextual loss (Mechrez, Talmi & Zelnik-Manor, ECCV 2018).
//
// It compares two images as *sets* of feature vectors: each target feature should have some
// generated feature that is, relative to all others, much closer to it than anything else.
// Positions do not need to line up, which is why the paper uses it to pull x_hat toward the
// textures of x_G without demanding pixel alignment.
//
// For generated features x_i and target features y_j (one per spatial position):
//   mu       = mean of y over the batch and positions (per channel); both sets centred by it
//   d_ij     = 1 - cos(x_i, y_j)
//   d~_ij    = d_ij / (min_k d_ik + 1e-5)          relative distance, per generated feature i
//   w_ij     = exp((1 - d~_ij) / h)                 h: band width, 0.5
//   cx_ij    = w_ij / sum_k w_ik
//   CX       = mean_j max_i cx_ij                   per image
//   loss     = mean over the batch of -log(CX + 1e-5)
// which is the cosine variant of the reference PyTorch port (d = 1 - cos, not (1 - cos) / 2).
//
// Patch-wise form. The similarity matrix has P^2 entries for P positions: VGG19 relu3_2 of a
// 512x512 image has 128x128 positions, a 16384^2 matrix (1 GiB in float32, several of them
// for autograd). So the feature map is cut into tiles of at most `tile` x `tile` positions;
// CX is computed between corresponding tiles of x and y (each tile centred by its own
// target mean) and averaged over tiles before the log. Matching stays local (an eye is
// compared with the eye region), which suits aligned faces. Alternatively `max_positions`
// samples at most that many positions per tile, the same ones in x and y (the reference TF
// code samples 65x65). Both at once are allowed.
#pragma once
#include <algorithm>
#include <cmath>
#include <numeric>

#include "../core/random.hpp"
#include "../ops/creation.hpp"
#include "../ops/elementwise.hpp"
#include "../ops/indexing.hpp"
#include "../ops/linalg.hpp"
#include "../ops/reduce.hpp"
#include "../ops/shape.hpp"

namespace vkgrad::losses {

struct ContextualOptions {
    double band_width = 0.5;   ///< h
    int64_t tile = 0;          ///< tile side in feature positions; 0: the whole map is one tile
    int64_t max_positions = 0; ///< > 0: sample at most this many positions per tile (needs a Generator)
};

/// CX per image for feature sets x (generated) and y (target), both [N, C, P]. Returns [N].
inline Tensor contextual_similarity(const Tensor& x, const Tensor& y, double band_width = 0.5) {
    VKG_CHECK(x.dim() == 3 && x.shape() == y.shape(), "contextual_similarity",
              "needs two feature sets [N, C, P] of one shape, got ", to_string(x.shape()), " and ",
              to_string(y.shape()));
    VKG_CHECK(band_width > 0, "contextual_similarity", "band width must be positive, got ", band_width);
    const Tensor mu = mean(y, {0, 2}, true);
    auto unit = [&](const Tensor& f) {
        const Tensor c = f - mu;
        return c / clamp(sqrt(sum(pow(c, 2.0), {1}, true)), 1e-12, INFINITY); // F.normalize's eps
    };
    const Tensor d = 1.0 - matmul_t(unit(x), unit(y), true, false); // [N, Px, Py]
    const Tensor rel = d / (min(d, {2}, true) + 1e-5);
    const Tensor w = exp((1.0 - rel) / band_width);
    const Tensor cx = w / sum(w, {2}, true);
    return mean(max(cx, {1}), {1});
}

/// The contextual loss between generated features x and target features y, [N, C, H, W] of
/// one shape (any extractor: VGG19 activations, or raw pixels). See the file comment for the
/// tiling; `gen` is needed only with max_positions. Returns a scalar.
inline Tensor contextual_loss(const Tensor& x, const Tensor& y, const ContextualOptions& o = {},
                              Generator* gen = nullptr) {
    VKG_CHECK(x.dim() == 4 && x.shape() == y.shape(), "contextual_loss",
              "needs generated and target features [N, C, H, W] of one shape, got ", to_string(x.shape()), " and ",
              to_string(y.shape()));
    VKG_CHECK(o.tile >= 0 && o.max_positions >= 0, "contextual_loss", "tile and max_positions must be >= 0");
    VKG_CHECK(o.max_positions == 0 || gen != nullptr, "contextual_loss", "max_positions needs a Generator");
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    // near-equal tiles: boundaries at floor(i * size / count)
    const int64_t th = o.tile ? (H + o.tile - 1) / o.tile : 1, tw = o.tile ? (W + o.tile - 1) / o.tile : 1;
    Tensor total;
    for (int64_t a = 0; a < th; ++a)
        for (int64_t b = 0; b < tw; ++b) {
            const int64_t r0 = a * H / th, r1 = (a + 1) * H / th, c0 = b * W / tw, c1 = (b + 1) * W / tw;
            auto cut = [&](const Tensor& f) {
                return reshape(narrow(narrow(f, 2, r0, r1 - r0), 3, c0, c1 - c0), {N, C, (r1 - r0) * (c1 - c0)});
            };
            Tensor xt = cut(x), yt = cut(y);
            const int64_t P = xt.size(2);
            if (o.max_positions > 0 && P > o.max_positions) { // a partial Fisher–Yates shuffle
                std::vector<int64_t> idx(static_cast<size_t>(P));
                std::iota(idx.begin(), idx.end(), 0);
                for (int64_t i = 0; i < o.max_positions; ++i)
                    std::swap(idx[i], idx[i + static_cast<int64_t>(gen->uniform() * static_cast<double>(P - i))]);
                idx.resize(static_cast<size_t>(o.max_positions));
                const Tensor sel = from_vector(idx, {DType::i64, x.device()});
                xt = index_select(xt, 2, sel);
                yt = index_select(yt, 2, sel);
            }
            const Tensor cx = contextual_similarity(xt, yt, o.band_width);
            total = total.defined() ? total + cx : cx;
        }
    return mean(-log(total / static_cast<double>(th * tw) + 1e-5));
}

} // namespace vkgrad::losses
