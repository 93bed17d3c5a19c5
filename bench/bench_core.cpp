// bench_core — the tensor layer's overhead: each vkgrad op next to raw Eigen doing the same
// work on the same data, in the same run. Run bench/compare.py on the JSON output for the
// vkgrad/Eigen time ratios.
//
//   meson setup build -Dbenchmarks=true && meson compile -C build
//   build/bench/bench_core --benchmark_format=json > core.json && python3 bench/compare.py core.json
#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include <vkgrad/vkgrad.hpp>

using namespace vkgrad;
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Arr = Eigen::Array<float, Eigen::Dynamic, 1>;

static void flops(benchmark::State& s, double per_iter) {
    s.counters["GFLOP/s"] = benchmark::Counter(per_iter * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// ---- matmul [n,n] @ [n,n] -----------------------------------------------------------------
static void BM_matmul_vkgrad(benchmark::State& s) {
    const int64_t n = s.range(0);
    Generator g(0);
    const Tensor a = randn({n, n}, g), b = randn({n, n}, g);
    for (auto _ : s) benchmark::DoNotOptimize(matmul(a, b).raw_data());
    flops(s, 2.0 * n * n * n);
}
static void BM_matmul_eigen(benchmark::State& s) {
    const int64_t n = s.range(0);
    RowMat a = RowMat::Random(n, n), b = RowMat::Random(n, n), c(n, n);
    for (auto _ : s) {
        c.noalias() = a * b;
        benchmark::DoNotOptimize(c.data());
    }
    flops(s, 2.0 * n * n * n);
}
BENCHMARK(BM_matmul_vkgrad)->Arg(64)->Arg(256)->Arg(1024);
BENCHMARK(BM_matmul_eigen)->Arg(64)->Arg(256)->Arg(1024);

// ---- elementwise and reductions over n floats ---------------------------------------------
static void BM_add_vkgrad(benchmark::State& s) {
    Generator g(0);
    const Tensor a = randn({s.range(0)}, g), b = randn({s.range(0)}, g);
    for (auto _ : s) benchmark::DoNotOptimize((a + b).raw_data());
    flops(s, static_cast<double>(s.range(0)));
}
static void BM_add_eigen(benchmark::State& s) {
    Arr a = Arr::Random(s.range(0)), b = Arr::Random(s.range(0));
    for (auto _ : s) {
        Arr c = a + b; // allocates its result, like the tensor op
        benchmark::DoNotOptimize(c.data());
    }
    flops(s, static_cast<double>(s.range(0)));
}
static void BM_bcast_add_vkgrad(benchmark::State& s) { // [n/64, 64] + [64]
    Generator g(0);
    const Tensor a = randn({s.range(0) / 64, 64}, g), b = randn({64}, g);
    for (auto _ : s) benchmark::DoNotOptimize((a + b).raw_data());
    flops(s, static_cast<double>(s.range(0)));
}
static void BM_bcast_add_eigen(benchmark::State& s) {
    RowMat a = RowMat::Random(s.range(0) / 64, 64);
    Eigen::RowVectorXf b = Eigen::RowVectorXf::Random(64);
    for (auto _ : s) {
        RowMat c = a.rowwise() + b;
        benchmark::DoNotOptimize(c.data());
    }
    flops(s, static_cast<double>(s.range(0)));
}
static void BM_exp_vkgrad(benchmark::State& s) {
    Generator g(0);
    const Tensor a = randn({s.range(0)}, g);
    for (auto _ : s) benchmark::DoNotOptimize(exp(a).raw_data());
}
static void BM_exp_eigen(benchmark::State& s) {
    Arr a = Arr::Random(s.range(0));
    for (auto _ : s) {
        Arr c = a.exp();
        benchmark::DoNotOptimize(c.data());
    }
}
static void BM_sum_vkgrad(benchmark::State& s) {
    Generator g(0);
    const Tensor a = randn({s.range(0)}, g);
    for (auto _ : s) benchmark::DoNotOptimize(sum(a).raw_data());
    flops(s, static_cast<double>(s.range(0)));
}
static void BM_sum_eigen(benchmark::State& s) {
    Arr a = Arr::Random(s.range(0));
    for (auto _ : s) benchmark::DoNotOptimize(a.sum());
    flops(s, static_cast<double>(s.range(0)));
}
static void BM_rowsum_vkgrad(benchmark::State& s) { // [n/256, 256] summed over axis 0
    Generator g(0);
    const Tensor a = randn({s.range(0) / 256, 256}, g);
    for (auto _ : s) benchmark::DoNotOptimize(sum(a, {0}).raw_data());
    flops(s, static_cast<double>(s.range(0)));
}
static void BM_rowsum_eigen(benchmark::State& s) {
    RowMat a = RowMat::Random(s.range(0) / 256, 256);
    for (auto _ : s) {
        Eigen::RowVectorXf c = a.colwise().sum();
        benchmark::DoNotOptimize(c.data());
    }
    flops(s, static_cast<double>(s.range(0)));
}
// 16 elements: almost pure per-op overhead (allocation, dispatch, shape checks).
BENCHMARK(BM_add_vkgrad)->Arg(16)->Arg(1 << 20);
BENCHMARK(BM_add_eigen)->Arg(16)->Arg(1 << 20);
BENCHMARK(BM_bcast_add_vkgrad)->Arg(1 << 20);
BENCHMARK(BM_bcast_add_eigen)->Arg(1 << 20);
BENCHMARK(BM_exp_vkgrad)->Arg(1 << 20);
BENCHMARK(BM_exp_eigen)->Arg(1 << 20);
BENCHMARK(BM_sum_vkgrad)->Arg(1 << 20);
BENCHMARK(BM_sum_eigen)->Arg(1 << 20);
BENCHMARK(BM_rowsum_vkgrad)->Arg(1 << 20);
BENCHMARK(BM_rowsum_eigen)->Arg(1 << 20);

// ---- autograd: forward + backward of a small MLP step vs. hand-written Eigen --------------
static void BM_mlp_step_vkgrad(benchmark::State& s) {
    Generator g(0);
    nn::Linear l1(64, 128, g), l2(128, 10, g);
    const Tensor x = randn({256, 64}, g);
    for (auto _ : s) {
        l1.zero_grad();
        l2.zero_grad();
        Tensor loss = mean(pow(l2(tanh(l1(x))), 2.0));
        loss.backward();
        benchmark::DoNotOptimize(l1.weight.grad().raw_data());
    }
}
static void BM_mlp_step_eigen(benchmark::State& s) {
    RowMat w1 = RowMat::Random(128, 64), w2 = RowMat::Random(10, 128), x = RowMat::Random(256, 64);
    Eigen::RowVectorXf b1 = Eigen::RowVectorXf::Random(128), b2 = Eigen::RowVectorXf::Random(10);
    for (auto _ : s) {
        RowMat h = ((x * w1.transpose()).rowwise() + b1).array().tanh().matrix();
        RowMat y = (h * w2.transpose()).rowwise() + b2;
        RowMat gy = y * (2.0f / static_cast<float>(y.size()));
        RowMat gw2 = gy.transpose() * h;
        Eigen::RowVectorXf gb2 = gy.colwise().sum();
        RowMat gh = (gy * w2).array() * (1 - h.array().square());
        RowMat gw1 = gh.transpose() * x;
        Eigen::RowVectorXf gb1 = gh.colwise().sum();
        benchmark::DoNotOptimize(gw1.data());
        benchmark::DoNotOptimize(gb1.data());
        benchmark::DoNotOptimize(gw2.data());
        benchmark::DoNotOptimize(gb2.data());
    }
}
BENCHMARK(BM_mlp_step_vkgrad);
BENCHMARK(BM_mlp_step_eigen);

BENCHMARK_MAIN();
