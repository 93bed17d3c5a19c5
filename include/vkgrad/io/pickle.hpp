// vkgrad/io/pickle.hpp — a pickle reader that never executes anything the data asks for.
//
// Python's pickle is a small stack machine whose GLOBAL/REDUCE/BUILD opcodes import and call
// arbitrary functions; that is how a .pkl file can run `os.system`. This reader only builds an
// inert PyObject tree (pickle_value.hpp). A GLOBAL is just a name. Calling it (REDUCE, NEWOBJ,
// INST, OBJ) gives data only for an allow-list of constructors torch, numpy and the StyleGAN
// code base need — containers, torch's tensor/storage rebuild functions, numpy arrays and
// scalars, EasyDict, persistent modules; every other call becomes an opaque object that records
// the name and arguments and is never run. Persistent ids and torch.storage._load_from_bytes
// are handed to callbacks (torch_file.hpp supplies them).
//
// Protocols 0–5 are read (protocol-0 text opcodes except STRING). Every length is checked
// against the remaining bytes, every pop against the stack and the current MARK, every memo
// reference against the memo; any problem is an Error naming the input and the byte offset.
#pragma once
#include <charconv>
#include <cstdlib>
#include <functional>
#include <new>
#include <unordered_map>

#include "json.hpp" // detail::utf8_sequence_length, append_utf8
#include "pickle_value.hpp"

namespace vkgrad::io {

/// Hooks for the parts of a pickle that refer to data outside it.
struct UnpickleOptions {
    /// Resolves a persistent id (BINPERSID/PERSID); when empty, a persistent id is an Error.
    std::function<PyObjectPtr(const PyObjectPtr& pid)> persistent_load;
    /// Result of torch.storage._load_from_bytes(blob); when empty, that call is an Error.
    std::function<PyObjectPtr(const std::string& blob)> load_from_bytes;
};

struct UnpickleResult {
    PyObjectPtr value; ///< what STOP returned
    size_t end = 0;    ///< offset just after the STOP opcode
};

namespace detail {

/// True for the global names that construct an EasyDict (a dict with attribute access).
inline bool is_easydict(const std::string& g) { return g == "dnnlib.EasyDict" || g == "dnnlib.util.EasyDict"; }
inline bool is_np_reconstruct(const std::string& g) {
    return g == "numpy.core.multiarray._reconstruct" || g == "numpy._core.multiarray._reconstruct";
}
inline bool is_np_scalar(const std::string& g) {
    return g == "numpy.core.multiarray.scalar" || g == "numpy._core.multiarray.scalar";
}

/// Storage element type for a torch storage class or dtype global ("torch.FloatStorage",
/// "torch.float16", ...); returns false for any other name.
inline bool torch_elem_type(const std::string& g, ElemType& t) {
    static const std::pair<const char*, ElemType> table[] = {
        {"Float", ElemType::f32}, {"Half", ElemType::f16}, {"BFloat16", ElemType::bf16},
        {"Double", ElemType::f64}, {"Long", ElemType::i64}, {"Int", ElemType::i32},
        {"Short", ElemType::i16}, {"Char", ElemType::i8}, {"Byte", ElemType::u8},
        {"Bool", ElemType::boolean}, {"float32", ElemType::f32}, {"float", ElemType::f32},
        {"float16", ElemType::f16}, {"half", ElemType::f16}, {"bfloat16", ElemType::bf16},
        {"float64", ElemType::f64}, {"double", ElemType::f64}, {"int64", ElemType::i64},
        {"long", ElemType::i64}, {"int32", ElemType::i32}, {"int", ElemType::i32},
        {"int16", ElemType::i16}, {"short", ElemType::i16}, {"int8", ElemType::i8},
        {"uint8", ElemType::u8}, {"bool", ElemType::boolean}};
    if (g == "torch.storage.UntypedStorage" || g == "torch.UntypedStorage") return t = ElemType::u8, true;
    for (const auto& [n, e] : table) {
        const std::string full = std::string("torch.") + n;
        if (g == full || g == full + "Storage") return t = e, true;
    }
    return false;
}

/// numpy dtype code ("f4", "<i8", "|b1", ...) → element type and whether bytes need swapping.
inline bool numpy_elem_type(std::string code, char order, ElemType& t, bool& swap) {
    if (!code.empty() && (code[0] == '<' || code[0] == '>' || code[0] == '|' || code[0] == '=')) {
        order = code[0];
        code.erase(0, 1);
    }
    static const std::pair<const char*, ElemType> table[] = {
        {"f4", ElemType::f32}, {"f2", ElemType::f16}, {"f8", ElemType::f64}, {"i8", ElemType::i64},
        {"i4", ElemType::i32}, {"i2", ElemType::i16}, {"i1", ElemType::i8}, {"u1", ElemType::u8},
        {"u2", ElemType::u16}, {"u4", ElemType::u32}, {"u8", ElemType::u64}, {"b1", ElemType::boolean}};
    for (const auto& [n, e] : table)
        if (code == n) {
            t = e;
            swap = order == '>' && elem_size(e) > 1;
            return true;
        }
    return false;
}

} // namespace detail

/// The pickle stack machine. Construct with the bytes (which must outlive it), then run().
class Unpickler {
public:
    /// `what` names the input in error messages; `base` is added to reported byte offsets.
    Unpickler(std::string_view data, size_t start, std::string what, const UnpickleOptions& opt, size_t base = 0)
        : d_(data), pos_(start), what_(std::move(what)), opt_(opt), base_(base) {}

