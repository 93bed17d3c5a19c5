// vkgrad/io/npy.hpp — numpy's .npy format: the fixture format, and how users exchange arrays.
//
// Reads versions 1.0–3.0, little- or big-endian, C or Fortran order. float32/float64 load as
// themselves; float16 becomes float32; integer and bool types become int64. Anything else
// (complex, object, strings) and every kind of damage is an Error naming the file.
#pragma once
#include <cmath>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "../ops/creation.hpp"
#include "../ops/shape.hpp"
#include "atomic_file.hpp"

namespace vkgrad::io {

namespace detail {

inline float half_to_float(uint16_t h) {
    // Bit manipulation, not ldexp: a float16 weights file has millions of these to convert.
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) { // zero or subnormal: man * 2^-24, exact in float
        const float v = static_cast<float>(man) * 0x1p-24f;
        std::memcpy(&bits, &v, 4);
        bits |= sign;
    } else if (exp == 31) {
        if (man) return std::numeric_limits<float>::quiet_NaN();
        bits = sign | 0x7f800000u; // infinity
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13); // exponent bias 15 -> 127, mantissa 10 -> 23 bits
    }
    float v;
    std::memcpy(&v, &bits, 4);
    return v;
}

/// The float16 nearest to v (ties to even), as bits; values beyond the largest half (65504,
/// after rounding) become infinities and NaN stays NaN, as IEEE conversion does.
inline uint16_t float_to_half(float v) {
    uint32_t x;
    std::memcpy(&x, &v, 4);
    const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
    const uint32_t a = x & 0x7fffffffu;
    if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00); // NaN
    if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00); // rounds to >= 65520: infinity
    if (a < 0x38800000u) { // below 2^-14: a subnormal half, units of 2^-24
        // a * 2^24 rounded to an integer, ties to even (the float's value times 2^24 is exact).
        const float scaled = std::ldexp(std::fabs(v), 24);
        const float r = std::nearbyint(scaled); // the default rounding mode is to nearest even
        return static_cast<uint16_t>(sign | static_cast<uint16_t>(r));
    }
    // Normal: rebias the exponent, keep 10 mantissa bits, round the 13 dropped ones to even.
    const uint32_t base = ((a >> 23) - 112) << 10 | ((a >> 13) & 0x3ff), rest = a & 0x1fff;
    const uint32_t up = rest > 0x1000 || (rest == 0x1000 && (base & 1));
    return static_cast<uint16_t>(sign | (base + up)); // a carry into the exponent is still right
}

/// Text of the value that follows 'key': in the header dict (up to the next top-level comma).
inline std::string header_value(const std::string& h, const std::string& key, const std::string& path) {
    const auto k = h.find("'" + key + "'");
    VKG_CHECK(k != std::string::npos, "load_npy", "'", path, "': header has no '", key, "': ", h);
    auto p = h.find(':', k);
    VKG_CHECK(p != std::string::npos, "load_npy", "'", path, "': malformed header: ", h);
    ++p;
    while (p < h.size() && h[p] == ' ') ++p;
    size_t e = p;
    if (e < h.size() && h[e] == '(') e = h.find(')', e) + 1;
    else if (e < h.size() && h[e] == '\'') e = h.find('\'', e + 1) + 1;
    else
        while (e < h.size() && h[e] != ',' && h[e] != '}') ++e;
    VKG_CHECK(e != std::string::npos && e != 0 && e <= h.size(), "load_npy", "'", path, "': malformed header: ", h);
    return h.substr(p, e - p);
}

} // namespace detail

