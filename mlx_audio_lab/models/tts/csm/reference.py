"""The PyTorch side of CSM: transformers' CsmForConditionalGeneration + CsmProcessor, its fixture and tap map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ....parity import TapPoint

# Fixture sizes: widths of 64 (so 4/8-bit quantization applies), 8 codebooks, the codec's codebook as large
# as CSM's audio vocabulary (the real 2051 = 2048 codes + 3 unused ids; here every id decodes).
SIZES = {
    "tiny": dict(
        backbone=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, head_dim=16),
        depth=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2, head_dim=16),
        num_codebooks=8, vocab_size=64,
        codec=dict(hidden_size=32, num_filters=4, codebook_dim=16, vector_quantization_hidden_dimension=16,
                   num_semantic_quantizers=1, upsample_groups=32, num_hidden_layers=2, intermediate_size=64,
                   num_attention_heads=4, num_key_value_heads=4, sliding_window=8, max_position_embeddings=512),
    ),
}
TEXT_VOCAB = 260  # 256 byte symbols + <|begin_of_text|> <|end_of_text|> <|AUDIO|> <|audio_eos|>

# sesame/csm-1b's RoPE (llama3 scaling, rewritten by transformers' converter for the shorter contexts).
BACKBONE_ROPE = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0, "high_freq_factor": 0.5,
                 "low_freq_factor": 0.125, "original_max_position_embeddings": 1024}
DEPTH_ROPE = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0, "high_freq_factor": 0.0078125,
              "low_freq_factor": 0.001953125, "original_max_position_embeddings": 16}

# One turn per message: BOS [speaker]text EOS, then the audio placeholder pair when the turn carries audio.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if not (message['role'] is string and message['role'].isdigit()) -%}"
    "{{- raise_exception('each role must be a speaker id such as \"0\"') -}}{%- endif -%}"
    "{{- bos_token + '[' + message['role'] + ']' + message['content'][0]['text'] + eos_token -}}"
    "{%- if message['content'] | length > 1 -%}{{- '<|AUDIO|><|audio_eos|>' -}}{%- endif -%}"
    "{%- endfor -%}"
)


def _config(folder: Path) -> dict:
    return json.loads((Path(folder) / "config.json").read_text())


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """Save a seeded random CsmForConditionalGeneration (sesame/csm-1b's transformers layout) with a tiny
    Llama-3-like tokenizer, the processor (Mimi's feature extractor, chat template) and a generation config."""
    import torch
    from transformers import (
        CsmConfig,
        CsmForConditionalGeneration,
        CsmProcessor,
        EncodecFeatureExtractor,
        PreTrainedTokenizerFast,
    )

    from ....fixtures import randomize_
    from ...codecs.mimi.reference import seeded_model
    from .tokenizer import AUDIO, AUDIO_EOS, BOS, EOS, tiny_tokenizer_json

    s = SIZES[size]
    n_q, vocab = s["num_codebooks"], s["vocab_size"]
    codec = seeded_model(codebook_size=vocab, num_quantizers=n_q, **s["codec"])
    torch.manual_seed(0)
    depth = dict(model_type="csm_depth_decoder_model", num_codebooks=n_q, vocab_size=vocab,
                 backbone_hidden_size=s["backbone"]["hidden_size"], max_position_embeddings=33,
                 rms_norm_eps=1e-5, rope_parameters=DEPTH_ROPE, **s["depth"])
    config = CsmConfig(num_codebooks=n_q, vocab_size=vocab, text_vocab_size=TEXT_VOCAB,
                       max_position_embeddings=2048, rms_norm_eps=1e-5, rope_parameters=BACKBONE_ROPE,
                       bos_token_id=256, pad_token_id=258, audio_token_id=258, audio_eos_token_id=259,
                       codebook_pad_token_id=vocab - 1, codebook_eos_token_id=0, tie_codebooks_embeddings=True,
                       depth_decoder_config=depth, codec_config=codec.config.to_dict(), **s["backbone"])
    model = CsmForConditionalGeneration(config).eval()
    # Wide spreads keep the greedy codes varied across frames and codebooks (narrow ones repeat one code).
    parts = [(model.backbone_model, 0.2), (model.depth_decoder.model.layers, 0.2),
             (model.depth_decoder.model.norm, 0.2), (model.depth_decoder.model.inputs_embeds_projector, 0.2),
             (model.embed_text_tokens, 0.5), (model.lm_head, 0.5), (model.depth_decoder.codebooks_head, 0.5)]
    for seed, (part, std) in enumerate(parts):
        randomize_(part, seed=seed + 10, std=std, keep=tuple(n for n, _ in part.named_buffers()))
    model.codec_model.load_state_dict(codec.state_dict())
    g = model.generation_config  # sesame/csm-1b's defaults (transformers' converter)
    g._from_model_config = False
    g.max_new_tokens, g.do_sample, g.top_k, g.temperature = 125, True, 50, 0.9
    g.depth_decoder_do_sample, g.depth_decoder_top_k, g.depth_decoder_temperature = True, 50, 0.9
    model.save_pretrained(folder, safe_serialization=True)

    tiny_tokenizer_json(Path(folder) / "tokenizer.json")
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(Path(folder) / "tokenizer.json"), bos_token=BOS,
                                        eos_token=EOS, pad_token=EOS, extra_special_tokens={
                                            "audio_token": AUDIO, "audio_eos_token": AUDIO_EOS})
    extractor = EncodecFeatureExtractor(feature_size=1, sampling_rate=24000, padding_value=0.0)
    CsmProcessor(extractor, tokenizer, chat_template=CHAT_TEMPLATE).save_pretrained(folder)


def tap_points(folder: Path) -> list[TapPoint]:
    """MLX tap name -> module of transformers' model, in forward order (data, not code).

    Backbone and depth decoder on the teacher-forced pass over the greedy frames; the codec's decoder side
    (Mimi's own map, under `codec.` / `codec_model.`) on decoding those frames.
    """
    from ...codecs.mimi.config import MimiConfig
    from ...codecs.mimi.reference import tap_points_for

    cfg = _config(folder)
    n_b, n_d = cfg["num_hidden_layers"], cfg["depth_decoder_config"]["num_hidden_layers"]
    mimi = tap_points_for(MimiConfig.from_dict(cfg["codec_config"]))
    decode = [p for p in mimi[[p.name for p in mimi].index("quantizer"):]]
    return [
        *[TapPoint(f"backbone.layers.{i}", f"backbone_model.layers.{i}") for i in range(n_b)],
        TapPoint("backbone.norm", "backbone_model.norm"),
        TapPoint("backbone.logits", "lm_head"),
        *[TapPoint(f"depth.layers.{i}", f"depth_decoder.model.layers.{i}") for i in range(n_d)],
        TapPoint("depth.norm", "depth_decoder.model.norm"),
        TapPoint("depth.logits", "depth_decoder.codebooks_head"),
        *[TapPoint(f"codec.{p.name}", f"codec_model.{p.ref}", p.tol, p.layout, p.rtol) for p in decode],
    ]


CONTEXT = [(1, "The quick brown fox.", "fox")]  # context turns: (speaker, text, spoken clip of fixtures.speech)
TEXT = "Hello from Sesame."
# The sampled check: every processor on, other settings for the depth decoder; (temperature, top_k, top_p) x 2, seed.
SAMPLED = (0.9, 20, 0.9, 0.8, 16, 0.95, 0)


def sampled_settings(inputs: dict[str, np.ndarray]):
    """(backbone SamplingConfig, depth decoder SamplingConfig, seed) of `parity_inputs`' "sampling" row."""
    from ....generation import SamplingConfig

    t, k, p, dt, dk, dp, seed = np.asarray(inputs["sampling"]).tolist()
    return (SamplingConfig(temperature=t, top_k=int(k), top_p=p),
            SamplingConfig(temperature=dt, top_k=int(dk), top_p=dp), int(seed))


def parity_inputs(folder: Path, context: list | None = None, text: str = TEXT, speaker: int = 0,
                  seconds: float = 1.0) -> dict[str, np.ndarray]:
    """A conversation as arrays: the context turns' speakers, texts (UTF-8 bytes) and 24 kHz audio (espeak-ng
    clips cut to `seconds`, seeded noise without espeak-ng), then the turn to speak."""
    from ....parity.inputs import spoken_or_noise

    turns = CONTEXT if context is None else context
    out: dict[str, np.ndarray] = {"speaker": np.array(speaker), "text": np.frombuffer(text.encode(), np.uint8),
                                  "sampling": np.array(SAMPLED, np.float64)}
    for i, (spk, said, clip) in enumerate(turns):
        audio = spoken_or_noise(clip, 24000)[: int(24000 * seconds)]
        out.update({f"context{i}.speaker": np.array(spk), f"context{i}.audio": audio.astype(np.float32),
                    f"context{i}.text": np.frombuffer(said.encode(), np.uint8)})
    return out


def conversation(inputs: dict[str, np.ndarray]) -> tuple[list[tuple[int, str, np.ndarray]], int, str]:
    """(context turns (speaker, text, audio), speaker, text) back from `parity_inputs`' arrays."""
    n = len([k for k in inputs if k.endswith(".audio")])
    turns = [(int(inputs[f"context{i}.speaker"]), bytes(inputs[f"context{i}.text"]).decode(),
              inputs[f"context{i}.audio"]) for i in range(n)]
    return turns, int(inputs["speaker"]), bytes(inputs["text"]).decode()


def processor_inputs(folder: Path, inputs: dict[str, np.ndarray]):
    """The reference processor's chat template on the conversation: input_ids, input_values, cutoffs."""
    from transformers import CsmProcessor

    turns, speaker, text = conversation(inputs)
    messages = [{"role": str(s), "content": [{"type": "text", "text": t}, {"type": "audio", "path": a}]}
                for s, t, a in turns]
    messages.append({"role": str(speaker), "content": [{"type": "text", "text": text}]})
    processor = CsmProcessor.from_pretrained(folder)
    return processor.apply_chat_template(messages, tokenize=True, return_dict=True)


def load_reference(folder: Path):
    """transformers' model with the folder's weights, fp32, eval mode, eager attention."""
    from transformers import CsmForConditionalGeneration

    from ...codecs.reference import from_pretrained_quietly

    return from_pretrained_quietly(CsmForConditionalGeneration, folder, attn_implementation="eager")


def reference_generate(model, batch, max_frames: int = 32, **sampling):
    """transformers' `generate` -> codes (frames, codebooks); greedy in both transformers unless `sampling`
    (e.g. do_sample=True, top_k=..., depth_decoder_do_sample=True, ...) says otherwise."""
    import torch

    opts = {"do_sample": False, "depth_decoder_do_sample": False, **sampling}
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=max_frames, **opts)
    return out[0]


