// vkgrad/metrics/fid.hpp — the Fréchet distance between two Gaussians fitted to features
// (FID, Heusel et al. 2017, with Inception pool3 features).
//
//   d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))
//
// tr((S1 S2)^(1/2)) is computed as tr((A S2 A)^(1/2)) with A = S1^(1/2): A S2 A is symmetric
// positive semi-definite and similar to S1 S2, so two symmetric eigendecompositions replace the
// general matrix square root (scipy's sqrtm) that pytorch-fid uses, with no complex parts to
// discard. Eigenvalues that rounding makes slightly negative are taken as zero.
#pragma once
#include <Eigen/Dense>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../ops/creation.hpp"

namespace vkgrad::metrics {

struct Gaussian {
    Eigen::VectorXd mu;
    Eigen::MatrixXd sigma;
};

/// Mean and unbiased covariance (numpy.cov, N - 1) of features [N, D]; requires N >= 2.
inline Gaussian feature_statistics(const Tensor& features) {
    VKG_CHECK(features.defined() && features.dim() == 2 && features.size(0) >= 2, "feature_statistics",
              "needs features [N, D] with N >= 2, got ", features.defined() ? to_string(features.shape()) : "undefined");
    const int64_t N = features.size(0), D = features.size(1);
    const auto v = to(features, Device{}).to_vector<double>();
    Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> X(v.data(), N, D);
    Gaussian g;
    g.mu = X.colwise().mean().transpose();
    const Eigen::MatrixXd centred = X.rowwise() - g.mu.transpose();
    g.sigma = centred.transpose() * centred / static_cast<double>(N - 1);
    return g;
}

/// The squared Fréchet distance between N(mu1, S1) and N(mu2, S2) (what FID reports).
inline double frechet_distance(const Gaussian& a, const Gaussian& b) {
    VKG_CHECK(a.mu.size() == b.mu.size() && a.sigma.rows() == a.mu.size() && a.sigma.cols() == a.mu.size() &&
                  b.sigma.rows() == b.mu.size() && b.sigma.cols() == b.mu.size(),
              "frechet_distance", "statistics of different dimensions: ", a.mu.size(), " and ", b.mu.size());
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> ea(a.sigma);
    VKG_CHECK(ea.info() == Eigen::Success, "frechet_distance", "eigendecomposition failed (NaN in the covariance?)");
    const Eigen::VectorXd la = ea.eigenvalues().cwiseMax(0.0).cwiseSqrt();
    const Eigen::MatrixXd A = ea.eigenvectors() * la.asDiagonal() * ea.eigenvectors().transpose();
    const Eigen::MatrixXd M = A * b.sigma * A;
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> em(0.5 * (M + M.transpose()), Eigen::EigenvaluesOnly);
    VKG_CHECK(em.info() == Eigen::Success, "frechet_distance", "eigendecomposition failed");
    const double tr_sqrt = em.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
    return (a.mu - b.mu).squaredNorm() + a.sigma.trace() + b.sigma.trace() - 2 * tr_sqrt;
}

} // namespace vkgrad::metrics
