// Every core op against PyTorch (tests/reference/make_op_fixtures.py): forward within 1e-5,
// input gradients within 1e-4 (relerr, float32), then first- and second-order finite
// difference checks in float64 on the same inputs (relerr <= 1e-6).
#include "support.hpp"

#include <vkgrad/ops/image.hpp>

#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

using namespace vkgrad;
using vkgrad::testing::relerr;

namespace {

struct Params {
    std::map<std::string, std::string> kv;
    std::string s(const std::string& k, const std::string& def = "") const {
        auto it = kv.find(k);
        return it == kv.end() ? def : it->second;
    }
    double d(const std::string& k, double def = 0) const { return kv.count(k) ? std::stod(s(k)) : def; }
    int64_t i(const std::string& k, int64_t def = 0) const { return kv.count(k) ? std::stoll(s(k)) : def; }
    std::vector<int64_t> list(const std::string& k) const {
        std::vector<int64_t> out;
        std::stringstream ss(s(k));
        for (std::string t; std::getline(ss, t, ',');) out.push_back(std::stoll(t));
        return out;
    }
};

struct Case {
    std::string name, op;
    int n_inputs = 0;
    bool grad = true;
    Params p;
};

using OpFn = std::function<Tensor(const Params&, const std::vector<Tensor>&)>;

PadMode pad_mode(const std::string& m) {
    return m == "reflect" ? PadMode::reflect : m == "replicate" ? PadMode::replicate : PadMode::constant;
}

ConvParams conv_params(const Params& p) {
    const auto s = p.list("stride"), pad = p.list("pad"), d = p.list("dilation");
    return {{s[0], s[1]}, {pad[0], pad[1], pad[2], pad[3]}, {d[0], d[1]}, p.i("groups", 1)};
}

const std::map<std::string, OpFn>& registry() {
    static const std::map<std::string, OpFn> ops = {
        {"add", [](auto&, auto& x) { return x[0] + x[1]; }},
        {"sub", [](auto&, auto& x) { return x[0] - x[1]; }},
        {"mul", [](auto&, auto& x) { return x[0] * x[1]; }},
        {"div", [](auto&, auto& x) { return x[0] / x[1]; }},
        {"pow", [](auto&, auto& x) { return pow(x[0], x[1]); }},
        {"pow_scalar", [](auto& p, auto& x) { return pow(x[0], p.d("p")); }},
        {"maximum", [](auto&, auto& x) { return maximum(x[0], x[1]); }},
        {"minimum", [](auto&, auto& x) { return minimum(x[0], x[1]); }},
        {"eq", [](auto&, auto& x) { return eq(x[0], x[1]); }},
        {"ne", [](auto&, auto& x) { return ne(x[0], x[1]); }},
        {"lt", [](auto&, auto& x) { return lt(x[0], x[1]); }},
        {"le", [](auto&, auto& x) { return le(x[0], x[1]); }},
        {"gt", [](auto&, auto& x) { return gt(x[0], x[1]); }},
        {"ge", [](auto&, auto& x) { return ge(x[0], x[1]); }},
        {"where", [](auto&, auto& x) { return where(x[0], x[1], x[2]); }},
        {"neg", [](auto&, auto& x) { return -x[0]; }},
        {"exp", [](auto&, auto& x) { return exp(x[0]); }},
        {"log", [](auto&, auto& x) { return log(x[0]); }},
        {"sqrt", [](auto&, auto& x) { return sqrt(x[0]); }},
        {"rsqrt", [](auto&, auto& x) { return rsqrt(x[0]); }},
        {"abs", [](auto&, auto& x) { return abs(x[0]); }},
        {"sign", [](auto&, auto& x) { return sign(x[0]); }},
        {"erf", [](auto&, auto& x) { return erf(x[0]); }},
        {"clamp", [](auto& p, auto& x) { return clamp(x[0], p.d("lo"), p.d("hi")); }},
        {"relu", [](auto&, auto& x) { return relu(x[0]); }},
        {"leaky_relu", [](auto& p, auto& x) { return leaky_relu(x[0], p.d("slope")); }},
        {"sigmoid", [](auto&, auto& x) { return sigmoid(x[0]); }},
        {"tanh", [](auto&, auto& x) { return tanh(x[0]); }},
        {"gelu", [](auto&, auto& x) { return gelu(x[0]); }},
        {"softplus", [](auto& p, auto& x) { return softplus(x[0], p.d("beta"), p.d("threshold")); }},
        {"sum", [](auto& p, auto& x) { return sum(x[0], p.list("axes"), p.i("keepdim")); }},
        {"mean", [](auto& p, auto& x) { return mean(x[0], p.list("axes"), p.i("keepdim")); }},
        {"max", [](auto& p, auto& x) { return max(x[0], p.list("axes"), p.i("keepdim")); }},
        {"min", [](auto& p, auto& x) { return min(x[0], p.list("axes"), p.i("keepdim")); }},
        {"var", [](auto& p, auto& x) { return var(x[0], p.list("axes"), p.i("correction"), p.i("keepdim")); }},
        {"matmul", [](auto&, auto& x) { return matmul(x[0], x[1]); }},
        {"linear", [](auto&, auto& x) { return linear(x[0], x[1], x.size() > 2 ? x[2] : Tensor()); }},
        {"reshape", [](auto& p, auto& x) { return reshape(x[0], p.list("shape")); }},
        {"permute", [](auto& p, auto& x) { return permute(x[0], p.list("perm")); }},
        {"transpose", [](auto& p, auto& x) { return transpose(x[0], p.i("a"), p.i("b")); }},
        {"expand", [](auto& p, auto& x) { return expand(x[0], p.list("shape")); }},
        {"slice", [](auto& p, auto& x) { return slice(x[0], p.i("axis"), p.i("start"), p.i("end"), p.i("step")); }},
        {"narrow", [](auto& p, auto& x) { return narrow(x[0], p.i("axis"), p.i("start"), p.i("length")); }},
        {"concat", [](auto& p, auto& x) { return concat(x, p.i("axis")); }},
        {"split",
         [](auto& p, auto& x) {
             auto parts = p.kv.count("sizes") ? split(x[0], p.list("sizes"), p.i("axis"))
                                              : split(x[0], p.i("size"), p.i("axis"));
             return parts.at(static_cast<size_t>(p.i("piece")));
         }},
        {"pad", [](auto& p, auto& x) { return pad(x[0], p.list("pads"), pad_mode(p.s("mode")), p.d("value")); }},
        {"flip", [](auto& p, auto& x) { return flip(x[0], p.list("axes")); }},
        {"index_select", [](auto& p, auto& x) { return index_select(x[0], p.i("axis"), x[1]); }},
        {"gather", [](auto& p, auto& x) { return gather(x[0], p.i("axis"), x[1]); }},
        {"index_add", [](auto& p, auto& x) { return index_add(p.list("shape"), p.i("axis"), x[1], x[0]); }},
        {"scatter_add", [](auto& p, auto& x) { return scatter_add(p.list("shape"), p.i("axis"), x[1], x[0]); }},
        {"conv2d", [](auto& p, auto& x) { return conv2d(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), conv_params(p)); }},
        {"conv_transpose2d",
         [](auto& p, auto& x) {
             const auto op = p.list("output_padding");
             return conv_transpose2d(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), conv_params(p), {op[0], op[1]});
         }},
        {"avg_pool2d", [](auto& p, auto& x) { return avg_pool2d(x[0], p.i("k"), p.i("stride"), p.i("pad")); }},
        {"max_pool2d", [](auto& p, auto& x) { return max_pool2d(x[0], p.i("k"), p.i("stride"), p.i("pad")); }},
        {"adaptive_avg_pool2d", [](auto& p, auto& x) { return adaptive_avg_pool2d(x[0], p.i("h"), p.i("w")); }},
        {"interpolate",
         [](auto& p, auto& x) {
             const std::string m = p.s("mode");
             const Interp mode = m == "nearest" ? Interp::nearest : m == "bilinear" ? Interp::bilinear : Interp::bicubic;
             return interpolate(x[0], p.i("h"), p.i("w"), mode, p.i("align_corners"));
         }},
        {"pixel_shuffle", [](auto& p, auto& x) { return pixel_shuffle(x[0], p.i("r")); }},
        {"pixel_unshuffle", [](auto& p, auto& x) { return pixel_unshuffle(x[0], p.i("r")); }},
        {"upfirdn2d",
         [](auto& p, auto& x) {
             const auto pd = p.list("pads");
             return upfirdn2d(x[0], x[1], p.i("up"), p.i("down"), {pd[0], pd[1], pd[2], pd[3]}, p.d("gain"));
         }},
        {"layer_norm2d", [](auto&, auto& x) { return layer_norm2d(x[0], x[1], x[2]); }},
        {"instance_norm", [](auto&, auto& x) { return instance_norm(x[0], x[1], x[2]); }},
        {"half_instance_norm", [](auto& p, auto& x) { return half_instance_norm(x[0], p.i("channels"), x[1], x[2]); }},
        {"batch_norm",
         [](auto& p, auto& x) {
             return p.i("training") ? batch_norm(x[0], Tensor(), Tensor(), x[1], x[2], true)
                                    : batch_norm(x[0], x[3], x[4], x[1], x[2], false);
         }},
        {"pixel_norm", [](auto&, auto& x) { return pixel_norm(x[0]); }},
        {"prelu", [](auto&, auto& x) { return prelu(x[0], x[1]); }},
        {"simple_gate", [](auto&, auto& x) { return simple_gate(x[0]); }},
        {"bias_act", [](auto& p, auto& x) { return bias_leaky_relu(x[0], x[1], 0.2, std::sqrt(2.0), p.d("clamp")); }},
        {"minibatch_stddev", [](auto& p, auto& x) { return minibatch_stddev(x[0], p.i("group"), p.i("channels")); }},
        {"unsqueeze", [](auto& p, auto& x) { return unsqueeze(x[0], p.i("axis")); }},
        {"squeeze", [](auto& p, auto& x) { return squeeze(x[0], p.i("axis")); }},
        {"flatten", [](auto& p, auto& x) { return flatten(x[0], p.i("start"), p.i("end")); }},
    };
    return ops;
}

