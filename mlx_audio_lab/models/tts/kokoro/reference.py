"""The PyTorch side of Kokoro: `kokoro.KModel`, its fixture (hexgrad layout) and the tap map.

Stages up to the harmonic source's STFT are compared free-running. The generator reads the STFT *phase*,
which is ill-conditioned (+-pi where the imaginary part is rounding noise, e.g. the mirror-symmetric frame 0;
large angle errors where |X| is tiny), so its stages are compared teacher-forced: `run_reference` hands the
reference's generator inputs to `run_mlx` through `inputs` (`teacher_x`, `teacher_har`). The free-running
audio error and the phase flips behind it are reported in the outputs note.
"""

from __future__ import annotations

import json
import re
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ....parity import TapPoint
from .onnx_weights import bundled_vocab

PHRASE = "ðə kwˈɪk fˈɑks."  # fixed phonemes: no G2P in parity
SEED = 0

SIZES = {  # the decoder hard-codes 1024/512/64 channels, so hidden_dim 512 and style_dim 128 are fixed
    "tiny": dict(
        hidden_dim=512, style_dim=128, n_layer=1, max_dur=20, n_mels=80, text_encoder_kernel_size=5,
        dropout=0.2, dim_in=64, max_conv_dim=512, multispeaker=True,
        plbert=dict(hidden_size=64, num_attention_heads=2, intermediate_size=128, max_position_embeddings=128,
                    num_hidden_layers=2, dropout=0.1),
        istftnet=dict(upsample_kernel_sizes=[20, 12], upsample_rates=[10, 6], gen_istft_hop_size=5,
                      gen_istft_n_fft=20, resblock_dilation_sizes=[[1, 3, 5]], resblock_kernel_sizes=[3],
                      upsample_initial_channel=512),
    ),
}
VOICES = ("af_fixture", "am_fixture")
# Stages after the source STFT, checked teacher-forced (see `run_mlx`); `audio` is the generator's output.
GENERATOR_TAPS = ("decoder.generator.noise_res.0", "decoder.generator.noise_res.1", "decoder.generator.conv_post",
                  "audio")


def tap_points(folder: Path) -> list[TapPoint]:
    """MLX tap name -> reference activation, in forward order (data, not code)."""
    cf = "channels_first"
    return [
        TapPoint("bert", "bert"),
        TapPoint("bert_encoder", "bert_encoder"),
        TapPoint("predictor.text_encoder", "predictor.text_encoder"),
        TapPoint("predictor.duration_proj", "predictor.duration_proj"),
        TapPoint("durations", "durations"),
        TapPoint("predictor.shared", "predictor.shared"),
        TapPoint("F0", "F0"),
        TapPoint("N", "N"),
        TapPoint("text_encoder", "text_encoder", layout=cf),
        *[TapPoint(f"decoder.decode.{i}", f"decoder.decode.{i}", layout=cf) for i in range(4)],
        TapPoint("decoder.generator.m_source", "m_source"),
        # the STFT is linear with gain <= sum(hann(20)) = 10: m_source's 1e-4 bound becomes 1e-3 here
        TapPoint("decoder.generator.source_mag", "source_mag", tol=1e-3),
        TapPoint("decoder.generator.source_spectrum", "source_spectrum", tol=1e-3),  # [re, im]: blind to 2pi
        # teacher-forced from here: the MLX generator is fed the reference's entry tensors (`teacher_inputs`)
        *[TapPoint(name, name, layout=cf) for name in GENERATOR_TAPS[:-1]],
        TapPoint("audio", "audio"),
    ]


def kmodel_class():
    """`kokoro.KModel`, imported without `kokoro/__init__`'s `KPipeline` (misaki, phonemizer: ~5 s of imports).

    The package is stood in by a bare module while `kokoro.model` loads, then dropped, so a later `import
    kokoro` runs its `__init__` normally and reuses the same `kokoro.model` (one `KModel` class).
    """
    import importlib
    import importlib.util
    import sys
    import types

    if "kokoro.model" in sys.modules:
        return sys.modules["kokoro.model"].KModel
    if "kokoro" in sys.modules:
        return importlib.import_module("kokoro.model").KModel
    from loguru import logger

    logger.disable("kokoro")  # as kokoro/__init__ does
    spec = importlib.util.find_spec("kokoro")
    stub = types.ModuleType("kokoro")
    stub.__path__ = list(spec.submodule_search_locations)
    sys.modules["kokoro"] = stub
    try:
        return importlib.import_module("kokoro.model").KModel
    finally:
        if sys.modules.get("kokoro") is stub:
            del sys.modules["kokoro"]


