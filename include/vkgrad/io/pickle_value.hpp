// vkgrad/io/pickle_value.hpp — the value tree an unpickled file becomes, and raw element decoding.
//
// A PyObject is an inert description of a Python value: nothing in it can run code. Containers
// hold shared_ptrs so a value the pickle memoises and refers to twice is one shared node, as in
// Python (and a dict memoised before it is filled sees the later SETITEMS). Storages keep a view
// of the file's bytes; tensors are built from them as contiguous vkgrad tensors (float types
// become float32 or float64, integer and bool types int64).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../core/tensor.hpp"
#include "npy.hpp" // detail::half_to_float

namespace vkgrad::io {

/// Element types found in torch storages and numpy arrays.
enum class ElemType { f32, f16, bf16, f64, i64, i32, i16, i8, u8, u16, u32, u64, boolean };

inline size_t elem_size(ElemType t) {
    switch (t) {
    case ElemType::f64: case ElemType::i64: case ElemType::u64: return 8;
    case ElemType::f32: case ElemType::i32: case ElemType::u32: return 4;
    case ElemType::f16: case ElemType::bf16: case ElemType::i16: case ElemType::u16: return 2;
    default: return 1;
    }
}
/// The vkgrad dtype an element type loads as.
inline DType load_dtype(ElemType t) {
    switch (t) {
    case ElemType::f32: case ElemType::f16: case ElemType::bf16: return DType::f32;
    case ElemType::f64: return DType::f64;
    default: return DType::i64;
    }
}

/// A torch storage: `numel` elements of `type`, whose bytes are at buffer->data() + offset once
/// `loaded` (legacy files give the bytes only after the pickle that refers to them).
struct PyStorage {
    ElemType type = ElemType::f32;
    std::string key, location;
    int64_t numel = 0;
    std::shared_ptr<const std::string> buffer;
    size_t offset = 0;
    bool loaded = false;
    const unsigned char* bytes() const { return reinterpret_cast<const unsigned char*>(buffer->data()) + offset; }
};

/// A tensor whose storage bytes were not yet available when the pickle described it.
struct PendingTensor {
    std::shared_ptr<PyStorage> storage;
    int64_t offset = 0;
    Shape size, stride;
};

struct PyObject;
using PyObjectPtr = std::shared_ptr<PyObject>;

struct PyObject {
    enum class Kind { none, boolean, integer, bigint, floating, str, bytes, list, tuple, dict, set, tensor, storage, global, object };
    Kind kind = Kind::none;
    bool flag = false;     ///< boolean value; for sets: frozenset
    int64_t integer = 0;
    double floating = 0;
    std::string text;      ///< str (UTF-8 as stored), bytes, bigint (little-endian two's complement), global: module
    std::string name;      ///< global, object: "module.qualname"; dict: its class when not plain ("collections.OrderedDict")
    std::vector<PyObjectPtr> items;                           ///< list/tuple/set elements; object: appended items
    std::vector<std::pair<PyObjectPtr, PyObjectPtr>> entries; ///< dict pairs in insertion order; object: set items
    PyObjectPtr args;      ///< object: the arguments it was "called" with (never actually called)
    PyObjectPtr state;     ///< object, dict, tensor: the BUILD state, kept for inspection
    Tensor tensor;                          ///< kind tensor, once its storage was loaded
    std::shared_ptr<PendingTensor> pending; ///< kind tensor, before that
    std::shared_ptr<PyStorage> storage;     ///< kind storage

    explicit PyObject(Kind k = Kind::none) : kind(k) {}
    PyObject(const PyObject&) = delete;
    PyObject& operator=(const PyObject&) = delete;
    // Deeply nested values (a hostile file can nest a million lists) must not overflow the
    // C++ stack when freed, so children are released from a work list instead of recursively.
    ~PyObject() {
        std::vector<PyObjectPtr> work;
        take_children(work);
        while (!work.empty()) {
            PyObjectPtr p = std::move(work.back());
            work.pop_back();
            if (p && p.use_count() == 1) p->take_children(work);
        }
    }

