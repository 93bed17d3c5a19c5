// vkgrad/io/safetensors.hpp — the safetensors format (Hugging Face): named tensors in one file.
//
// Layout: an 8-byte little-endian u64 N, N bytes of JSON header, then the data area. The header
// maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (byte offsets into
// the data area, raw little-endian elements in row-major order) and may hold "__metadata__", an
// object of string → string.
//
// save_safetensors writes float32/float64/int64 tensors as F32/F64/I64 (or float32 as F16 on
// request: half the file, for weights that tolerate 11-bit mantissas), contiguously in the
// given order, the header padded with spaces so the data area starts at a multiple of 8.
// load_safetensors reads F32, F64, I64 as themselves, F16 and BF16 as float32, and I32, I16, I8,
// U32, U16, U8 and BOOL as int64 (BOOL bytes become 0/1); other dtypes (U64, F8_*, ...) are
// refused. Loading checks everything (header length, JSON, fields, dtypes, shapes, offsets
// that tile the data area exactly) and every problem is an Error naming the file. Raw data is
// copied as is, so like vkgrad's .npy code this assumes a little-endian host.
#pragma once
#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "atomic_file.hpp"
#include "json.hpp"
#include "read_file.hpp"
#include "npy.hpp" // detail::half_to_float

namespace vkgrad::io {

/// The contents of a safetensors file. Tensors are host tensors, in header order.
struct SafetensorsFile {
    std::vector<std::pair<std::string, Tensor>> tensors;
    std::map<std::string, std::string> metadata; ///< the "__metadata__" object (empty if absent)
    std::string path;                            ///< the file it came from, for error messages

    /// The tensor called `name`; throws an Error naming it and the file when there is none.
    const Tensor& at(const std::string& name) const {
        for (const auto& nt : tensors)
            if (nt.first == name) return nt.second;
        std::string names;
        for (size_t i = 0; i < tensors.size() && i < 10; ++i) names += (i ? ", " : "") + tensors[i].first;
        if (tensors.size() > 10) names += ", ...";
        ::vkgrad::detail::fail("SafetensorsFile::at", "no tensor '", name, "' in '", path, "' (it has ",
                               tensors.size(), " tensors: ", names, ")");
    }
    bool contains(const std::string& name) const {
        return std::any_of(tensors.begin(), tensors.end(), [&](const auto& nt) { return nt.first == name; });
    }
};

namespace detail {

/// Decodes n little-endian elements at src into the tensor data at dst.
using SafetensorsDecoder = void (*)(const char* src, void* dst, size_t n);

template <class S, class D> void safetensors_convert(const char* src, void* dst, size_t n) {
    D* out = static_cast<D*>(dst);
    if constexpr (std::is_same_v<S, D>) {
        std::memcpy(out, src, n * sizeof(S));
    } else {
        for (size_t i = 0; i < n; ++i) {
            S v;
            std::memcpy(&v, src + i * sizeof(S), sizeof(S));
            out[i] = static_cast<D>(v);
        }
    }
}
inline void safetensors_f16(const char* src, void* dst, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        static_cast<float*>(dst)[i] = half_to_float(h);
    }
}
inline void safetensors_bf16(const char* src, void* dst, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        const uint32_t bits = static_cast<uint32_t>(h) << 16; // bfloat16 is the top half of a float32
        std::memcpy(static_cast<float*>(dst) + i, &bits, 4);
    }
}
inline void safetensors_bool(const char* src, void* dst, size_t n) {
    for (size_t i = 0; i < n; ++i) static_cast<int64_t*>(dst)[i] = src[i] != 0;
}

