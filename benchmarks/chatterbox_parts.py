"""Where Chatterbox S3Gen's time goes, part by part, MLX (fast CPU paths and plain) next to the `chatterbox-tts`
modules in one process: `python -m benchmarks.chatterbox_parts [--set tokens=50] [--set tiny=1] [--part P]`.

Parts: the conformer encoder (tokens -> mu), one estimator pass (the CFG pair, batch 2: one Euler step), one
transformer block and one resnet block of it, HiFT's source (F0 predictor + sines + merge), its upsampling decoder
(STFT of the source, convs, resblocks, conv_post) and the iSTFT. Each part is timed interleaved (MLX fast, MLX
plain, torch), minimum of the repeats, with the load average printed beside. The same real-size seeded models as
`benchmarks/models/chatterbox.py`. Prints only; writes nothing.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def build(tokens: int, prompt: int, tiny: bool = False) -> dict:
    """The seeded real-size (or fixture-size) S3Gen in both frameworks and one set of inputs for every part."""
    import mlx.core as mx
    import torch

    from mlx_audio_lab.convert.keymap import fold_weight_norm
    from mlx_audio_lab.convert.loading import fill_model
    from mlx_audio_lab.models.tts.chatterbox.config import HiFTConfig
    from mlx_audio_lab.models.tts.chatterbox.convert import S3GEN_KEYMAP
    from mlx_audio_lab.models.tts.chatterbox.flow import FlowConfig
    from mlx_audio_lab.models.tts.chatterbox.reference_s3gen import SIZES, _S3Gen
    from mlx_audio_lab.models.tts.chatterbox.s3gen import S3Gen

    from . import harness

    sizes = SIZES["tiny"] if tiny else {"hift": {}, "flow": {}}
    hift_cfg, flow_cfg = HiFTConfig(**sizes["hift"]), FlowConfig(**sizes["flow"])
    torch.manual_seed(0)
    ref = _S3Gen(hift_cfg, flow_cfg).eval()
    port = fill_model(S3Gen(hift_cfg, flow_cfg), fold_weight_norm(harness.torch_state(ref), dim=0),
                      S3GEN_KEYMAP, {}, "benchmark weights", mx.float32)
    rng = np.random.default_rng(0)
    frames = 2 * (tokens + prompt)
    ids = rng.integers(0, 6561, (1, tokens + prompt))
    x, mu, cond = (rng.standard_normal((2, frames, 80)).astype(np.float32) for _ in range(3))
    spks = rng.standard_normal((2, 80)).astype(np.float32)
    t = np.array([0.3, 0.3], np.float32)
    mel = 0.5 * rng.standard_normal((1, 2 * tokens, 80)).astype(np.float32) - 4.0
    return dict(port=port, ref=ref, ids=ids, x=x, mu=mu, cond=cond, spks=spks, t=t, mel=mel)


def parts(d: dict) -> dict[str, tuple]:
    """name -> (MLX callable, torch callable)."""
    import mlx.core as mx
    import torch

    port, ref = d["port"], d["ref"]
    est_m, est_t = port.flow.decoder.estimator, ref.flow.decoder.estimator
    m = {k: mx.array(d[k]) for k in ("ids", "x", "mu", "cond", "spks", "t", "mel")}
    tt = {k: torch.from_numpy(d[k]).transpose(1, 2).contiguous() for k in ("x", "mu", "cond", "mel")}
    tt.update(ids=torch.from_numpy(d["ids"]), spks=torch.from_numpy(d["spks"]), t=torch.from_numpy(d["t"]))
    mask_m = mx.ones((2, d["x"].shape[1], 1))
    mask_t = torch.ones(2, 1, d["x"].shape[1])
    frames = d["x"].shape[1]
    channels = port.flow.config.channels
    hidden = mx.array(np.random.default_rng(1).standard_normal((2, frames, channels)).astype(np.float32))
    hidden_t = torch.from_numpy(np.array(hidden)).transpose(1, 2).contiguous()
    te = est_m.time_mlp(__import__("mlx_audio_lab.models.tts.chatterbox.flow_decoder", fromlist=["x"])
                        .timestep_embedding(m["t"], 320))
    te_t = torch.from_numpy(np.array(te))
    bias = mx.zeros((2, 1, 1, frames))
    hift_m, hift_t = port.mel2wav, ref.mel2wav
    source = hift_m.source(m["mel"])
    source_t = torch.from_numpy(np.array(source)).transpose(1, 2).contiguous()
    mag, ph = hift_m.spectrum(m["mel"], source)
    mag_t, ph_t = (torch.from_numpy(np.array(a)).transpose(1, 2).contiguous() for a in (mag, ph))
    from mlx_audio_lab.dsp import istft

    def t_encoder():
        lens = torch.tensor([d["ids"].shape[1]])
        h, _ = ref.flow.encoder(ref.flow.input_embedding(tt["ids"]), lens)
        return ref.flow.encoder_proj(h)

    def t_source():
        f0 = hift_t.f0_predictor(tt["mel"])
        s = hift_t.f0_upsamp(f0[:, None]).transpose(1, 2)
        return hift_t.m_source(s)[0]

    def m_istft():
        spec = mx.minimum(mag, 1e2) * mx.cos(ph) + 1j * (mx.minimum(mag, 1e2) * mx.sin(ph))
        cfg = hift_m.config
        return istft(spec, cfg.n_fft, cfg.hop_len, cfg.n_fft, window="hann")

    resnet_m, resnet_t = est_m.mid_blocks[0][0], est_t.mid_blocks[0][0]
    block_m, block_t = est_m.mid_blocks[0][1][0], est_t.mid_blocks[0][1][0]
    return {
        "encoder": (lambda: port.flow.encoder_proj(port.flow.encoder(port.flow.input_embedding(m["ids"]))),
                    t_encoder),
        "estimator pass (CFG pair)": (lambda: est_m(m["x"], mask_m, m["mu"], m["t"], m["spks"], m["cond"]),
                                      lambda: est_t(tt["x"], mask_t, tt["mu"], tt["t"], tt["spks"], tt["cond"])),
        "  resnet block": (lambda: resnet_m(hidden, mask_m, te), lambda: resnet_t(hidden_t, mask_t, te_t)),
        "  transformer block": (lambda: block_m(hidden, bias),
                                lambda: block_t(hidden_t.transpose(1, 2), attention_mask=torch.zeros(2, 1, frames))),
        "hift source": (lambda: hift_m.source(m["mel"]), t_source),
        "hift decoder (to mag, phase)": (lambda: hift_m.spectrum(m["mel"], source),
                                         lambda: hift_t.decode(tt["mel"], source_t)),
        "hift istft": (m_istft, lambda: hift_t._istft(mag_t, ph_t)),
    }


def main() -> None:
    import mlx.core as mx
    import torch

    from mlx_audio_lab.layers.fast_math import plain_math

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="tokens=50, prompt=50, tiny=1 (the fixture's sizes: a quick check)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--part", action="append", help="a part's name (substring; repeatable)")
    a = p.parse_args()
    opts = {k: int(v) for k, v in (kv.split("=", 1) for kv in a.set)}
    d = build(opts.get("tokens", 50), opts.get("prompt", 50), bool(opts.get("tiny", 0)))
    print(f"{'part':<30} {'fast ms':>9} {'plain ms':>9} {'torch ms':>9} {'fast vs torch':>13}  load")
    for name, (fm, ft) in parts(d).items():
        if a.part and not any(s in name for s in a.part):
            continue
        best = {"fast": 1e9, "plain": 1e9, "torch": 1e9}
        for r in range(a.repeats + 1):
            for k in best:
                t0 = time.perf_counter()
                if k == "torch":
                    with torch.inference_mode():
                        ft()
                elif k == "plain":
                    with plain_math():
                        mx.eval(fm())
                else:
                    mx.eval(fm())
                if r:  # the first round warms up
                    best[k] = min(best[k], time.perf_counter() - t0)
        print(f"{name:<30} {1e3 * best['fast']:9.1f} {1e3 * best['plain']:9.1f} {1e3 * best['torch']:9.1f} "
              f"{best['torch'] / best['fast']:12.2f}x  {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