    /// Runs until STOP. Ensures: the result holds the top of the stack and the offset after STOP.
    /// Every malformed input throws an Error naming the input and the offending byte offset.
    UnpickleResult run() {
        try {
            for (;;) {
                VKG_CHECK(pos_ < d_.size(), "unpickle", "'", what_, "': data ends before STOP at byte ", at(pos_));
                op_ = pos_;
                const auto op = static_cast<unsigned char>(d_[pos_++]);
                if (op == '.') {
                    VKG_CHECK(marks_.empty(), "unpickle", "'", what_, "': STOP inside an unclosed MARK at byte ", at(op_));
                    return {pop(), pos_};
                }
                step(op);
            }
        } catch (const Error& e) {
            if (std::string_view(e.what()).rfind("unpickle: '" + what_ + "':", 0) == 0) throw;
            fail(e.what()); // errors from nested code get this input's name and offset too
        } catch (const std::bad_alloc&) {
            fail("out of memory");
        } catch (const std::length_error&) {
            fail("allocation too large");
        }
    }

private:
    using Kind = PyObject::Kind;

    size_t at(size_t p) const { return base_ + p; }
    [[noreturn]] void fail(const std::string& msg) const {
        ::vkgrad::detail::fail("unpickle", "'", what_, "': ", msg, " (opcode at byte ", at(op_), ")");
    }

    // --- reading the byte stream ---
    std::string_view take(uint64_t n) {
        if (n > d_.size() - pos_) fail("length " + std::to_string(n) + " runs past the end of the data");
        auto s = d_.substr(pos_, static_cast<size_t>(n));
        pos_ += static_cast<size_t>(n);
        return s;
    }
    uint64_t le(size_t n) {
        const auto s = take(n);
        uint64_t v = 0;
        for (size_t i = n; i-- > 0;) v = (v << 8) | static_cast<unsigned char>(s[i]);
        return v;
    }
    std::string_view line() {
        const size_t nl = d_.find('\n', pos_);
        if (nl == std::string_view::npos) fail("unterminated text argument");
        auto s = d_.substr(pos_, nl - pos_);
        pos_ = nl + 1;
        return s;
    }
    int64_t parse_int(std::string_view s) {
        if (!s.empty() && s[0] == '+') s.remove_prefix(1);
        int64_t v = 0;
        const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size())
            fail("bad or too large integer '" + std::string(s.substr(0, 40)) + "'");
        return v;
    }

