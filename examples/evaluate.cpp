// evaluate — the paper's metrics over a folder of results against a folder of ground truth.
//
//   evaluate --pred DIR --gt DIR [--lpips alex|vgg|squeeze --lpips-backbone PATH [--lpips-heads PATH]]
//            [--fid-weights PATH | --fid] [--y-channel] [--json OUT.json]
//
// Images are paired by file name (PNG or JPEG), subfolders included (female/x.png with female/x.png,
// as blur apply and deblur write them). Prints PSNR and SSIM per image and their means
// (8-bit RGB, as scikit-image computes them; --y-channel for BT.601 luma), LPIPS when a backbone
// is given (torchvision's alexnet / vgg16 / squeezenet1_1 .pth; the heads ship in weights/lpips),
// FID when pytorch-fid's Inception weights are given (pt_inception-2015-12-05-6726825d.pth; pool3
// features of each set, then the Fréchet distance), and writes the same numbers as JSON. A file
// without a partner, or a pair of different sizes, is an error naming it: nothing is skipped
// silently. JSON cannot hold infinity, so the PSNR of identical images is written as null.
#include <vkgrad/io/image.hpp>
#include <vkgrad/io/json.hpp>
#include <vkgrad/metrics.hpp>
#include <vkgrad/models/inception.hpp>
#include <vkgrad/models/lpips.hpp>

#include "image_folders.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>

using namespace vkgrad;
namespace fs = std::filesystem;

