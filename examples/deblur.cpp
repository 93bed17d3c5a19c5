// deblur — removes camera-shake blur from photos with a regression network (NAFNet or HINet).
//
//   deblur --in IN.png --out OUT.png [--weights W] [--device cpu|vulkan] [--threads N] [--compare SHEET.png]
//   deblur --in DIR --out DIR [...]                 every PNG/JPEG of DIR, same names, written as PNG
//
// Without --weights it uses the small face model trained here (weights/nafnet_faces_small.safetensors,
// see weights/README.md). W may also be a vkgrad safetensors file (NAFNet or HINet, from
// train_restore), or an official release (BasicSR .pth with a "params" key) together with
// --config nafnet-gopro-width32 | nafnet-gopro-width64 | hinet-gopro. Any image size works (the
// network pads internally); gray images stay gray. --compare writes input | output side by side.
#include <vkgrad/io/image.hpp>
#include <vkgrad/io/module_weights.hpp>
#include <vkgrad/io/progress.hpp>
#include <vkgrad/models/regression.hpp>
#include <vkgrad/vkgrad.hpp>
#ifdef VKGRAD_WITH_VULKAN
#include <vkgrad/vulkan.hpp>
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace vkgrad;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string default_weights() {
    const std::string name = "nafnet_faces_small.safetensors";
    if (const char* w = std::getenv("VKGRAD_WEIGHTS"); w && *w && fs::exists(std::string(w) + "/" + name))
        return std::string(w) + "/" + name;
#ifdef VKGRAD_WEIGHTS_DIR
    return std::string(VKGRAD_WEIGHTS_DIR) + "/" + name;
#else
    return "weights/" + name;
#endif
}

Device pick_device(const std::string& name) {
    if (name == "cpu") return Device{};
#ifdef VKGRAD_WITH_VULKAN
    if (name == "vulkan") return vulkan::device(); // throws, saying why, without a device
#else
    VKG_CHECK(name != "vulkan", "deblur", "this build has no Vulkan support (install libvulkan-dev, rebuild)");
#endif
    detail::fail("deblur", "--device must be cpu or vulkan, got '", name, "'");
}

/// The network a weights file describes (models/regression.hpp): vkgrad files carry the
/// architecture in their metadata, official .pth files need --config.
std::unique_ptr<nn::Module> load_model(const std::string& path, const std::string& config) {
    VKG_CHECK(fs::exists(path), "deblur", "weights file '", path, "' does not exist",
              config.empty() && path == default_weights() ? " (the default model ships in weights/; is this a full clone?)" : "");
    return models::load_regression_network(path, config);
}

/// Whether the three planes of [1, 3, H, W] are equal (how load_image returns a gray file).
bool is_gray(const Tensor& img) {
    const auto v = img.to_vector<float>();
    const size_t plane = v.size() / 3;
    for (size_t i = 0; i < plane; ++i)
        if (v[i] != v[plane + i] || v[i] != v[2 * plane + i]) return false;
    return true;
}

bool is_image(const fs::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

/// Restores one file; returns the seconds the network took.
double deblur_file(nn::Module& net, Device dev, const fs::path& in, const fs::path& out, const std::string& compare) {
    const Tensor img = io::load_image(in.string()); // [1, 3, H, W] in [0, 1]; gray files come as three equal planes
    const bool gray = is_gray(img);
    const auto t0 = Clock::now();
    Tensor y;
    {
        NoGradGuard ng;
        y = clamp(to(net.forward(to(img, dev)), Device{}), 0, 1);
    }
    const double secs = since(t0);
    const Tensor result = gray ? mean(y, {1}, true) : y;
    io::save_png(out.string(), result);
    if (!compare.empty()) io::save_grid(compare, concat({gray ? mean(img, {1}, true) : img, result}, 0), 2);
    return secs;
}

} // namespace

int main(int argc, char** argv) {
    std::map<std::string, std::string> a;
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        if (k == "--help" || k == "-h" || k.rfind("--", 0) != 0 || i + 1 >= argc) {
            std::fprintf(stderr,
                         "usage: deblur --in IN.png|DIR --out OUT.png|DIR [--weights W]\n"
                         "              [--config nafnet-gopro-width32|nafnet-gopro-width64|hinet-gopro]\n"
                         "              [--device cpu|vulkan] [--threads N] [--compare SHEET.png]\n");
            return 2;
        }
        a[k] = argv[++i];
    }
    const std::set<std::string> known = {"--in", "--out", "--weights", "--config", "--device", "--threads", "--compare"};
    for (auto& [k, v] : a)
        if (!known.count(k)) {
            std::fprintf(stderr, "deblur: unknown flag %s\n", k.c_str());
            return 2;
        }
    try {
        VKG_CHECK(a.count("--in") && a.count("--out"), "deblur", "--in and --out are required");
        const auto t0 = Clock::now();
        if (a.count("--threads")) set_num_threads(std::stoi(a["--threads"]));
        const Device dev = pick_device(a.count("--device") ? a["--device"] : "cpu");
        const std::string weights = a.count("--weights") ? a["--weights"] : default_weights();
        auto net = load_model(weights, a.count("--config") ? a["--config"] : "");
        net->move_to(dev);
        const fs::path in = a["--in"], out = a["--out"];
        if (fs::is_directory(in)) {
            std::vector<fs::path> files;
            for (const auto& e : fs::directory_iterator(in))
                if (e.is_regular_file() && is_image(e.path())) files.push_back(e.path());
            std::sort(files.begin(), files.end());
            VKG_CHECK(!files.empty(), "deblur", "'", in.string(), "' holds no PNG or JPEG images");
            fs::create_directories(out);
            io::Progress progress(static_cast<int64_t>(files.size()), 0.0);
            for (size_t i = 0; i < files.size(); ++i) {
                const fs::path dst = out / files[i].filename().replace_extension(".png");
                deblur_file(*net, dev, files[i], dst, "");
                progress.update(static_cast<int64_t>(i + 1));
            }
        } else {
            VKG_CHECK(fs::exists(in), "deblur", "input image '", in.string(), "' does not exist");
            const double net_secs = deblur_file(*net, dev, in, out, a.count("--compare") ? a["--compare"] : "");
            std::fprintf(stderr, "deblur: wrote %s (network %.2f s, total %.2f s)\n", out.string().c_str(), net_secs, since(t0));
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "deblur: %s\n", e.what());
        return 1;
    }
}
