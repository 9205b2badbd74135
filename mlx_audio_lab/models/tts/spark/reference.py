"""The PyTorch reference of Spark-TTS: `spark_tts_lib` (BiCodec, BiCodecTokenizer, SparkTTS's prompt builders)
with transformers' `Qwen2ForCausalLM` and `Wav2Vec2Model`; parity, stage by stage.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ....generation import RecordedDraws, SamplingConfig, SeededDraws
from ....parity import TapPoint
from .config import BICODEC_FOLDER, ENGINE_SAMPLING, LLM_FOLDER
from .fixture import build_fixture  # noqa: F401  (fixtures.build looks for it here)

PARITY_TEXT = "The harbor lights flickered."
PARITY_CLIP = "harbor"  # espeak-ng clip (fixtures.speech): the voice to clone
PARITY_STYLE = ("female", "high", "moderate")  # gender, pitch, speed of the voice-creation run
PARITY_TOKENS = 64  # greedy / sampled runs: 32 global + 32 semantic tokens (the fixture alternates them)
PARITY_SAMPLING = SamplingConfig(**ENGINE_SAMPLING)
CODEC_POINTS = [  # (MLX tap, reference value, tolerance): BiCodec's stages in data order
    ("mel", "mel", 1e-4), ("wav2vec2.features", "wav2vec2.features", 1e-4), ("encoder", "encoder", 1e-4),
    ("speaker_encoder.ecapa", "speaker_encoder.ecapa", 1e-4),
    ("speaker_encoder.perceiver", "speaker_encoder.perceiver", 1e-4),
    ("speaker_encoder.d_vector", "speaker_encoder.d_vector", 1e-4), ("quantizer.decoded", "quantizer.decoded", 1e-4),
    ("prenet", "prenet", 1e-4)]


def clip_path() -> Path:
    from ....fixtures.speech import speech_clip

    return speech_clip(PARITY_CLIP)


def _rates(folder: Path) -> int:
    import yaml

    return len(yaml.safe_load((Path(folder) / BICODEC_FOLDER / "config.yaml").read_text())["audio_tokenizer"]
               ["decoder"]["rates"])


def wave_points(folder: Path) -> list[tuple[str, str]]:
    """Wave generator stages: MLX (DAC decoder names) -> reference `decoder.model.N`."""
    n = _rates(folder)
    pairs = [("decoder.conv1", "decoder.model.0")]
    pairs += [(f"decoder.block.{i}", f"decoder.model.{i + 1}") for i in range(n)]
    return pairs + [("decoder.conv2", f"decoder.model.{n + 2}"), ("decoder.output", f"decoder.model.{n + 3}")]


def tap_points(folder: Path) -> list[TapPoint]:
    """BiCodec's stages (encode a clip, decode its tokens), then the Qwen2 layers on the teacher sequence."""
    n = json.loads((Path(folder) / LLM_FOLDER / "config.json").read_text())["num_hidden_layers"]
    points = [TapPoint(m, r, tol) for m, r, tol in CODEC_POINTS]
    points += [TapPoint(m, r, 1e-5, layout="channels_first") for m, r in wave_points(folder)]
    points += [TapPoint("embed_tokens", "model.embed_tokens")]
    points += [TapPoint(f"layers.{i}", f"model.layers.{i}") for i in range(n)]
    return points + [TapPoint("norm", "model.norm"), TapPoint("logits", "lm_head", tol=1e-4)]


def load_reference(folder: Path):
    """spark_tts_lib's SparkTTS (prompts, BiCodecTokenizer) and transformers' Qwen2ForCausalLM (fp32, eager)."""
    import torch
    from spark_tts_lib.SparkTTS import SparkTTS
    from transformers import Qwen2ForCausalLM

    spark = SparkTTS(Path(folder), device=torch.device("cpu"))
    spark.model = Qwen2ForCausalLM.from_pretrained(Path(folder) / LLM_FOLDER, dtype="float32",
                                                   attn_implementation="eager").eval()
    return spark


def _ids(spark, prompt: str) -> np.ndarray:
    return spark.tokenizer([prompt], return_tensors="np").input_ids.astype(np.int64)


def _stops(spark) -> tuple[int, ...]:
    eos = spark.model.generation_config.eos_token_id
    return tuple(eos if isinstance(eos, list) else [eos])