    // --- the stack, MARKs and memo ---
    size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
    PyObjectPtr pop() {
        if (stack_.size() <= floor()) fail("stack underflow");
        PyObjectPtr p = std::move(stack_.back());
        stack_.pop_back();
        return p;
    }
    const PyObjectPtr& top() {
        if (stack_.size() <= floor()) fail("stack underflow");
        return stack_.back();
    }
    void push(PyObjectPtr p) { stack_.push_back(std::move(p)); }
    std::vector<PyObjectPtr> pop_mark() {
        if (marks_.empty()) fail("no MARK to pop to");
        std::vector<PyObjectPtr> items(std::make_move_iterator(stack_.begin() + static_cast<ptrdiff_t>(marks_.back())),
                                       std::make_move_iterator(stack_.end()));
        stack_.resize(marks_.back());
        marks_.pop_back();
        return items;
    }
    void memo_put(uint64_t i) { memo_[i] = top(); }
    void memo_get(uint64_t i) {
        const auto it = memo_.find(i);
        if (it == memo_.end()) fail("memo entry " + std::to_string(i) + " was never stored");
        push(it->second);
    }

    // --- values ---
    PyObjectPtr make_long(std::string_view b) {
        if (b.size() > 4096) fail("integer of " + std::to_string(b.size()) + " bytes is too large");
        if (b.empty()) return PyObject::integer_of(0);
        const auto byte = [&](size_t i) { return static_cast<unsigned char>(b[i]); };
        const bool neg = byte(b.size() - 1) & 0x80;
        bool fits = true;
        for (size_t i = 8; i < b.size(); ++i) fits = fits && byte(i) == (neg ? 0xFF : 0x00);
        if (b.size() > 8) fits = fits && ((byte(7) & 0x80) != 0) == neg;
        if (!fits) {
            auto p = PyObject::make(Kind::bigint);
            p->text = std::string(b);
            return p;
        }
        uint64_t v = neg ? ~uint64_t(0) : 0;
        for (size_t i = std::min<size_t>(b.size(), 8); i-- > 0;) v = (v << 8) | byte(i);
        if (b.size() < 8 && neg) v |= ~uint64_t(0) << (8 * b.size());
        return PyObject::integer_of(static_cast<int64_t>(v));
    }
    // Protocol-0 UNICODE is raw-unicode-escape: latin-1 bytes plus \uXXXX and \UXXXXXXXX.
    std::string raw_unicode_escape(std::string_view s) {
        std::string out;
        for (size_t i = 0; i < s.size(); ++i) {
            const size_t n = i + 1 < s.size() && s[i] == '\\' ? (s[i + 1] == 'u' ? 4 : s[i + 1] == 'U' ? 8 : 0) : 0;
            if (n && i + 2 + n <= s.size()) {
                uint32_t cp = 0;
                const auto r = std::from_chars(s.data() + i + 2, s.data() + i + 2 + n, cp, 16);
                if (r.ec != std::errc() || r.ptr != s.data() + i + 2 + n || cp > 0x10FFFF) fail("bad \\u escape");
                detail::append_utf8(out, cp);
                i += 1 + n;
            } else {
                detail::append_utf8(out, static_cast<unsigned char>(s[i]));
            }
        }
        return out;
    }
    PyObjectPtr tuple_of(std::vector<PyObjectPtr> v) { return PyObject::sequence(Kind::tuple, std::move(v)); }
    PyObjectPtr opaque(std::string name, PyObjectPtr args) {
        auto p = PyObject::make(Kind::object);
        p->name = std::move(name);
        p->args = std::move(args);
        return p;
    }
    const std::vector<PyObjectPtr>& elements(const PyObjectPtr& p, const std::string& g) {
        if (p->kind != Kind::list && p->kind != Kind::tuple && p->kind != Kind::set)
            fail(g + ": expected a list, tuple or set, got " + p->describe());
        return p->items;
    }
    std::vector<int64_t> int_tuple(const PyObjectPtr& p, const std::string& g) {
        std::vector<int64_t> v;
        for (const auto& x : elements(p, g)) {
            if (x->kind != Kind::integer) fail(g + ": expected integers, got " + x->describe());
            v.push_back(x->integer);
        }
        return v;
    }
    void need_args(const std::vector<PyObjectPtr>& a, size_t n, const std::string& g) {
        if (a.size() < n) fail(g + ": needs " + std::to_string(n) + " arguments, got " + std::to_string(a.size()));
    }

