"""The PyTorch side of IndexTTS 2's GPT stage: `indextts.gpt.model_v2.UnifiedVoice` (PyPI `indextts2-inference`).

The fixture is a seeded tiny `UnifiedVoice` saved as upstream keeps it (`config.yaml` with a `gpt:` section,
`gpt.pth`). Parity feeds both sides the same w2v-BERT-like features (the conditioning input) and text ids,
records the conditioning taps and the first (prompt) forward of GPT-2, greedy codes and per-step logits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ....fixtures import one_torch_thread
from ....generation import RecordedDraws, SamplingConfig, SeededDraws
from ....generation.sampling import GREEDY
from ....parity import TapPoint
from .reference_s2mel import build_s2mel_fixture, run_s2mel_mlx

SIZES = {
    "tiny": dict(model_dim=64, layers=2, heads=4, max_text_tokens=40, max_mel_tokens=120, number_text_tokens=48,
                 number_mel_codes=98, start_mel_token=96, stop_mel_token=97, start_text_token=0, stop_text_token=1,
                 condition_num_latent=8, condition_type="conformer_perceiver",
                 condition_module=dict(output_size=32, linear_units=64, attention_heads=2, num_blocks=2,
                                       input_layer="conv2d2", perceiver_mult=2),
                 emo_condition_module=dict(output_size=32, linear_units=64, attention_heads=2, num_blocks=1,
                                           input_layer="conv2d2", perceiver_mult=1)),
    # IndexTTS-2 checkpoints/config.yaml (gpt section), for benchmarks at real size
    "real": dict(model_dim=1280, layers=24, heads=20, max_text_tokens=600, max_mel_tokens=1815,
                 number_text_tokens=12000, number_mel_codes=8194, start_mel_token=8192, stop_mel_token=8193,
                 start_text_token=0, stop_text_token=1, condition_num_latent=32, condition_type="conformer_perceiver",
                 condition_module=dict(output_size=512, linear_units=2048, attention_heads=8, num_blocks=6,
                                       input_layer="conv2d2", perceiver_mult=2),
                 emo_condition_module=dict(output_size=512, linear_units=1024, attention_heads=4, num_blocks=4,
                                           input_layer="conv2d2", perceiver_mult=2)),
}
PARITY_FRAMES, PARITY_TEXT_LEN, PARITY_STEPS = 41, 12, 60  # feature frames, text ids, max generated codes
FEATURE_DIM = 1024
# IndexTTS2.infer's defaults (do_sample, top_p 0.8, top_k 30, temperature 0.8, repetition_penalty 10)
PARITY_SAMPLING = SamplingConfig(temperature=0.8, top_k=30, top_p=0.8, repetition_penalty=10.0)


def gpt_tap_points(folder: Path) -> list[TapPoint]:
    """MLX tap -> `UnifiedVoice` module, in forward order (conditioning, emotion vector, GPT-2 prompt forward)."""
    from .load import read_config

    cfg = read_config(folder)
    pts = [TapPoint("conditioning_encoder.embed", "conditioning_encoder.embed")]
    pts += [TapPoint(f"conditioning_encoder.encoders.{i}", f"conditioning_encoder.encoders.{i}")
            for i in range(cfg.condition_module.num_blocks)]
    pts += [TapPoint(n, n) for n in ("conditioning_encoder", "perceiver_encoder", "emo_conditioning_encoder",
                                     "emo_perceiver_encoder", "emovec_layer", "emo_layer")]
    pts += [TapPoint(f"gpt.h.{i}", f"gpt.h.{i}") for i in range(cfg.layers)]
    return pts + [TapPoint("gpt.ln_f", "gpt.ln_f"), TapPoint("logits", "inference_model.lm_head")]


def tap_points(folder: Path) -> list[TapPoint]:
    """The GPT stage's taps, the teacher-forced latents of the greedy codes, then the s2mel stage's (if present)."""
    return gpt_tap_points(folder) + [TapPoint("gpt_latent", "gpt_latent")] + (
        s2mel_tap_points(folder) if has_s2mel(folder) else [])


def has_s2mel(folder: Path) -> bool:
    """Whether the folder holds the s2mel stage and the style encoder too (the fixture does; an upstream checkpoints
    folder once funasr/campplus's campplus_cn_common.bin is put beside s2mel.pth)."""
    from .config_file import read_yaml
    from .reference_s2mel import CAMPPLUS, CHECKPOINT

    cfg = read_yaml(folder)
    return ("s2mel" in cfg and (Path(folder) / cfg.get("s2mel_checkpoint", CHECKPOINT)).is_file()
            and (Path(folder) / CAMPPLUS).is_file())


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """A seeded `UnifiedVoice` in the upstream layout: config.yaml (`gpt:` + `gpt_checkpoint`) and gpt.pth, then
    the s2mel stage (`s2mel:` + s2mel.pth) and a BigVGAN (`vocoder:` + bigvgan/), see reference_s2mel."""
    import torch
    import yaml

    from ....fixtures import randomize_

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    gpt = SIZES[size]
    torch.manual_seed(0)
    model = _unified_voice(gpt)
    randomize_(model, seed=0, std=0.08, keep=tuple(n for n, _ in model.named_buffers()))  # sinusoid tables
    with torch.no_grad():  # upstream zeroes the speed embedding at init; seeded values show it reaches the prompt
        model.speed_emb.weight.normal_(0.0, 0.08, generator=torch.Generator().manual_seed(1))
    torch.save({"model": model.state_dict()}, folder / "gpt.pth")
    s2mel = build_s2mel_fixture(folder, size, gpt["model_dim"])
    semantic = build_semantic_fixture(folder)
    build_bpe(folder / BPE_FILE, gpt["number_text_tokens"])
    (folder / "config.yaml").write_text(yaml.safe_dump({"gpt": gpt, "gpt_checkpoint": "gpt.pth", **s2mel, **semantic,
                                                        "dataset": {"bpe_model": BPE_FILE}}, sort_keys=False))


BPE_FILE = "bpe.model"
# Upper-cased as `tokenize_by_CJK_char` leaves text, CJK spaced apart: every letter, a few hanzi, the punctuation.
BPE_CORPUS = ["THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG.", "HELLO, WORLD! HOW ARE YOU?",
              "SHE SAID 'YES' - AND LEFT…", "你 好 世 界", "中 文 你 好 , HELLO .",
              "PACK MY BOX WITH FIVE DOZEN LIQUOR JUGS!", "IT IS A VOICE, NOT AN ECHO."]


def build_bpe(path: Path, vocab_size: int) -> None:
    """A tiny sentencepiece BPE model like upstream's bpe.model (<s> 0, </s> 1, <unk> 2), trained deterministically
    (one thread, no sampling or shuffling: the same bytes every build)."""
    import io

    import sentencepiece as spm

    out = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(BPE_CORPUS * 20), model_writer=out, vocab_size=vocab_size,
                                   model_type="bpe", character_coverage=1.0, bos_id=0, eos_id=1, unk_id=2, pad_id=-1,
                                   num_threads=1, input_sentence_size=0, shuffle_input_sentence=False, minloglevel=2)
    Path(path).write_bytes(out.getvalue())


