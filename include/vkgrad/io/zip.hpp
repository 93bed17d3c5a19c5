// vkgrad/io/zip.hpp — just enough of the ZIP format to read torch.save archives.
//
// torch writes STORED (uncompressed) records, sizes in the central directory only (flag 0x08,
// zero sizes in the local headers), and always a zip64 end record. So: find the end of central
// directory record (searching backwards past a comment of up to 64 KiB), prefer its zip64
// version, read the central directory, and find each record's data behind its local header.
// Compressed or encrypted records are listed but reading them is an Error; so is every offset
// or size that points outside the file, and a CRC-32 that does not match.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"

namespace vkgrad::io {

struct ZipEntry {
    std::string name;
    uint16_t method = 0;      ///< 0 = stored; anything else cannot be read here
    uint16_t flags = 0;
    uint32_t crc32 = 0;
    uint64_t size = 0;        ///< uncompressed size
    uint64_t csize = 0;       ///< size in the file
    uint64_t header_offset = 0;
};

namespace detail {
inline uint32_t crc32(std::string_view s) {
    static const auto table = [] {
        std::array<uint32_t, 256> t{};
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    uint32_t c = 0xFFFFFFFFu;
    for (unsigned char b : s) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}
} // namespace detail

/// A ZIP archive held in memory. The buffer is shared so record data can be viewed without copies.
class ZipReader {
public:
    /// Parses the directory of `buf`. Requires nothing of the bytes; throws an Error naming
    /// `path` for anything that is not a well-formed archive.
    ZipReader(std::shared_ptr<const std::string> buf, std::string path) : buf_(std::move(buf)), path_(std::move(path)) {
        parse();
    }

    const std::vector<ZipEntry>& entries() const { return entries_; }
    /// The entry called `name`, or nullptr.
    const ZipEntry* find(std::string_view name) const {
        for (const auto& e : entries_)
            if (e.name == name) return &e;
        return nullptr;
    }
    /// Offset of the entry's data in the buffer. Requires a stored, unencrypted entry whose data
    /// lies inside the file and matches its CRC; ensures offset + e.size <= buffer size.
    uint64_t data_offset(const ZipEntry& e) const {
        check(e.method == 0, "record '", e.name, "' is compressed (method ", e.method,
              "); only stored records are supported");
        check(!(e.flags & 1), "record '", e.name, "' is encrypted");
        check(e.csize == e.size, "record '", e.name, "' has different stored and uncompressed sizes");
        const uint64_t h = e.header_offset;
        check(h <= size() && size() - h >= 30 && u32(h) == 0x04034b50, "bad local header for '", e.name,
              "' at byte ", h);
        const uint64_t start = h + 30 + u16(h + 26) + u16(h + 28);
        check(start <= size() && e.size <= size() - start, "record '", e.name, "' (", e.size,
              " bytes at byte ", start, ") runs past the end of the file");
        check(detail::crc32(std::string_view(*buf_).substr(start, e.size)) == e.crc32, "CRC mismatch in record '",
              e.name, "'");
        return start;
    }
    /// The entry's bytes (same requirements as data_offset).
    std::string_view data(const ZipEntry& e) const {
        return std::string_view(*buf_).substr(static_cast<size_t>(data_offset(e)), static_cast<size_t>(e.size));
    }
    const std::shared_ptr<const std::string>& buffer() const { return buf_; }

private:
    template <class... A> void check(bool ok, const A&... a) const {
        if (!ok) ::vkgrad::detail::fail("zip", "'", path_, "': ", a...);
    }
    uint64_t size() const { return buf_->size(); }
    uint64_t le(uint64_t at, int n) const {
        check(at <= size() && size() - at >= static_cast<uint64_t>(n), "read past the end of the file at byte ", at);
        uint64_t v = 0;
        for (int i = n; i-- > 0;) v = (v << 8) | static_cast<unsigned char>((*buf_)[static_cast<size_t>(at) + i]);
        return v;
    }
    uint32_t u32(uint64_t at) const { return static_cast<uint32_t>(le(at, 4)); }
    uint16_t u16(uint64_t at) const { return static_cast<uint16_t>(le(at, 2)); }

    void parse() {
        check(size() >= 22, "too small to be a zip archive (", size(), " bytes)");
        // The EOCD record is the last 22 bytes plus a comment; scan back for its signature.
        uint64_t eocd = UINT64_MAX;
        const uint64_t lowest = size() >= 22 + 65535 ? size() - 22 - 65535 : 0;
        for (uint64_t p = size() - 22 + 1; p-- > lowest;)
            if (u32(p) == 0x06054b50 && p + 22 + u16(p + 20) == size()) {
                eocd = p;
                break;
            }
        check(eocd != UINT64_MAX, "no end of central directory record");
        uint64_t count = u16(eocd + 10), cd_size = u32(eocd + 12), cd_off = u32(eocd + 16);
        if (eocd >= 20 && u32(eocd - 20) == 0x07064b50) { // zip64 locator → zip64 EOCD record
            const uint64_t z = le(eocd - 20 + 8, 8);
            check(z <= size() && size() - z >= 56 && u32(z) == 0x06064b50, "bad zip64 end record at byte ", z);
            count = le(z + 32, 8);
            cd_size = le(z + 40, 8);
            cd_off = le(z + 48, 8);
        }
        check(cd_off <= size() && cd_size <= size() - cd_off, "central directory (", cd_size, " bytes at byte ",
              cd_off, ") lies outside the file");
        check(count <= cd_size / 46, "central directory claims ", count, " records in ", cd_size, " bytes");
        uint64_t p = cd_off;
        const uint64_t end = cd_off + cd_size;
        for (uint64_t i = 0; i < count; ++i) {
            check(end - p >= 46 && u32(p) == 0x02014b50, "bad central directory entry at byte ", p);
            ZipEntry e;
            e.flags = u16(p + 8);
            e.method = u16(p + 10);
            e.crc32 = u32(p + 16);
            e.csize = u32(p + 20);
            e.size = u32(p + 24);
            const uint64_t nlen = u16(p + 28), xlen = u16(p + 30), clen = u16(p + 32);
            e.header_offset = u32(p + 42);
            check(end - p - 46 >= nlen + xlen + clen, "central directory entry at byte ", p, " runs past its end");
            e.name = buf_->substr(static_cast<size_t>(p + 46), static_cast<size_t>(nlen));
            read_zip64_extra(e, p + 46 + nlen, xlen);
            entries_.push_back(std::move(e));
            p += 46 + nlen + xlen + clen;
        }
    }
    // Sizes and offset that overflowed 32 bits are 0xFFFFFFFF, with the real values in order
    // (size, compressed size, offset) in the zip64 extra field 0x0001.
    void read_zip64_extra(ZipEntry& e, uint64_t x, uint64_t xlen) {
        const uint64_t xend = x + xlen;
        while (xend - x >= 4) {
            const uint64_t id = u16(x), n = u16(x + 2);
            check(xend - x - 4 >= n, "extra field of '", e.name, "' runs past its end");
            if (id == 1) {
                uint64_t q = x + 4;
                const auto field = [&](uint64_t& v) {
                    if (v != 0xFFFFFFFFu) return;
                    check(x + 4 + n - q >= 8, "zip64 extra field of '", e.name, "' is too short");
                    v = le(q, 8);
                    q += 8;
                };
                field(e.size);
                field(e.csize);
                field(e.header_offset);
            }
            x += 4 + n;
        }
    }

    std::shared_ptr<const std::string> buf_;
    std::string path_;
    std::vector<ZipEntry> entries_;
};

} // namespace vkgrad::io