    // --- the allow-list: what "calling" a global gives ---
    PyObjectPtr call(const PyObjectPtr& func, const PyObjectPtr& args) {
        if (args->kind != Kind::tuple) fail("call arguments must be a tuple, got " + args->describe());
        if (func->kind != Kind::global) return opaque("(result of " + func->describe() + ")", args);
        const std::string& g = func->name;
        const auto& a = args->items;
        if (g == "collections.OrderedDict" || g == "builtins.dict" || detail::is_easydict(g)) {
            auto d = PyObject::make(Kind::dict);
            if (g != "builtins.dict") d->name = g;
            if (a.size() > 1) fail(g + ": too many arguments");
            if (a.size() == 1 && a[0]->kind == Kind::dict) d->entries = a[0]->entries;
            else if (a.size() == 1)
                for (const auto& kv : elements(a[0], g)) {
                    if ((kv->kind != Kind::tuple && kv->kind != Kind::list) || kv->items.size() != 2)
                        fail(g + ": expected key/value pairs, got " + kv->describe());
                    d->entries.emplace_back(kv->items[0], kv->items[1]);
                }
            return d;
        }
        if (g == "builtins.set" || g == "builtins.frozenset" || g == "builtins.list" || g == "builtins.tuple" ||
            g == "torch.Size") {
            const Kind k = g == "builtins.list" ? Kind::list : (g == "builtins.tuple" || g == "torch.Size") ? Kind::tuple : Kind::set;
            auto p = PyObject::make(k);
            p->flag = g == "builtins.frozenset";
            if (a.size() > 1) fail(g + ": too many arguments");
            if (a.size() == 1 && a[0]->kind == Kind::dict)
                for (const auto& kv : a[0]->entries) p->items.push_back(kv.first);
            else if (a.size() == 1) p->items = elements(a[0], g);
            return p;
        }
        if (g == "_codecs.encode") return codecs_encode(a);
        if (g == "builtins.bytes" || g == "builtins.bytearray") {
            if (a.empty()) return PyObject::bytes_of({});
            if (a.size() == 2) return codecs_encode(a); // bytearray(latin-1 text, 'latin-1')
            if (a.size() == 1 && a[0]->kind == Kind::bytes) return PyObject::bytes_of(a[0]->text);
            return opaque(g, args);
        }
        if (g == "torch._utils._rebuild_tensor_v2" || g == "torch._utils._rebuild_tensor") return rebuild_tensor(a, g);
        if (g == "torch._utils._rebuild_parameter" || g == "torch._utils._rebuild_parameter_with_state") {
            need_args(a, 1, g);
            if (a[0]->kind != Kind::tensor) fail(g + ": expected a tensor, got " + a[0]->describe());
            return a[0];
        }
        if (g == "torch._tensor._rebuild_from_type_v2") {
            need_args(a, 3, g);
            if (++call_depth_ > 16) fail(g + ": nested too deeply");
            auto r = call(a[0], a[2]);
            --call_depth_;
            return r;
        }
        if (g == "torch.storage._load_from_bytes") {
            need_args(a, 1, g);
            if (a[0]->kind != Kind::bytes) fail(g + ": expected bytes, got " + a[0]->describe());
            if (!opt_.load_from_bytes) fail(g + ": no handler for embedded torch files");
            return opt_.load_from_bytes(a[0]->text);
        }
        if (detail::is_np_scalar(g)) return numpy_scalar(a, g);
        if (g == "torch_utils.persistence._reconstruct_persistent_obj" && a.size() == 1 && a[0]->kind == Kind::dict) {
            auto p = opaque(g, args);
            p->state = a[0]->find("state");
            return p;
        }
        return opaque(g, args); // everything else, os.system included, is only recorded
    }

    PyObjectPtr codecs_encode(const std::vector<PyObjectPtr>& a) {
        // Protocol 2 writes bytes as _codecs.encode(latin-1 text, 'latin1'): decode back.
        need_args(a, 2, "_codecs.encode");
        if (a[0]->kind != Kind::str || a[1]->kind != Kind::str) fail("_codecs.encode: expected (str, str)");
        const std::string& enc = a[1]->text;
        if (enc != "latin1" && enc != "latin-1" && enc != "iso-8859-1") fail("_codecs.encode: unsupported encoding '" + enc + "'");
        const std::string& s = a[0]->text;
        std::string out;
        for (size_t i = 0; i < s.size();) {
            const size_t n = detail::utf8_sequence_length(s, i);
            if (n == 0 || n > 2) fail("_codecs.encode: text is not latin-1");
            const auto c0 = static_cast<unsigned char>(s[i]);
            out += static_cast<char>(n == 1 ? c0 : ((c0 & 0x1F) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3F));
            i += n;
        }
        return PyObject::bytes_of(std::move(out));
    }

