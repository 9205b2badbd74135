"""CAMPPlus (Wang et al., 2023), 3D-Speaker's speaker encoder: 16 kHz speech -> a 192-d x-vector (Chatterbox's S3Gen
and IndexTTS 2's s2mel take it as the speaker / style vector).

Kaldi fbank (mean-normalised over time) -> FCM (a 2-D ResNet front over frequency x time) -> TDNN -> three
dense blocks of context-aware-masking TDNN layers with transitions -> mean and std pooling -> dense + BN.
Channels-last; names follow the 3D-Speaker / FunASR checkpoints (`s3gen.safetensors`'s `speaker_encoder.*`,
`campplus_cn_common.bin`); batch norms use their running stats. `campplus_rules` is their key map.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ..convert.keymap import Rule
from ..dsp import kaldi_fbank
from ..taps import tap
from .conv import Conv1d


def campplus_rules(prefix: str = "") -> list[Rule]:
    r"""Key-map rules of a CAMPPlus state dict under `prefix` (a regex, e.g. r"speaker_encoder\."): 2-D convs in
    the FCM head, 1-D elsewhere; batch norms keep their names and running stats."""
    p = prefix
    return [Rule(p + r".+\.num_batches_tracked", None),
            Rule("(" + p + r"head\..*(?:conv\d|shortcut\.0))\.weight", r"\1.weight", "conv2d"),
            Rule("(" + p + r"xvector\..*(?:linear|linear_local|linear1|linear2))\.weight", r"\1.weight", "conv1d"),
            Rule("(" + p + r".+)", r"\1")]


class BNReLU(nn.Module):
    """`get_nonlinear("batchnorm-relu")`: a Sequential holding `batchnorm` (ReLU has no weights)."""

    def __init__(self, channels: int, relu: bool = True, affine: bool = True):
        super().__init__()
        self.batchnorm = nn.BatchNorm(channels, affine=affine)
        self.relu = relu

    def __call__(self, x: mx.array) -> mx.array:
        x = self.batchnorm(x)
        return nn.relu(x) if self.relu else x


class ResBlock2d(nn.Module):
    """FCM's BasicResBlock: conv3x3 (frequency stride) -> BN -> ReLU -> conv3x3 -> BN, + shortcut, ReLU."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm(cout)
        self.shortcut = ([nn.Conv2d(cin, cout, 1, stride=(stride, 1), bias=False), nn.BatchNorm(cout)]
                         if stride != 1 or cin != cout else [])

    def __call__(self, x: mx.array) -> mx.array:
        out = self.bn2(self.conv2(nn.relu(self.bn1(self.conv1(x)))))
        short = self.shortcut[1](self.shortcut[0](x)) if self.shortcut else x
        return nn.relu(out + short)


