// vkgrad/io/json.hpp — a small strict JSON (RFC 8259) reader and writer, for file headers.
//
// parse_json accepts exactly RFC 8259 text: no comments, no trailing commas, no NaN, strings
// in valid UTF-8 with \uXXXX escapes (surrogate pairs joined). It also rejects duplicate
// object keys and nesting deeper than 64. Objects keep their key order. Every number keeps
// its double value; integer literals also keep their exact value when it fits int64 or
// uint64, so file offsets above 2^53 survive. Errors are JsonError (a vkgrad::Error).
#pragma once
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../core/error.hpp"

namespace vkgrad::io {

/// A parse error: the message names the input (`what`) and the byte offset of the problem.
class JsonError : public Error {
public:
    JsonError(const std::string& what, size_t at, const std::string& msg)
        : Error("parse_json: '" + what + "': " + msg + " at byte " + std::to_string(at)), offset(at), problem(msg) {}
    size_t offset;       ///< byte offset in the parsed text
    std::string problem; ///< the message without input name and offset
};

class Json {
public:
    enum class Type { null, boolean, number, string, array, object };
    using Array = std::vector<Json>;
    using Object = std::vector<std::pair<std::string, Json>>; ///< in file order, keys unique

    Json() = default; ///< null
    Json(bool b) : type_(Type::boolean), bool_(b) {}
    Json(double d) : type_(Type::number), num_(d) {}
    template <class I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
    Json(I i) : type_(Type::number), num_(static_cast<double>(i)), is_int_(true), neg_(is_negative(i)),
                mag_(neg_ ? 0 - static_cast<uint64_t>(i) : static_cast<uint64_t>(i)) {}
    Json(std::string s) : type_(Type::string), str_(std::move(s)) {}
    Json(const char* s) : Json(std::string(s)) {}
    Json(Array a) : type_(Type::array), arr_(std::move(a)) {}
    Json(Object o) : type_(Type::object), obj_(std::move(o)) {}

    Type type() const { return type_; }
    bool is(Type t) const { return type_ == t; }
    /// An integer literal (no fraction, no exponent) whose exact value fits the type.
    bool is_int64() const { return is_int_ && mag_ <= (neg_ ? uint64_t(1) << 63 : uint64_t(INT64_MAX)); }
    bool is_uint64() const { return is_int_ && (!neg_ || mag_ == 0); }

    // Typed access; each throws an Error when the value is something else.
    bool as_bool() const { return expect(Type::boolean), bool_; }
    double as_double() const { return expect(Type::number), num_; }
    int64_t as_int64() const {
        return require(is_int64(), "an integer in the int64 range"), static_cast<int64_t>(neg_ ? 0 - mag_ : mag_);
    }
    uint64_t as_uint64() const { return require(is_uint64(), "an integer in the uint64 range"), mag_; }
    const std::string& as_string() const { return expect(Type::string), str_; }
    const Array& as_array() const { return expect(Type::array), arr_; }
    const Object& as_object() const { return expect(Type::object), obj_; }
    /// The member `key` of an object, or nullptr when absent.
    const Json* find(std::string_view key) const {
        for (const auto& kv : as_object())
            if (kv.first == key) return &kv.second;
        return nullptr;
    }

    /// Compact JSON text. Throws for NaN/infinity and for strings that are not valid UTF-8.
    std::string dump() const {
        std::string out;
        dump_to(out);
        return out;
    }

private:
    friend class JsonParser;
    template <class I> static bool is_negative(I i) {
        if constexpr (std::is_signed_v<I>) return i < 0;
        return false;
    }
    static const char* type_name(Type t) {
        constexpr const char* names[] = {"null", "boolean", "number", "string", "array", "object"};
        return names[static_cast<int>(t)];
    }
    void require(bool ok, const char* wanted) const {
        VKG_CHECK(ok, "Json", "expected ", wanted, ", got ", type_name(type_));
    }
    void expect(Type t) const { require(type_ == t, type_name(t)); }
    void dump_to(std::string& out) const;