def _empty_kmodel(config: dict):
    """A KModel with init weights (its loader reads an empty weight file)."""
    import tempfile

    import torch

    KModel = kmodel_class()
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", (UserWarning, FutureWarning))
        empty = Path(tmp) / "empty.pth"
        torch.save({}, empty)
        return KModel(repo_id="hexgrad/Kokoro-82M", config=config, model=str(empty)).eval()


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """A seeded random `kokoro.KModel` saved as hexgrad ships it: config.json, kokoro-v1_0.pth, voices/*.pt."""
    import torch

    from ....fixtures import randomize_

    folder = Path(folder)
    vocab = bundled_vocab()
    config = {**SIZES[size], "n_token": 178, "vocab": vocab}
    torch.manual_seed(0)
    model = _empty_kmodel(config)
    randomize_(model, seed=0, std=0.05)
    with torch.no_grad():  # a voiced F0 (Hz, above SineGen's threshold of 10) so the harmonic path is used
        model.predictor.F0_proj.weight.mul_(40.0)
        model.predictor.F0_proj.bias.fill_(120.0)
        model.predictor.duration_proj.linear_layer.weight.mul_(3.0)  # ~1 to 4 frames per phoneme
        model.predictor.duration_proj.linear_layer.bias.fill_(-3.0)
    (folder / "voices").mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, ensure_ascii=False, indent=2))
    parts = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
    torch.save({p: {f"module.{k}": v for k, v in getattr(model, p).state_dict().items()} for p in parts},
               folder / "kokoro-v1_0.pth")
    g = torch.Generator().manual_seed(1)
    for name in VOICES:
        torch.save(torch.randn(510, 1, 256, generator=g) * 0.3, folder / "voices" / f"{name}.pt")


def parity_inputs(folder: Path) -> dict[str, np.ndarray]:
    """Fixed phoneme ids wrapped in 0 ... 0, the first voice's style row for that length, the noise seed."""
    from .voices import Voices

    vocab = json.loads((Path(folder) / "config.json").read_text())["vocab"]
    ids = [vocab[p] for p in PHRASE if p in vocab]
    voices = Voices.from_folder(folder)
    name = "jm_kumo" if "jm_kumo" in voices.names else voices.names[0]
    ref_s = voices.style(name, len(PHRASE))
    return {"input_ids": np.array([[0, *ids, 0]], np.int64), "ref_s": ref_s.astype(np.float32),
            "seed": np.array([SEED], np.int64)}


def load_reference(folder: Path):
    """`kokoro.KModel` with the folder's weights, fp32, eval mode: a hexgrad `.pth` through its own loader, an
    MLX-community `kokoro-v1_0.safetensors` part by part (only InstanceNorm affines and ALBERT's pooler and
    position ids may be absent: they keep their init values)."""
    from .load import community_file, layout_of, weight_file

    KModel = kmodel_class()
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    if layout_of(folder, config) == "hexgrad":
        with warnings.catch_warnings():  # torch's weight_norm deprecation, LSTM dropout with one layer
            warnings.simplefilter("ignore", (UserWarning, FutureWarning))
            return KModel(repo_id="hexgrad/Kokoro-82M", config=str(folder / "config.json"),
                          model=str(weight_file(folder))).eval()
    import torch
    from safetensors.numpy import load_file

    model = _empty_kmodel(config)
    state = load_file(str(community_file(folder)))
    for part in ("bert", "bert_encoder", "predictor", "text_encoder", "decoder"):
        sub = {k[len(part) + 1:]: torch.from_numpy(v) for k, v in state.items() if k.startswith(part + ".")}
        missing, unexpected = getattr(model, part).load_state_dict(sub, strict=False)
        absent = [k for k in missing if not re.search(r"\.norm\.(weight|bias)$|^pooler\.|position_ids$", k)]
        if absent or unexpected:
            raise KeyError(f"{folder}: {part} weights missing {absent[:4]}, unexpected {unexpected[:4]}")
    return model.eval()