class FCM(nn.Module):
    """(B, T, 80) fbank as a (frequency, time) image -> (B, T, 32 * 10) features."""

    def __init__(self, channels: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm(channels)
        self.layer1 = [ResBlock2d(channels, channels, 2), ResBlock2d(channels, channels, 1)]
        self.layer2 = [ResBlock2d(channels, channels, 2), ResBlock2d(channels, channels, 1)]
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm(channels)

    def __call__(self, x: mx.array) -> mx.array:
        x = nn.relu(self.bn1(self.conv1(x.transpose(0, 2, 1)[..., None])))  # (B, F, T, 1) -> (B, F, T, C)
        for block in self.layer1 + self.layer2:
            x = block(x)
        x = nn.relu(self.bn2(self.conv2(x)))  # (B, F / 8, T, C)
        b, f, t, c = x.shape
        return x.transpose(0, 2, 3, 1).reshape(b, t, c * f)  # channel-major, as torch's reshape


class TDNN(nn.Module):
    """Conv1d + BN + ReLU (`linear`, `nonlinear`)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.linear = Conv1d(cin, cout, kernel, stride=stride, padding=(kernel - 1) // 2 * dilation,
                             dilation=dilation, bias=False)
        self.nonlinear = BNReLU(cout)

    def __call__(self, x: mx.array) -> mx.array:
        return self.nonlinear(self.linear(x))


def segment_mean(x: mx.array, seg: int = 100) -> mx.array:
    """Mean over segments of `seg` frames (the last may be short), repeated back over each segment's frames."""
    t = x.shape[1]
    n = -(-t // seg)
    pad = n * seg - t
    sums = mx.pad(x, [(0, 0), (0, pad), (0, 0)]).reshape(x.shape[0], n, seg, -1).sum(axis=2)
    counts = mx.array([min(seg, t - i * seg) for i in range(n)], dtype=x.dtype)[None, :, None]
    return mx.repeat(sums / counts, seg, axis=1)[:, :t]


class CAMLayer(nn.Module):
    """A local conv whose output is gated by a mask from the utterance mean + 100-frame segment means."""

    def __init__(self, bn_channels: int, cout: int, kernel: int, dilation: int, reduction: int = 2):
        super().__init__()
        self.linear_local = Conv1d(bn_channels, cout, kernel, padding=(kernel - 1) // 2 * dilation,
                                   dilation=dilation, bias=False)
        self.linear1 = Conv1d(bn_channels, bn_channels // reduction, 1)
        self.linear2 = Conv1d(bn_channels // reduction, cout, 1)

    def __call__(self, x: mx.array) -> mx.array:
        context = x.mean(axis=1, keepdims=True) + segment_mean(x)
        mask = mx.sigmoid(self.linear2(nn.relu(self.linear1(context))))
        return self.linear_local(x) * mask


class DenseTDNNLayer(nn.Module):
    """BN-ReLU -> 1x1 bottleneck -> BN-ReLU -> CAM layer (growth channels)."""

    def __init__(self, cin: int, cout: int, bn_channels: int, kernel: int, dilation: int):
        super().__init__()
        self.nonlinear1 = BNReLU(cin)
        self.linear1 = Conv1d(cin, bn_channels, 1, bias=False)
        self.nonlinear2 = BNReLU(bn_channels)
        self.cam_layer = CAMLayer(bn_channels, cout, kernel, dilation)

    def __call__(self, x: mx.array) -> mx.array:
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))


class DenseBlock(nn.Module):
    """Layers `tdnnd1..N`, each output concatenated onto its input."""

    def __init__(self, n: int, cin: int, growth: int, bn_channels: int, kernel: int, dilation: int):
        super().__init__()
        self.n = n
        for i in range(n):
            setattr(self, f"tdnnd{i + 1}", DenseTDNNLayer(cin + i * growth, growth, bn_channels, kernel, dilation))

    def __call__(self, x: mx.array) -> mx.array:
        for i in range(self.n):
            x = mx.concatenate([x, self[f"tdnnd{i + 1}"](x)], axis=-1)
        return x


class Transit(nn.Module):
    """BN-ReLU then a 1x1 conv halving the channels."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.nonlinear = BNReLU(cin)
        self.linear = Conv1d(cin, cout, 1, bias=False)

    def __call__(self, x: mx.array) -> mx.array:
        return self.linear(self.nonlinear(x))


class Dense(nn.Module):
    """DenseLayer("batchnorm_"): a 1x1 conv on the pooled statistics, then a batch norm without affine."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.linear = Conv1d(cin, cout, 1, bias=False)
        self.nonlinear = BNReLU(cout, relu=False, affine=False)

    def __call__(self, x: mx.array) -> mx.array:
        return self.nonlinear(self.linear(x))


class XVector(nn.Module):
    """The TDNN trunk: tdnn, block1-3 with transit1-3, out_nonlinear, stats pooling, dense."""

    def __init__(self, cin: int, embed: int = 192, growth: int = 32, bn_size: int = 4, init: int = 128):
        super().__init__()
        self.tdnn = TDNN(cin, init, 5, stride=2)
        c = init
        for i, (n, k, d) in enumerate(zip((12, 24, 16), (3, 3, 3), (1, 2, 2))):
            setattr(self, f"block{i + 1}", DenseBlock(n, c, growth, bn_size * growth, k, d))
            c += n * growth
            setattr(self, f"transit{i + 1}", Transit(c, c // 2))
            c //= 2
        self.out_nonlinear = BNReLU(c)
        self.dense = Dense(2 * c, embed)

    def __call__(self, x: mx.array) -> mx.array:
        x = tap("campplus.xvector.tdnn", self.tdnn(x))
        for i in range(1, 4):
            x = tap(f"campplus.xvector.block{i}", self[f"block{i}"](x))
            x = tap(f"campplus.xvector.transit{i}", self[f"transit{i}"](x))
        x = self.out_nonlinear(x)
        n = x.shape[1]
        mean = x.mean(axis=1)
        std = mx.sqrt(((x - mean[:, None]) ** 2).sum(axis=1) / (n - 1))  # unbiased, as torch.std
        stats = mx.concatenate([mean, std], axis=-1)[:, None]  # (B, 1, 2C)
        return self.dense(stats)[:, 0]


class CAMPPlus(nn.Module):
    """`head` (FCM) + `xvector`; `embed` takes 16 kHz audio."""

    def __init__(self, feat_dim: int = 80, embed: int = 192):
        super().__init__()
        self.head = FCM()
        self.xvector = XVector(32 * (feat_dim // 8), embed)

    def __call__(self, fbank: mx.array) -> mx.array:
        """(B, T, 80) mean-normalised fbank -> (B, 192)."""
        return tap("campplus.xvector", self.xvector(tap("campplus.head", self.head(fbank))))

    def embed(self, wav_16k) -> mx.array:
        """A 16 kHz clip -> its x-vector (1, 192)."""
        feats = kaldi_fbank(wav_16k)
        return self(tap("campplus.fbank", feats - feats.mean(axis=0, keepdims=True))[None])
