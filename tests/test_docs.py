"""The docs against the code: the generated config reference and benchmarks page are up to date, every
metric definition the docs state is what the code computes (evaluated on tiny cases), and a newcomer's
commands (the README's two, every `bash runnable` block) exist and parse."""
from __future__ import annotations

import importlib.util
import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))


# --- the generated config reference -------------------------------------------------------------------

def test_the_committed_config_reference_equals_the_generated_one():
    from scorebench.jobs import docs

    text = docs.TARGET.read_text()
    assert docs.render(text) == text, "docs/configuration.md is out of date: run python -m scorebench.jobs.docs"


def _config_keys(properties: dict, prefix: str = "") -> list[str]:
    out = []
    for key, spec in properties.items():
        if key == "<<":
            continue
        out.append(prefix + key)
        if isinstance(spec, dict) and key in ("resources", "conditioning") and "properties" in spec:
            out += _config_keys(spec["properties"], f"{prefix}{key}.")
    return out


def test_every_schema_key_appears_in_the_reference():
    from scorebench.spec.packaged import components, schema

    text = (ROOT / "docs" / "configuration.md").read_text()
    top = schema()
    keys = _config_keys(top["properties"]) + [f"resources.{k}" for k in top["definitions"]["resources"]["properties"]]
    missing = [k for k in keys if f"`{k}`" not in text]
    parts = components()
    for name, spec in parts["settings"].items():
        missing += [f"{name}.{k}" for k in spec["properties"] if f"`{name}.{k}`" not in text]
    for section, kinds in parts.items():
        if section == "settings":
            continue
        for kind, spec in kinds.items():
            head = f"#### `{section}` · `{kind}`"
            assert head in text, f"no heading for {section}.{kind}"
            body = text.split(head, 1)[1].split("\n#", 1)[0]
            missing += [f"{section}.{kind}.{k}" for k in spec.get("properties", {}) if f"`{k}`" not in body]
    assert not missing, f"schema keys absent from docs/configuration.md: {missing}"


def test_every_parameter_has_a_description():
    from scorebench.jobs.docs import describe
    from scorebench.spec.packaged import components

    parts = components()
    bare = [f"settings.{name}.{k}" for name, spec in parts["settings"].items() for k in spec["properties"]
            if not describe(name, None, k)]
    bare += [f"{section}.{kind}.{k}" for section, kinds in parts.items() if section != "settings"
             for kind, spec in kinds.items() for k in spec.get("properties", {}) if not describe(section, kind, k)]
    assert not bare, f"add these to PARAMETERS in scorebench/jobs/docs.py: {bare}"


def test_the_reference_reads_the_kinds_docstrings_from_the_generated_schemas_modules():
    from scorebench.jobs import docs, generate

    assert set(docs.SOURCES) == set(generate.SECTIONS) == set(docs.ORDER)
    for section, (module, _, _) in generate.SECTIONS.items():
        assert docs.SOURCES[section] == module.removeprefix("scorebench.").replace(".", "/") + ".py"


def test_the_reference_generator_imports_no_torch():
    probe = "import sys, scorebench.jobs.docs as d; d.reference(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout.strip()
    assert out == "False"


# --- benchmarks/README.md from benchmarks/results/ ----------------------------------------------------