def reference_prompts(spark, text: str = PARITY_TEXT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cloning prompt ids, the clip's global tokens, voice-creation prompt ids), built by SparkTTS itself."""
    prompt, global_ids = spark.process_prompt(text, clip_path())
    return _ids(spark, prompt), global_ids.numpy(), _ids(spark, spark.process_prompt_control(*PARITY_STYLE, text))


def reference_audio(spark, generated: np.ndarray, global_ids=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SparkTTS.inference's tail: decode (skip special tokens), regex the BiCodec ids, detokenize."""
    import torch

    text = spark.tokenizer.batch_decode(torch.from_numpy(generated), skip_special_tokens=True)[0]
    semantic = torch.tensor([int(t) for t in re.findall(r"bicodec_semantic_(\d+)", text)]).long()[None]
    if global_ids is None:
        global_ids = torch.tensor([int(t) for t in re.findall(r"bicodec_global_(\d+)", text)]).long()[None, None]
    else:
        global_ids = torch.from_numpy(np.asarray(global_ids))
    wav = spark.audio_tokenizer.detokenize(global_ids.squeeze(0), semantic)
    return np.asarray(wav, np.float32)[None], global_ids.numpy().reshape(1, -1), semantic.numpy()


def _generate(spark, prompt: np.ndarray, config: SamplingConfig, draws) -> np.ndarray:
    from ....parity.generation import reference_generate

    return reference_generate(spark.model, prompt, config, draws, PARITY_TOKENS, _stops(spark))


def parity_inputs(folder: Path) -> dict[str, np.ndarray]:
    """Prompts (built by SparkTTS from the espeak clip), the draws, and the teacher: the reference's sampled run."""
    spark = load_reference(folder)
    prompt, _, control = reference_prompts(spark)
    draws = SeededDraws(0).next(PARITY_TOKENS)
    sampled = _generate(spark, prompt, PARITY_SAMPLING, RecordedDraws(draws))
    return {"prompt": prompt, "control_prompt": control, "draws": draws,
            "teacher": np.concatenate([prompt, sampled], axis=1)}


def _codec_reference(spark, folder: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Each BiCodec stage on the clip (BiCodecTokenizer's own reading of it), then its tokens decoded."""
    import torch

    from ....parity.torch_hooks import capture_torch

    tok = spark.audio_tokenizer
    model = tok.model
    wav, ref_wav = tok.process_audio(clip_path())
    with torch.no_grad():
        mel = model.mel_transformer(ref_wav)  # (1, n_mels, frames)
        feats = tok.extract_wav2vec2_features(wav)
        z = model.encoder(feats.transpose(1, 2))
        semantic = model.quantizer.tokenize(z)
        _, ecapa = model.speaker_encoder.speaker_encoder(mel.transpose(1, 2), True)
        latents = model.speaker_encoder.perceiver_sampler(ecapa.transpose(1, 2))
        global_ids = model.speaker_encoder.tokenize(mel.transpose(1, 2))
        d_vector = model.speaker_encoder.detokenize(global_ids)
        z_q = model.quantizer.detokenize(semantic)
        prenet = model.prenet(z_q, d_vector)
    acts, audio = capture_torch(model, [r for _, r in wave_points(folder)],
                                lambda: model.detokenize(semantic, global_ids))
    acts.update({"mel": mel.numpy().transpose(0, 2, 1), "wav2vec2.features": feats.numpy(),
                 "encoder": z.numpy().transpose(0, 2, 1), "speaker_encoder.ecapa": ecapa.numpy().transpose(0, 2, 1),
                 "speaker_encoder.perceiver": latents.numpy(), "speaker_encoder.d_vector": d_vector.numpy(),
                 "quantizer.decoded": z_q.numpy().transpose(0, 2, 1), "prenet": prenet.numpy().transpose(0, 2, 1)})
    return acts, {"semantic_tokens": semantic.numpy(), "global_tokens": global_ids.numpy(),
                  "codec_audio": audio.numpy()[:, 0]}


def run_reference(folder: Path, inputs: dict[str, np.ndarray]):
    """BiCodec stages; Qwen2 taps + teacher-forced logits; greedy / sampled runs; cloning and creation audio."""
    from ....parity.generation import reference_logits
    from ....parity.torch_hooks import capture_torch

    spark = load_reference(folder)
    acts, out = _codec_reference(spark, folder)
    lm_paths = [p.ref for p in tap_points(folder)[len(CODEC_POINTS) + len(wave_points(folder)):]]
    n_prompt = inputs["prompt"].shape[1]
    lm_acts, logits = capture_torch(spark.model, lm_paths,
                                    lambda: reference_logits(spark.model, inputs["teacher"], n_prompt))
    acts.update(lm_acts)
    prompt, global_ids, control = reference_prompts(spark)
    greedy = _generate(spark, prompt, SamplingConfig(0.0), None)
    sampled = _generate(spark, prompt, PARITY_SAMPLING, RecordedDraws(inputs["draws"]))
    audio, _, greedy_semantic = reference_audio(spark, greedy, global_ids)
    control_greedy = _generate(spark, control, SamplingConfig(0.0), None)
    control_audio, control_globals, _ = reference_audio(spark, control_greedy)
    out.update({"prompt": prompt, "control_prompt": control, "teacher_logits": logits, "greedy": greedy,
                "sampled": sampled, "greedy_semantic": greedy_semantic, "audio": audio,
                "control_greedy": control_greedy, "control_globals": control_globals, "control_audio": control_audio})
    return acts, out


def run_mlx(folder: Path, inputs: dict[str, np.ndarray], **load_kw):
    """The port: BiCodec on the clip (taps), the LM on the teacher (taps, cached logits), its own prompts and
    runs, and `generate` end to end (clip -> tokens -> prompt -> Qwen2 -> BiCodec -> audio)."""
    import mlx.core as mx

    from ....parity.generation import teacher_forced_run
    from ....taps import capture
    from .audio import load_reference as read_clip
    from .generate import generate_tokens
    from .load import load_model

    model = load_model(folder, **load_kw)
    with capture() as codec_acts:
        g, s = model.codec.tokenize(read_clip(clip_path(), model.codec.config))
        codec_audio = model.codec.detokenize(g, s)
    acts = {k: np.array(v.astype(mx.float32)) for k, v in codec_acts.items()}
    lm_acts, logits = teacher_forced_run(model, inputs)
    acts.update(lm_acts)
    voice = (np.array(g), np.array(s))
    prompt = model.prompt_ids(PARITY_TEXT, voice)
    control = model.prompt_ids(PARITY_TEXT, gender=PARITY_STYLE[0], pitch=PARITY_STYLE[1], speed=PARITY_STYLE[2])

    def run(ids, config, draws=None):
        return np.array([[st.token for st in generate_tokens(model, ids, config, draws, PARITY_TOKENS)]])

    greedy, control_greedy = run(prompt, SamplingConfig(0.0)), run(control, SamplingConfig(0.0))
    sampled = run(prompt, PARITY_SAMPLING, RecordedDraws(inputs["draws"]))
    clone = next(model.generate(PARITY_TEXT, voice=clip_path(), temperature=0, max_frames=PARITY_TOKENS))
    created = next(model.generate(PARITY_TEXT, gender=PARITY_STYLE[0], pitch=PARITY_STYLE[1], speed=PARITY_STYLE[2],
                                  temperature=0, max_frames=PARITY_TOKENS))
    return acts, {"semantic_tokens": np.array(s), "global_tokens": np.array(g), "codec_audio": np.array(codec_audio),
                  "prompt": np.array([prompt]), "control_prompt": np.array([control]), "teacher_logits": logits,
                  "greedy": greedy, "sampled": sampled, "greedy_semantic": clone.extras["codes"],
                  "audio": clone.audio[None], "control_greedy": control_greedy,
                  "control_globals": created.extras["global_tokens"], "control_audio": created.audio[None]}


def extra_rows(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> list:
    """Token rows (prompts, BiCodec tokens, greedy / sampled runs) and audio rows (codec, cloning, creation)."""
    from ....parity.generation import logits_row, token_row
    from ....parity.report import compare_arrays

    tokens = ["prompt", "control_prompt", "semantic_tokens", "global_tokens", "greedy", "sampled",
              "greedy_semantic", "control_greedy", "control_globals"]
    names = {"semantic_tokens": "bicodec.semantic_tokens", "global_tokens": "bicodec.global_tokens",
             "prompt": "prompt.tokens", "control_prompt": "prompt.control_tokens", "greedy": "generation.greedy_tokens",
             "sampled": "generation.sampled_tokens", "greedy_semantic": "generation.greedy_semantic",
             "control_greedy": "generation.control_greedy_tokens", "control_globals": "generation.control_globals"}
    rows = [token_row(names[k], mlx_out[k], ref_out[k]) for k in tokens if k in mlx_out and k in ref_out]
    rows.insert(4, logits_row("generation.teacher_forced_logits", mlx_out["teacher_logits"],
                              ref_out["teacher_logits"], 1e-4))
    return rows + [compare_arrays(f"bicodec.{k}", mlx_out[k], ref_out[k], 1e-4)
                   for k in ("codec_audio", "audio", "control_audio")]


def outputs_match(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Every row within tolerance / identical, and the tokens varied (no constant codes)."""
    rows = extra_rows(mlx_out, ref_out)
    sem, glob = np.asarray(ref_out["semantic_tokens"]), np.asarray(ref_out["global_tokens"])
    gen = np.asarray(ref_out["greedy_semantic"])
    varied = len(np.unique(sem)) > 10 and len(np.unique(glob)) > 8 and len(np.unique(gen)) > gen.size // 2
    ok = all(r.ok for r in rows) and varied
    return ok, (f"clip: {sem.shape[1]} semantic ({len(np.unique(sem))} distinct), {glob.size} global "
                f"({len(np.unique(glob))} distinct); greedy {gen.shape[1]} semantic ({len(np.unique(gen))} distinct)"
                "; " + "; ".join(f"{r.name} {r.note or 'ok'}" for r in rows if r.note or not r.ok))