def reference_sampled(model, batch, inputs: dict[str, np.ndarray], max_frames: int = 32):
    """transformers' `generate` sampling both transformers with `parity_inputs`' settings, `torch.multinomial` fed
    the seeded draws (backbone, then the depth decoder's steps, frame after frame) -> codes (frames, codebooks)."""
    from ....generation import SeededDraws
    from ....parity.generation import hf_generate_kwargs, torch_draws

    backbone, depth, seed = sampled_settings(inputs)
    kw = {**hf_generate_kwargs(backbone), **{f"depth_decoder_{k}": v for k, v in hf_generate_kwargs(depth).items()}}
    with torch_draws(SeededDraws(seed)):
        return reference_generate(model, batch, max_frames, **kw)


def teacher_forced(model, batch, codes):
    """Backbone over prompt + frames[:-1], then the depth decoder on each frame: (codebook-0 logits (F, V),
    depth logits (F, N-1, V), the audio decoded from the frames)."""
    import torch

    merged = model._merge_input_ids_with_input_values(batch["input_ids"], batch.get("input_values"),
                                                      batch.get("input_values_cutoffs"))
    frames = model.backbone_model.embed_tokens(codes[None, :-1])
    x = torch.cat([merged["inputs_embeds"], frames], dim=1)
    h = model.backbone_model(inputs_embeds=x).last_hidden_state
    T = batch["input_ids"].shape[1]
    logits = model.lm_head(h)[0, T - 1:]
    ids = torch.nn.functional.pad(codes[:, :-1], (1, 0))
    depth = model.depth_decoder(input_ids=ids, backbone_last_hidden_state=h[0, T - 1:]).logits
    return logits, depth


