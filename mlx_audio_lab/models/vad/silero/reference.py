"""The PyTorch side of Silero VAD: the `silero-vad` package's TorchScript model and `get_speech_timestamps`,
its fixture (upstream safetensors layout) and the tap map.

The TorchScript model is loaded with `torch.jit.load` (the package's own loader) here only, in the reference;
the port reads the same archive's tensors without running its code (`convert.torchscript`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ....parity import TapPoint
from .config import BRANCHES, SileroConfig
from .convert import SAFETENSORS_16K, TORCHSCRIPT

SIZES = {"tiny": {}}  # the architecture is fixed (0.3 M parameters); a fixture differs only in its weights
_STAGES = ("stft", "encoder.0", "encoder.1", "encoder.2", "encoder.3", "decoder.rnn", "probs")
_LAYOUT = {"stft": "channels_first", "decoder.rnn": "same", "probs": "same"}


def _config(folder: Path) -> tuple[dict, SileroConfig]:
    raw = json.loads((Path(folder) / "config.json").read_text())
    return raw, SileroConfig.from_dict(raw)


def tap_points(folder: Path) -> list[TapPoint]:
    """Per branch: STFT magnitudes, the four encoder blocks, the LSTM's hidden states, the probabilities."""
    _, cfg = _config(folder)
    return [TapPoint(f"{b.name}.{s}", f"{b.name}.{s}", layout=_LAYOUT.get(s, "channels_first"))
            for b in cfg.branches for s in _STAGES]


def package_model():
    """The package's TorchScript model (`silero_vad.load_silero_vad()`), fp32 on the CPU."""
    from silero_vad import load_silero_vad

    return load_silero_vad()


def load_reference(folder: Path):
    """The TorchScript model holding the folder's weights: its own `silero_vad.jit` when it names one, else the
    package's, with the 16 kHz branch overwritten in place by `silero_vad_16k.safetensors` when that is the file
    the folder's config (or its layout) gives for 16 kHz."""
    import torch
    from safetensors.torch import load_file

    from .load import weight_files

    folder = Path(folder)
    raw, cfg = _config(folder)
    files = weight_files(folder, raw, cfg)
    model = torch.jit.load(str(folder / TORCHSCRIPT)) if (folder / TORCHSCRIPT).is_file() else package_model()
    model.eval()
    if files.get(16000) == SAFETENSORS_16K:
        upstream = load_file(str(folder / SAFETENSORS_16K))
        state = model.state_dict()
        with torch.no_grad():
            for k, v in upstream.items():
                state[_jit_name(k)].copy_(v)
    return model


