// Optimizers, schedules, clipping and EMA: 20-step trajectories against torch.optim
// (tests/reference/make_train_fixtures.py), within 1e-6 relative.
#include "support.hpp"

#include <vkgrad/optim.hpp>

using namespace vkgrad;
using testing::relerr;

namespace {

Tensor fx(const std::string& name) { return io::load_npy(test::fixtures() + "/train/" + name + ".npy"); }

constexpr double kTrajectoryTol = 1e-6; // the bound for 20 float32 steps

struct Problem {
    Generator gen{0};
    nn::Linear model{3, 4, gen}, ema{3, 4, gen};
    Tensor X = fx("opt_X"), Y = fx("opt_Y");
    Problem() {
        model.load_state_dict({{"weight", fx("opt_W0")}, {"bias", fx("opt_b0")}});
        ema.load_state_dict({{"weight", fx("opt_W0")}, {"bias", fx("opt_b0")}});
    }
    Tensor loss() { return mean(pow(tanh(model(X)) - Y, 2.0)); }
};

} // namespace

TEST_CASE("optimizer trajectories match torch.optim over 20 steps") {
    using namespace optim;
    struct Config {
        std::function<std::unique_ptr<Optimizer>(Problem&)> make;
        std::function<std::unique_ptr<LRSchedule>(Optimizer&)> schedule;
        double clip = 0;
    };
    const std::map<std::string, Config> configs = {
        {"sgd", {[](Problem& p) { return std::make_unique<SGD>(p.model.parameters(), 0.1); }, nullptr}},
        {"sgd_momentum",
         {[](Problem& p) {
              return std::make_unique<SGD>(std::vector<ParamGroup>{{p.model.parameters(), 0.05, 1e-2}},
                                           SGDOptions{0.9, 0.1, false});
          },
          nullptr}},
        {"sgd_nesterov",
         {[](Problem& p) { return std::make_unique<SGD>(p.model.parameters(), 0.05, SGDOptions{0.9, 0.0, true}); },
          [](Optimizer& o) { return std::make_unique<MultiStepLR>(o, std::vector<int64_t>{3, 7, 12}, 0.3); }}},
        {"adam", {[](Problem& p) { return std::make_unique<Adam>(p.model.parameters(), 1e-2, AdamOptions{0.9, 0.99}); },
                  nullptr}},
        {"adam_wd_step",
         {[](Problem& p) { return std::make_unique<Adam>(std::vector<ParamGroup>{{p.model.parameters(), 1e-2, 1e-2}}); },
          [](Optimizer& o) { return std::make_unique<StepLR>(o, 5, 0.5); }}},
        {"adamw_cosine", {[](Problem& p) { return std::make_unique<AdamW>(p.model.parameters(), 1e-2, 0.1); },
                          [](Optimizer& o) { return std::make_unique<CosineAnnealingLR>(o, 20, 1e-4); }}},
        {"adamw_warmup_cosine",
         {[](Problem& p) { return std::make_unique<AdamW>(p.model.parameters(), 1e-2, 0.1); },
          [](Optimizer& o) { return std::make_unique<LinearWarmup>(o, std::make_unique<CosineAnnealingLR>(o, 20, 1e-4), 5); }}},
        {"adam_groups_clip",
         {[](Problem& p) {
              return std::make_unique<Adam>(
                  std::vector<ParamGroup>{{{p.model.weight}, 1e-2}, {{p.model.bias}, 2.5e-3}}, AdamOptions{0.0, 0.99, 1e-6});
          },
          nullptr, 0.5}},
    };
    double worst = 0;
    for (auto& [name, c] : configs) {
        INFO(name);
        Problem p;
        auto opt = c.make(p);
        auto sched = c.schedule ? c.schedule(*opt) : nullptr;
        std::vector<double> norms;
        for (int step = 0; step < 20; ++step) {
            opt->zero_grad();
            p.loss().backward();
            if (c.clip > 0) norms.push_back(clip_grad_norm_(p.model.parameters(), c.clip));
            opt->step();
            if (sched) sched->step();
            ema_update(p.ema, p.model, 0.9);
        }
        for (auto [t, key] : {std::pair{p.model.weight, "_W"}, {p.model.bias, "_b"}, {p.ema.weight, "_W_ema"},
                              {p.ema.bias, "_b_ema"}}) {
            const double e = relerr(t, fx("opt_" + name + key));
            CHECK(e <= kTrajectoryTol);
            worst = std::max(worst, e);
        }
        if (c.clip > 0) CHECK(relerr(from_vector(norms, {DType::f64}), fx("opt_" + name + "_norms")) <= kTrajectoryTol);
    }
    MESSAGE("worst relative error after 20 steps: " << worst);
}