const std::vector<Case>& cases() {
    static const std::vector<Case> all = [] {
        std::vector<Case> out;
        std::ifstream f(test::fixtures() + "/ops/cases.txt");
        REQUIRE_MESSAGE(f.good(), "missing fixture list " << test::fixtures() << "/ops/cases.txt");
        for (std::string line; std::getline(f, line);) {
            if (line.empty()) continue;
            std::stringstream ss(line);
            Case c;
            std::string g;
            ss >> c.name >> c.op >> c.n_inputs >> g;
            c.grad = g == "grad";
            for (std::string kv; ss >> kv;) {
                const auto eqp = kv.find('=');
                c.p.kv[kv.substr(0, eqp)] = kv.substr(eqp + 1);
            }
            out.push_back(c);
        }
        return out;
    }();
    return all;
}

std::set<int64_t> const_inputs(const Case& c) {
    std::set<int64_t> s;
    for (auto i : c.p.list("const")) s.insert(i);
    return s;
}

void run_case(const Case& c) {
    INFO("case " << c.name);
    const std::string base = test::fixtures() + "/ops/" + c.name;
    const OpFn& fn = registry().at(c.op);
    const auto consts = const_inputs(c);
    std::vector<Tensor> in;
    for (int i = 0; i < c.n_inputs; ++i) {
        Tensor t = io::load_npy(base + ".in" + std::to_string(i) + ".npy");
        if (c.grad && is_floating(t.dtype()) && !consts.count(i)) t.requires_grad_(true);
        in.push_back(t);
    }
    // forward
    const Tensor out = fn(c.p, in);
    const Tensor expect = io::load_npy(base + ".out.npy");
    REQUIRE(out.shape() == expect.shape());
    const double fe = relerr(out, expect);
    CHECK_MESSAGE(fe <= testing::kForwardTol, "forward relerr " << fe);
    if (!c.grad) return;

    // backward against PyTorch
    std::vector<Tensor> wrt;
    std::vector<int> wrt_index;
    for (int i = 0; i < c.n_inputs; ++i)
        if (in[static_cast<size_t>(i)].requires_grad()) {
            wrt.push_back(in[static_cast<size_t>(i)]);
            wrt_index.push_back(i);
        }
    const auto g = grad({out}, wrt, {io::load_npy(base + ".gout.npy")}, false, true);
    for (size_t k = 0; k < wrt.size(); ++k) {
        const Tensor ref = io::load_npy(base + ".grad" + std::to_string(wrt_index[k]) + ".npy");
        const Tensor mine = g[k].defined() ? g[k] : zeros_like(ref);
        const double ge = relerr(mine, ref);
        CHECK_MESSAGE(ge <= testing::kGradTol, "grad of input " << wrt_index[k] << " relerr " << ge);
    }

    // the same forward and gradients, bitwise, with 1 and with 2 threads
    {
        const int before = num_threads();
        auto run = [&](int threads) {
            set_num_threads(threads);
            const Tensor o = fn(c.p, in);
            std::vector<std::vector<double>> r{o.to_vector<double>()};
            for (const auto& gi : grad({o}, wrt, {io::load_npy(base + ".gout.npy")}, false, true))
                if (gi.defined()) r.push_back(gi.to_vector<double>());
            return r;
        };
        const auto one = run(1), two = run(2);
        set_num_threads(before);
        CHECK_MESSAGE(one == two, "results differ between 1 and 2 threads");
    }

    // finite differences, float64, first and second order (constant inputs stay fixed)
    std::vector<Tensor> vary, fixed(in.size());
    std::vector<size_t> vary_at;
    for (size_t i = 0; i < in.size(); ++i) {
        if (consts.count(static_cast<int64_t>(i))) fixed[i] = to(detach(in[i]), DType::f64);
        else {
            vary.push_back(detach(in[i]));
            vary_at.push_back(i);
        }
    }
    auto f64 = [&](const std::vector<Tensor>& xs) {
        std::vector<Tensor> all = fixed;
        for (size_t k = 0; k < xs.size(); ++k) all[vary_at[k]] = xs[k];
        return fn(c.p, all);
    };
    const auto r1 = testing::gradcheck(f64, vary);
    CHECK_MESSAGE(r1.ok, "gradcheck: " << r1.message);
    const auto r2 = testing::gradgradcheck(f64, vary);
    CHECK_MESSAGE(r2.ok, "gradgradcheck: " << r2.message);
}

