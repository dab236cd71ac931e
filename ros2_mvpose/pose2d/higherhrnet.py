"""HigherHRNet network (bottom-up COCO pose), parameter-compatible with the official model.

``HigherHRNet(width=32)`` / ``HigherHRNet(width=48)`` has exactly the ``state_dict()`` keys,
shapes and order of the official ``PoseHigherResolutionNet`` built from
``w32_512.yaml`` / ``w48_640.yaml`` (HRNet/HigherHRNet-Human-Pose-Estimation), so the model-zoo
checkpoints load with ``strict=True`` (see :mod:`ros2_mvpose.pose2d.checkpoint`).

Architecture (all convolutions bias-free except the two final 1x1 layers):

* stem: two 3x3 stride-2 conv+BN+ReLU (1/4 resolution), ``layer1``: 4 Bottlenecks 64 -> 256 ch;
* stages 2/3/4: 1/4/3 HighResolutionModules with 2/3/4 parallel branches at 1/4 ... 1/32
  resolution (``C, 2C, 4C, 8C`` channels, ``C`` = width), each branch 4 BasicBlocks, followed by
  multi-resolution fusion (sum of 1x1 conv + nearest upsampling / strided 3x3 convs); the last
  module of stage 4 only outputs the highest-resolution branch;
* head: ``final_layers.0`` (1x1 conv -> 17 heatmaps + 17 tag maps at 1/4), then
  ``deconv_layers.0`` on the concatenation [features, stage-0 output] (4x4 stride-2 transposed
  conv + BN + ReLU + 4 BasicBlocks, 1/2 resolution) and ``final_layers.1`` (1x1 -> 17 heatmaps).

``forward(x)`` takes a ``(B, 3, H, W)`` normalized RGB batch (H, W multiples of 32; the official
test pipeline pads to multiples of 64) and returns ``[out0 (B, 34, H/4, W/4),
out1 (B, 17, H/2, W/2)]``. It is free of per-sample Python loops, works under
``torch.inference_mode()`` and with ``channels_last`` inputs/modules.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["HigherHRNet", "HRNetSpec", "HRNET_SPECS", "BN_MOMENTUM"]

BN_MOMENTUM = 0.1


@dataclass(frozen=True)
class HRNetSpec:
    """Configuration of one HigherHRNet variant (the official ``MODEL.EXTRA`` values)."""

    width: int
    #: Number of HighResolutionModules in stages 2, 3, 4.
    stage_modules: tuple[int, ...] = (1, 4, 3)
    #: BasicBlocks per branch in every module.
    blocks_per_branch: int = 4
    #: Bottlenecks in ``layer1`` (64 planes, expansion 4).
    layer1_blocks: int = 4
    #: Transposed-conv head (NUM_DECONVS 1, KERNEL_SIZE 4, NUM_BASIC_BLOCKS 4, CAT_OUTPUT True).
    deconv_kernel: int = 4
    deconv_basic_blocks: int = 4

    def stage_channels(self, stage: int) -> list[int]:
        """Branch channels of stage ``stage`` (2, 3 or 4): ``[C, 2C, ...]``, ``stage`` branches."""
        return [self.width * 2**i for i in range(stage)]


HRNET_SPECS = {32: HRNetSpec(32), 48: HRNetSpec(48)}


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    """``Sequential(conv, BN[, ReLU])`` (state_dict keys ``.0.weight``, ``.1.*``)."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(cout, momentum=BN_MOMENTUM),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """Two 3x3 conv+BN with an identity shortcut (channels unchanged, stride 1)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 (x4 expansion) conv+BN with an optional 1x1 conv+BN shortcut."""

    expansion = 4

    def __init__(self, cin: int, planes: int) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _conv_bn(cin, cout, 1, relu=False) if cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


def _fuse_path(channels: list[int], src: int, dst: int) -> nn.Module:
    """Module bringing branch ``src`` to branch ``dst``'s resolution and channels.

    Lower resolution (``src > dst``): 1x1 conv + BN + nearest upsampling by ``2**(src-dst)``.
    Higher resolution (``src < dst``): ``dst-src`` stride-2 3x3 conv+BN (ReLU on all but the last;
    intermediate steps keep ``src``'s channels). Same branch: identity.
    """
    if src == dst:
        return nn.Identity()
    if src > dst:
        return nn.Sequential(
            nn.Conv2d(channels[src], channels[dst], 1, bias=False),
            nn.BatchNorm2d(channels[dst], momentum=BN_MOMENTUM),
            nn.Upsample(scale_factor=2 ** (src - dst), mode="nearest"),
        )
    steps = dst - src
    return nn.Sequential(*(
        _conv_bn(channels[src], channels[dst] if k == steps - 1 else channels[src], 3, 2,
                 relu=k < steps - 1)
        for k in range(steps)
    ))


class HighResolutionModule(nn.Module):
    """Parallel BasicBlock branches followed by a sum-fusion across resolutions.

    ``forward(xs)`` maps a list of ``len(channels)`` tensors (branch ``i`` at ``1/2**i`` of
    branch 0's resolution) to the fused list; with ``multi_scale_output=False`` only the
    highest-resolution output (a list of one) is computed.
    """

    def __init__(self, channels: list[int], num_blocks: int, multi_scale_output: bool = True) -> None:
        super().__init__()
        n = len(channels)
        self.branches = nn.ModuleList(
            nn.Sequential(*(BasicBlock(c) for _ in range(num_blocks))) for c in channels
        )
        n_out = n if multi_scale_output else 1
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(_fuse_path(channels, j, i) for j in range(n)) for i in range(n_out)
        )
        self.relu = nn.ReLU(inplace=False)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        out = []
        for paths in self.fuse_layers:
            # Sum in branch order (as the official code) for bitwise-comparable results.
            y = paths[0](xs[0])
            for path, x in zip(paths[1:], xs[1:], strict=True):
                y = y + path(x)
            out.append(self.relu(y))
        return out


def _transition(prev: list[int], cur: list[int]) -> nn.ModuleList:
    """Adapters from the previous stage's branches to the next stage's branches.

    Existing branch ``i``: 3x3 conv+BN+ReLU when its channels change, else identity.
    New branch ``i``: ``i+1-len(prev)`` stride-2 3x3 conv+BN+ReLU steps from the last branch
    (the official code keeps the last branch's channels on intermediate steps).
    """
    mods: list[nn.Module] = []
    for i, c in enumerate(cur):
        if i < len(prev):
            mods.append(_conv_bn(prev[i], c, 3) if prev[i] != c else nn.Identity())
        else:
            steps = i + 1 - len(prev)
            mods.append(nn.Sequential(*(
                _conv_bn(prev[-1], c if k == steps - 1 else prev[-1], 3, 2)
                for k in range(steps)
            )))
    return nn.ModuleList(mods)


class HigherHRNet(nn.Module):
    """HigherHRNet-W32/W48 for COCO (17 joints, one associative-embedding tag per joint).

    Args:
        width: HRNet width ``C`` (32 for ``pose_higher_hrnet_w32_512``, 48 for ``w48_640``).
        num_joints: keypoints (17 for COCO).
    """

    def __init__(self, width: int = 32, num_joints: int = 17) -> None:
        super().__init__()
        if width not in HRNET_SPECS:
            raise ValueError(f"HigherHRNet width must be one of {sorted(HRNET_SPECS)}, got {width!r}")
        if int(num_joints) < 1:
            raise ValueError(f"num_joints must be >= 1, got {num_joints!r}")
        spec = HRNET_SPECS[width]
        self.spec = spec
        self.width = width
        self.num_joints = int(num_joints)

        # Stem: 1/4 resolution, then layer1 (Bottlenecks, 64 -> 256 channels).
        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(64, 64, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        planes = 64
        self.layer1 = nn.Sequential(*(
            Bottleneck(64 if k == 0 else planes * Bottleneck.expansion, planes)
            for k in range(spec.layer1_blocks)
        ))

        # Stages 2-4 with their transitions (attribute order = official state_dict order).
        prev = [planes * Bottleneck.expansion]
        last_stage = 1 + len(spec.stage_modules)
        for stage, n_modules in enumerate(spec.stage_modules, start=2):
            cur = spec.stage_channels(stage)
            setattr(self, f"transition{stage - 1}", _transition(prev, cur))
            setattr(self, f"stage{stage}", nn.Sequential(*(
                HighResolutionModule(
                    cur, spec.blocks_per_branch,
                    multi_scale_output=not (stage == last_stage and m == n_modules - 1),
                )
                for m in range(n_modules)
            )))
            prev = cur
        self._n_stages = len(spec.stage_modules)

        # Head: stage-0 heatmaps+tags at 1/4, deconv on [features, stage-0 output], heatmaps at 1/2.
        c = prev[0]
        n_out0 = 2 * self.num_joints  # heatmaps + per-joint tags
        self.final_layers = nn.ModuleList([
            nn.Conv2d(c, n_out0, 1),
            nn.Conv2d(c, self.num_joints, 1),
        ])
        k = spec.deconv_kernel
        padding, output_padding = {4: (1, 0), 3: (1, 1), 2: (0, 0)}[k]
        self.deconv_layers = nn.ModuleList([
            nn.Sequential(
                nn.Sequential(
                    nn.ConvTranspose2d(c + n_out0, c, k, 2, padding, output_padding, bias=False),
                    nn.BatchNorm2d(c, momentum=BN_MOMENTUM),
                    nn.ReLU(inplace=True),
                ),
                *(nn.Sequential(BasicBlock(c)) for _ in range(spec.deconv_basic_blocks)),
            )
        ])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``x`` (B,3,H,W) normalized RGB -> ``[(B,2J,H/4,W/4), (B,J,H/2,W/2)]``."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        ys = [self.layer1(x)]
        for s in range(1, self._n_stages + 1):
            transition = getattr(self, f"transition{s}")
            # Existing branches take their own output, new branches the lowest-resolution one.
            xs = [t(ys[min(i, len(ys) - 1)]) for i, t in enumerate(transition)]
            ys = getattr(self, f"stage{s + 1}")(xs)
        feat = ys[0]
        out0 = self.final_layers[0](feat)
        feat = self.deconv_layers[0](torch.cat((feat, out0), 1))
        out1 = self.final_layers[1](feat)
        return [out0, out1]
