"""FID / KID pipeline: Gaussian closed form, KID's sign, Inception loading offline, digits feature net."""
from __future__ import annotations

import math

from unittest import mock

import pytest
import torch
import torch_fidelity.feature_extractor_inceptionv3 as tf_inception

from scorebench.spec.benchmark import Benchmark
from scorebench.spec import config as cfgmod
from scorebench.core import fidelity as fidelity_module
from scorebench.core.classifier import train_classifier
from scorebench.core.data import build_dataset
from scorebench.errors import ConfigError, DataError
from scorebench.spec.settings import EvaluateConfig
from scorebench.core.fidelity import (URL_INCEPTION_V3, build_extractor, features, fidelity, load_reference, raw,
                                 reference_statistics, save_reference, to_uint8_rgb)
from scorebench.jobs.reference import build_reference, sample_fidelity

F64 = torch.float64


def sqrtm(s: torch.Tensor) -> torch.Tensor:
    """Symmetric PSD square root by eigendecomposition (independent of torch-fidelity's eigvals route)."""
    w, v = torch.linalg.eigh(s)
    return v @ torch.diag(w.clamp(min=0).sqrt()) @ v.T


def gaussian_pair(d: int, g: torch.Generator):
    """N(0, S1) and N(δ, S2) with ‖δ‖ = 1 and random well-conditioned covariances."""
    a, b = torch.randn(d, d, generator=g, dtype=F64), torch.randn(d, d, generator=g, dtype=F64)
    s1, s2 = a @ a.T / d + 0.5 * torch.eye(d, dtype=F64), b @ b.T / d + 0.5 * torch.eye(d, dtype=F64)
    delta = torch.randn(d, generator=g, dtype=F64)
    return s1, s2, delta / delta.norm()


def sample(n, mean, cov, g):
    return mean + torch.randn(n, len(mean), generator=g, dtype=F64) @ torch.linalg.cholesky(cov).T


def reference(x: torch.Tensor) -> dict:
    return reference_statistics(x, raw(), n=len(x), seed=0)


@pytest.mark.parametrize("d", [2, 8])
def test_frechet_distance_matches_gaussian_closed_form(d):
    n, g = 20000, torch.Generator().manual_seed(d)
    s1, s2, delta = gaussian_pair(d, g)
    r1 = sqrtm(s1)
    root = sqrtm(r1 @ s2 @ r1)  # tr((S1 S2)^½) = tr((S1^½ S2 S1^½)^½)
    truth = float(delta @ delta + (s1 + s2).trace() - 2 * root.trace())
    # Delta-method standard deviation of the plug-in estimate: ∂FD/∂μ = ±2δ, ∂FD/∂S1 = I − T and
    # ∂FD/∂S2 = I − T⁻¹ with T = S1^-½ (S1^½ S2 S1^½)^½ S1^-½ the Gaussian transport map, and
    # Var tr(G Ŝ) = 2 tr(G S G S)/n. Checked against 300 replications at d=2 (0.0214 vs 0.0217).
    t = torch.linalg.inv(r1) @ root @ torch.linalg.inv(r1)
    eye = torch.eye(d, dtype=F64)
    g1, g2 = eye - t, eye - torch.linalg.inv(t)
    var = 4 * delta @ (s1 + s2) @ delta + 2 * (g1 @ s1 @ g1 @ s1).trace() + 2 * (g2 @ s2 @ g2 @ s2).trace()
    sd = float((var / n).sqrt())
    got = fidelity(features(sample(n, torch.zeros(d, dtype=F64), s1, g), raw()), reference(sample(n, delta, s2, g)),
                   kid_subsets=5)["fid"]
    # 4 sd of Monte-Carlo error, plus twice the O(d²/n) positive bias d(d+5)/(2n) measured in the next test.
    assert abs(got - truth) < 4 * sd + d * (d + 5) / n, (got, truth, sd)


def test_frechet_distance_bias_between_equal_gaussians_is_d_squared_over_n():
    """Same N(0, I_d) on both sides: E FD ≈ 2d/n (means) + d(d+1)/(2n) (covariances) = d(d+5)/(2n).

    Second-order expansion: tr(Ŝ1 + Ŝ2 − 2(Ŝ1 Ŝ2)^½) ≈ ‖Ŝ1 − Ŝ2‖²_F / 4, whose mean is
    2(2d + d(d−1))/(4n). The mean of 10 replications has a standard error of ~7% of the bias.
    """
    d, n, reps, g = 8, 20000, 10, torch.Generator().manual_seed(0)
    values = torch.tensor([fidelity(features(torch.randn(n, d, generator=g), raw()),
                                    reference(torch.randn(n, d, generator=g)), kid_subsets=2)["fid"]
                           for _ in range(reps)])
    bias = d * (d + 5) / (2 * n)
    assert values.min() > 0
    assert abs(values.mean() - bias) < 4 * values.std() / reps**0.5, (values.mean(), bias)