void run_op(const std::string& op) {
    int n = 0;
    for (const auto& c : cases())
        if (c.op == op) {
            run_case(c);
            ++n;
        }
    CHECK_MESSAGE(n > 0, "no fixture case for op " << op);
}

} // namespace

TEST_CASE("fixtures: every case names a known op, every op has a case") {
    std::set<std::string> seen;
    for (const auto& c : cases()) {
        CHECK_MESSAGE(registry().count(c.op), "unknown op " << c.op << " in case " << c.name);
        seen.insert(c.op);
    }
    for (const auto& [op, fn] : registry()) CHECK_MESSAGE(seen.count(op), "op " << op << " has no fixture");
}

#define OP_TEST(op) \
    TEST_CASE("op " op) { run_op(op); }
OP_TEST("add") OP_TEST("sub") OP_TEST("mul") OP_TEST("div") OP_TEST("pow") OP_TEST("pow_scalar")
OP_TEST("maximum") OP_TEST("minimum") OP_TEST("eq") OP_TEST("ne") OP_TEST("lt") OP_TEST("le") OP_TEST("gt")
OP_TEST("ge") OP_TEST("where") OP_TEST("neg") OP_TEST("exp") OP_TEST("log") OP_TEST("sqrt") OP_TEST("rsqrt")
OP_TEST("abs") OP_TEST("sign") OP_TEST("erf") OP_TEST("clamp") OP_TEST("relu") OP_TEST("leaky_relu")
OP_TEST("sigmoid") OP_TEST("tanh") OP_TEST("gelu") OP_TEST("softplus") OP_TEST("sum") OP_TEST("mean")
OP_TEST("max") OP_TEST("min") OP_TEST("var") OP_TEST("matmul") OP_TEST("linear") OP_TEST("reshape")
OP_TEST("permute") OP_TEST("transpose") OP_TEST("expand") OP_TEST("slice") OP_TEST("narrow") OP_TEST("concat")
OP_TEST("split") OP_TEST("pad") OP_TEST("flip") OP_TEST("index_select") OP_TEST("gather") OP_TEST("index_add")
OP_TEST("scatter_add") OP_TEST("unsqueeze") OP_TEST("squeeze") OP_TEST("flatten") OP_TEST("conv2d")
OP_TEST("conv_transpose2d") OP_TEST("avg_pool2d") OP_TEST("max_pool2d") OP_TEST("adaptive_avg_pool2d")
OP_TEST("interpolate") OP_TEST("pixel_shuffle") OP_TEST("pixel_unshuffle") OP_TEST("upfirdn2d") OP_TEST("layer_norm2d")
OP_TEST("instance_norm") OP_TEST("half_instance_norm") OP_TEST("batch_norm") OP_TEST("pixel_norm") OP_TEST("prelu")
OP_TEST("simple_gate") OP_TEST("bias_act") OP_TEST("minibatch_stddev")
