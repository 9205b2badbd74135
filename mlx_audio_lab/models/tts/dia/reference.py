"""The PyTorch side of Dia: transformers' DiaForConditionalGeneration + DiaProcessor, its fixture and taps.

Parity runs, beside the per-layer taps of one teacher-forced pass: teacher-forced logits at every step (on the
reference's own greedy sequence), Dia's guided logits (its CFG processor on cond/uncond logits of that pass),
greedy codes with and without guidance, and sampled codes (the checkpoint's settings) for the same draws.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ....generation import SamplingConfig, SeededDraws
from ....parity import TapPoint
from .fixture import build_fixture  # noqa: F401  (the registry's fixture entry point)

TEXT = "[S1] The harbor lights flickered. [S2] Oh, look! (laughs)"
FRAMES = 24  # reverted frames of the parity runs (40 decoder steps with the EOS and the delay tail)
GUIDED_GREEDY = SamplingConfig(temperature=0.0, top_k=45, cfg_scale=3.0)
SAMPLED = SamplingConfig(temperature=1.8, top_k=45, top_p=0.95, cfg_scale=3.0)  # nari-labs/Dia-1.6B's defaults
SEED = 1  # sampled runs' draws (seed 0 hits a float near-tie of the sampling CDF at step 23 on SkylakeX BLAS)


def _config(folder: Path) -> dict:
    return json.loads((Path(folder) / "config.json").read_text())


def tap_points(folder: Path) -> list[TapPoint]:
    """MLX tap -> module of transformers' model, in forward order (one teacher-forced pass)."""
    cfg = _config(folder)
    n_enc, n_dec = cfg["encoder_config"]["num_hidden_layers"], cfg["decoder_config"]["num_hidden_layers"]
    return [
        TapPoint("encoder.embedding", "model.encoder.embedding"),
        *[TapPoint(f"encoder.layers.{i}", f"model.encoder.layers.{i}") for i in range(n_enc)],
        TapPoint("encoder.norm", "model.encoder.norm"),
        TapPoint("decoder.embeddings", "model.decoder.embeddings"),
        *[TapPoint(f"decoder.layers.{i}", f"model.decoder.layers.{i}") for i in range(n_dec)],
        TapPoint("decoder.norm", "model.decoder.norm"),
        TapPoint("logits", "logits_dense"),
    ]


def parity_inputs(folder: Path, text: str = TEXT, frames: int = FRAMES) -> dict[str, np.ndarray]:
    """The dialogue (UTF-8 bytes) and the number of reverted frames to generate."""
    return {"text": np.frombuffer(text.encode(), np.uint8), "frames": np.array(frames)}


def text_of(inputs: dict[str, np.ndarray]) -> str:
    return bytes(np.asarray(inputs["text"], np.uint8)).decode()


def load_reference(folder: Path):
    """transformers' model with the folder's weights (fp32, eval, eager attention) and its processor."""
    from transformers import DiaForConditionalGeneration, DiaProcessor

    from ...codecs.reference import from_pretrained_quietly

    model = from_pretrained_quietly(DiaForConditionalGeneration, folder, attn_implementation="eager")
    return model, DiaProcessor.from_pretrained(folder)