def build_semantic_fixture(folder: Path) -> dict:
    """The semantic front end (w2v-BERT + MaskGCT codec + stats, the 1024-wide fixture of reference_semantic) in the
    folder, as `speak` reads it; returns its config.yaml sections."""
    import yaml

    from .reference_semantic import build_fixture as build_semantic

    build_semantic(folder, "wide")
    return yaml.safe_load((folder / "config.yaml").read_text())


def _unified_voice(gpt: dict):
    from indextts.gpt.model_v2 import UnifiedVoice

    return UnifiedVoice(**gpt).eval()


def load_reference(folder: Path):
    """`UnifiedVoice` as IndexTTS2 loads it (`load_checkpoint`, then `post_init_gpt2_config(kv_cache=True)`), fp32."""
    import torch
    import yaml

    folder = Path(folder)
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    model = _unified_voice(cfg["gpt"])
    state = torch.load(folder / cfg.get("gpt_checkpoint", "gpt.pth"), map_location="cpu", weights_only=True)
    model.load_state_dict(state.get("model", state), strict=True)
    model.post_init_gpt2_config(use_deepspeed=False, kv_cache=True, half=False)
    return model.eval()


def parity_inputs(folder: Path) -> dict[str, np.ndarray]:
    """Seeded conditioning features (1, T, 1024) (w2v-BERT's place) and text ids (1, L) without start/stop."""
    from .load import read_config

    cfg = read_config(folder)
    rng = np.random.default_rng(0)
    features = rng.standard_normal((1, PARITY_FRAMES, FEATURE_DIM)).astype(np.float32)
    text = rng.integers(2, cfg.number_text_tokens, size=(1, PARITY_TEXT_LEN)).astype(np.int64)
    inputs = {"features": features, "text": text, "draws": SeededDraws(0).next(PARITY_STEPS)}
    return {**inputs, **(s2mel_inputs(folder) if has_s2mel(folder) else {})}


