"""The PyTorch side of Orpheus: transformers' `LlamaForCausalLM` + the `snac` package, its fixture and taps.

Parity runs three generation checks beside the per-layer taps: teacher-forced logits on the reference's
own sampled sequence, greedy tokens (and their SNAC frames and audio), sampled tokens for the same draws.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from ....generation import RecordedDraws, SamplingConfig, SeededDraws
from ....parity import TapPoint
from .layout import SLOTS, TokenLayout

SIZES = {
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, head_dim=16, max_position_embeddings=4096, rms_norm_eps=1e-5,
                 rope_theta=500000.0, tie_word_embeddings=False,  # untied: the designed head (fixture.py)
                 rope_scaling={"rope_type": "llama3", "factor": 32.0, "high_freq_factor": 4.0,
                               "low_freq_factor": 1.0, "original_max_position_embeddings": 8192}),
}
PARITY_TEXT, PARITY_VOICE = "The harbor lights flickered.", "tara"
PARITY_FRAMES = 40  # greedy / sampled runs: 280 tokens
PARITY_SAMPLING = SamplingConfig(temperature=0.6, top_k=50, top_p=0.8, repetition_penalty=1.3)
NOISE_SEED = 0
ATTENTION_GAIN = 4.0


def tap_points(folder: Path) -> list[TapPoint]:
    """MLX tap -> module of `LlamaForCausalLM`, in forward order (teacher-forced pass over the whole sequence)."""
    n = json.loads((Path(folder) / "config.json").read_text())["num_hidden_layers"]
    points = [TapPoint("embed_tokens", "model.embed_tokens")]
    points += [TapPoint(f"layers.{i}", f"model.layers.{i}") for i in range(n)]
    return points + [TapPoint("norm", "model.norm"), TapPoint("logits", "lm_head", tol=1e-4)]


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """A seeded tiny Llama in the hub layout (config.json, model.safetensors, tokenizer files) + `snac/`."""
    import torch
    from tokenizers import Tokenizer
    from transformers import LlamaConfig, LlamaForCausalLM

    from ....fixtures import build, randomize_
    from ...codecs.snac.config import SnacConfig
    from .fixture import build_tokenizer, design_embeddings

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    snac = build("snac")  # the codec: the SNAC fixture, copied beside the weights (upstream keeps it apart)
    shutil.copytree(snac, folder / "snac", ignore=shutil.ignore_patterns(".complete"))
    codebook = SnacConfig.from_dict(json.loads((snac / "config.json").read_text())).codebook_size
    vocab = build_tokenizer(folder, codebook)
    layout = TokenLayout.from_tokenizer(Tokenizer.from_file(str(folder / "tokenizer.json")), codebook)
    cfg = LlamaConfig(vocab_size=vocab, bos_token_id=layout.bos, eos_token_id=layout.eot, **SIZES[size])
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).eval()
    randomize_(model, seed=0, std=0.08, keep=tuple(n for n, _ in model.named_buffers()))
    embed, head = design_embeddings(vocab, cfg.hidden_size, layout.audio_base, codebook, layout.start_of_speech)
    with torch.no_grad():
        for layer in model.model.layers:  # louder attention: the prompt (text, voice) moves the first code
            layer.self_attn.o_proj.weight.mul_(ATTENTION_GAIN)
        model.model.embed_tokens.weight.copy_(torch.from_numpy(embed))
        model.lm_head.weight.copy_(torch.from_numpy(head))
    model.generation_config.eos_token_id = layout.end_of_speech
    model.save_pretrained(folder, safe_serialization=True)


def load_reference(folder: Path):
    """transformers' `LlamaForCausalLM` from the folder, fp32, eval, eager attention (the reference maths)."""
    from transformers import LlamaForCausalLM

    return LlamaForCausalLM.from_pretrained(folder, dtype="float32", attn_implementation="eager").eval()


def reference_layout(folder: Path) -> TokenLayout:
    from tokenizers import Tokenizer

    from ...codecs.snac.config import SnacConfig

    codebook = SnacConfig.from_dict(json.loads((Path(folder) / "snac" / "config.json").read_text())).codebook_size
    return TokenLayout.from_tokenizer(Tokenizer.from_file(str(Path(folder) / "tokenizer.json")), codebook)