def test_kid_is_zero_for_equal_and_positive_for_different_distributions():
    g = torch.Generator().manual_seed(1)
    ref = reference(torch.randn(2000, 8, generator=g))
    same = fidelity(torch.randn(2000, 8, generator=g), ref, kid_subsets=50, kid_subset_size=500)
    shifted = fidelity(0.5 + torch.randn(2000, 8, generator=g), ref, kid_subsets=50, kid_subset_size=500)
    # KID is an unbiased MMD² estimate: mean 0 when equal, its subset std is the scale of its noise.
    assert abs(same["kid"]) < 2 * same["kid_std"]
    assert shifted["kid"] > 10 * shifted["kid_std"] and shifted["kid"] > 100 * abs(same["kid"])
    assert same["kid_subset_size"] == 500 and not same["biased"]


def test_small_sets_shrink_kid_subsets_and_are_flagged_biased():
    g = torch.Generator().manual_seed(2)
    out = fidelity(torch.randn(40, 64, generator=g), reference(torch.randn(50, 64, generator=g)), kid_subsets=3)
    assert out["kid_subset_size"] == 40 and out["n"] == 40 and out["n_reference"] == 50
    assert out["biased"] and out["feature_dim"] == 64
    # the boundary: n samples give a covariance of rank n - 1, singular up to n = F
    ref = reference(torch.randn(200, 64, generator=g))
    assert fidelity(torch.randn(64, 64, generator=g), ref, kid_subsets=3)["biased"]
    assert not fidelity(torch.randn(65, 64, generator=g), ref, kid_subsets=3)["biased"]


def test_reference_draws_n_rows_with_seed_and_round_trips(tmp_path):
    data = torch.arange(100.0).reshape(50, 2)
    ref = reference_statistics(data, raw(), n=20, seed=3, dataset="toy", split="test")
    again = reference_statistics(data, raw(), n=20, seed=3)
    assert torch.equal(ref["features"], again["features"]) and ref["n"] == 20 and ref["feature_dim"] == 2
    assert reference_statistics(data, raw(), n=500, seed=3)["n"] == 50
    save_reference(ref, tmp_path / "ref.pt")
    loaded = load_reference(tmp_path / "ref.pt")
    assert torch.equal(loaded["sigma"], ref["sigma"])
    assert (loaded["dataset"], loaded["split"], loaded["seed"]) == ("toy", "test", 3)
    (tmp_path / "bad.pt").write_bytes(b"junk")
    for path in (tmp_path / "bad.pt", tmp_path / "absent.pt"):
        with pytest.raises(DataError, match=str(path)):
            load_reference(path)


def test_uint8_conversion_inverts_the_data_quantisation():
    levels = torch.arange(256).reshape(1, 1, 16, 16)
    x = (levels + 0.5) * (2 / 256) - 1  # bin centres, as `data` stores 8-bit images
    u8 = to_uint8_rgb(x)
    assert u8.dtype == torch.uint8 and u8.shape == (1, 3, 16, 16) and torch.equal(u8[:, 1:2].long(), levels)


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory):
    """A randomly initialised torch-fidelity Inception-v3 saved as a weights file.

    The constructor always loads weights (downloading when no path is given), so both the download
    and the load are stubbed while building the random architecture; convolutions get He init so
    that the random features do not vanish through 90-odd layers.
    """
    with mock.patch.object(tf_inception, "load_state_dict_from_url", return_value=None), \
            mock.patch.object(tf_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None):
        net = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    torch.manual_seed(0)
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    torch.save(net.state_dict(), path)
    return path


def test_inception_runs_end_to_end_from_a_weights_file(inception_weights):
    extractor = build_extractor({"kind": "inception", "weights_path": str(inception_weights)})
    g = torch.Generator().manual_seed(0)
    grey = features(torch.rand(4, 1, 28, 28, generator=g) * 2 - 1, extractor, batch_size=2)
    rgb = torch.rand(4, 3, 32, 32, generator=g) * 2 - 1
    ref = reference_statistics(rgb, extractor, n=4, seed=0)
    assert grey.shape == (4, 2048) and torch.isfinite(grey).all() and grey.std(0).max() > 0
    out = fidelity(grey, ref, kid_subsets=2)
    assert out["biased"] and out["feature_dim"] == 2048 and out["kid_subset_size"] == 4
    assert math.isfinite(out["fid"]) and math.isfinite(out["kid"])


def test_inception_weights_missing_or_corrupt_name_the_file(tmp_path, monkeypatch, inception_weights):
    assert URL_INCEPTION_V3 == tf_inception.URL_INCEPTION_V3  # where torch-fidelity fetches them, as it says
    missing = tmp_path / "nowhere.pth"
    monkeypatch.setattr(fidelity_module, "DEFAULT_INCEPTION_WEIGHTS", missing)
    for spec in ({"kind": "inception", "weights_path": str(missing)}, {"kind": "inception"}):
        with pytest.raises(DataError) as err:
            build_extractor(spec)
        assert str(missing) in str(err.value) and URL_INCEPTION_V3 in str(err.value) and "\n" not in str(err.value)
    garbage, wrong = tmp_path / "garbage.pth", tmp_path / "wrong.pth"
    garbage.write_bytes(b"not a checkpoint")
    torch.save({"fc.weight": torch.zeros(1)}, wrong)
    for path in (garbage, wrong):
        with pytest.raises(DataError) as err:
            build_extractor({"kind": "inception", "weights_path": str(path)})
        assert str(path) in str(err.value) and "corrupt" in str(err.value) and "\n" not in str(err.value)