def reference_generate(model, features: np.ndarray, text: np.ndarray, max_steps: int,
                       config: SamplingConfig = GREEDY, draws=None):
    """Codes from upstream's modules: `inference_speech`'s prompt (speaker features doubling as the emotion
    reference, as upstream does without an emotion prompt) and `GPT2InferenceModel.forward` stepped with its KV
    cache. Each step runs transformers' processors in `generate`'s order over the ids `generate` sees (upstream's
    fake prompt ids, all 1, then start_mel and the codes), then argmax or `torch.multinomial` (`draws` twin).
    Returns (1, S) codes with the stop code if reached, and the raw per-step logits (1, S, V).

    The loop is written here because `inference_speech`'s `generate()` call fails under transformers 5.23 (the
    cached steps reach `GPT2InferenceModel.forward` without an attention mask)."""
    import contextlib

    import torch
    from transformers import (
        LogitsProcessorList,
        RepetitionPenaltyLogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    from ....parity.generation import torch_draws

    procs = LogitsProcessorList()
    if config.repetition_penalty != 1.0:
        procs.append(RepetitionPenaltyLogitsProcessor(config.repetition_penalty))
    if not config.greedy:
        if config.temperature != 1.0:
            procs.append(TemperatureLogitsWarper(config.temperature))
        if config.top_k > 0:
            procs.append(TopKLogitsWarper(config.top_k))
        if config.top_p < 1.0:
            procs.append(TopPLogitsWarper(config.top_p))
    param = next(model.parameters())  # the model's device and dtype (a benchmark runs it on the GPU)
    dev = param.device
    feats, ids = torch.from_numpy(features).to(dev, param.dtype), torch.from_numpy(text).to(dev)
    sampling = torch_draws(draws) if draws is not None else contextlib.nullcontext()
    with torch.no_grad(), sampling:
        chans = feats.transpose(1, 2)  # both encoders take (B, C, T) and transpose back
        lengths = torch.tensor([feats.shape[1]], device=dev)
        latent = model.get_conditioning(chans, lengths)  # (B, latents, D)
        emo = model.emo_layer(model.emovec_layer(model.get_emo_conditioning(chans, lengths)))
        zero, one = (model.speed_emb(torch.full((ids.shape[0],), i, dtype=torch.long, device=dev)) for i in (0, 1))
        conds = torch.cat([latent + emo[:, None], one[:, None], zero[:, None]], dim=1)
        seen, embeds, mask = model.prepare_gpt_inputs(conds, ids)
        im = model.inference_model
        im.store_mel_emb(embeds)
        out = im(input_ids=seen, attention_mask=mask, use_cache=True, return_dict=True)
        codes, logits = [], []
        for _ in range(max_steps):
            step = out.logits[:, -1].float()
            scores = procs(seen, step.clone())
            nxt = scores.argmax(-1) if config.greedy else torch.multinomial(scores.softmax(-1), 1)[:, 0]
            codes.append(nxt)
            logits.append(step)
            if bool((nxt == model.stop_mel_token).all()):
                break
            seen = torch.cat([seen, nxt[:, None]], dim=1)
            mask = torch.nn.functional.pad(mask, (0, 1), value=1)
            out = im(input_ids=nxt[:, None], attention_mask=mask, past_key_values=out.past_key_values,
                     use_cache=True, return_dict=True)
    return (torch.stack(codes, 1).cpu().numpy().astype(np.int64), torch.stack(logits, 1).cpu().numpy())


def without_stop(model_or_config, codes: np.ndarray) -> np.ndarray:
    """(1, S) generated codes -> (1, N): cut at the first stop code, as infer_v2 does before the latent pass."""
    from .synthesis import until_stop

    return until_stop(codes, model_or_config.stop_mel_token)


def reference_latents(model, features: np.ndarray, text: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """infer_v2's latent pass: `UnifiedVoice.forward` on the codes (no stop code), the speaker's perceiver latents
    and emotion vector (the speaker clip doubling as the emotion reference), speed 0 -> (1, N, D)."""
    import torch

    feats, ids = torch.from_numpy(features), torch.from_numpy(text)
    mel = torch.from_numpy(np.ascontiguousarray(codes)).long().clone()  # set_mel_padding writes in place
    with torch.no_grad():
        chans, lengths = feats.transpose(1, 2), torch.tensor([feats.shape[1]])
        cond = model.get_conditioning(chans, lengths)
        emo = model.emo_layer(model.emovec_layer(model.get_emo_conditioning(chans, lengths)))
        latent = model(cond, ids, torch.tensor([ids.shape[1]]), mel, torch.tensor([mel.shape[1]]), chans,
                       cond_mel_lengths=lengths, emo_cond_mel_lengths=lengths, emo_vec=emo,
                       use_speed=torch.zeros(1, dtype=torch.long))
    return latent.numpy()


def s2mel_tap_points(folder: Path) -> list[TapPoint]:
    """The s2mel stage's taps (`reference_s2mel.s2mel_taps`) as parity's TapPoints."""
    from .reference_s2mel import s2mel_taps

    return [TapPoint(name, ref, layout=layout) for name, ref, layout in s2mel_taps(folder)]


def s2mel_inputs(folder: Path) -> dict[str, np.ndarray]:
    """Seeded GPT latents (1, N, gpt_dim), semantic embeddings of the codes (1, N, 1024) and of the prompt
    (1, M, 1024), the prompt clip at 22.05 kHz and at 16 kHz (spoken, or seeded noise without espeak-ng; the style
    comes from the latter through CAMPPlus) and the ODE's initial noise (1, frames, 80), channels-last."""
    from ....parity.inputs import spoken_or_noise
    from .reference_s2mel import PARITY_CODES, PARITY_PROMPT_CODES, PARITY_PROMPT_SECONDS, SEMANTIC_DIM
    from .s2mel import read_s2mel_config, target_frames

    cfg = read_s2mel_config(folder)
    rng = np.random.default_rng(22)
    clip = spoken_or_noise("harbor", cfg.mel.sr)[: int(PARITY_PROMPT_SECONDS * cfg.mel.sr)]
    clip16 = spoken_or_noise("harbor", 16000)[: int(PARITY_PROMPT_SECONDS * 16000)]
    prompt_frames = len(clip) // cfg.mel.hop_length
    frames = prompt_frames + target_frames(PARITY_CODES)

    def normal(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    return {"s2mel_latent": normal(1, PARITY_CODES, cfg.gpt_dim), "s2mel_semantic": normal(1, PARITY_CODES,
                                                                                            SEMANTIC_DIM),
            "s2mel_prompt_semantic": normal(1, PARITY_PROMPT_CODES, SEMANTIC_DIM),
            "s2mel_prompt_audio": np.ascontiguousarray(clip, dtype=np.float32),
            "s2mel_prompt_audio_16k": np.ascontiguousarray(clip16, dtype=np.float32),
            "s2mel_noise": normal(1, frames, cfg.dit.in_channels)}


def chain_inputs(folder: Path, n_codes: int) -> dict[str, np.ndarray]:
    """`s2mel_inputs` for `n_codes` generated codes (the latents come from the GPT, not from the seed)."""
    from .reference_s2mel import SEMANTIC_DIM
    from .s2mel import read_s2mel_config, target_frames

    inputs = s2mel_inputs(folder)
    cfg = read_s2mel_config(folder)
    rng = np.random.default_rng(23)
    frames = len(inputs["s2mel_prompt_audio"]) // cfg.mel.hop_length + target_frames(n_codes)
    inputs.pop("s2mel_latent")
    inputs["s2mel_semantic"] = rng.standard_normal((1, n_codes, SEMANTIC_DIM)).astype(np.float32)
    inputs["s2mel_noise"] = rng.standard_normal((1, frames, cfg.dit.in_channels)).astype(np.float32)
    return inputs


def run_s2mel_reference(folder: Path, inputs: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """Taps (module hooks + the recorded steps) and the target mel (1, 80, frames)."""
    import yaml

    from ....parity.torch_hooks import capture_torch
    from .reference_s2mel import load_s2mel_reference, reference_s2mel, reference_style

    model = load_s2mel_reference(folder)
    cfg = yaml.safe_load((Path(folder) / "config.yaml").read_text())["s2mel"]
    modules = dict(model.named_modules())
    paths = [p.ref for p in s2mel_tap_points(folder) if p.ref in modules]
    with one_torch_thread():
        style = reference_style(folder, inputs["s2mel_prompt_audio_16k"])
        acts, rec = capture_torch(model, paths, lambda: reference_s2mel(model, cfg, {**inputs, "s2mel_style": style}))
    acts.update(rec)
    acts["s2mel/style"] = style
    return acts, {"s2mel_mel": rec["s2mel/mel"]}


def reference_chain(folder: Path, features: np.ndarray, text: np.ndarray, codes: np.ndarray,
                    inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """infer_v2 after generation: GPT latents of the codes, the prompt's style, s2mel, BigVGAN -> latent, style,
    mel (1, 80, F), audio (L,)."""
    import torch
    import yaml

    from .reference_s2mel import (
        load_s2mel_reference,
        load_vocoder_reference,
        reference_s2mel,
        reference_style,
    )

    cfg = yaml.safe_load((Path(folder) / "config.yaml").read_text())["s2mel"]
    with one_torch_thread(), torch.no_grad():  # small ops: torch's thread pool only spins on a loaded CPU
        latent = reference_latents(load_reference(folder), features, text, codes)
        style = reference_style(folder, inputs["s2mel_prompt_audio_16k"])
        rec = reference_s2mel(load_s2mel_reference(folder), cfg,
                              {**inputs, "s2mel_latent": latent, "s2mel_style": style})
        wav = load_vocoder_reference(folder)(torch.from_numpy(rec["s2mel/mel"]).float())
    return {"latent": latent, "style": style, "mel": rec["s2mel/mel"], "audio": wav.squeeze().numpy()}


def reference_clone(folder: Path, semantic_folder: Path, voice_16k: np.ndarray, voice_22k: np.ndarray,
                    text: np.ndarray, noise: np.ndarray, max_codes: int = PARITY_STEPS) -> dict[str, np.ndarray]:
    """`IndexTTS2.infer`'s steps on the upstream modules, greedy: w2v-BERT + stats (`get_emb`) of the 16 kHz clip,
    the codec's quantized embedding of it, the GPT's codes until the stop code, their latents and `vq2emb`, the
    clip's mel and style, s2mel from `noise` (cut to length), BigVGAN -> codes (1, N), mel (1, 80, F), audio (L,)."""
    import torch
    import yaml

    from .reference_s2mel import (
        load_s2mel_reference,
        load_vocoder_reference,
        reference_s2mel,
        reference_style,
    )
    from .reference_semantic import load_reference as load_semantic_reference
    from .reference_semantic import run_reference as run_semantic_reference
    from .synthesis import until_stop

    semantic_ref = load_semantic_reference(semantic_folder)
    sem = run_semantic_reference(semantic_folder, voice_16k, semantic_ref)[1]
    gpt = load_reference(folder)
    codes = until_stop(reference_generate(gpt, sem["emb"], text, max_codes)[0], gpt.stop_mel_token)
    codec = semantic_ref["semantic_codec"]
    cfg = yaml.safe_load((Path(folder) / "config.yaml").read_text())["s2mel"]
    with one_torch_thread(), torch.no_grad():
        semantic = codec.quantizer.vq2emb(torch.from_numpy(codes).unsqueeze(1)).transpose(1, 2).numpy()
        latent = reference_latents(gpt, sem["emb"], text, codes)
        style = reference_style(folder, voice_16k)
        hop = cfg["preprocess_params"]["spect_params"]["hop_length"]
        frames = len(voice_22k) // hop + int((torch.LongTensor([codes.shape[1]]) * 1.72).long()[0])
        rec = reference_s2mel(load_s2mel_reference(folder), cfg, {
            "s2mel_latent": latent, "s2mel_semantic": semantic, "s2mel_prompt_semantic": sem["quantized"],
            "s2mel_prompt_audio": voice_22k, "s2mel_style": style, "s2mel_noise": noise[:, :frames]})
        wav = load_vocoder_reference(folder)(torch.from_numpy(rec["s2mel/mel"]).float())
    return {"codes": codes, "mel": rec["s2mel/mel"], "audio": wav.squeeze().numpy()}


def run_reference(folder: Path, inputs: dict[str, np.ndarray]):
    """Taps (first call of each module: conditioning and GPT-2's prompt forward), greedy codes and their logits."""
    from ....parity.torch_hooks import capture_torch

    model = load_reference(folder)
    acts, (codes, logits) = capture_torch(model, [p.ref for p in gpt_tap_points(folder)],
                                          lambda: reference_generate(model, inputs["features"], inputs["text"],
                                                                     PARITY_STEPS))
    sampled, _ = reference_generate(model, inputs["features"], inputs["text"], PARITY_STEPS, PARITY_SAMPLING,
                                    RecordedDraws(inputs["draws"][:, None]))
    out = {"greedy": codes, "step_logits": logits, "sampled": sampled}
    acts["gpt_latent"] = reference_latents(model, inputs["features"], inputs["text"], without_stop(model, codes))
    if has_s2mel(folder):
        s2mel_acts, s2mel_out = run_s2mel_reference(folder, inputs)
        acts, out = {**acts, **s2mel_acts}, {**out, **s2mel_out}
    return acts, out


def run_mlx(folder: Path, inputs: dict[str, np.ndarray], **load_kw):
    """The port on the same inputs: taps of the prompt forward, greedy codes and the logits of each step."""
    import mlx.core as mx

    from ....taps import capture
    from .generate import generate_codes
    from .latent import code_latents
    from .load import load_model

    model = load_model(folder, **load_kw)
    with capture() as acts:
        steps = list(generate_codes(model, inputs["features"], inputs["text"], max_steps=PARITY_STEPS, trace=True))
    taps = {k: np.array(v.astype(mx.float32)) for k, v in acts.items()}
    codes = np.array([[s.token for s in steps]], dtype=np.int64)
    logits = np.stack([s.stages[0][1] for s in steps], axis=1)
    sampled = np.array([[s.token for s in generate_codes(model, inputs["features"], inputs["text"], PARITY_SAMPLING,
                                                         RecordedDraws(inputs["draws"][:, None]),
                                                         max_steps=PARITY_STEPS)]], dtype=np.int64)
    out = {"greedy": codes, "step_logits": logits, "sampled": sampled}
    taps["gpt_latent"] = np.array(code_latents(model, inputs["features"], inputs["text"],
                                               without_stop(model.config, codes)))
    if has_s2mel(folder):
        s2mel_acts, s2mel_out = run_s2mel_mlx(folder, inputs)
        taps, out = {**taps, **s2mel_acts}, {**out, **s2mel_out}
    return taps, out


def extra_rows(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> list:
    """Per-step logits of the greedy run (through the KV cache) and the greedy codes."""
    from ....parity.generation import logits_row, token_row

    return [logits_row("generation.step_logits", mlx_out["step_logits"], ref_out["step_logits"], 1e-4),
            token_row("generation.greedy_codes", mlx_out["greedy"], ref_out["greedy"]),
            token_row("generation.sampled_codes", mlx_out["sampled"], ref_out["sampled"])]


def outputs_match(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Greedy and sampled codes identical, greedy codes varied (more than a third distinct)."""
    rows = extra_rows(mlx_out, ref_out)
    codes = np.asarray(ref_out["greedy"])[0]
    distinct = len(set(codes.tolist()))
    ok = all(r.ok for r in rows) and distinct > len(codes) // 3
    note = f"greedy {len(codes)} codes ({distinct} distinct); " + "; ".join(f"{r.name} {r.note or 'ok'}" for r in rows)
    if "s2mel_mel" in ref_out:
        got, want = np.swapaxes(mlx_out["s2mel_mel"], 1, 2), ref_out["s2mel_mel"]
        err = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
        ok = ok and err <= 1e-4 and float(want.std()) > 0.1
        note += f"; s2mel mel {want.shape[-1]} frames max err {err:.1e} (std {float(want.std()):.2f})"
    return ok, note