    PyObjectPtr rebuild_tensor(const std::vector<PyObjectPtr>& a, const std::string& g) {
        need_args(a, 4, g);
        if (a[0]->kind != Kind::storage) fail(g + ": expected a storage, got " + a[0]->describe());
        if (a[1]->kind != Kind::integer) fail(g + ": storage offset must be an int, got " + a[1]->describe());
        auto pend = std::make_shared<PendingTensor>();
        pend->storage = a[0]->storage;
        pend->offset = a[1]->integer;
        pend->size = int_tuple(a[2], g);
        pend->stride = int_tuple(a[3], g);
        auto t = PyObject::make(Kind::tensor);
        if (pend->storage->loaded) t->tensor = detail::materialize(*pend);
        else t->pending = std::move(pend);
        return t;
    }

    // A numpy.dtype object (opaque "numpy.dtype" with args (code, align, copy) and BUILD state
    // (version, byteorder, ...)) → element type and byte order.
    void numpy_dtype(const PyObjectPtr& dt, const std::string& g, ElemType& t, bool& swap) {
        if (dt->kind != Kind::object || dt->name != "numpy.dtype" || !dt->args || dt->args->items.empty() ||
            dt->args->items[0]->kind != Kind::str)
            fail(g + ": expected a numpy.dtype, got " + dt->describe());
        char order = '<';
        if (dt->state && dt->state->kind == Kind::tuple && dt->state->items.size() > 1 &&
            dt->state->items[1]->kind == Kind::str && dt->state->items[1]->text.size() == 1)
            order = dt->state->items[1]->text[0];
        if (!detail::numpy_elem_type(dt->args->items[0]->text, order, t, swap))
            fail(g + ": unsupported numpy dtype '" + dt->args->items[0]->text.substr(0, 40) + "'");
    }
    PyObjectPtr numpy_scalar(const std::vector<PyObjectPtr>& a, const std::string& g) {
        need_args(a, 2, g);
        ElemType t;
        bool swap;
        numpy_dtype(a[0], g, t, swap);
        if (a[1]->kind != Kind::bytes || a[1]->text.size() != elem_size(t)) fail(g + ": expected the scalar's bytes");
        const auto* p = reinterpret_cast<const unsigned char*>(a[1]->text.data());
        if (t == ElemType::boolean) return PyObject::boolean(p[0] != 0);
        if (load_dtype(t) == DType::i64) return PyObject::integer_of(detail::decode_element<int64_t>(p, t, swap));
        return PyObject::floating_of(detail::decode_element<double>(p, t, swap));
    }
    // BUILD state of numpy's _reconstruct: (version, shape, dtype, is_fortran, raw bytes).
    void build_ndarray(PyObject& obj, const PyObjectPtr& st) {
        const std::string g = "numpy ndarray";
        if (st->kind != Kind::tuple || st->items.size() != 5) fail(g + ": unexpected state " + st->describe());
        const auto& s = st->items;
        Shape shape = int_tuple(s[1], g);
        ElemType t;
        bool swap;
        numpy_dtype(s[2], g, t, swap);
        if (s[4]->kind != Kind::bytes) fail(g + ": data must be bytes (object arrays are not supported), got " + s[4]->describe());
        Shape stride(shape.size());
        int64_t n = 1;
        const bool fortran = s[3]->kind == Kind::boolean && s[3]->flag;
        for (size_t k = 0; k < shape.size(); ++k) {
            const size_t d = fortran ? k : shape.size() - 1 - k;
            stride[d] = n;
            if (shape[d] < 0 || (shape[d] > 0 && n > (int64_t(1) << 40) / shape[d])) fail(g + ": bad shape");
            n *= shape[d];
        }
        if (static_cast<uint64_t>(n) * elem_size(t) != s[4]->text.size())
            fail(g + ": " + std::to_string(s[4]->text.size()) + " data bytes for " + std::to_string(n) + " elements");
        obj.tensor = detail::gather_strided(reinterpret_cast<const unsigned char*>(s[4]->text.data()), n, t, swap, 0,
                                            shape, stride, "unpickle");
        obj.kind = Kind::tensor;
        obj.state = st;
    }
    void build(const PyObjectPtr& obj, const PyObjectPtr& st) {
        switch (obj->kind) {
        case Kind::dict:
            if (detail::is_easydict(obj->name) && st->kind == Kind::dict)
                obj->entries.insert(obj->entries.end(), st->entries.begin(), st->entries.end());
            else obj->state = st;
            return;
        case Kind::object:
            if (detail::is_np_reconstruct(obj->name)) return build_ndarray(*obj, st);
            if (obj->name == "dnnlib.tflib.network.Network" && st->kind == Kind::dict) {
                obj->kind = Kind::dict; // TF networks are plain state dicts to us
                obj->entries = st->entries;
                return;
            }
            obj->state = st;
            return;
        case Kind::tensor: case Kind::list: case Kind::set: case Kind::tuple: case Kind::storage:
            obj->state = st;
            return;
        default: fail("BUILD on a " + obj->describe());
        }
    }