@contextmanager
def seeded_source(seed: int):
    """Make SineGen's `torch.rand` / `torch.randn_like` draw from numpy, in the order the MLX port does."""
    from unittest import mock

    import torch

    rng = np.random.default_rng(seed)
    calls = {"randn": 0}

    def rand(*shape, **kw):
        return torch.from_numpy(rng.random(tuple(shape), dtype=np.float32))

    def randn_like(t, **kw):
        calls["randn"] += 1
        if calls["randn"] == 1:  # SineGen's noise; the second (SourceModule's noise branch) is unused
            return torch.from_numpy(rng.standard_normal(tuple(t.shape), dtype=np.float32))
        return torch.zeros_like(t)

    with mock.patch.object(torch, "rand", rand), mock.patch.object(torch, "randn_like", randn_like):
        yield


def spectrum(mag: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """[magnitude, phase] (..., F) -> [re, im] (..., 2F): the complex spectrum, blind to 2 pi phase wraps."""
    mag, phase = mag.astype(np.float64), phase.astype(np.float64)
    return np.concatenate([mag * np.cos(phase), mag * np.sin(phase)], axis=-1).astype(np.float32)


def run_reference(folder: Path, inputs: dict[str, np.ndarray], model=None):
    """KModel.forward_with_tokens with hooks at the taps; derived taps (durations, F0, N, audio) added.

    Also adds the generator's entry tensors to `inputs` (`teacher_x` (B, F2, C), `teacher_har` (B, frames,
    n_fft + 2), channels-last) so `run_mlx` can run the generator teacher-forced, and a recording keeps them.
    """
    import torch

    from ....parity.torch_hooks import capture_torch

    model = model if model is not None else load_reference(folder)
    ids = torch.from_numpy(inputs["input_ids"])
    ref_s = torch.from_numpy(inputs["ref_s"])
    paths = ["bert", "bert_encoder", "predictor.text_encoder", "predictor.duration_proj", "predictor.shared",
             "predictor.F0_proj", "predictor.N_proj", "text_encoder", *[f"decoder.decode.{i}" for i in range(4)],
             "decoder.generator.m_source", "decoder.generator.noise_res.0", "decoder.generator.noise_res.1",
             "decoder.generator.conv_post", "decoder"]
    entry: dict[str, np.ndarray] = {}

    def keep_source(_m, args):  # the source spectrum [magnitude, phase] (B, n_fft + 2, frames)
        entry.setdefault("har", args[0].detach().numpy().copy())

    handle = model.decoder.generator.noise_convs[0].register_forward_pre_hook(keep_source)
    try:
        with seeded_source(int(inputs["seed"][0])):
            acts, (audio, pred_dur) = capture_torch(model, paths,
                                                    lambda: model.forward_with_tokens(ids, ref_s, 1.0))
    finally:
        handle.remove()
    logits = acts["predictor.duration_proj"]
    acts["durations"] = (1 / (1 + np.exp(-logits.astype(np.float64)))).sum(-1).astype(np.float32)
    acts["F0"], acts["N"] = acts.pop("predictor.F0_proj")[:, 0], acts.pop("predictor.N_proj")[:, 0]
    acts["m_source"] = acts.pop("decoder.generator.m_source")[..., 0]
    acts["audio"] = acts.pop("decoder")[:, 0]
    har = entry["har"].transpose(0, 2, 1)  # (B, frames, n_fft + 2)
    half = har.shape[-1] // 2
    acts["source_mag"], phase = har[..., :half], har[..., half:]
    acts["source_spectrum"] = spectrum(acts["source_mag"], phase)
    inputs["teacher_x"] = np.ascontiguousarray(acts["decoder.decode.3"].transpose(0, 2, 1))
    inputs["teacher_har"] = np.ascontiguousarray(har)
    return acts, {"durations": pred_dur.numpy().reshape(-1), "audio": audio.numpy().reshape(-1),
                  "source_phase": np.ascontiguousarray(phase), "source_mag": acts["source_mag"]}


def run_mlx(folder: Path, inputs: dict[str, np.ndarray], model=None):
    """The port on the same inputs and source noise, free-running; then the generator teacher-forced.

    Free-running taps cover every stage up to the source spectrum. The generator stages (`GENERATOR_TAPS`)
    are taken from a second run of the MLX generator on the reference's entry tensors (`teacher_x`,
    `teacher_har` from `run_reference`): the source phase is ill-conditioned at +-pi (see `phase_flips`), so
    only identical inputs make those stages comparable. The free-running audio is kept as `audio_free`.
    """
    import mlx.core as mx

    from ....taps import capture
    from .load import load_model

    model = model if model is not None else load_model(folder)
    ref_s = mx.array(inputs["ref_s"])
    with capture() as free:
        out = model(mx.array(inputs["input_ids"]), ref_s, seed=int(inputs["seed"][0]))
    acts = {k: np.array(v) for k, v in free.items()}
    phase = acts.pop("decoder.generator.source_phase")
    acts["decoder.generator.source_spectrum"] = spectrum(acts["decoder.generator.source_mag"], phase)
    outputs = {"durations": np.array(out.durations).reshape(-1), "audio_free": np.array(out.audio).reshape(-1),
               "source_phase": phase}
    if "teacher_har" in inputs:
        s_dec = ref_s[:, : model.config.style_dim]
        with capture(GENERATOR_TAPS) as forced:
            audio = model.decoder.generator(mx.array(inputs["teacher_x"]), s_dec,
                                            har=mx.array(inputs["teacher_har"]))
        acts.update({k: np.array(v) for k, v in forced.items()})
        acts["audio"] = np.array(audio)
        outputs["audio"] = acts["audio"].reshape(-1)
    else:
        outputs["audio"] = outputs["audio_free"]
    return acts, outputs


def phase_flips(mlx_phase: np.ndarray, ref_phase: np.ndarray, ref_mag: np.ndarray,
                tol: float = 1e-3) -> dict[str, float]:
    """Source-phase bins differing > tol: how many, how many are 2 pi wraps (the same angle written across the
    +-pi cut) and how many of those in frame 0, and for the rest the largest |X| and the spectrum error
    |dphase| * |X| with dphase taken modulo 2 pi (small: the angle is ill-conditioned where |X| is tiny)."""
    diff = mlx_phase.astype(np.float64) - ref_phase
    wrapped = np.abs((diff + np.pi) % (2 * np.pi) - np.pi)  # the angle between the two, in [0, pi]
    big = np.abs(diff) > tol
    wraps = big & (wrapped <= tol)
    rest = big & ~wraps
    return {"bins": int(diff.size), "differ": int(big.sum()), "wraps": int(wraps.sum()),
            "frame0_wraps": int(wraps[..., 0, :].sum()),
            "rest_max_mag": float(ref_mag[rest].max()) if rest.any() else 0.0,
            "rest_max_err": float((wrapped * ref_mag)[rest].max()) if rest.any() else 0.0}


def decade(x: float) -> str:
    """The power of ten just above `x` (1e-02 for 0.002 and 0.003), a machine-independent bound."""
    return f"{10.0 ** np.floor(np.log10(x) + 1):.0e}" if x > 0 and np.isfinite(x) else str(x)


def outputs_match(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Durations identical (and varied), teacher-forced audio within 1e-4 and not silent; the note also
    gives the free-running audio error and the +-pi phase flips that cause it."""
    a, b = mlx_out["durations"].tolist(), ref_out["durations"].tolist()
    same = a == b
    want = ref_out["audio"]

    def err(got: np.ndarray) -> float:
        return float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")

    forced, free = err(mlx_out["audio"]), err(mlx_out.get("audio_free", mlx_out["audio"]))
    audio_ok = forced <= 1e-4
    rms = float(np.sqrt(np.mean(want**2)))
    note = (f"durations {'identical' if same else 'differ'} ({len(b)} phonemes, {len(set(b))} distinct values, "
            f"{sum(b)} frames); teacher-forced audio {'within' if audio_ok else 'NOT within'} 1e-4 "
            f"(max err {forced:.0e}, rms {rms:.1g})")
    if "source_phase" in mlx_out and "source_phase" in ref_out:
        f = phase_flips(mlx_out["source_phase"], ref_out["source_phase"], ref_out["source_mag"])
        # the free-running figures follow the CPU's FFT rounding (which bins flip), so they are given as powers of
        # ten that bound them: the same text on every machine
        note += (f"; free-running: source phase differs > 1e-3 in fewer than {decade(f['differ'])} of {f['bins']} "
                 f"bins, some of them +-pi wraps (in frame 0 too: {'yes' if f['frame0_wraps'] else 'no'}), the rest "
                 f"where |dphase|*|X| < {decade(max(f['rest_max_err'], 1e-4))}, audio max err < {decade(free)}")
    return same and audio_ok and len(set(b)) > 1 and rms > 1e-4, note
