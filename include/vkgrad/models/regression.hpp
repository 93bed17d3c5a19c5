// vkgrad/models/regression.hpp — the paper's first stage, whichever network it is: builds
// NAFNet or HINet from a weights file.
//
// vkgrad safetensors files (train_restore's output) carry their architecture in "__metadata__"
// ("arch" = "nafnet" | "hinet" and the sizes), so they need nothing else. The official releases
// (BasicSR .pth files with a "params" key) carry only weights: name their configuration.
//
//   config               network
//   nafnet-gopro-width32 NAFNet GoPro, width 32 (NAFNet-GoPro-width32.pth); "gopro-width32" also accepted
//   nafnet-gopro-width64 NAFNet GoPro, width 64 (NAFNet-GoPro-width64.pth); "gopro-width64" also accepted
//   hinet-gopro          HINet GoPro (HINet-GoPro.pth): wf 64, depth 5, HIN at levels 3..4
#pragma once
#include <algorithm>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../io/module_weights.hpp"
#include "../io/safetensors.hpp"
#include "hinet.hpp"
#include "nafnet.hpp"

namespace vkgrad::models {

/// The configurations load_regression_network accepts for official .pth files, for help texts.
inline const char* regression_config_names() { return "nafnet-gopro-width32 | nafnet-gopro-width64 | hinet-gopro"; }

/// Requires: `path` exists; a vkgrad safetensors file when `config` is empty, else a file with
/// the named configuration's parameters. Ensures: the network, weights loaded, in eval mode, on
/// the CPU; its forward maps [N, 3, H, W] (any H, W) to the restored image of the same shape.
/// Errors name the file and what is wrong (missing file, unknown config, foreign metadata,
/// missing or misshapen parameters). `local_pool` >= 0 overrides a NAFNet's test-time local
/// pooling window (NAFNetConfig::local_pool; 0 global); -1 keeps the file's (global for .pth).
inline std::unique_ptr<nn::Module> load_regression_network(const std::string& path, const std::string& config = "",
                                                          int64_t local_pool = -1) {
    const char* op = "load_regression_network";
    VKG_CHECK(std::filesystem::exists(path), op, "weights file '", path, "' does not exist");
    Generator init(0); // every parameter is overwritten by the file
    const auto nafnet = [&](NAFNetConfig c) {
        if (local_pool >= 0) c.local_pool = local_pool;
        return std::make_unique<NAFNet>(c, init);
    };
    const auto hinet = [&](const HINetConfig& c) {
        VKG_CHECK(local_pool <= 0, op, "'", path, "' is a HINet, which has no global pooling to make local (local_pool ",
                  local_pool, ")");
        return std::make_unique<HINet>(c, init);
    };
    std::unique_ptr<nn::Module> net;
    io::SafetensorsFile file;
    if (config.empty()) {
        const std::string ext = std::filesystem::path(path).extension().string();
        VKG_CHECK(ext == ".safetensors", op, "'", path, "' is not a vkgrad safetensors file: for an official .pth ",
                  "name its configuration (", regression_config_names(), ")");
        file = io::load_safetensors(path); // read once: metadata here, the tensors below
        const auto& meta = file.metadata;
        const MetadataReader r(meta, op, path);
        const std::string& arch = r.str("arch");
        if (arch == "nafnet") net = nafnet(NAFNetConfig::from_metadata(meta, path));
        else if (arch == "hinet") net = hinet(HINetConfig::from_metadata(meta, path));
        else ::vkgrad::detail::fail(op, "'", path, "' holds a '", arch, "' network, not a regression network (nafnet, hinet)");
    } else if (config == "nafnet-gopro-width32" || config == "gopro-width32") {
        net = nafnet(NAFNetConfig::gopro(32));
    } else if (config == "nafnet-gopro-width64" || config == "gopro-width64") {
        net = nafnet(NAFNetConfig::gopro(64));
    } else if (config == "hinet-gopro") {
        net = hinet(HINetConfig::gopro());
    } else {
        ::vkgrad::detail::fail(op, "unknown configuration '", config, "' (", regression_config_names(), ")");
    }
    if (config.empty()) {
        std::string in;
        const auto sd = io::read_state_dict(std::move(file), "", &in);
        io::load_module_weights(*net, sd, in);
    } else {
        io::load_module_weights(*net, path);
    }
    net->eval();
    return net;
}

/// The self-ensemble of Lim et al. (EDSR, 2017): the mean of the network's outputs over the
/// first `n` of the eight flips and transposes of the input, each output mapped back. A
/// restoration network is not equivariant to them, so the mean of its answers is a better one
/// (measured on the face model: +0.13 dB with n = 2, +0.18 dB with n = 4) at n times the cost.
///
/// Requires: n is 1, 2, 4 or 8; x is [N, C, H, W]; `net` maps any [N, C, H, W] to the same shape
/// (n = 8 also feeds it [N, C, W, H]). Ensures: the output has x's shape; n = 1 is net.forward(x)
/// itself. The order is: as is, flipped left-right, flipped upside down, both; then the same four
/// on the transposed image.
inline Tensor self_ensemble(nn::Module& net, const Tensor& x, int n) {
    VKG_CHECK(n == 1 || n == 2 || n == 4 || n == 8, "self_ensemble", "n must be 1, 2, 4 or 8, not ", n);
    VKG_CHECK(x.dim() == 4, "self_ensemble", "x must be [N, C, H, W], not ", to_string(x.shape()));
    if (n == 1) return net.forward(x);
    const auto to_view = [](Tensor t, int k) { // the k-th transform; flips commute, so undo is view, reversed
        if (k & 4) t = transpose(t, 2, 3);
        if (k & 1) t = flip(t, {3});
        if (k & 2) t = flip(t, {2});
        return t;
    };
    const auto from_view = [](Tensor t, int k) {
        if (k & 2) t = flip(t, {2});
        if (k & 1) t = flip(t, {3});
        if (k & 4) t = transpose(t, 2, 3);
        return t;
    };
    Tensor sum = net.forward(x);
    for (int k = 1; k < n; ++k) sum = sum + from_view(net.forward(to_view(x, k)), k);
    return sum * (1.0 / n); // exact: n is a power of two
}

namespace detail {
/// Where tiles of length `tile` start along an axis of length n so that neighbours share at
/// least `overlap` pixels: one tile when it covers the axis, else evenly spread from 0 to n - tile.
inline std::vector<int64_t> tile_starts(int64_t n, int64_t tile, int64_t overlap) {
    if (n <= tile) return {0};
    const int64_t stride = tile - overlap, count = (n - overlap + stride - 1) / stride;
    std::vector<int64_t> p(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) p[static_cast<size_t>(i)] = i * (n - tile) / (count - 1);
    return p;
}
/// A tile's weights along one axis: 1, except linear ramps across the pixels it shares with the
/// tile before (rising) and after (falling); every weight is positive.
inline std::vector<double> tile_ramp(const std::vector<int64_t>& starts, size_t i, int64_t len) {
    std::vector<double> w(static_cast<size_t>(len), 1.0);
    const int64_t p = starts[i];
    if (i > 0) {
        const int64_t shared = starts[i - 1] + len - p;
        for (int64_t t = 0; t < shared; ++t) w[static_cast<size_t>(t)] = (t + 0.5) / static_cast<double>(shared);
    }
    if (i + 1 < starts.size()) {
        const int64_t shared = p + len - starts[i + 1];
        for (int64_t t = 0; t < shared; ++t) w[static_cast<size_t>(len - shared + t)] = (shared - t - 0.5) / static_cast<double>(shared);
    }
    return w;
}
/// Every tile's ramp along one axis of length n (tile_ramp), divided by the sum of all tiles'
/// ramps at each pixel, so that they sum to 1 there however many tiles meet.
inline std::vector<std::vector<double>> tile_weights(const std::vector<int64_t>& starts, int64_t len, int64_t n) {
    std::vector<std::vector<double>> w;
    std::vector<double> total(static_cast<size_t>(n), 0.0);
    for (size_t i = 0; i < starts.size(); ++i) {
        w.push_back(tile_ramp(starts, i, len));
        for (int64_t t = 0; t < len; ++t) total[static_cast<size_t>(starts[i] + t)] += w.back()[static_cast<size_t>(t)];
    }
    for (size_t i = 0; i < starts.size(); ++i)
        for (int64_t t = 0; t < len; ++t) w[i][static_cast<size_t>(t)] /= total[static_cast<size_t>(starts[i] + t)];
    return w;
}
} // namespace detail

/// f applied tile by tile, to bound memory on large images: x is cut into tiles of at most
/// tile x tile pixels whose neighbours share at least `overlap` pixels, f maps each, and the
/// answers are blended with linear ramps across the shared pixels: a weighted mean, each tile's
/// weight a row ramp times a column ramp, each ramp normalised over the tiles of its axis, so
/// that the weights sum to 1 at every pixel, even where three tiles meet.
/// A network that looks beyond a pixel (any convolutional one) sees less context near a tile's
/// edge, so tiled and whole answers differ there: the overlap hides the seams, and the tile
/// should be large next to the network's pooling window.
///
/// Requires: x is [N, C, H, W]; f maps [N, C, h, w] to [N, C', h, w]; tile > overlap >= 0.
/// Ensures: [N, C', H, W]; exactly f(x) when one tile covers the image.
inline Tensor tiled(const std::function<Tensor(const Tensor&)>& f, const Tensor& x, int64_t tile, int64_t overlap) {
    VKG_CHECK(x.dim() == 4, "tiled", "x must be [N, C, H, W], not ", to_string(x.shape()));
    VKG_CHECK(tile > overlap && overlap >= 0, "tiled", "the tile (", tile, ") must exceed the overlap (", overlap,
              ") and the overlap be at least 0");
    const int64_t H = x.size(2), W = x.size(3);
    if (H <= tile && W <= tile) return f(x);
    const auto rows = detail::tile_starts(H, tile, overlap), cols = detail::tile_starts(W, tile, overlap);
    const int64_t th = std::min(H, tile), tw = std::min(W, tile);
    const auto rw = detail::tile_weights(rows, th, H), cw = detail::tile_weights(cols, tw, W);
    Tensor out;
    for (size_t i = 0; i < rows.size(); ++i)
        for (size_t j = 0; j < cols.size(); ++j) {
            const Tensor y = f(narrow(narrow(x, 2, rows[i], th), 3, cols[j], tw));
            VKG_CHECK(y.dim() == 4 && y.size(2) == th && y.size(3) == tw, "tiled", "f changed a tile's size: ",
                      to_string(y.shape()));
            std::vector<double> w(static_cast<size_t>(th * tw));
            for (int64_t a = 0; a < th; ++a)
                for (int64_t b = 0; b < tw; ++b) w[static_cast<size_t>(a * tw + b)] = rw[i][static_cast<size_t>(a)] * cw[j][static_cast<size_t>(b)];
            const Tensor part = pad(y * from_vector(w, {1, 1, th, tw}, {y.dtype(), y.device()}),
                                    {cols[j], W - cols[j] - tw, rows[i], H - rows[i] - th});
            out = out.defined() ? out + part : part;
        }
    return out;
}

} // namespace vkgrad::models