    PyObjectPtr persistent(const PyObjectPtr& pid) {
        if (!opt_.persistent_load) fail("persistent id in a pickle that has no external storages");
        return opt_.persistent_load(pid);
    }

    void append_to(const PyObjectPtr& target, std::vector<PyObjectPtr> v) {
        if (target->kind != Kind::list && target->kind != Kind::object) fail("APPEND to a " + target->describe());
        target->items.insert(target->items.end(), std::make_move_iterator(v.begin()), std::make_move_iterator(v.end()));
    }
    void setitems(const PyObjectPtr& target, std::vector<PyObjectPtr> v) {
        if (target->kind != Kind::dict && target->kind != Kind::object) fail("SETITEM on a " + target->describe());
        if (v.size() % 2) fail("odd number of items for a dict");
        for (size_t i = 0; i < v.size(); i += 2) target->entries.emplace_back(std::move(v[i]), std::move(v[i + 1]));
    }
    PyObjectPtr global(std::string module, std::string name) {
        if (module.empty() || name.empty() || module.size() > 1024 || name.size() > 1024) fail("bad global name");
        // Protocol < 3 writers map Python 3 module names to their Python 2 spelling.
        if (module == "__builtin__") module = "builtins";
        else if (module == "copy_reg") module = "copyreg";
        auto p = PyObject::make(Kind::global);
        p->name = module + "." + name;
        p->text = std::move(module);
        return p;
    }

