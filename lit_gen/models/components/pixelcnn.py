"""Masked convolutions and a small conditional PixelCNN (van den Oord et al. 2016, "Pixel Recurrent Neural Networks"
sec. 3.4 for the masks; "Conditional Image Generation with PixelCNN Decoders" eq. 5 for the gates and conditioning).

Pixels are ordered in raster order (row by row, left to right) and, within a pixel, by channel. A k x k masked
convolution (k odd, centre p = k // 2) keeps the taps of the rows above the centre, the taps left of the centre in
its row, and the centre tap itself only between channel groups: type ``A`` (the first layer, which reads the image)
from input group g to output group g' when g < g', type ``B`` (every later layer) when g <= g'. With one image
channel there is one group: A drops the centre, B keeps it. So output (i, j) of the stack depends only on pixels
before (i, j) (and on the earlier channels of (i, j)).

The stack is ``layers`` gated layers: h <- [h +] tanh(W_f * h + V_f s) * sigmoid(W_g * h + V_g s), with W masked
(A first, then B), s the conditioning feature map (the same size as the image) and V_f, V_g 1x1 convolutions: the
conditioning is added to both halves of every layer, as in the paper's eq. 5. Layers after the first are residual.
A head of two masked 1x1 convolutions (ReLU between) gives ``params`` numbers per image channel.

This is the plain masked stack, with the blind spot of the original PixelCNN (the pixels up and right of the
diagonal that a stack of k x k masks never reaches); the paper's vertical and horizontal stacks are not used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def channel_groups(n: int, groups: int) -> torch.Tensor:
    """Group (0 .. groups-1) of each of ``n`` channels: contiguous blocks of n / groups."""
    return torch.arange(n) * groups // n


def causal_mask(kind: str, kernel: int, in_groups: torch.Tensor, out_groups: torch.Tensor) -> torch.Tensor:
    """The (out, in, k, k) 0/1 mask of a type ``A`` or ``B`` masked convolution."""
    if kind not in ("A", "B") or kernel % 2 != 1:
        raise ValueError(f"mask type {kind!r} with kernel {kernel}: need type A or B and an odd kernel")
    p = kernel // 2
    spatial = torch.zeros(kernel, kernel)
    spatial[:p, :] = 1  # rows above
    spatial[p, :p] = 1  # left in the centre row
    mask = spatial.expand(len(out_groups), len(in_groups), kernel, kernel).clone()
    centre = (in_groups[None, :] < out_groups[:, None]) if kind == "A" else (in_groups[None, :] <= out_groups[:, None])
    mask[:, :, p, p] = centre.float()
    return mask


class MaskedConv2d(nn.Conv2d):
    """A same-size convolution whose weights are multiplied by a fixed causal mask (see :func:`causal_mask`)."""

    def __init__(self, kind: str, in_channels: int, out_channels: int, kernel: int, groups_in: torch.Tensor,
                 groups_out: torch.Tensor):
        super().__init__(in_channels, out_channels, kernel, padding=kernel // 2)
        # rebuilt from the config at every construction, so not in the checkpoint
        self.register_buffer("mask", causal_mask(kind, kernel, groups_in, groups_out), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class GatedMaskedLayer(nn.Module):
    """tanh(W_f * h + V_f s) * sigmoid(W_g * h + V_g s), W masked, V 1x1."""

    def __init__(self, kind: str, in_channels: int, width: int, cond_channels: int, kernel: int, groups: int,
                 groups_in: torch.Tensor):
        super().__init__()
        out_groups = channel_groups(width, groups).repeat(2)  # feature half, then gate half
        self.conv = MaskedConv2d(kind, in_channels, 2 * width, kernel, groups_in, out_groups)
        self.cond = nn.Conv2d(cond_channels, 2 * width, 1)

    def forward(self, h: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        f, g = (self.conv(h) + self.cond(s)).chunk(2, dim=1)
        return torch.tanh(f) * torch.sigmoid(g)


class ConditionalPixelCNN(nn.Module):
    """(x (N, C, H, W) in the net's input scale, s (N, cond_channels, H, W)) -> (N, C, params, H, W).

    ``params[c]`` at (i, j) depends on x only through the pixels before (i, j) and the channels before c of
    (i, j); on s anywhere (s must not depend on x).
    """

    def __init__(self, channels: int, cond_channels: int, width: int, layers: int, kernel: int, params: int):
        super().__init__()
        if width % channels:
            raise ValueError(f"width {width} must be a multiple of the {channels} image channels")
        self.channels, self.params, self.kernel, self.num_layers = channels, params, kernel, layers
        img_groups, hid_groups = torch.arange(channels), channel_groups(width, channels)
        self.layers = nn.ModuleList(
            [GatedMaskedLayer("A", channels, width, cond_channels, kernel, channels, img_groups)]
            + [GatedMaskedLayer("B", width, width, cond_channels, kernel, channels, hid_groups)
               for _ in range(layers - 1)])
        self.head = nn.ModuleList([MaskedConv2d("B", width, width, 1, hid_groups, hid_groups),
                                   MaskedConv2d("B", width, channels * params, 1, hid_groups,
                                                torch.arange(channels * params) // params)])

    @property
    def reach(self) -> int:
        """How far up, left and right of a pixel its output reads the input: layers * (kernel // 2)."""
        return self.num_layers * (self.kernel // 2)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        h = self.layers[0](x, s)
        for layer in self.layers[1:]:
            h = h + layer(h, s)
        out = self.head[1](F.relu(self.head[0](F.relu(h))))
        return out.view(out.shape[0], self.channels, self.params, *out.shape[2:])

    def forward_at(self, x: torch.Tensor, s: torch.Tensor, i: int, j: int) -> torch.Tensor:
        """The output at pixel (i, j) alone, (N, C, params), from the smallest window that gives it exactly.

        The window spans ``reach`` rows above and columns either side of (i, j), and no row below: each layer's
        zero padding at a window edge inside the image spoils ``kernel // 2`` more pixels inward, so after all the
        layers the spoiled band stops just short of (i, j); at an edge of the image the padding is the full net's.
        """
        r = self.reach
        top, left, right = max(0, i - r), max(0, j - r), min(x.shape[-1], j + r + 1)
        out = self.forward(x[:, :, top : i + 1, left:right], s[:, :, top : i + 1, left:right])
        return out[:, :, :, i - top, j - left]
