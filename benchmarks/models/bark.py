"""Bark (suno/bark-small and suno/bark): the three GPTs' costs, this port against transformers' BarkModel.

Seeded random weights at the real sizes (bark-small: 3 x 12 layers of width 768; bark: 3 x 24 layers of width
1024; the real vocabularies and 1024-position blocks), saved in transformers' layout and read back by the port's
own loader. Measured: the semantic model's KV-cached decode step (tokens/s) over a 257-position prompt, the coarse
model's step over a ~900-position window, and one fine pass (one codebook over 1024 frames, non-causal). On a CPU
the default keeps every width but 2 layers per GPT (`--set layers=N`; the JSON says so); on a GPU the whole
models. `--set tiny=1` (32-wide, 2 layers: checks the script, measures nothing worth keeping).
"""

from __future__ import annotations

from typing import Any

from .. import harness as h

# The real sizes (transformers' BarkConfig of the two hub repos): width, layers, heads; bias-free GPTs.
SIZES = {"bark-small": dict(hidden_size=768, num_layers=12, num_heads=12),
         "bark": dict(hidden_size=1024, num_layers=24, num_heads=16)}
TINY = dict(hidden_size=32, num_layers=2, num_heads=2)


def _config(name: str, ctx: h.Context) -> tuple[dict, dict]:
    size = dict(TINY if ctx.option("tiny", False) else SIZES[name])
    full = size["num_layers"]
    size["num_layers"] = ctx.option("layers", full if ctx.device == "gpu" else min(2, full))
    common = dict(size, bias=False, block_size=1024)
    config = dict(semantic_config=dict(common, input_vocab_size=129_600, output_vocab_size=10_048),
                  coarse_acoustics_config=dict(common, input_vocab_size=12_096, output_vocab_size=12_096),
                  fine_acoustics_config=dict(common, input_vocab_size=1056, output_vocab_size=1056, n_codes_total=8,
                                             n_codes_given=1))
    layers = {"layers_per_gpt": size["num_layers"], "of": full,
              "reduced": size["num_layers"] != full or ctx.option("tiny", False)}
    return config, layers


def _reference(config: dict):
    import torch
    import transformers

    from mlx_audio_lab.fixtures import randomize_
    from mlx_audio_lab.models.codecs.encodec.reference import seeded_model
    from mlx_audio_lab.models.tts.bark.fixture import CODEC

    torch.manual_seed(0)
    codec = seeded_model(**CODEC)  # the codec is not measured here (EnCodec has its own benchmark)
    model = transformers.BarkModel(transformers.BarkConfig(**config, codec_config=codec.config.to_dict())).eval()
    for seed, part in enumerate((model.semantic, model.coarse_acoustics, model.fine_acoustics)):
        randomize_(part, seed=seed, std=0.02, keep=tuple(n for n, _ in part.named_buffers()))
    model.codec_model.load_state_dict(codec.state_dict())
    return model


def _mlx_engine(model) -> dict[str, Any]:
    import mlx.core as mx

    prompt = mx.zeros((1, 257), mx.int32)
    window = mx.full((1, 900), 10_000, mx.int32)
    codes = mx.zeros((1, 1024, 8), mx.int32)

    def prefill(gpt, x):
        cache = gpt.make_cache()
        mx.eval(gpt(x, cache=cache))
        return gpt, cache

    def step(args):
        gpt, cache = args
        out = gpt(mx.zeros((1, 1), mx.int32), cache=cache)
        mx.eval(out)
        return out

    def fine(_=None):
        out = model.fine_acoustics(7, codes)
        mx.eval(out)
        return out

    return {"semantic": (step, lambda: prefill(model.semantic, prompt)),
            "coarse": (step, lambda: prefill(model.coarse_acoustics, window)), "fine": (fine, None)}


def _torch_engine(model, device: str) -> dict[str, Any]:
    import torch
    from transformers.cache_utils import DynamicCache

    prompt = torch.zeros((1, 257), dtype=torch.long, device=device)
    window = torch.full((1, 900), 10_000, dtype=torch.long, device=device)
    codes = torch.zeros((1, 1024, 8), dtype=torch.long, device=device)

    @torch.inference_mode()
    def prefill(gpt, x):
        cache = DynamicCache()
        gpt(input_ids=x, past_key_values=cache, use_cache=True)
        return gpt, cache

    @torch.inference_mode()
    def step(args):
        gpt, cache = args
        one = torch.zeros((1, 1), dtype=torch.long, device=device)
        return gpt(input_ids=one, past_key_values=cache, use_cache=True).logits

    @torch.inference_mode()
    def fine(_=None):
        return model.fine_acoustics(7, codes).logits

    return {"semantic": (step, lambda: prefill(model.semantic, prompt)),
            "coarse": (step, lambda: prefill(model.coarse_acoustics, window)), "fine": (fine, None)}


def run_size(name: str, ctx: h.Context) -> dict:
    import shutil

    from mlx_audio_lab.models.tts.bark.load import load_model

    from .codec_common import temp_folder

    config, layers = _config(name, ctx)
    ref = _reference(config)
    folder = temp_folder(name)
    ref.save_pretrained(folder, safe_serialization=True)
    from mlx_audio_lab.models.tts.bark.fixture import save_tokenizer

    save_tokenizer(folder)
    port = load_model(folder, dtype=ctx.mx_dtype)
    shutil.rmtree(folder, ignore_errors=True)
    ref = ref.to(device=ctx.torch_device, dtype=ctx.torch_dtype)
    eng = {"mlx_audio_lab": _mlx_engine(port), "torch": _torch_engine(ref, ctx.torch_device)}
    sync = {"mlx_audio_lab": h.mlx_sync, "torch": h.torch_sync(ctx.torch_device)}
    r = dict(warmup=ctx.warmup, repeats=ctx.repeats)
    stages = {}
    for stage, unit in (("semantic", "tokens_per_s"), ("coarse", "tokens_per_s"), ("fine", "frames_per_s")):
        timed = h.compare({k: (e[stage][0], sync[k], e[stage][1]) if e[stage][1] else (e[stage][0], sync[k])
                           for k, e in eng.items()}, **r)
        stages[stage] = h.stage(timed, 1024 if stage == "fine" else 1, unit)
    note = (f"{layers['layers_per_gpt']}/{layers['of']} layers per GPT, " if layers["reduced"] else "full model, ") \
        + "tokens/s: semantic step"
    summary = {k: h.summary_row(tokens_per_s=stages["semantic"][k]["tokens_per_s"],
                                vs_torch=stages["semantic"]["torch"]["median_s"] / stages["semantic"][k]["median_s"],
                                note=note) for k in eng}
    return {"model": name, "family": "tts", "weights": "seeded random weights, real config", "summary": summary,
            "engines": list(eng), "layers": layers, "params": h.param_count(ref),
            "input": {"semantic_prompt": 257, "coarse_window": 900, "fine_window": 1024,
                      "decode": "KV-cached steps, batch 1; fine: one codebook pass"},
            "stages": stages}


for _name in SIZES:
    h.register(_name, f"Bark ({_name}): semantic / coarse steps and a fine pass, random weights, real widths "
                      "(CPU: 2 layers per GPT)")(lambda ctx, _name=_name: run_size(_name, ctx))