def run_reference(folder: Path, inputs: dict[str, np.ndarray], max_frames: int = 32):
    """Greedy `generate` with transformers, then teacher forcing and decoding with hooks at the taps."""
    from ...codecs.reference import capture_reference

    model = load_reference(folder)
    batch = processor_inputs(folder, inputs)
    codes = reference_generate(model, batch, max_frames)  # (F, N)
    points = tap_points(folder)

    def run():
        logits, depth = teacher_forced(model, batch, codes)
        quantized = model.codec_model.quantizer.decode(codes.T[None])
        audio = model.codec_model.decode(codes.T[None]).audio_values
        return logits, depth, quantized, audio

    acts, (logits, depth, quantized, audio) = capture_reference(model, points, run)
    acts["codec_model.quantizer"], acts["codec_model.decoder.output"] = quantized.numpy(), audio.numpy()
    sampled = reference_sampled(model, batch, inputs, max_frames)
    return acts, {"codes": codes.numpy().T, "prompt": batch["input_ids"][0].numpy(), "logits": logits.numpy(),
                  "depth_logits": depth.numpy(), "sampled_codes": sampled.numpy().T}


def run_mlx(folder: Path, inputs: dict[str, np.ndarray], max_frames: int = 32, **load_kw):
    """The port on the same conversation: greedy frames, then the same teacher-forced pass and decoding, taps on."""
    import mlx.core as mx

    from ....generation import SeededDraws
    from ....taps import capture
    from .generate import Segment, generate_codes, prompt_for, sampler
    from .load import load_model

    model = load_model(folder, **load_kw)
    turns, speaker, text = conversation(inputs)
    prompt, ctx = prompt_for(model, text, speaker, [Segment(*t) for t in turns])
    codes = generate_codes(model, prompt, ctx, max_frames)  # (N, F)
    with capture() as acts:
        logits, depth = model(mx.array([prompt]), mx.array(codes.T.astype(np.int32)),
                              None if ctx is None else mx.array(ctx.astype(np.int32)))
    with capture() as codec_acts:
        model.codec_model.decode(codes)
    acts.update({f"codec.{k}": v for k, v in codec_acts.items()})
    backbone, depth_cfg, seed = sampled_settings(inputs)
    sampled = generate_codes(model, prompt, ctx, max_frames, sampler(backbone, depth_cfg, SeededDraws(seed)))
    return {k: np.array(v) for k, v in acts.items()}, {
        "codes": codes, "prompt": np.array(prompt), "logits": np.array(logits), "depth_logits": np.array(depth),
        "sampled_codes": sampled}