struct SafetensorsDType {
    const char* name;
    size_t size;             ///< bytes per element in the file
    DType dtype;             ///< what it loads as
    SafetensorsDecoder decode;
};
inline const SafetensorsDType* safetensors_dtype(const std::string& name) {
    static const SafetensorsDType table[] = {
        {"F32", 4, DType::f32, safetensors_convert<float, float>},
        {"F64", 8, DType::f64, safetensors_convert<double, double>},
        {"I64", 8, DType::i64, safetensors_convert<int64_t, int64_t>},
        {"F16", 2, DType::f32, safetensors_f16},
        {"BF16", 2, DType::f32, safetensors_bf16},
        {"I32", 4, DType::i64, safetensors_convert<int32_t, int64_t>},
        {"I16", 2, DType::i64, safetensors_convert<int16_t, int64_t>},
        {"I8", 1, DType::i64, safetensors_convert<int8_t, int64_t>},
        {"U32", 4, DType::i64, safetensors_convert<uint32_t, int64_t>},
        {"U16", 2, DType::i64, safetensors_convert<uint16_t, int64_t>},
        {"U8", 1, DType::i64, safetensors_convert<uint8_t, int64_t>},
        {"BOOL", 1, DType::i64, safetensors_bool},
    };
    for (const auto& d : table)
        if (name == d.name) return &d;
    return nullptr;
}

/// JSON text of v, shortened for error messages.
inline std::string brief_json(const Json& v) {
    std::string s = v.dump();
    return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

} // namespace detail

/// How save_safetensors stores float32 tensors.
enum class Float32As { f32, f16 };

/// Writes host tensors (float32, float64, int64) and string metadata as a safetensors file,
/// atomically: on any error the file at `path` is left as it was. With Float32As::f16 every
/// float32 tensor is rounded to float16 (to nearest, ties to even); a value that is not finite
/// or beyond float16's range is an error naming the tensor.
inline void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                             const std::map<std::string, std::string>& metadata = {},
                             Float32As float32_as = Float32As::f32) {
    const char* op = "save_safetensors";
    const auto halved = [&](const Tensor& t) { return float32_as == Float32As::f16 && t.dtype() == DType::f32; };
    std::vector<std::vector<uint16_t>> halves(tensors.size());
    Json::Object header;
    if (!metadata.empty()) {
        Json::Object meta;
        for (const auto& [k, v] : metadata) {
            VKG_CHECK(detail::valid_utf8(k) && detail::valid_utf8(v), op, "'", path, "': metadata entry '", k,
                      "' is not valid UTF-8");
            meta.emplace_back(k, v);
        }
        header.emplace_back("__metadata__", Json(std::move(meta)));
    }
    std::unordered_set<std::string> seen;
    uint64_t offset = 0;
    for (size_t ti = 0; ti < tensors.size(); ++ti) {
        const auto& [name, t] = tensors[ti];
        const std::string where = "'" + path + "': tensor '" + name + "'";
        VKG_CHECK(!name.empty(), op, "'", path, "': a tensor name is empty");
        VKG_CHECK(name != "__metadata__", op, where, ": the name '__metadata__' is reserved");
        VKG_CHECK(detail::valid_utf8(name), op, where, ": the name is not valid UTF-8");
        VKG_CHECK(seen.insert(name).second, op, where, ": the name appears twice");
        VKG_CHECK(t.defined(), op, where, " is undefined");
        VKG_CHECK(t.device().type == DeviceType::cpu, op, where, " is on ", to_string(t.device()),
                  "; copy it to the CPU first with to(t, Device{})");
        const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * (halved(t) ? 2 : dtype_size(t.dtype()));
        Json::Array shape(t.shape().begin(), t.shape().end());
        const char* dtype = halved(t) ? "F16" : t.dtype() == DType::f32 ? "F32" : t.dtype() == DType::f64 ? "F64" : "I64";
        if (halved(t)) {
            auto& h = halves[ti];
            h.resize(static_cast<size_t>(t.numel()));
            const float* v = t.data<float>();
            for (size_t i = 0; i < h.size(); ++i) {
                h[i] = detail::float_to_half(v[i]);
                VKG_CHECK((h[i] & 0x7c00) != 0x7c00, op, where, ": element ", i, " (", v[i],
                          ") is not finite or beyond float16's range (65504); it cannot be stored as F16");
            }
        }
        header.emplace_back(name, Json::Object{{"dtype", dtype},
                                               {"shape", std::move(shape)},
                                               {"data_offsets", Json::Array{offset, offset + nbytes}}});
        offset += nbytes;
    }
    std::string text = Json(std::move(header)).dump();
    text.append((8 - text.size() % 8) % 8, ' '); // the data area starts 8-byte aligned
    write_atomically(path, [&](std::ostream& o) {
        char len[8];
        for (int k = 0; k < 8; ++k) len[k] = static_cast<char>(static_cast<uint64_t>(text.size()) >> (8 * k) & 0xff);
        o.write(len, 8);
        o.write(text.data(), static_cast<std::streamsize>(text.size()));
        for (size_t i = 0; i < tensors.size(); ++i) {
            const Tensor& t = tensors[i].second;
            if (t.numel() == 0) continue;
            if (halved(t))
                o.write(reinterpret_cast<const char*>(halves[i].data()), static_cast<std::streamsize>(2 * halves[i].size()));
            else
                o.write(static_cast<const char*>(t.raw_data()),
                        static_cast<std::streamsize>(static_cast<size_t>(t.numel()) * dtype_size(t.dtype())));
        }
    });
}