def reference_prompt(folder: Path, text: str = PARITY_TEXT, voice: str | None = PARITY_VOICE) -> np.ndarray:
    """The engine's prompt built with transformers' tokenizer (AutoTokenizer on the folder)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    ids = tok(f"{voice}: {text}" if voice else text).input_ids
    return np.array([reference_layout(folder).prompt(ids)], dtype=np.int64)


def reference_frames(tokens: np.ndarray, layout: TokenLayout) -> np.ndarray:
    """The reference recipe (Orpheus's HF example): drop end-of-speech, whole frames, minus offsets -> (7, F)."""
    t = np.asarray(tokens).reshape(-1)
    t = t[t != layout.end_of_speech]
    t = t[: len(t) // SLOTS * SLOTS].reshape(-1, SLOTS)
    return (t - layout.audio_base - np.arange(SLOTS) * layout.codebook_size).T


def parity_inputs(folder: Path) -> dict[str, np.ndarray]:
    """Prompt, the draws, and the teacher sequence: the reference's own sampled run with those draws."""
    from ....parity.generation import reference_generate

    prompt = reference_prompt(folder)
    draws = SeededDraws(0).next(PARITY_FRAMES * SLOTS)
    sampled = reference_generate(load_reference(folder), prompt, PARITY_SAMPLING, RecordedDraws(draws),
                                 PARITY_FRAMES * SLOTS, (reference_layout(folder).end_of_speech,))
    return {"prompt": prompt, "draws": draws, "teacher": np.concatenate([prompt, sampled], axis=1),
            "noise_seed": np.array([NOISE_SEED])}


def run_reference(folder: Path, inputs: dict[str, np.ndarray]):
    """Taps + teacher-forced logits, greedy and sampled runs, and SNAC audio of the greedy frames (`snac`)."""
    import torch

    from ....parity.generation import reference_generate, reference_logits
    from ....parity.torch_hooks import capture_torch
    from ...codecs.snac.reference import load_reference as load_snac
    from ...codecs.snac.reference import seeded_torch_noise

    model, layout = load_reference(folder), reference_layout(folder)
    n_prompt, stop = inputs["prompt"].shape[1], (layout.end_of_speech,)
    acts, logits = capture_torch(model, [p.ref for p in tap_points(folder)],
                                 lambda: reference_logits(model, inputs["teacher"], n_prompt))
    greedy = reference_generate(model, inputs["prompt"], SamplingConfig(0.0), None, PARITY_FRAMES * SLOTS, stop)
    sampled = reference_generate(model, inputs["prompt"], PARITY_SAMPLING, RecordedDraws(inputs["draws"]),
                                 PARITY_FRAMES * SLOTS, stop)
    grid = reference_frames(greedy, layout)
    from ...codecs.snac.frames import from_grid

    snac = load_snac(Path(folder) / "snac")
    codes = [torch.from_numpy(c)[None] for c in from_grid(grid, snac.vq_strides)]
    with torch.no_grad(), seeded_torch_noise(int(inputs["noise_seed"][0])):
        audio = snac.decode(codes)[0, 0].numpy()
    return acts, {"teacher_logits": logits, "greedy": greedy, "sampled": sampled, "greedy_codes": grid,
                  "audio": audio}


def run_mlx(folder: Path, inputs: dict[str, np.ndarray], **load_kw):
    """The port on the same inputs: taps over the teacher sequence, logits through the KV cache, both runs."""

    from ....parity.generation import teacher_forced_run
    from .generate import generate_tokens
    from .load import load_model

    model = load_model(folder, **load_kw)
    acts, logits = teacher_forced_run(model, inputs)
    prompt = inputs["prompt"][0].tolist()
    greedy = np.array([[s.token for s in generate_tokens(model, prompt, SamplingConfig(0.0), None, PARITY_FRAMES)]])
    sampled = np.array([[s.token for s in generate_tokens(model, prompt, PARITY_SAMPLING,
                                                           RecordedDraws(inputs["draws"]), PARITY_FRAMES)]])
    grid, _ = model.layout.frames(greedy)
    audio = model.codec.decode(grid, seed=int(inputs["noise_seed"][0]))
    return acts, {"teacher_logits": logits, "greedy": greedy, "sampled": sampled, "greedy_codes": grid,
                  "audio": audio}


def extra_rows(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> list:
    """The generation rows of the report: teacher-forced logits, greedy tokens / codes, sampled tokens, audio."""
    from ....parity.generation import logits_row, token_row
    from ....parity.report import compare_arrays

    return [logits_row("generation.teacher_forced_logits", mlx_out["teacher_logits"], ref_out["teacher_logits"],
                       1e-4),
            token_row("generation.greedy_tokens", mlx_out["greedy"], ref_out["greedy"]),
            token_row("generation.greedy_codes", mlx_out["greedy_codes"], ref_out["greedy_codes"]),
            token_row("generation.sampled_tokens", mlx_out["sampled"], ref_out["sampled"]),
            compare_arrays("snac.audio", mlx_out["audio"], ref_out["audio"], 1e-4)]


def outputs_match(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Greedy and sampled tokens identical, greedy frames valid and varied (>= 32), audio within 1e-4."""
    rows = extra_rows(mlx_out, ref_out)
    grid = np.asarray(ref_out["greedy_codes"])
    frames, distinct = grid.shape[1], len({tuple(c) for c in grid.T})
    ok = all(r.ok for r in rows) and frames >= 32 and distinct > frames // 2
    return ok, (f"greedy {frames} frames ({distinct} distinct), sampled "
                f"{np.asarray(ref_out['sampled']).shape[1]} tokens; " + "; ".join(f"{r.name} {r.note or 'ok'}"
                                                                                for r in rows[1:4]))


def report_extras(folder: Path, inputs: dict[str, np.ndarray], mlx_out: dict[str, np.ndarray]) -> dict:
    """Greedy-token agreement of bf16, 8-bit and 4-bit runs with fp32 (fraction equal, first diverging step)."""
    from ....parity.generation import precision_agreement
    from .generate import generate_tokens
    from .load import load_model

    def greedy(model) -> np.ndarray:
        prompt = inputs["prompt"][0].tolist()
        return np.array([[s.token for s in generate_tokens(model, prompt, SamplingConfig(0.0), None, PARITY_FRAMES)]])

    return precision_agreement(load_model, folder, greedy, mlx_out["greedy"])