def test_the_committed_benchmarks_page_equals_the_scripts_output():
    spec = importlib.util.spec_from_file_location("benchmarks_readme", ROOT / "benchmarks" / "readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "benchmarks" / "README.md").read_text() == module.render(), \
        "benchmarks/README.md is out of date: run python benchmarks/readme.py"


# --- metric definitions: the documented formula against the code, on tiny cases ------------------------

def _gaussian_1d():
    from scorebench.core.data import build_dataset
    from scorebench.core.sde import build_process

    dataset = build_dataset("g", {"kind": "gaussian_mixture", "dim": 1, "means": [[0.0]], "stds": [1.0],
                                  "weights": [1.0], "n_train": 100, "n_test": 100})
    return dataset, build_process("ve", {"kind": "ve", "sigma_min": 0.1, "sigma_max": 2.0})


def test_outputs_md_states_the_fisher_divergence_with_its_half():
    text = (ROOT / "docs" / "outputs.md").read_text()
    assert "½ E σ(t)² ‖s(x_t, t) − ∇log p_t(x_t)‖²" in text and "*with the ½*" in text


def test_fisher_divergence_is_the_documented_formula_on_a_1d_gaussian():
    """p = N(0, 1), VE: p_t = N(0, 1 + σ(t)²), ∇log p_t(x) = −x/(1 + σ²). A wrong score s(x, t) = 0.5 x:
    the documented F = ½ (1/n) Σ σᵢ² (sᵢ − ∇log p_{tᵢ}(xᵢ))², on the code's own points, and in expectation
    ½ E_t σ² (0.5 + 1/(1 + σ²))² (1 + σ²) for t uniform on [eps, 1]."""
    import torch

    from scorebench.core.metrics import FisherProbe, fisher_divergence

    dataset, process = _gaussian_1d()
    score = lambda x, t: 0.5 * x  # noqa: E731 - a known wrong score
    n = 20000
    code = fisher_divergence(score, dataset, process, n=n, generator=torch.Generator().manual_seed(3))
    probe = FisherProbe(dataset, process, n=n, generator=torch.Generator().manual_seed(3))
    x, sigma = probe.xt.double().squeeze(1), probe.sigma.double()
    truth = -x / (1 + sigma**2)
    documented = 0.5 * (sigma**2 * (0.5 * x - truth) ** 2).mean()
    assert code == pytest.approx(float(documented), rel=1e-5)

    eps, lo, hi, m = process.eps, 0.1, 2.0, 20000  # the expectation over t by the midpoint rule
    expect = 0.0
    for i in range(m):
        t = eps + (1 - eps) * (i + 0.5) / m
        s2 = (lo * (hi / lo) ** t) ** 2
        expect += 0.5 * s2 * (0.5 + 1 / (1 + s2)) ** 2 * (1 + s2) / m
    assert code == pytest.approx(expect, rel=0.05)  # without the ½ it would be twice this


def test_bits_per_dim_is_the_documented_scaling():
    import torch

    from scorebench.core.likelihood import bits_per_dim

    logp, d = torch.tensor([-3.0, -10.0], dtype=torch.float64), 4
    assert torch.allclose(bits_per_dim(logp, d), -logp / (d * math.log(2)))
    assert torch.allclose(bits_per_dim(logp, d, 17), -logp / (d * math.log(2)) + math.log2(17) - 1)
    # the uniform density 1/2 on [-1, 1]^d is the uniform law over `levels` bins: log2(levels) bits per dim
    uniform = torch.tensor([d * math.log(0.5)], dtype=torch.float64)
    assert float(bits_per_dim(uniform, d, 256)) == pytest.approx(8.0)


def test_sliced_wasserstein_is_the_documented_formula():
    import torch

    from scorebench.core.metrics import sliced_wasserstein

    g = torch.Generator().manual_seed(0)
    a = torch.randn(50, 1, generator=g, dtype=torch.float64)
    assert sliced_wasserstein(a, a + 0.7, n_projections=8, generator=torch.Generator().manual_seed(1)) \
        == pytest.approx(0.7)  # in 1-D every direction is ±1: SW₂ of a shift is the shift
    a, b = torch.randn(40, 3, generator=g, dtype=torch.float64), torch.randn(45, 3, generator=g, dtype=torch.float64)
    theta = torch.randn(3, 16, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    theta = theta / theta.norm(dim=0, keepdim=True)
    n = 40
    squared = [((torch.sort(a[:n] @ theta[:, p]).values - torch.sort(b[:n] @ theta[:, p]).values) ** 2).mean()
               for p in range(16)]
    documented = math.sqrt(sum(float(s) for s in squared) / 16)
    code = sliced_wasserstein(a, b, n_projections=16, generator=torch.Generator().manual_seed(5))
    assert code == pytest.approx(documented, rel=1e-10)


# --- a newcomer's commands -------------------------------------------------------------------------------

def test_the_readmes_two_commands_are_makefile_targets():
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    for target in ("run", "test"):
        assert re.search(rf"^make {target}\b", readme, re.M), f"README does not give `make {target}`"
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no `{target}` target"
        dry = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True)
        assert dry.returncode == 0, dry.stderr


def runnable_blocks() -> list[tuple[str, str]]:
    """(page, command line) of every line in a ```bash runnable block of the README and docs/."""
    out = []
    for page in [ROOT / "README.md", *DOCS]:
        for block in re.findall(r"^```bash runnable\n(.*?)^```", page.read_text(), re.M | re.S):
            out += [(page.name, line.split(" #")[0].strip()) for line in block.splitlines()
                    if line.strip() and not line.lstrip().startswith("#")]
    return out


def test_there_are_runnable_blocks_in_the_readme_and_docs():
    pages = {page for page, _ in runnable_blocks()}
    assert "README.md" in pages and pages - {"README.md"}


@pytest.mark.parametrize("page,line", runnable_blocks())
def test_a_runnable_command_parses(page, line, tmp_path):
    """A snakemake line runs as a dry run (-n); `scorebench grid` runs as written (torch-free, read-only);
    any other scorebench verb with --help."""
    words = shlex.split(line)
    assert words[0] in ("snakemake", "scorebench"), f"{page}: runnable block with an unknown command: {line}"
    if words[0] == "snakemake" and not {"-n", "--dry-run", "--dryrun"} & set(words):
        words.append("-n")
    if words[0] == "scorebench" and words[1:2] != ["grid"]:
        words.append("--help")
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(words, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{page}: `{' '.join(words)}` failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"


def test_ksd_is_the_documented_formula():
    """outputs.md's KSD²: the mean over i ≠ j of the Stein kernel, its kernel derivatives by autograd."""
    import torch

    from scorebench.core.metrics import kernel_stein_discrepancy
    from scorebench.core.mixture import GaussianMixture

    mix = GaussianMixture([[0.0, 1.0], [2.0, -1.0]], [[1.0, 0.5], [0.7, 0.7]], [0.4, 0.6])
    x = torch.randn(7, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    s = mix.score(x)
    h2 = torch.pdist(x).pow(2).median()

    def k(a, b):
        return (1 + (a - b).pow(2).sum() / h2) ** -0.5

    pairs = []
    for i in range(7):
        for j in range(7):
            if i != j:
                grad_x = torch.autograd.functional.jacobian(lambda a: k(a, x[j]), x[i])
                hess = torch.autograd.functional.hessian(lambda z: k(z[:2], z[2:]), torch.cat([x[i], x[j]]))
                pairs.append(k(x[i], x[j]) * s[i] @ s[j] + grad_x @ (s[j] - s[i]) + hess[:2, 2:].trace())
    assert kernel_stein_discrepancy(x, mix.score)[0] == pytest.approx(float(sum(pairs) / len(pairs)), rel=1e-10)


def test_mode_weight_tv_is_the_documented_formula():
    """½ Σ_g |occupancy_g − w_g| on the NCSN toy (weights ⅕, ⅘): 60 points at (−5, −5) and 40 at (5, 5)
    occupy ⅗ and ⅖, so the documented formula gives ½ (|0.6 − 0.2| + |0.4 − 0.8|) = 0.4."""
    import torch

    from scorebench.core.data import build_dataset
    from scorebench.core.metrics import mode_weight_tv

    toy = build_dataset("toy", {"kind": "ncsn_toy", "n_train": 10, "n_test": 10})
    samples = torch.cat([torch.full((60, 2), -5.0), torch.full((40, 2), 5.0)])
    assert abs(mode_weight_tv(samples, toy) - 0.4) < 1e-12
    assert mode_weight_tv(torch.cat([torch.full((20, 2), -5.0), torch.full((80, 2), 5.0)]), toy) < 1e-12


def test_nll_gap_is_the_model_bits_minus_the_true_bits():
    """nll_gap_bits_per_dim = bpd_model − bpd_true with no dequantisation term: for a model log-density
    1 nat per point below the truth in d = 2, the gap is 1 / (2 ln 2) bits/dim."""
    import math

    import torch

    from scorebench.core.likelihood import bits_per_dim

    true = torch.tensor([-3.0, -4.5])
    gap = bits_per_dim(true - 1.0, 2) - bits_per_dim(true, 2)
    assert torch.allclose(gap, torch.full((2,), 1 / (2 * math.log(2))), atol=1e-6)
