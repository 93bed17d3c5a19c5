// vkgrad/io/progress.hpp — a progress line for long loops: step, values, speed, time left.
//
//   Progress bar(total_steps);
//   bar.update(step, {{"loss", l}});   // prints at most every `interval` seconds, and at the end
//
// The line names what is counted: "step 40/1000 ... 2.1 steps/s" by default; a loop over files
// passes unit "image" and reads "image 3/10 ... 1.05 images/s".
//
// Speed is measured from the first update of this process, so a resumed run reports its own
// rate, not one diluted by the steps it skipped.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace vkgrad::io {

class Progress {
public:
    explicit Progress(int64_t total, double interval_seconds = 2.0, std::FILE* out = stderr, std::string unit = "step")
        : total_(total), interval_(interval_seconds), out_(out), unit_(std::move(unit)) {}

    /// Reports that `step` steps (of total) are done; `values` are printed as name=value.
    void update(int64_t step, const std::vector<std::pair<std::string, double>>& values = {}) {
        const auto now = Clock::now();
        if (first_step_ < 0) {
            first_step_ = step;
            start_ = last_ = now;
        }
        const bool done = step >= total_;
        if (!done && seconds(last_, now) < interval_ && step != first_step_) return;
        last_ = now;
        const double elapsed = seconds(start_, now), rate = elapsed > 0 ? (step - first_step_) / elapsed : 0;
        std::string line = unit_;
        line += ' ';
        line += std::to_string(step);
        line += '/';
        line += std::to_string(total_);
        char buf[64];
        for (auto& [name, v] : values) {
            std::snprintf(buf, sizeof buf, "  %s %.5g", name.c_str(), v);
            line += buf;
        }
        std::snprintf(buf, sizeof buf, "  %.2f ", rate);
        line.append(buf).append(unit_).append("s/s");
        // appended piecewise: GCC 12 misreports `"literal" + std::string` as an overlapping memcpy
        if (!done && rate > 0) line.append("  ETA ").append(clock_text((total_ - step) / rate));
        else if (done) line.append("  took ").append(clock_text(elapsed));
        std::fprintf(out_, "%s\n", line.c_str());
        std::fflush(out_);
    }

    /// h:mm:ss
    static std::string clock_text(double s) {
        const auto t = static_cast<int64_t>(s + 0.5);
        char buf[32];
        std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(t / 3600),
                      static_cast<long long>(t / 60 % 60), static_cast<long long>(t % 60));
        return buf;
    }

private:
    using Clock = std::chrono::steady_clock;
    static double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }
    int64_t total_, first_step_ = -1;
    double interval_;
    std::FILE* out_;
    std::string unit_;
    Clock::time_point start_, last_;
};

} // namespace vkgrad::io