def _jit_name(key: str) -> str:
    """A safetensors name -> the TorchScript 16 kHz branch's name."""
    layer, _, param = key.partition(".")
    if layer == "stft_conv":
        return "_model.stft.forward_basis_buffer"
    if layer.startswith("conv"):
        return f"_model.encoder.{int(layer[4:]) - 1}.reparam_conv.{param}"
    if layer == "lstm_cell":
        return f"_model.decoder.rnn.{param}"
    return f"_model.decoder.decoder.2.{param}"


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """Seeded random weights in the upstream `silero_vad_16k.safetensors` layout (16 kHz branch), with the
    package's fixed Fourier basis kept; scaled so the probabilities spread over (0, 1) on speech and silence."""
    import torch
    from safetensors.torch import save_file

    real = {k: v.detach().clone() for k, v in package_model().state_dict().items() if k.startswith("_model.")}
    g = torch.Generator().manual_seed(0)
    names = ["stft_conv.weight"] + [f"conv{i}.{p}" for i in range(1, 5) for p in ("weight", "bias")]
    names += [f"lstm_cell.{p}" for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    names += ["final_conv.weight", "final_conv.bias"]
    state = {}
    for n in names:
        shape = real[_jit_name(n)].shape
        if n == "stft_conv.weight":
            state[n] = real[_jit_name(n)]
            continue
        fan_in = int(np.prod(shape[1:])) if n.endswith("weight") else 1
        scale = 1.5 / fan_in ** 0.5 if n.endswith("weight") else 0.1
        if n.startswith("conv1."):
            scale *= 0.2  # the magnitudes reach ~10 on speech
        elif n == "lstm_cell.weight_ih":
            scale *= 4  # a state driven by the input, so probabilities cross 0.5 both ways; the recurrent
        elif n == "final_conv.weight":  # weights stay small, as large ones make the state chaotic (float32
            scale *= 10  # rounding would then grow without bound over the windows)
        state[n] = (torch.randn(shape, generator=g) * scale).float().contiguous()
    state["final_conv.bias"] = torch.full((1,), -0.8)  # a prior towards silence: several segments, not one
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(state, str(folder / SAFETENSORS_16K))
    (folder / "config.json").write_text(json.dumps({"model_type": "silero_vad", "sample_rates": [16000]}, indent=2))


def parity_inputs(folder: Path) -> dict[str, np.ndarray]:
    """Per branch rate: espeak-ng sentences with silence and noise between them (seeded noise without espeak-ng)."""
    from ....fixtures import speech

    _, cfg = _config(folder)
    out = {}
    for rate in cfg.sample_rates:
        if speech.espeak_available():
            out[f"audio.{rate}"] = speech.speech_with_pauses(("fox", "harbor"), rate, pause=1.0)
        else:
            out[f"audio.{rate}"] = (np.random.default_rng(0).standard_normal(4 * rate) * 0.1).astype(np.float32)
    return out


def reference_probabilities(model, audio: np.ndarray, rate: int) -> np.ndarray:
    """The TorchScript model called window by window from a reset state, as `get_speech_timestamps` calls it."""
    import torch

    window = BRANCHES[rate].window
    x = torch.from_numpy(np.asarray(audio, np.float32))
    model.reset_states()
    probs = []
    with torch.no_grad():
        for i in range(0, len(x), window):
            chunk = torch.nn.functional.pad(x[i : i + window], (0, max(0, i + window - len(x))))
            probs.append(model(chunk, rate).item())
    return np.array(probs, np.float32)


def stages(model, audio: np.ndarray, rate: int) -> dict[str, np.ndarray]:
    """Every stage of one branch, by calling its scripted submodules on the windows the wrapper would build."""
    import torch

    b = BRANCHES[rate]
    net = model._model if rate == 16000 else model._model_8k
    x = np.pad(np.asarray(audio, np.float32), (0, -len(audio) % b.window))
    context, windows = np.zeros(b.context, np.float32), []
    for i in range(0, len(x), b.window):  # the wrapper's context: the last samples of the previous input
        windows.append(np.concatenate([context, x[i : i + b.window]]))
        context = windows[-1][-b.context :]
    acts = {}
    with torch.no_grad():
        h = net.stft(torch.from_numpy(np.stack(windows)))
        acts["stft"] = h.numpy()
        for k in range(4):
            h = getattr(net.encoder, str(k))(h)
            acts[f"encoder.{k}"] = h.numpy()
        state, hidden, probs = torch.zeros(0), [], []
        for i in range(h.shape[0]):
            y, state = net.decoder(h[i : i + 1], state)
            hidden.append(state[0, 0].numpy())
            probs.append(float(y.squeeze(1).mean()))
    acts["decoder.rnn"] = np.stack(hidden)
    acts["probs"] = np.array(probs, np.float32)
    return {f"{b.name}.{k}": v for k, v in acts.items()}


def run_reference(folder: Path, inputs: dict[str, np.ndarray]):
    """Taps from the scripted submodules; outputs from the whole model (window by window) and its
    `get_speech_timestamps` (default thresholds), per branch rate."""
    import torch
    from silero_vad import get_speech_timestamps

    _, cfg = _config(folder)
    model = load_reference(folder)
    acts, out = {}, {}
    for rate in cfg.sample_rates:
        audio = inputs[f"audio.{rate}"]
        acts.update(stages(model, audio, rate))
        out[f"probs.{rate}"] = reference_probabilities(model, audio, rate)
        spans = get_speech_timestamps(torch.from_numpy(audio), model, sampling_rate=rate)
        out[f"segments.{rate}"] = np.array([[s["start"], s["end"]] for s in spans], np.int64).reshape(-1, 2)
    return acts, out


def run_mlx(folder: Path, inputs: dict[str, np.ndarray]):
    """The port on the same clips, taps on: window probabilities and speech segments per branch rate."""
    from ....taps import capture
    from .load import load_model

    model = load_model(folder)
    _, cfg = _config(folder)
    out = {}
    with capture() as acts:
        for rate in cfg.sample_rates:
            result = model.detect(inputs[f"audio.{rate}"], rate)
            out[f"probs.{rate}"] = result.probabilities
            out[f"segments.{rate}"] = np.array(result.sample_spans, np.int64).reshape(-1, 2)
    return {k: np.array(v) for k, v in acts.items()}, out


def outputs_match(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Per rate: probabilities of the whole model within 1e-4 (and spread, not constant), segments identical."""
    from ....parity import sig1

    ok, notes = True, []
    for key in sorted(k for k in ref_out if k.startswith("probs.")):
        rate = key.split(".")[1]
        a, b = np.asarray(mlx_out.get(key, [])), np.asarray(ref_out[key])
        err = float(np.abs(a - b).max()) if a.shape == b.shape and b.size else float("inf")
        spread = float(b.max() - b.min()) if b.size else 0.0
        sa, sb = np.asarray(mlx_out.get(f"segments.{rate}", [])), np.asarray(ref_out[f"segments.{rate}"])
        same = sa.shape == sb.shape and bool((sa == sb).all())
        ok = ok and err <= 1e-4 and spread >= 0.1 and same
        notes.append(f"{int(rate) // 1000} kHz: {b.size} windows, probabilities max_abs {sig1(err)} (range "
                     f"{b.min():.2f}-{b.max():.2f}), {len(sb)} segments {'identical' if same else 'DIFFER'}")
    return ok, "; ".join(notes)