    /// Every node made while an unpickler runs is registered with it (see pickle.hpp), so a
    /// graph with a cycle — which reference counting would leak — can be taken apart.
    static std::vector<std::weak_ptr<PyObject>>*& registry() {
        thread_local std::vector<std::weak_ptr<PyObject>>* r = nullptr;
        return r;
    }
    static PyObjectPtr make(Kind k) {
        auto p = std::make_shared<PyObject>(k);
        if (auto* r = registry()) r->push_back(p);
        return p;
    }
    /// Drops every link out of this node (used to break cycles).
    void unlink() {
        items.clear();
        entries.clear();
        args.reset();
        state.reset();
    }
    static PyObjectPtr none() { return make(Kind::none); }
    static PyObjectPtr boolean(bool b) { auto p = make(Kind::boolean); p->flag = b; return p; }
    static PyObjectPtr integer_of(int64_t v) { auto p = make(Kind::integer); p->integer = v; return p; }
    static PyObjectPtr floating_of(double v) { auto p = make(Kind::floating); p->floating = v; return p; }
    static PyObjectPtr str_of(std::string s) { auto p = make(Kind::str); p->text = std::move(s); return p; }
    static PyObjectPtr bytes_of(std::string s) { auto p = make(Kind::bytes); p->text = std::move(s); return p; }
    static PyObjectPtr tensor_of(Tensor t) { auto p = make(Kind::tensor); p->tensor = std::move(t); return p; }
    static PyObjectPtr sequence(Kind k, std::vector<PyObjectPtr> v) { auto p = make(k); p->items = std::move(v); return p; }