def extra_rows(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> list:
    """The generation rows of the report: teacher-forced logits (backbone per frame, depth decoder per frame and
    codebook), greedy codes and sampled codes (codebooks x frames; a row names the first diverging frame)."""
    from ....parity.generation import logits_row, token_row

    name = "generation.teacher_forced_logits"
    return [logits_row(f"{name}.backbone", mlx_out["logits"][None], ref_out["logits"][None], 1e-4),
            logits_row(f"{name}.depth", mlx_out["depth_logits"], ref_out["depth_logits"], 1e-4),
            token_row("generation.greedy_codes", mlx_out["codes"], ref_out["codes"]),
            token_row("generation.sampled_codes", mlx_out["sampled_codes"], ref_out["sampled_codes"])]


def report_extras(folder: Path, inputs: dict[str, np.ndarray], mlx_out: dict[str, np.ndarray]) -> dict:
    """Agreement of bf16, 8-bit and 4-bit runs with fp32 on the parity conversation (`analysis.variant_agreement`)."""
    from .analysis import variant_agreement
    from .generate import Segment

    turns, speaker, text = conversation(inputs)
    rows = variant_agreement(folder, text=text, speaker=speaker, context=[Segment(*t) for t in turns],
                             max_frames=np.asarray(mlx_out["codes"]).shape[1])
    return {f"agreement_{r['variant']}": r for r in rows}


def codes_note(kind: str, a: np.ndarray, b: np.ndarray) -> tuple[bool, str]:
    """Codes (codebooks, frames) identical, and varied across frames and codebooks; a note naming the first
    diverging frame."""
    same = a.shape == b.shape and bool((a == b).all())
    varied = len(np.unique(b[0])) > 1 and len(np.unique(b[:, 0])) > 1
    note = (f"{kind} codes {'identical' if same else 'differ'} ({b.shape[0]} x {b.shape[1]}, "
            f"{len(np.unique(b))} distinct)")
    if not same:
        from ....parity.generation import first_divergence

        note += f"; first diverging frame {first_divergence(a, b)}"
    return same and varied, note


def outputs_match(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Prompt ids identical; greedy codes and sampled codes (same draws) identical and varied."""
    same_prompt = np.array_equal(mlx_out["prompt"], ref_out["prompt"])
    greedy_ok, greedy = codes_note("greedy", np.asarray(mlx_out["codes"]), np.asarray(ref_out["codes"]))
    sampled_ok, sampled = codes_note("sampled", np.asarray(mlx_out["sampled_codes"]),
                                     np.asarray(ref_out["sampled_codes"]))
    note = f"prompt ids {'identical' if same_prompt else 'DIFFER'} ({len(ref_out['prompt'])}); {greedy}; {sampled}"
    return same_prompt and greedy_ok and sampled_ok, note