    Type type_ = Type::null;
    bool bool_ = false;
    double num_ = 0;
    bool is_int_ = false, neg_ = false; // integer literal: value = neg_ ? -mag_ : mag_
    uint64_t mag_ = 0;
    std::string str_;
    Array arr_;
    Object obj_;
};

namespace detail {
/// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is invalid
/// (truncated, overlong, a surrogate, or above U+10FFFF).
inline size_t utf8_sequence_length(std::string_view s, size_t i) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned c = b(i);
    if (c < 0x80) return 1;
    const size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (n == 0 || c > 0xF4 || i + n > s.size()) return 0;
    for (size_t k = 1; k < n; ++k)
        if ((b(i + k) & 0xC0) != 0x80) return 0;
    if ((c == 0xE0 && b(i + 1) < 0xA0) || (c == 0xED && b(i + 1) >= 0xA0) || // overlong, surrogate
        (c == 0xF0 && b(i + 1) < 0x90) || (c == 0xF4 && b(i + 1) >= 0x90))   // overlong, > U+10FFFF
        return 0;
    return n;
}
inline bool valid_utf8(std::string_view s) {
    for (size_t i = 0, n; i < s.size(); i += n)
        if ((n = utf8_sequence_length(s, i)) == 0) return false;
    return true;
}
inline void append_utf8(std::string& out, uint32_t cp) {
    const int n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; // bytes in the sequence
    constexpr unsigned lead[] = {0, 0, 0xC0, 0xE0, 0xF0};
    out += static_cast<char>(lead[n] | cp >> (6 * (n - 1)));
    for (int k = n - 2; k >= 0; --k) out += static_cast<char>(0x80 | (cp >> (6 * k) & 0x3F));
}
/// The escapes with a short form, and what they stand for.
inline constexpr std::string_view json_escape_names = "\"\\/bfnrt", json_escape_chars = "\"\\/\b\f\n\r\t";

inline void dump_string(std::string& out, const std::string& s) {
    VKG_CHECK(valid_utf8(s), "Json::dump", "string is not valid UTF-8");
    out += '"';
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        const size_t k = ch == '/' ? std::string_view::npos : json_escape_chars.find(ch);
        if (k != std::string_view::npos) out += {'\\', json_escape_names[k]};
        else if (c < 0x20) out += {'\\', 'u', '0', '0', "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15]};
        else out += ch;
    }
    out += '"';
}
} // namespace detail

inline void Json::dump_to(std::string& out) const {
    switch (type_) {
    case Type::null: out += "null"; break;
    case Type::boolean: out += bool_ ? "true" : "false"; break;
    case Type::number: {
        if (is_int_) { // two appends: GCC 12 misreports `"-" + std::string` as an overlapping memcpy
            if (neg_ && mag_) out += '-';
            out += std::to_string(mag_);
            break;
        }
        VKG_CHECK(num_ == num_ && num_ - num_ == 0, "Json::dump", "JSON cannot hold NaN or infinity");
        char buf[32];
        out.append(buf, std::to_chars(buf, buf + sizeof buf, num_).ptr); // shortest round trip
        break;
    }
    case Type::string: detail::dump_string(out, str_); break;
    case Type::array:
        out += '[';
        for (size_t i = 0; i < arr_.size(); ++i) {
            if (i) out += ',';
            arr_[i].dump_to(out);
        }
        out += ']';
        break;
    case Type::object:
        out += '{';
        for (size_t i = 0; i < obj_.size(); ++i) {
            if (i) out += ',';
            detail::dump_string(out, obj_[i].first);
            out += ':';
            obj_[i].second.dump_to(out);
        }
        out += '}';
        break;
    }
}

/// Recursive-descent parser behind parse_json.
class JsonParser {
public:
    static constexpr int max_depth = 64;
    JsonParser(std::string_view text, const std::string& what) : s_(text), what_(what) {}