TEST_CASE("optimizer state round-trips through state_dict, and bad state is refused") {
    using namespace optim;
    Problem a, b;
    Adam oa(a.model.parameters(), 1e-2), ob(b.model.parameters(), 1e-2);
    for (int i = 0; i < 3; ++i) {
        oa.zero_grad();
        a.loss().backward();
        oa.step();
    }
    b.model.load_state_dict([&] {
        std::map<std::string, Tensor> m;
        for (auto& [k, t] : a.model.state_dict()) m[k] = t;
        return m;
    }());
    std::map<std::string, Tensor> sd;
    for (auto& [k, t] : oa.state_dict()) sd[k] = t;
    CHECK(sd.count("0.0.exp_avg"));
    CHECK(sd.count("0.1.step"));
    ob.load_state_dict(sd);
    for (int i = 0; i < 3; ++i) {
        for (auto* pr : {&a, &b}) {
            Optimizer& o = pr == &a ? static_cast<Optimizer&>(oa) : ob;
            o.zero_grad();
            pr->loss().backward();
            o.step();
        }
    }
    CHECK(relerr(a.model.weight, b.model.weight) == 0);
    auto bad = sd;
    bad["0.0.exp_avg"] = zeros({3, 4});
    test::check_error([&] { ob.load_state_dict(bad); }, {"Adam", "0.0.exp_avg", "[3,4]", "[4,3]"});
    bad = sd;
    bad["0.7.exp_avg"] = zeros({4, 3});
    test::check_error([&] { ob.load_state_dict(bad); }, {"Adam", "0.7.exp_avg"});
    bad = sd;
    bad["0.0.momentum_buffer"] = zeros({4, 3});
    test::check_error([&] { ob.load_state_dict(bad); }, {"Adam", "unknown state", "momentum_buffer"});
    test::check_error([&] { Adam(a.model.parameters(), 1e-2, AdamOptions{1.0, 0.999}); }, {"Adam", "betas"});
    test::check_error([&] { SGD(a.model.parameters(), 0.1, SGDOptions{0.0, 0.0, true}); }, {"SGD", "Nesterov"});
    test::check_error([&] { optim::clip_grad_norm_(a.model.parameters(), 0.0); }, {"clip_grad_norm_", "max_norm"});
}

TEST_CASE("schedules are closed-form functions of the step") {
    using namespace optim;
    Problem p;
    SGD opt(p.model.parameters(), 1.0);
    StepLR s1(opt, 3, 0.5);
    CHECK(s1.lr_at(1.0, 2) == 1.0);
    CHECK(s1.lr_at(1.0, 3) == 0.5);
    MultiStepLR s2(opt, {2, 5}, 0.1);
    CHECK(s2.lr_at(1.0, 1) == 1.0);
    CHECK(s2.lr_at(1.0, 5) == doctest::Approx(0.01));
    CosineAnnealingLR s3(opt, 10, 0.1);
    CHECK(s3.lr_at(1.0, 0) == 1.0);
    CHECK(s3.lr_at(1.0, 10) == doctest::Approx(0.1));
    s3.set_step(5);
    CHECK(opt.groups[0].lr == doctest::Approx(0.55));
    // the warm-up ramps (t + 1) / 4 and is at its rate as soon as it is made
    s3.set_step(0); // the base rate back to 1
    LinearWarmup s4(opt, std::make_unique<CosineAnnealingLR>(opt, 10, 0.1), 4);
    CHECK(opt.groups[0].lr == doctest::Approx(0.25));
    CHECK(s4.lr_at(1.0, 2) == doctest::Approx(0.75 * s3.lr_at(1.0, 2)));
    CHECK(s4.lr_at(1.0, 3) == s3.lr_at(1.0, 3));
    CHECK(s4.lr_at(1.0, 7) == s3.lr_at(1.0, 7));
    // nested, the outer one ramps from the base rate, not from the inner one's step-0 rate
    s3.set_step(0);
    LinearWarmup s5(opt, std::make_unique<LinearWarmup>(opt, std::make_unique<CosineAnnealingLR>(opt, 10, 0.1), 2), 4);
    CHECK(opt.groups[0].lr == doctest::Approx(0.125));
    test::check_error([&] { MultiStepLR(opt, {5, 2}); }, {"MultiStepLR", "increasing"});
    test::check_error([&] { LinearWarmup(opt, std::make_unique<StepLR>(opt, 3), 0); }, {"LinearWarmup", "steps"});
    test::check_error([&] { LinearWarmup(opt, nullptr, 2); }, {"LinearWarmup", "no inner"});
}