    void step(unsigned char op) {
        switch (op) {
        case 0x80: if (le(1) > 5) fail("unsupported pickle protocol"); break; // PROTO
        case 0x95: if (le(8) > d_.size() - pos_) fail("FRAME runs past the end of the data"); break;
        case '(': marks_.push_back(stack_.size()); break;
        case '0': if (stack_.size() > floor()) pop(); else pop_mark(); break; // POP (as Python: may drop a MARK)
        case '1': pop_mark(); break;
        case '2': push(top()); break;
        case 'N': push(PyObject::none()); break;
        case 0x88: push(PyObject::boolean(true)); break;
        case 0x89: push(PyObject::boolean(false)); break;
        case 'J': push(PyObject::integer_of(static_cast<int32_t>(static_cast<uint32_t>(le(4))))); break;
        case 'K': push(PyObject::integer_of(static_cast<int64_t>(le(1)))); break;
        case 'M': push(PyObject::integer_of(static_cast<int64_t>(le(2)))); break;
        case 0x8a: { const auto n = le(1); push(make_long(take(n))); break; }
        case 0x8b: { const auto n = static_cast<int32_t>(static_cast<uint32_t>(le(4)));
            if (n < 0) fail("negative LONG4 length");
            push(make_long(take(static_cast<uint64_t>(n)))); break; }
        case 'I': { const auto s = line();
            if (s == "00" || s == "01") push(PyObject::boolean(s == "01"));
            else push(PyObject::integer_of(parse_int(s)));
            break; }
        case 'L': { auto s = line();
            if (!s.empty() && s.back() == 'L') s.remove_suffix(1);
            push(PyObject::integer_of(parse_int(s))); break; }
        case 'F': { const std::string s(line());
            char* end = nullptr;
            const double v = std::strtod(s.c_str(), &end);
            if (s.empty() || end != s.c_str() + s.size()) fail("bad float literal");
            push(PyObject::floating_of(v)); break; }
        case 'G': { const auto s = take(8);
            uint64_t bits = 0;
            for (char c : s) bits = (bits << 8) | static_cast<unsigned char>(c);
            double v;
            std::memcpy(&v, &bits, 8);
            push(PyObject::floating_of(v)); break; }
        case 'X': push(PyObject::str_of(std::string(take(le(4))))); break;
        case 0x8c: push(PyObject::str_of(std::string(take(le(1))))); break;
        case 0x8d: push(PyObject::str_of(std::string(take(le(8))))); break;
        case 'V': push(PyObject::str_of(raw_unicode_escape(line()))); break;
        case 'T': { const auto n = static_cast<int32_t>(static_cast<uint32_t>(le(4)));
            if (n < 0) fail("negative BINSTRING length");
            push(PyObject::str_of(std::string(take(static_cast<uint64_t>(n))))); break; }
        case 'U': push(PyObject::str_of(std::string(take(le(1))))); break;
        case 'B': push(PyObject::bytes_of(std::string(take(le(4))))); break;
        case 'C': push(PyObject::bytes_of(std::string(take(le(1))))); break;
        case 0x8e: case 0x96: push(PyObject::bytes_of(std::string(take(le(8))))); break;
        case ')': push(tuple_of({})); break;
        case 0x85: case 0x86: case 0x87: {
            std::vector<PyObjectPtr> v(op - 0x84);
            for (size_t i = v.size(); i-- > 0;) v[i] = pop();
            push(tuple_of(std::move(v))); break; }
        case 't': push(tuple_of(pop_mark())); break;
        case ']': push(PyObject::make(Kind::list)); break;
        case 'l': push(PyObject::sequence(Kind::list, pop_mark())); break;
        case 'a': { auto v = pop(); append_to(top(), {std::move(v)}); break; }
        case 'e': { auto v = pop_mark(); append_to(top(), std::move(v)); break; }
        case '}': push(PyObject::make(Kind::dict)); break;
        case 'd': { auto d = PyObject::make(Kind::dict); setitems(d, pop_mark()); push(std::move(d)); break; }
        case 's': { auto v = pop(); auto k = pop(); setitems(top(), {std::move(k), std::move(v)}); break; }
        case 'u': { auto v = pop_mark(); setitems(top(), std::move(v)); break; }
        case 0x8f: push(PyObject::make(Kind::set)); break;
        case 0x90: { auto v = pop_mark();
            const auto& s = top();
            if (s->kind != Kind::set) fail("ADDITEMS to a " + s->describe());
            s->items.insert(s->items.end(), v.begin(), v.end()); break; }
        case 0x91: { auto s = PyObject::sequence(Kind::set, pop_mark()); s->flag = true; push(std::move(s)); break; }
        case 'p': memo_put(static_cast<uint64_t>(parse_int(line()))); break;
        case 'q': memo_put(le(1)); break;
        case 'r': memo_put(le(4)); break;
        case 0x94: memo_put(memo_.size()); break;
        case 'g': memo_get(static_cast<uint64_t>(parse_int(line()))); break;
        case 'h': memo_get(le(1)); break;
        case 'j': memo_get(le(4)); break;
        case 'c': { std::string m(line()); push(global(std::move(m), std::string(line()))); break; }
        case 0x93: { auto n = pop(); auto m = pop();
            if (m->kind != Kind::str || n->kind != Kind::str) fail("STACK_GLOBAL needs two strings");
            push(global(m->text, n->text)); break; }
        case 'R': { auto a = pop(); auto f = pop(); push(call(f, a)); break; }
        case 0x81: { auto a = pop(); auto c = pop(); push(call(c, a)); break; }
        case 0x92: { pop(); auto a = pop(); auto c = pop(); push(call(c, a)); break; } // NEWOBJ_EX: kwargs dropped
        case 'i': { std::string m(line()); auto g = global(std::move(m), std::string(line()));
            push(call(g, tuple_of(pop_mark()))); break; }
        case 'o': { auto v = pop_mark();
            if (v.empty()) fail("OBJ without a class");
            auto c = v.front();
            v.erase(v.begin());
            push(call(c, tuple_of(std::move(v)))); break; }
        case 'b': { auto st = pop(); build(top(), st); break; }
        case 'Q': { auto pid = pop(); push(persistent(pid)); break; }
        case 'P': push(persistent(PyObject::str_of(std::string(line())))); break;
        case 0x98: top(); break; // READONLY_BUFFER: a no-op on in-band data
        case 0x82: case 0x83: case 0x84: fail("extension registry opcodes are not supported");
        case 0x97: fail("out-of-band buffers are not supported");
        default: fail("unknown or unsupported opcode 0x" + to_hex(op));
        }
    }
    static std::string to_hex(unsigned char c) {
        const char* h = "0123456789abcdef";
        return {h[c >> 4], h[c & 15]};
    }