    Json parse_document() {
        Json v = value(0);
        skip_ws();
        if (p_ != s_.size()) fail("unexpected text after the JSON value");
        return v;
    }

private:
    [[noreturn]] void fail(const std::string& problem) const { throw JsonError(what_, p_, problem); }
    bool at_end() const { return p_ >= s_.size(); }
    char peek() const { return at_end() ? '\0' : s_[p_]; }
    void skip_ws() {
        while (!at_end() && (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\n' || s_[p_] == '\r')) ++p_;
    }
    void expect(char c) {
        if (at_end()) fail(std::string("unexpected end of input, expected '") + c + "'");
        if (s_[p_] != c) fail(std::string("expected '") + c + "'");
        ++p_;
    }
    void literal(std::string_view word) {
        if (s_.substr(p_, word.size()) != word) fail("invalid literal");
        p_ += word.size();
    }

    Json value(int depth) {
        skip_ws();
        if (at_end()) fail("unexpected end of input, expected a value");
        const char c = s_[p_];
        if (c == '{' || c == '[') {
            if (depth >= max_depth) fail("nesting deeper than " + std::to_string(max_depth));
            return c == '{' ? object(depth + 1) : array(depth + 1);
        }
        if (c == '"') return Json(string());
        if (c == 't') return literal("true"), Json(true);
        if (c == 'f') return literal("false"), Json(false);
        if (c == 'n') return literal("null"), Json();
        if (c == '-' || (c >= '0' && c <= '9')) return number();
        fail(std::string("unexpected character '") + c + "'");
    }

    Json object(int depth) {
        ++p_; // '{'
        Json::Object members;
        std::unordered_set<std::string> seen;
        skip_ws();
        if (peek() == '}') return ++p_, Json(std::move(members));
        for (;;) {
            skip_ws();
            if (peek() != '"') fail(at_end() ? "unexpected end of input in an object" : "expected a string key");
            const size_t key_at = p_;
            std::string key = string();
            if (!seen.insert(key).second) p_ = key_at, fail("duplicate key \"" + key + "\"");
            skip_ws();
            expect(':');
            members.emplace_back(std::move(key), value(depth));
            skip_ws();
            if (peek() == '}') return ++p_, Json(std::move(members));
            expect(',');
            skip_ws();
            if (peek() == '}') fail("trailing comma in an object");
        }
    }

    Json array(int depth) {
        ++p_; // '['
        Json::Array items;
        skip_ws();
        if (peek() == ']') return ++p_, Json(std::move(items));
        for (;;) {
            items.push_back(value(depth));
            skip_ws();
            if (peek() == ']') return ++p_, Json(std::move(items));
            expect(',');
            skip_ws();
            if (peek() == ']') fail("trailing comma in an array");
        }
    }

    uint32_t hex4() {
        uint32_t v = 0;
        const char* b = s_.data() + p_;
        if (s_.size() - p_ < 4 || std::from_chars(b, b + 4, v, 16).ptr != b + 4) fail("\\u needs four hex digits");
        return p_ += 4, v;
    }

    std::string string() {
        ++p_; // opening quote
        std::string out;
        for (;;) {
            if (at_end()) fail("unterminated string");
            const auto c = static_cast<unsigned char>(s_[p_]);
            if (c == '"') return ++p_, out;
            if (c < 0x20) fail("unescaped control character in a string");
            if (c != '\\') {
                const size_t n = detail::utf8_sequence_length(s_, p_);
                if (n == 0) fail("invalid UTF-8 in a string");
                out.append(s_.substr(p_, n));
                p_ += n;
                continue;
            }
            const size_t esc_at = p_++;
            const char e = peek();
            ++p_;
            if (const size_t k = detail::json_escape_names.find(e); k != std::string_view::npos) {
                out += detail::json_escape_chars[k];
            } else if (e == 'u') {
                uint32_t cp = hex4();
                if (cp >= 0xDC00 && cp <= 0xDFFF) p_ = esc_at, fail("lone low surrogate \\u escape");
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (s_.substr(p_, 2) != "\\u") p_ = esc_at, fail("high surrogate not followed by a \\u escape");
                    p_ += 2;
                    const uint32_t lo = hex4();
                    if (lo < 0xDC00 || lo > 0xDFFF) p_ = esc_at, fail("high surrogate not followed by a low one");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                detail::append_utf8(out, cp);
            } else {
                p_ = esc_at, fail("invalid escape sequence");
            }
        }
    }

    Json number() {
        const size_t start = p_;
        const bool neg = peek() == '-';
        if (neg) ++p_;
        const auto digits = [&] {
            const size_t from = p_;
            while (peek() >= '0' && peek() <= '9') ++p_;
            return p_ - from;
        };
        const size_t int_start = p_;
        const size_t nint = digits();
        if (nint == 0) fail("a number needs digits");
        if (nint > 1 && s_[int_start] == '0') p_ = int_start, fail("leading zeros are not allowed");
        bool integral = true;
        if (peek() == '.') {
            ++p_, integral = false;
            if (digits() == 0) fail("a digit must follow the decimal point");
        }
        if (peek() == 'e' || peek() == 'E') {
            ++p_, integral = false;
            if (peek() == '+' || peek() == '-') ++p_;
            if (digits() == 0) fail("the exponent needs digits");
        }
        Json v;
        v.type_ = Json::Type::number;
        const auto r = std::from_chars(s_.data() + start, s_.data() + p_, v.num_);
        if (r.ec != std::errc()) p_ = start, fail("number too large or too small for a double");
        if (integral) {
            uint64_t mag = 0;
            const auto ri = std::from_chars(s_.data() + int_start, s_.data() + p_, mag);
            if (ri.ec == std::errc()) v.is_int_ = true, v.neg_ = neg, v.mag_ = mag; // else: double only
        }
        return v;
    }

    std::string_view s_;
    const std::string& what_;
    size_t p_ = 0;
};

/// Parses one JSON document (RFC 8259, strict). `what` names the input in errors (a path).
inline Json parse_json(std::string_view text, const std::string& what) {
    return JsonParser(text, what).parse_document();
}

} // namespace vkgrad::io