namespace {

std::string default_heads(const std::string& net) {
    if (const char* w = std::getenv("VKGRAD_WEIGHTS"); w && *w) return std::string(w) + "/lpips/" + net + ".pth";
#ifdef VKGRAD_WEIGHTS_DIR
    return std::string(VKGRAD_WEIGHTS_DIR) + "/lpips/" + net + ".pth";
#else
    return "weights/lpips/" + net + ".pth";
#endif
}

/// JSON has no infinity: identical images (PSNR = inf) are written as null.
io::Json number(double v) { return std::isfinite(v) ? io::Json(v) : io::Json(); }

int usage(const char* argv0) {
    std::fprintf(stderr,
                 "usage: %s --pred DIR --gt DIR [--lpips alex|vgg|squeeze --lpips-backbone PATH [--lpips-heads PATH]]\n"
                 "          [--fid-weights PATH | --fid] [--y-channel] [--json OUT.json]\n"
                 "  --fid and a missing --lpips-backbone look in the folder named by VKGRAD_WEIGHTS\n",
                 argv0);
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    std::string pred, gt, lpips_net, backbone, heads, fid_weights, json_out;
    bool y_channel = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "evaluate: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--pred") pred = value();
        else if (a == "--gt") gt = value();
        else if (a == "--lpips") lpips_net = value();
        else if (a == "--lpips-backbone") backbone = value();
        else if (a == "--lpips-heads") heads = value();
        else if (a == "--fid-weights") fid_weights = value();
        else if (a == "--fid") { // pytorch-fid's file in the folder named by VKGRAD_WEIGHTS
            const char* w = std::getenv("VKGRAD_WEIGHTS");
            if (!w || !*w) {
                std::fprintf(stderr, "evaluate: --fid looks in $VKGRAD_WEIGHTS, which is not set; use --fid-weights PATH\n");
                return 2;
            }
            fid_weights = std::string(w) + "/pt_inception-2015-12-05-6726825d.pth";
        }
        else if (a == "--json") json_out = value();
        else if (a == "--y-channel") y_channel = true;
        else return usage(argv[0]);
    }
    if (pred.empty() || gt.empty()) return usage(argv[0]);
    try {
        const auto P = cli::images_under(pred, "--pred", "evaluate"), G = cli::images_under(gt, "--gt", "evaluate");
        std::vector<std::string> missing;
        for (auto& [n, p] : P)
            if (!G.count(n)) missing.push_back("'" + n + "' has no ground truth in " + gt);
        for (auto& [n, p] : G)
            if (!P.count(n)) missing.push_back("'" + n + "' has no prediction in " + pred);
        if (!missing.empty()) {
            for (auto& m : missing) std::fprintf(stderr, "evaluate: %s\n", m.c_str());
            return 1;
        }
        std::optional<models::FIDInception> inception;
        if (!fid_weights.empty()) {
            Generator gen(0);
            inception.emplace(gen);
            models::load_fid_inception(*inception, fid_weights);
            if (P.size() < 2048)
                std::fprintf(stderr, "evaluate: warning: FID from %zu images is biased upwards; papers use >= 2048 "
                                     "(and usually 10k-50k)\n", P.size());
        }
        std::vector<Tensor> fid_pred, fid_gt;

        std::optional<models::LPIPS> lpips;
        if (!lpips_net.empty()) {
            const std::map<std::string, models::LpipsNet> nets = {
                {"alex", models::LpipsNet::alex}, {"vgg", models::LpipsNet::vgg}, {"squeeze", models::LpipsNet::squeeze}};
            VKG_CHECK(nets.count(lpips_net), "evaluate", "--lpips must be alex, vgg or squeeze, got '", lpips_net, "'");
            if (backbone.empty()) // torchvision's file name in the folder named by VKGRAD_WEIGHTS
                if (const char* w = std::getenv("VKGRAD_WEIGHTS"); w && *w) {
                    const std::map<std::string, std::string> files = {{"alex", "alexnet-owt-7be5be79.pth"},
                                                                      {"vgg", "vgg16-397923af.pth"},
                                                                      {"squeeze", "squeezenet1_1-b8a52dc0.pth"}};
                    if (fs::exists(std::string(w) + "/" + files.at(lpips_net))) backbone = std::string(w) + "/" + files.at(lpips_net);
                }
            VKG_CHECK(!backbone.empty(), "evaluate", "--lpips needs --lpips-backbone PATH, or the torchvision file in the "
                                                     "folder named by VKGRAD_WEIGHTS (see weights/README.md)");
            Generator gen(0);
            lpips.emplace(nets.at(lpips_net), gen);
            lpips->load(backbone, heads.empty() ? default_heads(lpips_net) : heads);
        }

        std::printf("%-32s %9s %8s%s\n", "image", "PSNR", "SSIM", lpips ? "    LPIPS" : "");
        io::Json::Array rows;
        double sp = 0, ss = 0, sl = 0;
        for (auto& [name, path] : P) {
            const Tensor a = io::load_image(path.string()), b = io::load_image(G.at(name).string());
            VKG_CHECK(a.shape() == b.shape(), "evaluate", "'", name, "' is ", a.size(3), "x", a.size(2),
                      " in --pred but ", b.size(3), "x", b.size(2), " in --gt");
            const double p = metrics::psnr(a, b, {y_channel, 0}), s = metrics::ssim(a, b, y_channel);
            if (inception) {
                NoGradGuard ng;
                fid_pred.push_back(inception->forward(a));
                fid_gt.push_back(inception->forward(b));
            }
            io::Json::Object row{{"name", name}, {"psnr", number(p)}, {"ssim", s}};
            sp += p, ss += s;
            if (lpips) {
                NoGradGuard ng;
                const double l = lpips->distance(a, b, true).item();
                sl += l;
                row.emplace_back("lpips", l);
                std::printf("%-32s %9.4f %8.5f %8.5f\n", name.c_str(), p, s, l);
            } else {
                row.emplace_back("lpips", io::Json());
                std::printf("%-32s %9.4f %8.5f\n", name.c_str(), p, s);
            }
            std::fflush(stdout);
            rows.emplace_back(std::move(row));
        }
        const double n = static_cast<double>(P.size());
        std::printf("%-32s %9.4f %8.5f", "mean", sp / n, ss / n);
        if (lpips) std::printf(" %8.5f", sl / n);
        std::printf("\n");
        std::optional<double> fid;
        if (inception) {
            VKG_CHECK(P.size() >= 2, "evaluate", "FID needs at least 2 images per set, got ", P.size());
            fid = metrics::frechet_distance(metrics::feature_statistics(concat(fid_pred, 0)),
                                            metrics::feature_statistics(concat(fid_gt, 0)));
            std::printf("FID %.4f over %zu images\n", *fid, P.size());
        }
        if (!json_out.empty()) {
            io::Json::Object top{{"psnr", number(sp / n)}, {"ssim", ss / n}, {"lpips", lpips ? io::Json(sl / n) : io::Json()},
                                 {"fid", fid ? io::Json(*fid) : io::Json()}, {"count", static_cast<int64_t>(P.size())}, {"per_image", rows}};
            io::write_atomically(json_out, [&](std::ostream& f) { f << io::Json(top).dump() << "\n"; });
        }
    } catch (const Error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    return 0;
}