    std::string_view d_;
    size_t pos_ = 0, op_ = 0;
    std::string what_;
    const UnpickleOptions& opt_;
    size_t base_ = 0;
    int call_depth_ = 0;
    std::vector<PyObjectPtr> stack_;
    std::vector<size_t> marks_;
    std::unordered_map<uint64_t, PyObjectPtr> memo_;
};

namespace detail {
/// Whether the links among `nodes` (items, entries, args, state) form a cycle; iterative DFS.
inline bool has_cycle(const std::vector<std::weak_ptr<PyObject>>& nodes) {
    std::unordered_map<const PyObject*, int> color; // 1 on the current path, 2 finished
    auto children = [](const PyObject* p) {
        std::vector<const PyObject*> c;
        for (auto& i : p->items) c.push_back(i.get());
        for (auto& [k, v] : p->entries) c.push_back(k.get()), c.push_back(v.get());
        c.push_back(p->args.get());
        c.push_back(p->state.get());
        return c;
    };
    for (auto& w : nodes) {
        const auto root = w.lock();
        if (!root || color[root.get()]) continue;
        std::vector<std::pair<const PyObject*, std::vector<const PyObject*>>> stack;
        stack.emplace_back(root.get(), children(root.get()));
        color[root.get()] = 1;
        while (!stack.empty()) {
            auto& [node, rest] = stack.back();
            if (rest.empty()) {
                color[node] = 2;
                stack.pop_back();
                continue;
            }
            const PyObject* c = rest.back();
            rest.pop_back();
            if (!c) continue;
            int& col = color[c];
            if (col == 1) return true;
            if (col == 0) {
                col = 1;
                stack.emplace_back(c, children(c));
            }
        }
    }
    return false;
}
} // namespace detail

/// Unpickles one object from data[start..]. Requires nothing of the bytes; ensures the value
/// and the offset after STOP, or throws an Error naming `what` and a byte offset.
inline UnpickleResult unpickle(std::string_view data, size_t start, const std::string& what,
                               const UnpickleOptions& opt = {}, size_t base = 0) {
    // Pickles may build cycles (a list that contains itself, through the memo). Checkpoints
    // never do, and shared_ptr graphs with cycles leak, so a cycle is refused; on any error the
    // nodes made so far are unlinked so that they are all freed.
    std::vector<std::weak_ptr<PyObject>> nodes;
    auto*& reg = PyObject::registry();
    auto* const outer = reg;
    reg = &nodes;
    auto unlink_all = [&] {
        std::vector<PyObjectPtr> alive;
        for (auto& w : nodes)
            if (auto p = w.lock()) alive.push_back(std::move(p));
        for (auto& p : alive) p->unlink();
    };
    try {
        UnpickleResult r = Unpickler(data, start, what, opt, base).run();
        reg = outer;
        if (detail::has_cycle(nodes)) {
            unlink_all();
            ::vkgrad::detail::fail("unpickle", "'", what, "': the object graph contains a cycle (a container that "
                                                          "holds itself), which checkpoints never do");
        }
        return r;
    } catch (...) {
        reg = outer;
        unlink_all();
        throw;
    }
}

} // namespace vkgrad::io