def test_digits_feature_net_is_accurate_and_separates_digits_from_noise(tmp_path):
    path = tmp_path / "classifier.pt"
    record = train_classifier(path, "digits", seed=0)
    assert record["test_accuracy"] >= 0.95 and record["n_test"] == 300
    extractor = build_extractor({"kind": "classifier", "path": str(path)})
    data = build_dataset("digits", {"kind": "digits"})
    ref = reference_statistics(data.train, extractor, n=len(data.train), seed=0, dataset="digits", split="train")
    test = fidelity(features(data.test, extractor), ref, kid_subsets=10)
    noise = fidelity(features(torch.rand(300, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1, extractor),
                     ref, kid_subsets=10)
    assert ref["feature_dim"] == 64 and not test["biased"]
    assert noise["fid"] > 10 * test["fid"] and noise["kid"] > 10 * abs(test["kid"])
    (tmp_path / "junk.pt").write_bytes(b"junk")
    for bad in (tmp_path / "absent.pt", tmp_path / "junk.pt"):
        with pytest.raises(DataError, match=str(bad)):
            build_extractor({"kind": "classifier", "path": str(bad)})


def test_mnist5k_feature_net_separates_real_test_digits_from_noise(tmp_path):
    """Two disjoint halves of the real test split against each other, and the first half against uniform noise.

    For two independent samples of n = 500 from one distribution, FID's expectation is about
    tr Σ (1/n + 1/n) (the means' sampling error; the covariance term adds a little), with tr Σ the
    features' total variance (≈ 400 here): a floor of a few units. Noise the net never saw lands
    outside the digits' feature cloud, beyond its whole spread (FID > tr Σ). Measured: test vs test
    3.4, test vs noise 1,042, tr Σ 403, test accuracy 0.912, about 2 s of training on one thread.
    """
    record = train_classifier(tmp_path / "classifier.pt", "mnist5k", seed=0)
    assert record["test_accuracy"] >= 0.88 and record["n_test"] == 1000 and record["dim"] == 784
    extractor = build_extractor({"kind": "classifier", "path": str(tmp_path / "classifier.pt")})
    data = build_dataset("mnist5k", {"kind": "mnist5k"})
    generator = torch.Generator().manual_seed(0)
    test = data.dequantize(data.test, generator)
    ref = reference_statistics(test[:500], extractor, n=500, seed=0, dataset="mnist5k", split="test")
    same = fidelity(features(test[500:], extractor), ref, kid_subsets=10, kid_subset_size=500)
    noise = fidelity(features(torch.rand(500, 1, 28, 28, generator=generator) * 2 - 1, extractor), ref,
                     kid_subsets=10, kid_subset_size=500)
    total_variance = float(ref["sigma"].trace())
    assert not same["biased"] and same["fid"] < 4 * total_variance * (2 / 500)
    assert noise["fid"] > total_variance and noise["fid"] > 50 * same["fid"]
    assert noise["kid"] > 50 * abs(same["kid"])
    with pytest.raises(ConfigError, match="trained on mnist5k"):
        features(data.test[:4].reshape(4, 1, 784)[:, :, :64].reshape(4, 1, 8, 8), extractor)


def test_a_reference_built_for_other_settings_is_refused_not_reused(tmp_path):
    """A changed dataset entry or feature setting must not be scored against the old cached reference."""
    config = cfgmod.validate({"name": "ref", "datasets": {"toy": {"kind": "ncsn_toy", "seed": 1}}, "objectives": ["dsm"],
                              "schedules": {"vp": {"kind": "vp"}},
                              "evaluate": {"n_samples": 200, "reference_samples": 500, "baseline_draws": 2,
                                           "kid_subsets": 5, "kid_subset_size": 100}})
    cfg = EvaluateConfig.from_dict(config["evaluate"])
    ref = build_reference(Benchmark.of(config), "toy", cfg, tmp_path)
    x = build_dataset("toy", {"kind": "ncsn_toy", "seed": 1}).test[:200]
    assert sample_fidelity(Benchmark.of(config), "toy", cfg, x, tmp_path, seed=0)["fid"] < 1  # the same settings: accepted
    assert len(ref["baseline"]["fid"]) == 2 and max(ref["baseline"]["fid"]) < 1
    for changed in ({**config, "datasets": {"toy": {"kind": "ncsn_toy", "seed": 2}}},
                    {**config, "evaluate": {**config["evaluate"], "reference_samples": 400}}):
        with pytest.raises(DataError, match="built for other dataset or feature settings"):
            sample_fidelity(Benchmark.of(changed), "toy", EvaluateConfig.from_dict(changed["evaluate"]), x, tmp_path, seed=0)


def test_unknown_feature_space_is_refused_by_name():
    for spec in ("inceptoin", {"weights_path": "x.pth"}):
        with pytest.raises(ConfigError, match="evaluate.features: unknown"):
            EvaluateConfig.from_dict({"features": spec})
