// convert — a published StyleGAN2 checkpoint → vkgrad's StyleGAN2 safetensors file.
//
//   convert IN OUT.safetensors [--quiet]
//
// IN is an NVIDIA TF pickle ((G, D, Gs) of dnnlib.tflib networks), an NVIDIA
// stylegan2-ada-pytorch network pickle ({G, D, G_ema, ...}) or a rosinality/stylegan2-pytorch
// .pt (torch.save zip or legacy format). Nothing the pickle names is ever executed. OUT holds the
// averaged generator (G.*) and, when IN has one, the discriminator (D.*) under NVIDIA's names
// and layouts, with the inferred configuration in its __metadata__ (see
// include/vkgrad/models/stylegan2_import.hpp and stylegan2_config.hpp).
//
// Prints the detected format, the configuration, tensor counts, warnings and the time taken.
// Exit status: 0 on success; 1 on any error, printed as "convert: <message>" on stderr, with OUT
// untouched (the whole input is converted before anything is written, and the write is atomic);
// 2 on a usage error.
#include <vkgrad/models/stylegan2_import.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <new>
#include <string>

namespace {

void usage(std::FILE* to) {
    std::fprintf(to,
                 "usage: convert IN OUT.safetensors [--quiet]\n"
                 "\n"
                 "Converts a StyleGAN2 checkpoint to vkgrad's safetensors file:\n"
                 "  IN   NVIDIA TF pickle (G, D, Gs), NVIDIA stylegan2-ada-pytorch pickle (G_ema, D),\n"
                 "       or rosinality stylegan2-pytorch .pt (g_ema, d, latent_avg; zip or legacy)\n"
                 "  OUT  written atomically; never left partial\n"
                 "  --quiet  print nothing but errors\n"
                 "Conditional networks and architectures other than G 'skip' / D 'resnet' are refused.\n");
}

int run(const std::string& in, const std::string& out, bool quiet) {
    using namespace vkgrad;
    const auto t0 = std::chrono::steady_clock::now();
    models::StyleGAN2Checkpoint ck = models::import_stylegan2(in);
    size_t ng = 0, nd = 0;
    for (const auto& nt : ck.tensors) (nt.first[0] == 'G' ? ng : nd)++;
    models::save_stylegan2(ck, out);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (quiet) return 0;
    std::printf("convert: %s\n", in.c_str());
    std::printf("  format:   %s (%s)\n", ck.source_format.c_str(), ck.container.c_str());
    std::printf("  config:   %s\n", models::describe(ck.config).c_str());
    std::printf("  tensors:  G %zu, D %zu%s\n", ng, nd, ck.has_discriminator ? "" : " (no discriminator in the file)");
    const size_t shown = 20;
    for (size_t i = 0; i < ck.warnings.size() && i < shown; ++i) std::printf("  warning:  %s\n", ck.warnings[i].c_str());
    if (ck.warnings.size() > shown) std::printf("  warning:  ... and %zu more\n", ck.warnings.size() - shown);
    std::printf("  wrote %s in %.2f s\n", out.c_str(), secs);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    std::string in, out;
    bool quiet = false;
    int positional = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            usage(stdout);
            return 0;
        }
        if (a == "--quiet" || a == "-q") quiet = true;
        else if (a.size() > 1 && a[0] == '-') {
            std::fprintf(stderr, "convert: unknown option '%s'\n", a.c_str());
            usage(stderr);
            return 2;
        } else if (positional == 0) in = a, ++positional;
        else if (positional == 1) out = a, ++positional;
        else {
            std::fprintf(stderr, "convert: too many arguments ('%s')\n", a.c_str());
            usage(stderr);
            return 2;
        }
    }
    if (positional != 2) {
        usage(stderr);
        return 2;
    }
    try {
        return run(in, out, quiet);
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "convert: out of memory while converting '%s'\n", in.c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "convert: %s\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "convert: unknown error while converting '%s'\n", in.c_str());
    }
    return 1;
}