/// Loads a .npy file into a host tensor (dtype conversions in the file comment).
inline Tensor load_npy(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    VKG_CHECK(f.good(), "load_npy", "cannot open '", path, "'");
    f.seekg(0, std::ios::end);
    const auto file_size = static_cast<int64_t>(f.tellg());
    f.seekg(0);
    char magic[8] = {};
    f.read(magic, 8);
    VKG_CHECK(f.gcount() == 8 && std::memcmp(magic, "\x93NUMPY", 6) == 0, "load_npy", "'", path,
              "' is not a .npy file (bad magic)");
    const int major = static_cast<unsigned char>(magic[6]);
    VKG_CHECK(major >= 1 && major <= 3, "load_npy", "'", path, "': unsupported .npy version ", major);
    uint32_t hlen = 0;
    unsigned char lb[4] = {};
    f.read(reinterpret_cast<char*>(lb), major == 1 ? 2 : 4);
    hlen = major == 1 ? (lb[0] | lb[1] << 8) : (lb[0] | lb[1] << 8 | lb[2] << 16 | static_cast<uint32_t>(lb[3]) << 24);
    const int64_t data_start = (major == 1 ? 10 : 12) + static_cast<int64_t>(hlen);
    VKG_CHECK(f.good() && data_start <= file_size, "load_npy", "'", path, "' is truncated inside its header");
    std::string h(hlen, '\0');
    f.read(h.data(), hlen);

    std::string descr = detail::header_value(h, "descr", path);
    VKG_CHECK(descr.size() >= 4 && descr.front() == '\'' && descr.back() == '\'', "load_npy", "'", path,
              "': malformed dtype ", descr);
    descr = descr.substr(1, descr.size() - 2);
    const std::string fortran = detail::header_value(h, "fortran_order", path);
    const std::string shape_txt = detail::header_value(h, "shape", path);

    Shape shape;
    {
        std::string s = shape_txt.substr(1, shape_txt.size() - 2);
        size_t p = 0;
        while (p < s.size()) {
            while (p < s.size() && (s[p] == ' ' || s[p] == ',')) ++p;
            if (p >= s.size()) break;
            size_t e = p;
            while (e < s.size() && std::isdigit(static_cast<unsigned char>(s[e]))) ++e;
            VKG_CHECK(e > p, "load_npy", "'", path, "': malformed shape ", shape_txt);
            shape.push_back(std::stoll(s.substr(p, e - p)));
            p = e;
            while (p < s.size() && s[p] == 'L') ++p; // Python 2 longs
        }
    }

    const char order = descr[0], kind = descr[1];
    const int width = std::atoi(descr.c_str() + 2);
    const bool big = order == '>';
    const bool known = (order == '<' || order == '>' || order == '|' || order == '=') &&
                       ((kind == 'f' && (width == 2 || width == 4 || width == 8)) ||
                        ((kind == 'i' || kind == 'u') && (width == 1 || width == 2 || width == 4 || width == 8)) ||
                        (kind == 'b' && width == 1));
    VKG_CHECK(known, "load_npy", "'", path, "' has unsupported dtype '", descr,
              "' (supported: float16/32/64, signed and unsigned integers, bool)");
    const int64_t n = numel(shape);
    const int64_t nbytes = n * width;
    VKG_CHECK(file_size - data_start >= nbytes, "load_npy", "'", path, "' is truncated: shape ", to_string(shape),
              " of ", descr, " needs ", nbytes, " bytes of data, the file has ", file_size - data_start);
    std::vector<unsigned char> raw(static_cast<size_t>(nbytes));
    f.read(reinterpret_cast<char*>(raw.data()), nbytes);
    VKG_CHECK(f.gcount() == nbytes, "load_npy", "'", path, "': read failed");
    if (big && width > 1)
        for (int64_t i = 0; i < n; ++i) std::reverse(raw.begin() + i * width, raw.begin() + (i + 1) * width);

    const bool is_fortran = fortran.rfind("True", 0) == 0;
    const Shape file_shape = is_fortran ? Shape(shape.rbegin(), shape.rend()) : shape;
    Tensor t;
    const unsigned char* p = raw.data();
    auto load = [&](auto tag, DType dt) {
        using S = decltype(tag);
        t = empty_cpu(file_shape, dt);
        visit_dtype(dt, [&](auto* dtag) {
            using D = std::remove_pointer_t<decltype(dtag)>;
            D* out = t.data<D>();
            for (int64_t i = 0; i < n; ++i) {
                S v;
                std::memcpy(&v, p + i * width, sizeof(S));
                out[i] = static_cast<D>(v);
            }
        });
    };
    if (kind == 'f' && width == 2) {
        t = empty_cpu(file_shape, DType::f32);
        float* out = t.data<float>();
        for (int64_t i = 0; i < n; ++i) {
            uint16_t v;
            std::memcpy(&v, p + i * 2, 2);
            out[i] = detail::half_to_float(v);
        }
    } else if (kind == 'f' && width == 4) load(float{}, DType::f32);
    else if (kind == 'f') load(double{}, DType::f64);
    else if (kind == 'b' || (kind == 'u' && width == 1)) load(uint8_t{}, DType::i64);
    else if (kind == 'u' && width == 2) load(uint16_t{}, DType::i64);
    else if (kind == 'u' && width == 4) load(uint32_t{}, DType::i64);
    else if (kind == 'u') load(uint64_t{}, DType::i64);
    else if (width == 1) load(int8_t{}, DType::i64);
    else if (width == 2) load(int16_t{}, DType::i64);
    else if (width == 4) load(int32_t{}, DType::i64);
    else load(int64_t{}, DType::i64);
    if (is_fortran && shape.size() > 1) {
        std::vector<int64_t> rev(shape.size());
        for (size_t i = 0; i < rev.size(); ++i) rev[i] = static_cast<int64_t>(rev.size() - 1 - i);
        NoGradGuard ng;
        t = permute(t, rev);
    }
    return t;
}

/// Loads and converts to `dtype`.
inline Tensor load_npy(const std::string& path, DType dtype) {
    NoGradGuard ng;
    return to(load_npy(path), dtype);
}

/// Writes a host tensor as .npy version 1.0 (little-endian, C order), atomically.
inline void save_npy(const std::string& path, const Tensor& x) {
    const Tensor t = to(detach(x), Device{});
    const char* descr = t.dtype() == DType::f32 ? "<f4" : t.dtype() == DType::f64 ? "<f8" : "<i8";
    std::string shape = "(";
    for (size_t i = 0; i < t.dim(); ++i) shape += std::to_string(t.shape()[i]) + (t.dim() == 1 ? "," : i + 1 < t.dim() ? ", " : "");
    shape += ")";
    std::string h = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
    const size_t total = 10 + h.size() + 1;
    h.append((64 - total % 64) % 64, ' ');
    h += '\n';
    write_atomically(path, [&](std::ostream& o) {
        o.write("\x93NUMPY\x01\x00", 8);
        const uint16_t hl = static_cast<uint16_t>(h.size());
        const char lb[2] = {static_cast<char>(hl & 0xff), static_cast<char>(hl >> 8)};
        o.write(lb, 2);
        o.write(h.data(), static_cast<std::streamsize>(h.size()));
        o.write(static_cast<const char*>(t.raw_data()),
                static_cast<std::streamsize>(static_cast<size_t>(t.numel()) * dtype_size(t.dtype())));
    });
}

} // namespace vkgrad::io
