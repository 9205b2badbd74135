"""The PyTorch side of Chatterbox: the `chatterbox-tts` package, the fixture (upstream layout) and the parity run.

Components are reached by name in the report: `t3.*` (reference_t3), `flow.*` and `hift.*` (reference_s3gen),
`ve.*` (reference_speaker). `chatterbox/__init__.py` imports the `perth` watermarker, which parity does not need:
it is stubbed in `sys.modules` (`stub_perth`), in the reference run only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ....parity import TapPoint
from ....parity.inputs import spoken_or_noise
from .config import S3GEN_SR, HiFTConfig
from .flow import FlowConfig
from .reference_s3gen import (  # noqa: F401  (the tests and notebook reach them here)
    NOISE_SEED,
    PARITY_CLIP,
    PARITY_SECONDS,
    build_s3gen,
    campplus_tap_points,
    flow_noise,
    flow_tap_points,
    hift_draws,
    hift_tap_points,
    load_s3gen_reference,
    run_campplus_reference,
    run_flow_reference,
    run_hift_reference,
    stub_perth,
)
from .reference_speaker import build_voice_encoder, load_ve_reference, run_ve_reference, ve_tap_points
from .reference_t3 import (  # noqa: F401
    PARITY_TEXT,
    T3_PARITY_STEPS,
    build_t3,
    build_tokenizer,
    load_t3_reference,
    run_t3_reference,
    t3_parity_inputs,
    t3_tap_points,
)
from .voice_encoder import SAMPLE_RATE as VE_RATE


def parity_mel(seconds: float = PARITY_SECONDS) -> np.ndarray:
    """The S3Gen log-mel (1, T, 80) of a spoken clip at 24 kHz (the reference's `mel_spectrogram`)."""
    import torch

    stub_perth()
    from chatterbox.models.s3gen.utils.mel import mel_spectrogram

    audio = spoken_or_noise(PARITY_CLIP, S3GEN_SR)[: int(seconds * S3GEN_SR)]
    return mel_spectrogram(torch.from_numpy(audio)[None]).transpose(1, 2).numpy().astype(np.float32)


def ve_clip() -> np.ndarray:
    """The parity clip at 16 kHz, with 0.3 s of silence either side (trimming has work to do)."""
    silence = np.zeros(int(0.3 * VE_RATE), np.float32)
    return np.concatenate([silence, spoken_or_noise(PARITY_CLIP, VE_RATE), silence]).astype(np.float32)


def hift_parity(hift, reference, mel: np.ndarray, seed: int = NOISE_SEED):
    """HiFT's decode against the reference, both fed the reference's excitation (so every layer is comparable at
    the strict default tolerance): a ParityReport over the decoder's taps, conv_pre to the audio."""
    import mlx.core as mx

    from ....parity.core import compare
    from ....taps import capture

    acts, _ = run_hift_reference(reference, mel, seed)
    with capture() as got:
        hift(mx.array(mel), source=mx.array(acts["mel2wav.m_source"]))
    points = [TapPoint(p.name, p.ref, layout=p.layout) for p in hift_tap_points(hift.config)[2:]]
    return compare("chatterbox.hift", points, {k: np.array(v) for k, v in got.items()}, acts, True)


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """`s3gen.safetensors`, `t3_cfg.safetensors`, `tokenizer.json` as ResembleAI/chatterbox lays them out."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in build_s3gen(size).state_dict().items()}
    save_file(state, str(folder / "s3gen.safetensors"))
    for name, module in (("t3_cfg", build_t3(size)), ("ve", build_voice_encoder())):
        save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(folder / f"{name}.safetensors"))
    build_tokenizer(folder / "tokenizer.json")
    build_conds(folder)


def build_conds(folder: Path) -> None:
    """`conds.pt`, the built-in voice as upstream saves it, from the parity clip by the reference's VoiceEncoder,
    CAMPPlus and mel; its speech tokens are seeded (the fixture carries no S3 tokenizer)."""
    import torch

    clip = ve_clip()
    speaker = run_ve_reference(load_ve_reference(folder), clip)[1]
    xvector = run_campplus_reference(load_s3gen_reference(folder), clip)[1]
    mel = parity_mel(0.8)
    rng = np.random.default_rng(7)
    t3 = {"speaker_emb": torch.from_numpy(speaker), "clap_emb": None,
          "cond_prompt_speech_tokens": torch.from_numpy(rng.integers(0, 6561, (1, 30))),
          "cond_prompt_speech_emb": None, "emotion_adv": 0.5 * torch.ones(1, 1, 1)}
    tokens = torch.from_numpy(rng.integers(0, 6561, (1, mel.shape[1] // 2)))
    gen = {"prompt_token": tokens, "prompt_token_len": torch.tensor([tokens.shape[1]]),
           "prompt_feat": torch.from_numpy(mel), "prompt_feat_len": None, "embedding": torch.from_numpy(xvector)}
    torch.save({"t3": t3, "gen": gen}, folder / "conds.pt")


def parity_inputs(folder: Path) -> dict[str, np.ndarray]:
    """End to end on the built-in voice (conds.pt): the parity text, its speaker vector and prompt tokens for T3,
    its prompt tokens / mel / x-vector for the flow, the noise seed; and the clip the voice came from (for the
    VoiceEncoder and CAMPPlus)."""
    from .load import read_conds

    conds = read_conds(Path(folder))
    return {**t3_parity_inputs(folder), "speaker": conds.speaker, "t3_prompt_tokens": conds.t3_prompt_tokens,
            "voice_16k": ve_clip(), "prompt_tokens": conds.prompt_tokens, "prompt_mel": conds.prompt_mel,
            "xvector": conds.xvector, "seed": np.array([NOISE_SEED], np.int64)}


def tap_points(folder: Path) -> list[TapPoint]:
    """Every component's taps, by name: `t3.*`, `flow.encoder.*`, `flow.decoder.estimator.*`, `flow.mel`, `hift.*`."""
    from safetensors import safe_open

    from .load import read_s3gen

    state = read_s3gen(Path(folder))[0]
    with safe_open(str(Path(folder) / "t3_cfg.safetensors"), "np") as f:
        n_layers = len({k.split(".")[2] for k in f.keys() if k.startswith("tfmr.layers.")})
    points = (ve_tap_points() + campplus_tap_points() + t3_tap_points(n_layers)
              + flow_tap_points(FlowConfig.from_state(state)) + hift_tap_points(HiFTConfig.from_state(state)))
    return [TapPoint(*p) for p in points]  # parity's TapPoint from the components' tap data


def run_reference(folder: Path, inputs: dict[str, np.ndarray]):
    """The package end to end: VoiceEncoder and CAMPPlus on the clip; greedy T3 on the text; the flow on its
    valid tokens; HiFT on that mel (noise and source draws after `torch.manual_seed(seed)`)."""
    model = load_s3gen_reference(folder)
    seed = int(np.asarray(inputs["seed"]).reshape(-1)[0])
    ve_acts, _ = run_ve_reference(load_ve_reference(folder), inputs["voice_16k"])
    ve_acts.update(run_campplus_reference(model, inputs["voice_16k"])[0])
    t3_acts, tokens, logits = run_t3_reference(load_t3_reference(folder), inputs)
    flow_acts, mel = run_flow_reference(model, {**inputs, "tokens": tokens[tokens < 6561][None]}, seed)
    hift_acts, audio = run_hift_reference(model, mel.transpose(0, 2, 1), seed)
    return {**ve_acts, **t3_acts, **flow_acts, **hift_acts}, {"speech_tokens": tokens, "speech_logits": logits,
                                                             "mel": mel.transpose(0, 2, 1), "audio": audio}


def run_mlx(folder: Path, inputs: dict[str, np.ndarray]):
    """The port on the same inputs, the same way, with the reference's noise and source draws replayed."""
    import mlx.core as mx

    from ....generation import SamplingConfig
    from ....taps import capture
    from .generate import speech_tokens, valid_speech_tokens
    from .load import load_s3gen, load_t3, load_voice_encoder

    model, t3, logits = load_s3gen(folder), load_t3(folder), []
    seed = int(np.asarray(inputs["seed"]).reshape(-1)[0])
    with capture() as acts:
        load_voice_encoder(folder).embed(inputs["voice_16k"])
        model.speaker_encoder.embed(inputs["voice_16k"])
        tokens = speech_tokens(t3, inputs["text_tokens"], inputs["speaker"], inputs["t3_prompt_tokens"],
                               float(inputs["exaggeration"][0]), float(inputs["cfg_weight"][0]),
                               SamplingConfig(temperature=0.0, repetition_penalty=1.2),
                               max_new_tokens=T3_PARITY_STEPS, logits_out=logits)
        valid = valid_speech_tokens(tokens)
        n_frames = inputs["prompt_mel"].shape[1] + 2 * valid.size
        mel = model.flow(mx.array(valid[None]), mx.array(inputs["prompt_tokens"]), mx.array(inputs["prompt_mel"]),
                         mx.array(inputs["xvector"]), noise=mx.array(flow_noise(n_frames, seed)))
        cfg = model.mel2wav.config
        phases, noise = hift_draws(cfg, mel.shape[1] * cfg.upsample_scale, seed)
        audio, _ = model.mel2wav(mel, mx.array(phases), mx.array(noise))
    out = {"speech_tokens": tokens, "speech_logits": np.concatenate(logits), "mel": np.array(mel),
           "audio": np.array(audio)}
    return {k: np.array(v) for k, v in acts.items()}, out


def outputs_match(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Greedy tokens identical (and varied); the flow's mel within 1e-3 for the same noise; the audio within 1e-3
    for the same draws."""
    from ....parity import sig1

    def err(k: str) -> float:
        a, b = np.asarray(mlx_out[k]), np.asarray(ref_out[k])
        return float(np.abs(a - b).max()) if a.shape == b.shape else float("inf")

    e_mel, e_audio = err("mel"), err("audio")
    got, want = np.asarray(mlx_out["speech_tokens"]), np.asarray(ref_out["speech_tokens"])
    same = got.shape == want.shape and bool((got == want).all())
    varied = float(np.std(ref_out["mel"])) > 0.1 and float(np.std(ref_out["audio"])) > 1e-3
    varied = varied and len(np.unique(want)) > len(want) // 2
    note = (f"T3 greedy speech tokens {'identical' if same else 'differ'} ({len(want)} steps, "
            f"{len(np.unique(want))} distinct); flow mel max_abs {sig1(e_mel)}; HiFT audio max_abs {sig1(e_audio)}")
    return same and e_mel <= 1e-3 and e_audio <= 1e-3 and varied, note


def extra_rows(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> list:
    """T3's generation rows: greedy speech tokens, and each step's guided logits (the same tokens fed in)."""
    from ....parity.generation import logits_row, token_row

    return [token_row("t3.greedy_tokens", mlx_out["speech_tokens"], ref_out["speech_tokens"]),
            logits_row("t3.step_logits", mlx_out["speech_logits"], ref_out["speech_logits"], 1e-4)]


load_reference = load_s3gen_reference

