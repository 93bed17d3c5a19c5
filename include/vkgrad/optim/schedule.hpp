// vkgrad/optim/schedule.hpp — learning-rate schedules, as torch.optim.lr_scheduler.
//
// A schedule is a function of the step count: lr_g(t) for each group g from the group's
// base rate (its lr when the schedule was made). The closed form makes a resumed run
// reproduce the uninterrupted one by setting t, with nothing else to restore; torch's
// recursive updates agree with it to rounding.
#pragma once
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "optimizer.hpp"

namespace vkgrad::optim {

class LRSchedule {
public:
    virtual ~LRSchedule() = default;
    /// Advances one step (call after optimizer.step(), as in torch) and sets the groups' rates.
    void step() { set_step(t_ + 1); }
    /// Jumps to step t (for resuming) and sets the groups' rates.
    void set_step(int64_t t) {
        VKG_CHECK(t >= 0, "LRSchedule", "step must be >= 0, got ", t);
        t_ = t;
        for (size_t g = 0; g < opt_.groups.size(); ++g) opt_.groups[g].lr = lr_at(base_[g], t);
    }
    int64_t current_step() const { return t_; }
    /// The rate of a group with base rate `base` at step t.
    virtual double lr_at(double base, int64_t t) const = 0;

protected:
    explicit LRSchedule(Optimizer& opt) : opt_(opt) {
        for (auto& g : opt.groups) base_.push_back(g.lr);
    }
    /// A schedule wrapping `inner` takes inner's base rates: the groups' rates may already be
    /// inner's step-0 rates, not the base ones (a LinearWarmup inside another).
    LRSchedule(Optimizer& opt, const LRSchedule& inner) : opt_(opt), base_(inner.base_) {}

private:
    Optimizer& opt_;
    std::vector<double> base_;
    int64_t t_ = 0;
};

/// base * gamma^floor(t / step_size)
class StepLR : public LRSchedule {
public:
    StepLR(Optimizer& opt, int64_t step_size, double gamma = 0.1) : LRSchedule(opt), step_size_(step_size), gamma_(gamma) {
        VKG_CHECK(step_size > 0, "StepLR", "step_size must be positive, got ", step_size);
    }
    double lr_at(double base, int64_t t) const override {
        return base * std::pow(gamma_, static_cast<double>(t / step_size_));
    }

private:
    int64_t step_size_;
    double gamma_;
};

/// base * gamma^(number of milestones <= t); milestones increasing.
class MultiStepLR : public LRSchedule {
public:
    MultiStepLR(Optimizer& opt, std::vector<int64_t> milestones, double gamma = 0.1)
        : LRSchedule(opt), milestones_(std::move(milestones)), gamma_(gamma) {
        VKG_CHECK(std::is_sorted(milestones_.begin(), milestones_.end()), "MultiStepLR", "milestones must be increasing");
    }
    double lr_at(double base, int64_t t) const override {
        const auto k = std::upper_bound(milestones_.begin(), milestones_.end(), t) - milestones_.begin();
        return base * std::pow(gamma_, static_cast<double>(k));
    }

private:
    std::vector<int64_t> milestones_;
    double gamma_;
};

/// eta_min + (base - eta_min) (1 + cos(pi t / t_max)) / 2 (SGDR without restarts).
class CosineAnnealingLR : public LRSchedule {
public:
    CosineAnnealingLR(Optimizer& opt, int64_t t_max, double eta_min = 0.0) : LRSchedule(opt), t_max_(t_max), eta_min_(eta_min) {
        VKG_CHECK(t_max > 0, "CosineAnnealingLR", "t_max must be positive, got ", t_max);
    }
    double lr_at(double base, int64_t t) const override {
        return eta_min_ + (base - eta_min_) * (1 + std::cos(M_PI * static_cast<double>(t) / static_cast<double>(t_max_))) / 2;
    }

private:
    int64_t t_max_;
    double eta_min_;
};

/// inner's rate times min(1, (t + 1) / steps): a linear warm-up over the first `steps` steps
/// (torch: LambdaLR with that factor times inner's). Fresh Adam moments make the first updates
/// about lr in size for every weight, signal or not; ramping lr up spares a trained network
/// (a resumed or grown one) that jolt. Requires steps >= 1 and `inner` made on the same
/// optimizer; ensures the groups' rates are already step 0's when it returns.
class LinearWarmup : public LRSchedule {
public:
    LinearWarmup(Optimizer& opt, std::unique_ptr<LRSchedule> inner, int64_t steps)
        : LRSchedule(opt, checked(inner)), inner_(std::move(inner)), steps_(steps) {
        VKG_CHECK(steps >= 1, "LinearWarmup", "steps must be >= 1, got ", steps);
        set_step(0); // unlike the others, step 0's rate is not the base rate
    }
    double lr_at(double base, int64_t t) const override {
        return std::min(1.0, static_cast<double>(t + 1) / static_cast<double>(steps_)) * inner_->lr_at(base, t);
    }

private:
    static const LRSchedule& checked(const std::unique_ptr<LRSchedule>& inner) {
        VKG_CHECK(inner != nullptr, "LinearWarmup", "no inner schedule");
        return *inner;
    }
    std::unique_ptr<LRSchedule> inner_;
    int64_t steps_;
};

} // namespace vkgrad::optim