    bool is(Kind k) const { return kind == k; }
    bool is_none() const { return kind == Kind::none; }
    /// A short description for error messages: "int", "opaque object os.system", ...
    std::string describe() const {
        static const char* names[] = {"None", "bool", "int", "big int", "float", "str", "bytes", "list", "tuple",
                                      "dict", "set", "tensor", "storage", "global", "opaque object"};
        std::string d = names[static_cast<int>(kind)];
        if (kind == Kind::global || kind == Kind::object) d += " " + name;
        return d;
    }
    /// Python truthiness-free integer access: requires an int or bool.
    int64_t as_int() const {
        VKG_CHECK(kind == Kind::integer || kind == Kind::boolean, "PyObject", "expected an int, got ", describe());
        return kind == Kind::boolean ? static_cast<int64_t>(flag) : integer;
    }
    /// Requires an int, bool or float.
    double as_double() const {
        if (kind == Kind::floating) return floating;
        return static_cast<double>(as_int());
    }
    /// Requires a str.
    const std::string& as_str() const {
        VKG_CHECK(kind == Kind::str, "PyObject", "expected a str, got ", describe());
        return text;
    }
    /// Requires a tensor whose storage was loaded.
    const Tensor& as_tensor() const {
        VKG_CHECK(kind == Kind::tensor, "PyObject", "expected a tensor, got ", describe());
        VKG_CHECK(tensor.defined(), "PyObject", "tensor storage was never loaded");
        return tensor;
    }
    /// The value under str key `key` of a dict, or nullptr (also when this is not a dict).
    PyObjectPtr find(std::string_view key) const {
        if (kind != Kind::dict) return nullptr;
        for (const auto& kv : entries)
            if (kv.first && kv.first->kind == Kind::str && kv.first->text == key) return kv.second;
        return nullptr;
    }
    /// Like find, but requires the key to exist.
    PyObjectPtr at(std::string_view key) const {
        PyObjectPtr p = find(key);
        VKG_CHECK(p != nullptr, "PyObject", "no key '", key, "' in ", describe());
        return p;
    }

private:
    void take_children(std::vector<PyObjectPtr>& work) {
        for (auto& c : items) work.push_back(std::move(c));
        for (auto& kv : entries) {
            work.push_back(std::move(kv.first));
            work.push_back(std::move(kv.second));
        }
        items.clear();
        entries.clear();
        if (args) work.push_back(std::move(args));
        if (state) work.push_back(std::move(state));
    }
};

namespace detail {

/// One element at p (little-endian unless `swap`) converted to D.
template <class D> D decode_element(const unsigned char* p, ElemType t, bool swap) {
    unsigned char b[8];
    const size_t n = elem_size(t);
    for (size_t i = 0; i < n; ++i) b[i] = swap ? p[n - 1 - i] : p[i];
    auto get = [&](auto v) {
        std::memcpy(&v, b, sizeof v);
        return v;
    };
    switch (t) {
    case ElemType::f32: return static_cast<D>(get(float{}));
    case ElemType::f64: return static_cast<D>(get(double{}));
    case ElemType::f16: return static_cast<D>(half_to_float(get(uint16_t{})));
    case ElemType::bf16: {
        const uint32_t bits = static_cast<uint32_t>(get(uint16_t{})) << 16;
        float f;
        std::memcpy(&f, &bits, 4);
        return static_cast<D>(f);
    }
    case ElemType::i64: return static_cast<D>(get(int64_t{}));
    case ElemType::i32: return static_cast<D>(get(int32_t{}));
    case ElemType::i16: return static_cast<D>(get(int16_t{}));
    case ElemType::i8: return static_cast<D>(get(int8_t{}));
    case ElemType::u8: return static_cast<D>(get(uint8_t{}));
    case ElemType::u16: return static_cast<D>(get(uint16_t{}));
    case ElemType::u32: return static_cast<D>(get(uint32_t{}));
    case ElemType::u64: return static_cast<D>(get(uint64_t{}));
    case ElemType::boolean: return static_cast<D>(b[0] != 0);
    }
    return D{};
}

/// Largest tensor a file may ask for relative to its data: views with zero strides can repeat
/// a small storage, but a hostile file must not make us allocate terabytes from a few bytes.
inline constexpr int64_t max_broadcast_elements = int64_t(1) << 24;

/// A contiguous copy of the strided view (offset, size, stride, all in elements) of `count`
/// elements at `data`. Requires nothing of the arguments: every problem is an Error from `op`.
inline Tensor gather_strided(const unsigned char* data, int64_t count, ElemType type, bool swap, int64_t offset,
                             const Shape& size, const Shape& stride, const char* op) {
    VKG_CHECK(size.size() == stride.size(), op, "size ", to_string(size), " and stride ", to_string(stride),
              " differ in length");
    VKG_CHECK(size.size() <= 64, op, "too many dimensions (", size.size(), ")");
    VKG_CHECK(offset >= 0, op, "negative storage offset ", offset);
    constexpr int64_t limit = int64_t(1) << 40;
    int64_t numel = 1, last = offset;
    for (size_t d = 0; d < size.size(); ++d) {
        VKG_CHECK(size[d] >= 0 && size[d] <= limit, op, "bad size ", to_string(size));
        VKG_CHECK(stride[d] >= 0 && stride[d] <= limit, op, "bad stride ", to_string(stride));
        numel = size[d] == 0 ? 0 : numel;
        if (numel) VKG_CHECK(numel <= limit / size[d], op, "size ", to_string(size), " is too large");
        numel *= size[d];
        if (size[d] > 0) last += (size[d] - 1) * stride[d];
    }
    if (numel > 0)
        VKG_CHECK(last < count, op, "view (offset ", offset, ", size ", to_string(size), ", stride ",
                  to_string(stride), ") reaches element ", last, " of a storage with ", count, " elements");
    VKG_CHECK(numel <= std::max(count, max_broadcast_elements), op, "view of ", numel,
              " elements over a storage of ", count, " is too large");
    const DType dt = load_dtype(type);
    Tensor out = empty_cpu(size, dt);
    const size_t es = elem_size(type);
    visit_dtype(dt, [&](auto* tag) {
        using D = std::remove_pointer_t<decltype(tag)>;
        D* dst = out.data<D>();
        std::vector<int64_t> idx(size.size(), 0);
        int64_t pos = offset;
        for (int64_t i = 0; i < numel; ++i) {
            dst[i] = decode_element<D>(data + static_cast<size_t>(pos) * es, type, swap);
            for (size_t d = size.size(); d-- > 0;) { // odometer over the logical C order
                pos += stride[d];
                if (++idx[d] < size[d]) break;
                pos -= stride[d] * size[d];
                idx[d] = 0;
            }
        }
    });
    return out;
}

/// The tensor a pending view describes; requires its storage to be loaded.
inline Tensor materialize(const PendingTensor& p) {
    VKG_CHECK(p.storage && p.storage->loaded, "load_torch", "tensor refers to storage '",
              p.storage ? p.storage->key : "", "' whose data never appeared in the file");
    return gather_strided(p.storage->bytes(), p.storage->numel, p.storage->type, false, p.offset, p.size, p.stride,
                          "load_torch");
}

} // namespace detail

/// Builds every pending tensor reachable from `root` whose storage is now loaded (visiting each
/// node once, so shared and cyclic graphs are fine). Ensures: no loaded pending tensor remains.
inline void materialize_tensors(const PyObjectPtr& root) {
    std::vector<PyObject*> work{root.get()};
    std::unordered_set<const PyObject*> seen;
    while (!work.empty()) {
        PyObject* p = work.back();
        work.pop_back();
        if (!p || !seen.insert(p).second) continue;
        if (p->kind == PyObject::Kind::tensor && p->pending) {
            p->tensor = detail::materialize(*p->pending);
            p->pending.reset();
        }
        for (auto& c : p->items) work.push_back(c.get());
        for (auto& kv : p->entries) {
            work.push_back(kv.first.get());
            work.push_back(kv.second.get());
        }
        work.push_back(p->args.get());
        work.push_back(p->state.get());
    }
}

} // namespace vkgrad::io