def processor_inputs(processor, text: str, audio=None):
    """The processor's batch for one dialogue (and an audio prompt), its tokenizer's `max_length` note silenced."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # DiaTokenizer's max_length beside padding=True
        return processor(text=[text], audio=None if audio is None else [audio], padding=True, return_tensors="pt")


def hf_kwargs(config: SamplingConfig) -> dict:
    """`generate` arguments for a sampling config (Dia's own processors read guidance_scale and top_k)."""
    kw = {"do_sample": not config.greedy, "guidance_scale": config.cfg_scale, "top_k": config.top_k or None,
          "temperature": None if config.greedy else config.temperature,
          "top_p": None if config.greedy else config.top_p}
    if config.min_p > 0:
        kw["min_p"] = config.min_p
    return kw


def reference_generate(model, batch, config: SamplingConfig, max_new_tokens: int, seed: int | None = None):
    """transformers' `generate` -> the delayed sequence (T, channels); `torch.multinomial` fed seeded draws."""
    import contextlib

    import torch

    from ....parity.generation import torch_draws

    draws = contextlib.nullcontext() if config.greedy else torch_draws(SeededDraws(seed or 0))
    with torch.no_grad(), draws:
        out = model.generate(**batch, max_new_tokens=max_new_tokens, **hf_kwargs(config))
    return out[0].numpy()


def guided_logits(model, batch, sequence: np.ndarray, scale: float, top_k: int | None) -> np.ndarray:
    """transformers' DiaClassifierFreeGuidanceLogitsProcessor on a teacher-forced pass with the all-PAD text:
    (steps, channels, vocab)."""
    import torch
    from transformers.generation.logits_process import DiaClassifierFreeGuidanceLogitsProcessor

    ids = batch["input_ids"]
    frames = torch.from_numpy(sequence[None, :-1]).repeat(2, 1, 1).contiguous()
    with torch.no_grad():
        logits = model(input_ids=torch.cat([ids, torch.zeros_like(ids)]), decoder_input_ids=frames).logits
    C, V = sequence.shape[1], logits.shape[-1]
    steps = logits.reshape(2, C, -1, V).permute(2, 0, 1, 3).reshape(-1, 2 * C, V)  # (T, [cond, uncond] x C, V)
    cfg = DiaClassifierFreeGuidanceLogitsProcessor(scale, top_k)
    dummy = torch.zeros(C, 1, dtype=torch.long)
    return np.stack([cfg(dummy, s.clone()).numpy() for s in steps])


def run_reference(folder: Path, inputs: dict[str, np.ndarray]):
    """Greedy `generate`, then one teacher-forced pass with hooks at the taps; guided and sampled runs."""
    import torch

    from ...codecs.reference import capture_reference
    from .generate import max_new_frames

    model, processor = load_reference(folder)
    batch = processor_inputs(processor, text_of(inputs))
    steps = int(inputs["frames"]) + max(model.config.delay_pattern) + 1
    assert steps == max_new_frames(type("M", (), {"config": _mlx_config(folder)})(), int(inputs["frames"]))
    greedy = reference_generate(model, batch, SamplingConfig(temperature=0.0), steps)

    def run():
        frames = torch.from_numpy(greedy[None, :-1]).contiguous()
        return model(input_ids=batch["input_ids"], decoder_input_ids=frames).logits

    acts, logits = capture_reference(model, tap_points(folder), run)
    C = greedy.shape[1]
    g = GUIDED_GREEDY
    return acts, {
        "prompt": batch["input_ids"][0].numpy(), "prefill": batch["decoder_input_ids"][0].numpy(),
        "sequence": greedy, "logits": logits.reshape(C, -1, logits.shape[-1]).permute(1, 0, 2).numpy(),
        "guided_logits": guided_logits(model, batch, greedy, g.cfg_scale, g.top_k),
        "guided_sequence": reference_generate(model, batch, g, steps),
        "sampled_sequence": reference_generate(model, batch, SAMPLED, steps, SEED),
    }


def _mlx_config(folder: Path):
    from .config import DiaConfig

    return DiaConfig.from_dict(_config(folder))


def run_mlx(folder: Path, inputs: dict[str, np.ndarray], **load_kw):
    """The port on the same dialogue: greedy, guided greedy and sampled sequences; the teacher-forced pass over
    the greedy sequence with taps on; guidance on its cond/uncond logits."""
    import mlx.core as mx

    from ....taps import capture
    from . import delay, tokenizer
    from .generate import generate_sequence, guide, max_new_frames
    from .load import load_model

    model = load_model(folder, **load_kw)
    cfg = model.config
    ids = tokenizer.encode(text_of(inputs))
    steps = max_new_frames(model, int(inputs["frames"]))
    greedy = generate_sequence(model, ids, SamplingConfig(temperature=0.0), None, steps)
    frames = mx.array(greedy[None, :-1].astype(np.int32))
    with capture() as acts:
        logits = model(mx.array([ids]), frames)[0]
    both = model(mx.array([ids, [0] * len(ids)]), mx.concatenate([frames, frames]))
    g = GUIDED_GREEDY
    return {k: np.array(v) for k, v in acts.items()}, {
        "prompt": np.array(ids), "prefill": delay.prefill(cfg.delay_pattern, cfg.bos, cfg.pad),
        "sequence": greedy, "logits": np.array(logits),
        "guided_logits": np.array(guide(both[0], both[1], g.cfg_scale, g.top_k)),
        "guided_sequence": generate_sequence(model, ids, g, None, steps),
        "sampled_sequence": generate_sequence(model, ids, SAMPLED, SeededDraws(SEED), steps),
    }


def extra_rows(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> list:
    """Generation rows: teacher-forced logits per step, guided logits, greedy / guided greedy / sampled sequences
    (delayed, steps x channels; a row names the first diverging step)."""
    from ....parity.generation import logits_row, token_row

    def guided(a: np.ndarray) -> np.ndarray:  # -inf outside the guided top-k: compared as 0 where both are -inf
        return np.where(np.isinf(a), 0.0, a)

    rows = [logits_row("generation.teacher_forced_logits", mlx_out["logits"], ref_out["logits"], 1e-4),
            logits_row("generation.guided_logits", guided(mlx_out["guided_logits"]), guided(ref_out["guided_logits"]),
                       1e-4)]
    same_inf = np.array_equal(np.isinf(mlx_out["guided_logits"]), np.isinf(ref_out["guided_logits"]))
    rows[-1].ok = rows[-1].ok and same_inf
    rows[-1].note = (rows[-1].note + "; " if rows[-1].note else "") + \
        f"guided top-k sets {'identical' if same_inf else 'DIFFER'}"
    for name, key in (("greedy", "sequence"), ("guided_greedy", "guided_sequence"), ("sampled", "sampled_sequence")):
        rows.append(token_row(f"generation.{name}_codes", mlx_out[key].T, ref_out[key].T))
    return rows


def outputs_match(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Text ids and the delayed prefill identical; the three generated sequences identical and varied."""
    same_prompt = np.array_equal(mlx_out["prompt"], ref_out["prompt"])
    same_prefill = np.array_equal(mlx_out["prefill"], ref_out["prefill"])
    ok, notes = same_prompt and same_prefill, []
    for key in ("sequence", "guided_sequence", "sampled_sequence"):
        a, b = np.asarray(mlx_out[key]), np.asarray(ref_out[key])
        same = a.shape == b.shape and bool((a == b).all())
        varied = len(np.unique(b[:, 0])) > 2 and len(np.unique(b)) > 10
        ok &= same and varied
        notes.append(f"{key} {'identical' if same else 'DIFFERS'} ({b.shape[0]} x {b.shape[1]}, "
                     f"{len(np.unique(b))} distinct)")
    head = f"text ids {'identical' if same_prompt else 'DIFFER'}, prefill {'identical' if same_prefill else 'DIFFERS'}"
    return ok, "; ".join([head, *notes])
