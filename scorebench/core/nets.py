"""Score networks conditioned on a continuous noise level.

`ScoreModel` wraps a backbone F with the preconditioning of Karras et al. (2022, EDM):
s(x, t) = F(c_in·x, c_noise) / σ(t), with c_in = 1/√(α² σ_data² + σ²) and c_noise = log σ(t).
Dividing by σ keeps F's output O(1) at every level (NCSNv2's s(x,σ) = F(x)/σ), so one backbone
serves every objective and every process.
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

from .ensemble import member_processes, stacked
from ..errors import ConfigError
from ..spec.registry import COUNT, Registry, at_least, build
from .sde import NoiseProcess, _bcast

NETS: Registry = Registry("network")


class FourierEmbedding(nn.Module):
    """Random Fourier features of the scalar noise condition (Tancik et al. 2020)."""

    def __init__(self, channels: int, scale: float = 1.0):
        super().__init__()
        self.register_buffer("freqs", torch.randn(channels // 2, generator=torch.Generator().manual_seed(0)) * scale)

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        arg = 2 * math.pi * c[:, None] * self.freqs[None]
        return torch.cat([arg.cos(), arg.sin()], dim=1)


class MemberLinear(nn.Module):
    """One linear layer per ensemble member: weight (members, in, out), input (members, rows, in).

    Initialised like `nn.Linear` (U(±1/√in) for weight and bias); one batched matmul serves every
    member, which is what makes a seed ensemble cost little more than one seed on small networks."""

    def __init__(self, members: int, fan_in: int, fan_out: int):
        super().__init__()
        bound = 1 / math.sqrt(fan_in)
        self.weight = nn.Parameter(torch.empty(members, fan_in, fan_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, 1, fan_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


@NETS.register("mlp")
class MLP(nn.Module):
    """Residual MLP for vectors; the noise embedding is added to every hidden layer.

    `members` independent networks in one: a batch of members × b rows, member-major (rows
    k·b … (k+1)·b − 1 go through member k's weights)."""

    batches_members = True

    def __init__(self, shape, width: COUNT = 128, depth: COUNT = 3, emb: COUNT = 64, members=1):
        super().__init__()
        d = math.prod(shape)
        self.members = members
        self.embed = FourierEmbedding(emb)
        self.embed_proj = MemberLinear(members, emb, width)
        self.inp = MemberLinear(members, d, width)
        self.hidden = nn.ModuleList(MemberLinear(members, width, width) for _ in range(depth))
        self.cond = nn.ModuleList(MemberLinear(members, width, width) for _ in range(depth))
        self.out = MemberLinear(members, width, d)

    def forward(self, x, c_noise):
        silu = torch.nn.functional.silu
        e = silu(self.embed_proj(self.embed(c_noise).unflatten(0, (self.members, -1))))
        h = self.inp(x.reshape(x.shape[0], -1).unflatten(0, (self.members, -1)))
        for layer, cond in zip(self.hidden, self.cond):
            h = h + layer(silu(h + cond(e)))
        return self.out(silu(h)).reshape(x.shape)


class ResBlock(nn.Module):
    """Pre-activation residual block with the noise embedding added after the first convolution."""

    def __init__(self, cin, cout, emb):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(8, cin), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.cond = nn.Linear(emb, cout)
        self.norm2 = nn.GroupNorm(min(8, cout), cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, e):
        h = self.conv1(torch.nn.functional.silu(self.norm1(x)))
        h = h + self.cond(e)[:, :, None, None]
        h = self.conv2(torch.nn.functional.silu(self.norm2(h)))
        return self.skip(x) + h


@NETS.register("unet")
class UNet(nn.Module):
    """Small U-Net for 8×8, 28×28 and 32×32 images: one ResBlock per level, sizes halved per level.

    GroupNorm (not BatchNorm) keeps samples independent, as the exact Jacobian trace requires.
    Seeds train one network at a time (convolutions are compute-bound on a CPU: batching buys little).
    """

    batches_members = False

    def __init__(self, shape, channels: list = (32, 64), emb: COUNT = 128):
        if not isinstance(channels, (list, tuple)) or not channels:
            raise ConfigError(f"channels: must be a non-empty list of integers (got {channels!r})")
        at_least(1, **{f"channels[{k}]": c for k, c in enumerate(channels)})
        super().__init__()
        cin, h, w = shape
        self.embed = nn.Sequential(FourierEmbedding(emb), nn.Linear(emb, emb), nn.SiLU())
        self.inp = nn.Conv2d(cin, channels[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        c = channels[0]
        for ch in channels:
            self.down.append(ResBlock(c, ch, emb))
            c = ch
        self.mid = ResBlock(c, c, emb)
        for ch in reversed(channels):
            self.up.append(ResBlock(c + ch, ch, emb))
            c = ch
        self.out = nn.Sequential(nn.GroupNorm(min(8, c), c), nn.SiLU(), nn.Conv2d(c, cin, 3, padding=1))

    def forward(self, x, c_noise):
        e = self.embed(c_noise)
        h = self.inp(x)
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, e)
            skips.append(h)
            if i < len(self.down) - 1:
                h = torch.nn.functional.avg_pool2d(h, 2, ceil_mode=True)
        h = self.mid(h, e)
        for i, block in enumerate(self.up):
            skip = skips.pop()
            if h.shape[-2:] != skip.shape[-2:]:
                h = torch.nn.functional.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = block(torch.cat([h, skip], 1), e)
        return self.out(h)


class ScoreModel(nn.Module):
    """s(x, t) = F(c_in x, log σ(t)) / σ(t) for a backbone F and a noise process."""

    def __init__(self, backbone: nn.Module, process: NoiseProcess, data_std: float):
        super().__init__()
        self.backbone = backbone
        self.process = process
        self.data_std = float(data_std)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        alpha, sigma = self.process.marginal(t)
        c_in = torch.rsqrt(alpha**2 * self.data_std**2 + sigma**2)
        out = self.backbone(x * _bcast(c_in, x), torch.log(sigma))
        return out / _bcast(sigma, x)


    @property
    def members(self) -> int:
        return getattr(self.backbone, "members", 1)


def build_backbone(spec: dict, shape: tuple[int, ...], members: int = 1) -> nn.Module:
    """Backbone from `{kind: mlp|unet, ...}` (the kind resolved by `Benchmark.train`); `members` > 1
    builds an ensemble of independent networks (backbones whose `batches_members` is true)."""
    if spec.get("kind") not in NETS:
        raise ConfigError(f"train.net.kind: unknown network {spec.get('kind')!r}; valid: {', '.join(NETS.keys())}")
    batched = NETS.get(spec["kind"]).batches_members
    if members > 1 and not batched:
        raise ValueError(f"network {spec['kind']!r} holds one member, not {members}")
    return build(NETS, spec, where="train.net", shape=shape, **({"members": members} if batched else {}))


def batches_members(spec: dict) -> bool:
    """Whether the backbone `spec` builds can hold several seeds' networks in one (`members`)."""
    return NETS.get(spec["kind"]).batches_members


def stack_members(models: list[ScoreModel]) -> ScoreModel:
    """One ensemble ScoreModel whose member k is `models[k]` with its own noise process (one-member
    models of one architecture)."""
    out = copy.deepcopy(models[0])
    for name, param in out.named_parameters():
        param.data = torch.cat([m.get_parameter(name).data for m in models])
    out.backbone.members = len(models)
    out.process = stacked([m.process for m in models])
    return out


def select_members(model: ScoreModel, keep: list[int]) -> ScoreModel:
    """A copy of the members `keep` of an ensemble, gradients included (new parameter objects: an
    optimiser must be rebuilt for them); one index gives a plain one-member model."""
    out = copy.deepcopy(model)
    index = torch.tensor(keep, device=next(model.parameters()).device)
    for module, source in zip(out.modules(), model.modules()):
        for name, param in source._parameters.items():
            new = nn.Parameter(param.data.index_select(0, index), requires_grad=param.requires_grad)
            new.grad = None if param.grad is None else param.grad.index_select(0, index)
            module._parameters[name] = new
    out.backbone.members = len(keep)
    out.process = stacked([member_processes(model.process, model.members)[k] for k in keep])
    return out


def member_state(model: ScoreModel, k: int) -> dict:
    """Member k's state dict, as a one-member model of the same architecture loads it."""
    if not model.backbone.batches_members:
        return copy.deepcopy(model.state_dict())
    params = {name for name, _ in model.named_parameters()}
    return {name: (v[k : k + 1] if name in params else v).detach().clone() for name, v in model.state_dict().items()}