inline SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& path);

/// Reads a safetensors file (dtype conversions in the file comment), validating all of it.
inline SafetensorsFile load_safetensors(const std::string& path) {
    const std::string bytes = read_file(path, "load_safetensors");
    return parse_safetensors(bytes, path);
}

/// The same from bytes in memory (`path` names them in errors): what load_safetensors and the
/// fuzzer call.
inline SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& path) {
    const char* op = "load_safetensors";
    const uint64_t size = bytes.size();
    VKG_CHECK(size >= 8, op, "'", path, "' is truncated: ", size,
              " bytes, too short for even the 8-byte header length of a safetensors file");
    uint64_t n = 0;
    for (int k = 7; k >= 0; --k) n = n << 8 | static_cast<unsigned char>(bytes[static_cast<size_t>(k)]);
    VKG_CHECK(n > 0, op, "'", path, "': the header length is 0");
    VKG_CHECK(n <= 100000000, op, "'", path, "': the header length ", n,
              " exceeds the limit of 100000000 bytes (not a safetensors file?)");
    VKG_CHECK(n <= size - 8, op, "'", path, "' is truncated: the header length is ", n, " but only ", size - 8,
              " bytes follow");
    const uint64_t data_size = size - 8 - n;
    const char* data = bytes.data() + 8 + n;

    Json header;
    try {
        header = parse_json(std::string_view(bytes.data() + 8, n), path);
    } catch (const JsonError& e) {
        ::vkgrad::detail::fail(op, "'", path, "': the header is not valid JSON: ", e.problem, " at header byte ",
                               e.offset, " (file byte ", 8 + e.offset, ")");
    }
    VKG_CHECK(header.is(Json::Type::object), op, "'", path, "': the header is not a JSON object");

    SafetensorsFile out;
    out.path = path;
    struct Entry {
        std::string name;
        const detail::SafetensorsDType* dtype;
        Shape shape;
        uint64_t begin, end;
    };
    std::vector<Entry> entries;
    for (const auto& [name, v] : header.as_object()) {
        if (name == "__metadata__") {
            VKG_CHECK(v.is(Json::Type::object), op, "'", path, "': __metadata__ is not an object");
            for (const auto& [k, s] : v.as_object()) {
                VKG_CHECK(s.is(Json::Type::string), op, "'", path, "': __metadata__ value for '", k,
                          "' is not a string but ", detail::brief_json(s));
                out.metadata[k] = s.as_string();
            }
            continue;
        }
        const std::string where = "'" + path + "': tensor '" + name + "'";
        VKG_CHECK(v.is(Json::Type::object), op, where, ": the entry is not an object");
        for (const auto& kv : v.as_object())
            VKG_CHECK(kv.first == "dtype" || kv.first == "shape" || kv.first == "data_offsets", op, where,
                      ": unexpected field '", kv.first, "' (expected dtype, shape, data_offsets)");
        const Json *dt = v.find("dtype"), *sh = v.find("shape"), *off = v.find("data_offsets");
        VKG_CHECK(dt && sh && off, op, where, ": missing field '", !dt ? "dtype" : !sh ? "shape" : "data_offsets", "'");

        Entry e{name, nullptr, {}, 0, 0};
        VKG_CHECK(dt->is(Json::Type::string), op, where, ": dtype is not a string but ", detail::brief_json(*dt));
        e.dtype = detail::safetensors_dtype(dt->as_string());
        VKG_CHECK(e.dtype != nullptr, op, where, ": unsupported dtype '", dt->as_string(),
                  "' (supported: F32, F64, I64, F16, BF16, I32, I16, I8, U32, U16, U8, BOOL)");

        VKG_CHECK(sh->is(Json::Type::array), op, where, ": shape is not an array but ", detail::brief_json(*sh));
        int64_t product = 1; // of the non-zero dimensions, so no partial product can overflow
        bool has_zero = false;
        for (const Json& d : sh->as_array()) {
            VKG_CHECK(d.is_int64() && d.as_int64() >= 0, op, where, ": shape ", detail::brief_json(*sh),
                      " is not a list of non-negative integers");
            const int64_t len = d.as_int64();
            has_zero |= len == 0;
            VKG_CHECK(len == 0 || product <= INT64_MAX / static_cast<int64_t>(e.dtype->size) / len, op, where,
                      ": shape ", detail::brief_json(*sh), " has too many elements");
            product *= len == 0 ? 1 : len;
            e.shape.push_back(len);
        }
        const uint64_t nbytes = has_zero ? 0 : static_cast<uint64_t>(product) * e.dtype->size;

        const bool pair = off->is(Json::Type::array) && off->as_array().size() == 2 &&
                          off->as_array()[0].is_uint64() && off->as_array()[1].is_uint64();
        VKG_CHECK(pair, op, where, ": data_offsets ", detail::brief_json(*off),
                  " is not a pair of non-negative integers");
        e.begin = off->as_array()[0].as_uint64();
        e.end = off->as_array()[1].as_uint64();
        const std::string offsets = "data_offsets [" + std::to_string(e.begin) + "," + std::to_string(e.end) + "]";
        VKG_CHECK(e.begin <= e.end, op, where, ": ", offsets, " begin after they end");
        VKG_CHECK(e.end <= data_size, op, where, ": ", offsets, " reach past the end of the data area (", data_size,
                  " bytes): the file is truncated or the offsets are wrong");
        VKG_CHECK(e.end - e.begin == nbytes, op, where, ": ", offsets, " hold ", e.end - e.begin,
                  " bytes, but shape ", to_string(e.shape), " of ", e.dtype->name, " needs ", nbytes);
        entries.push_back(std::move(e));
    }

    // The tensors must tile the data area: sorted by offset, each starts where the previous ends.
    std::vector<const Entry*> order;
    for (const auto& e : entries) order.push_back(&e);
    std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
        return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    uint64_t pos = 0;
    const Entry* prev = nullptr;
    for (const Entry* e : order) {
        const std::string where = "'" + path + "': tensor '" + e->name + "'";
        VKG_CHECK(e->begin >= pos, op, where, " at data_offsets [", e->begin, ",", e->end, "] overlaps tensor '",
                  prev ? prev->name : "", "', which ends at ", pos);
        VKG_CHECK(e->begin == pos, op, where, " at data_offsets [", e->begin, ",", e->end, "] leaves a gap of ",
                  e->begin - pos, " unused bytes ",
                  prev ? "after tensor '" + prev->name + "'"
                       : std::string("at the start of the data area (offsets must start at 0)"));
        pos = e->end;
        prev = e;
    }
    VKG_CHECK(pos == data_size, op, "'", path, "': the tensors cover ", pos, " bytes but the data area has ",
              data_size, " (", data_size - pos, " unused bytes at its end)");

    for (const auto& e : entries) {
        Tensor t = empty_cpu(e.shape, e.dtype->dtype);
        if (t.numel() > 0) e.dtype->decode(data + e.begin, t.raw_data(), static_cast<size_t>(t.numel()));
        out.tensors.emplace_back(e.name, std::move(t));
    }
    return out;
}

} // namespace vkgrad::io
