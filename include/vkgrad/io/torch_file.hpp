// vkgrad/io/torch_file.hpp — reading PyTorch files (torch.save, and plain pickles holding
// tensors) without Python and without running anything the file names.
//
// Three layouts are recognised from their first bytes:
//  * zip (torch >= 1.6): `<prefix>/data.pkl` whose persistent ids name storages stored as
//    `<prefix>/data/<key>` records;
//  * legacy sequential (torch < 1.6, `_use_new_zipfile_serialization=False`, and the blobs of
//    torch.storage._load_from_bytes): pickles of the magic number, protocol 1001 and sys info,
//    the main pickle, the list of storage keys, then per key an int64 count and raw bytes;
//  * any other pickle (e.g. a StyleGAN2-ADA network pickle), whose tensors embed legacy blobs.
// Tensors come back as contiguous host tensors (strides and offsets applied; see
// pickle_value.hpp for dtypes). The storage location ("cuda:0", ...) is ignored.
#pragma once
#include <map>

#include "pickle.hpp"
#include "read_file.hpp"
#include "zip.hpp"

namespace vkgrad::io {

namespace detail {

/// How deeply _load_from_bytes blobs may nest: real files use one level.
inline constexpr int max_torch_blob_depth = 4;

inline PyObjectPtr load_torch_buffer(const std::shared_ptr<const std::string>& buf, const std::string& what, int depth);

/// The fields of a ('storage', storage_class, key, location, numel[, view_metadata]) id.
struct StorageId {
    ElemType type = ElemType::f32;
    std::string key, location;
    int64_t numel = -1; ///< -1 when the id has no count
};

inline StorageId parse_storage_id(const PyObjectPtr& pid, const std::string& what) {
    using K = PyObject::Kind;
    const char* op = "load_torch";
    VKG_CHECK(pid->kind == K::tuple && pid->items.size() >= 4, op, "'", what, "': persistent id is not a storage tuple (",
              pid->describe(), ")");
    const auto& a = pid->items;
    VKG_CHECK(a[0]->kind == K::str && a[0]->text == "storage", op, "'", what, "': unsupported persistent id kind ",
              a[0]->kind == K::str ? a[0]->text.substr(0, 40) : a[0]->describe());
    StorageId id;
    VKG_CHECK(a[1]->kind == K::global && torch_elem_type(a[1]->name, id.type), op, "'", what,
              "': expected a torch storage class, got ", a[1]->describe());
    VKG_CHECK(a[2]->kind == K::str || a[2]->kind == K::integer, op, "'", what, "': bad storage key ", a[2]->describe());
    id.key = a[2]->kind == K::str ? a[2]->text : std::to_string(a[2]->integer);
    if (a[3]->kind == K::str) id.location = a[3]->text;
    if (a.size() >= 5) {
        VKG_CHECK(a[4]->kind == K::integer && a[4]->integer >= 0, op, "'", what, "': bad storage size ", a[4]->describe());
        id.numel = a[4]->integer;
    }
    VKG_CHECK(a.size() < 6 || a[5]->is_none(), op, "'", what, "': storage views (view_metadata) are not supported");
    return id;
}

inline PyObjectPtr storage_object(const StorageId& id) {
    auto p = PyObject::make(PyObject::Kind::storage);
    p->storage = std::make_shared<PyStorage>();
    p->storage->type = id.type;
    p->storage->key = id.key;
    p->storage->location = id.location;
    p->storage->numel = id.numel;
    return p;
}

// _load_from_bytes is a complete legacy file inside a pickle: its top object must be a storage.
inline UnpickleOptions plain_options(const std::string& what, int depth) {
    UnpickleOptions o;
    o.load_from_bytes = [what, depth](const std::string& blob) {
        VKG_CHECK(depth < max_torch_blob_depth, "load_torch", "'", what, "': embedded torch files nest too deeply");
        auto v = load_torch_buffer(std::make_shared<const std::string>(blob), what + " (embedded torch file)", depth + 1);
        VKG_CHECK(v->kind == PyObject::Kind::storage, "load_torch", "'", what,
                  "': torch.storage._load_from_bytes must give a storage, got ", v->describe());
        return v;
    };
    return o;
}

inline bool is_legacy_magic(const PyObject& v) {
    static const unsigned char magic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    return v.kind == PyObject::Kind::bigint && v.text == std::string(reinterpret_cast<const char*>(magic), 10);
}

/// The legacy layout after its magic-number pickle (which ended at `pos`).
inline PyObjectPtr load_torch_legacy(const std::shared_ptr<const std::string>& buf, size_t pos, const std::string& what,
                                     int depth) {
    const std::string_view d(*buf);
    const char* op = "load_torch";
    UnpickleOptions opt = plain_options(what, depth);
    auto r = unpickle(d, pos, what, opt);
    VKG_CHECK(r.value->kind == PyObject::Kind::integer && r.value->integer == 1001, op, "'", what,
              "': unsupported legacy protocol version (", r.value->describe(), ")");
    r = unpickle(d, r.end, what, opt);
    VKG_CHECK(r.value->kind == PyObject::Kind::dict, op, "'", what, "': sys_info is not a dict");
    if (auto le = r.value->find("little_endian"))
        VKG_CHECK(le->kind == PyObject::Kind::boolean && le->flag, op, "'", what, "': big-endian files are not supported");

    std::map<std::string, PyObjectPtr> storages;
    opt.persistent_load = [&](const PyObjectPtr& pid) {
        const StorageId id = parse_storage_id(pid, what);
        auto& s = storages[id.key];
        if (!s) s = storage_object(id);
        VKG_CHECK(s->storage->type == id.type, op, "'", what, "': storage '", id.key, "' used with two types");
        return s;
    };
    auto main = unpickle(d, r.end, what, opt);
    auto keys = unpickle(d, main.end, what, opt);
    VKG_CHECK(keys.value->kind == PyObject::Kind::list, op, "'", what, "': storage key list is a ", keys.value->describe());
    pos = keys.end;
    for (const auto& k : keys.value->items) {
        VKG_CHECK(k->kind == PyObject::Kind::str, op, "'", what, "': storage key is a ", k->describe());
        const auto it = storages.find(k->text);
        VKG_CHECK(it != storages.end(), op, "'", what, "': storage '", k->text, "' in the key list was never used");
        PyStorage& s = *it->second->storage;
        VKG_CHECK(!s.loaded, op, "'", what, "': storage '", k->text, "' appears twice in the key list");
        VKG_CHECK(d.size() - pos >= 8, op, "'", what, "': file ends in the size of storage '", k->text, "' at byte ", pos);
        int64_t n;
        std::memcpy(&n, d.data() + pos, 8);
        const uint64_t es = elem_size(s.type);
        VKG_CHECK(n >= 0 && static_cast<uint64_t>(n) <= (d.size() - pos - 8) / es, op, "'", what, "': storage '",
                  k->text, "' claims ", n, " elements but the file ends first (byte ", pos, ")");
        VKG_CHECK(s.numel < 0 || s.numel == n, op, "'", what, "': storage '", k->text, "' has ", n,
                  " elements, its id says ", s.numel);
        s.numel = n;
        s.buffer = buf;
        s.offset = pos + 8;
        s.loaded = true;
        pos += 8 + static_cast<size_t>(n) * es;
    }
    materialize_tensors(main.value);
    return main.value;
}

inline PyObjectPtr load_torch_zip(const std::shared_ptr<const std::string>& buf, const std::string& what, int depth) {
    const char* op = "load_torch";
    ZipReader zip(buf, what);
    const ZipEntry* pkl = nullptr;
    for (const auto& e : zip.entries()) {
        const auto slash = e.name.find('/');
        if (slash != std::string::npos && slash > 0 && e.name.substr(slash) == "/data.pkl") {
            pkl = &e;
            break;
        }
    }
    VKG_CHECK(pkl != nullptr, op, "'", what, "': zip archive has no <prefix>/data.pkl record");
    const std::string prefix = pkl->name.substr(0, pkl->name.size() - 8);
    if (const ZipEntry* bo = zip.find(prefix + "byteorder"))
        VKG_CHECK(zip.data(*bo) == "little", op, "'", what, "': byte order '", std::string(zip.data(*bo)).substr(0, 16),
                  "' is not supported");

    std::map<std::string, PyObjectPtr> storages;
    UnpickleOptions opt = plain_options(what, depth);
    opt.persistent_load = [&](const PyObjectPtr& pid) {
        const StorageId id = parse_storage_id(pid, what);
        auto& s = storages[id.key];
        if (s) {
            VKG_CHECK(s->storage->type == id.type, op, "'", what, "': storage '", id.key, "' used with two types");
            return s;
        }
        const ZipEntry* e = zip.find(prefix + "data/" + id.key);
        VKG_CHECK(e != nullptr, op, "'", what, "': no record ", prefix, "data/", id.key, " for a storage");
        const uint64_t es = elem_size(id.type);
        const int64_t numel = id.numel >= 0 ? id.numel : static_cast<int64_t>(e->size / es);
        VKG_CHECK(static_cast<uint64_t>(numel) <= e->size / es, op, "'", what, "': storage '", id.key, "' needs ",
                  numel, " elements but its record has ", e->size, " bytes");
        s = storage_object(id);
        s->storage->numel = numel;
        s->storage->buffer = buf;
        s->storage->offset = static_cast<size_t>(zip.data_offset(*e));
        s->storage->loaded = true;
        return s;
    };
    const uint64_t off = zip.data_offset(*pkl);
    auto r = unpickle(zip.data(*pkl), 0, what, opt, static_cast<size_t>(off));
    materialize_tensors(r.value);
    return r.value;
}

inline PyObjectPtr load_torch_buffer(const std::shared_ptr<const std::string>& buf, const std::string& what, int depth) {
    const std::string& d = *buf;
    if (d.size() >= 4 && d.compare(0, 2, "PK") == 0) return load_torch_zip(buf, what, depth);
    auto r = unpickle(d, 0, what, plain_options(what, depth));
    if (is_legacy_magic(*r.value)) return load_torch_legacy(buf, r.end, what, depth);
    materialize_tensors(r.value);
    return r.value;
}

// Shared references make the tree a DAG whose paths can number 2^depth; `budget` bounds the
// walk so a hostile file cannot make it run forever.
inline void flatten_into(const PyObjectPtr& p, const std::string& path, int depth, std::vector<const PyObject*>& on_path,
                         std::vector<std::pair<std::string, Tensor>>& out, size_t& budget) {
    using K = PyObject::Kind;
    if (!p) return;
    VKG_CHECK(depth < 1000, "flatten_tensors", "values nest deeper than 1000 levels at '", path, "'");
    VKG_CHECK(budget-- > 0, "flatten_tensors", "too many paths through shared values");
    for (const PyObject* q : on_path)
        if (q == p.get()) return; // a cycle: already being walked
    const auto join = [&](const std::string& k) { return path.empty() ? k : path + "." + k; };
    const auto walk_items = [&] {
        for (size_t i = 0; i < p->items.size(); ++i)
            flatten_into(p->items[i], join(std::to_string(i)), depth + 1, on_path, out, budget);
    };
    on_path.push_back(p.get());
    switch (p->kind) {
    case K::tensor: out.emplace_back(path, p->as_tensor()); break;
    case K::dict:
    case K::object:
        for (const auto& kv : p->entries) {
            const PyObject& k = *kv.first;
            const std::string key = k.kind == K::str ? k.text
                                  : k.kind == K::integer ? std::to_string(k.integer)
                                  : k.kind == K::boolean ? (k.flag ? "True" : "False")
                                                         : "<" + k.describe() + ">";
            flatten_into(kv.second, join(key), depth + 1, on_path, out, budget);
        }
        if (p->kind == K::object) {
            walk_items();
            flatten_into(p->state, path, depth + 1, on_path, out, budget);
        }
        break;
    case K::list:
    case K::tuple:
    case K::set:
        walk_items();
        break;
    default: break;
    }
    on_path.pop_back();
}

} // namespace detail

/// Reads a torch.save file (zip or legacy) or a plain pickle. Requires nothing of the file.
/// Ensures an inert value tree whose tensors are loaded; every problem (unreadable file,
/// damage, unsupported content) throws an Error naming `path`. Nothing in the file is executed:
/// unknown callables become opaque objects (PyObject::Kind::object).
inline PyObjectPtr load_torch(const std::string& path) {
    return detail::load_torch_buffer(std::make_shared<const std::string>(read_file(path, "load_torch")), path, 0);
}

/// Every tensor reachable through dicts, lists, tuples, sets and opaque objects' state/items,
/// with dotted paths ("state_dict.conv.weight", list items by index; "" for a bare tensor).
/// A tensor reachable twice is listed under both paths. Requires a tree from load_torch.
inline std::vector<std::pair<std::string, Tensor>> flatten_tensors(const PyObjectPtr& root) {
    std::vector<std::pair<std::string, Tensor>> out;
    std::vector<const PyObject*> on_path;
    size_t budget = size_t(1) << 22;
    detail::flatten_into(root, "", 0, on_path, out, budget);
    return out;
}

/// The tensor of a file whose top-level object is one tensor; throws an Error otherwise.
inline Tensor load_torch_tensor(const std::string& path) {
    const PyObjectPtr v = load_torch(path);
    VKG_CHECK(v->kind == PyObject::Kind::tensor, "load_torch_tensor", "'", path, "' holds a ", v->describe(),
              ", not a tensor");
    return v->as_tensor();
}

} // namespace vkgrad::io
