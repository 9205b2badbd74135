"""IndexTTS 2's GPT stage (`UnifiedVoice`, IndexTTS-2 config.yaml) at its real size, seeded weights: conditioning
(Conformer + perceiver + emotion path over a reference of N seconds) and the GPT-2 decode in codes/s, against the
PyTorch reference (`indextts2-inference`).

Engines, same seeded random weights: `mlx_audio_lab` (this port through its key map and the generation loop) and
`torch` (upstream's modules; its `GPT2InferenceModel.forward` stepped with the KV cache, as parity does). The stop
code is disabled on both so every run decodes `steps` codes. On a CPU the default keeps every width but runs
2 of 24 GPT-2 layers (--set layers=N; the JSON says so); on a GPU the whole model. Options: steps=N, seconds=S
(reference length), text=N ids, layers=N, size=tiny (the test's quick check).
"""

from __future__ import annotations

from .. import harness as h

NAME = "indextts-2-gpt"
FEATURE_HZ = 50  # w2v-BERT 2.0 frames per second


def _gpt_config(ctx: h.Context) -> tuple[dict, dict]:
    import copy

    from mlx_audio_lab.models.tts.indextts.reference import SIZES

    size = ctx.option("size", "real")
    gpt = copy.deepcopy(SIZES[size])
    full = gpt["layers"]
    gpt["layers"] = ctx.option("layers", full if (ctx.device == "gpu" or size != "real") else 2)
    return gpt, {"size": size, "layers": gpt["layers"], "reduced": size != "real" or gpt["layers"] != full,
                 "of": {"layers": full}}


def run(ctx: h.Context) -> dict:
    import mlx.core as mx
    import numpy as np
    import torch

    from mlx_audio_lab.convert.loading import fill_model
    from mlx_audio_lab.fixtures import randomize_
    from mlx_audio_lab.models.tts.indextts.config import IndexTTSConfig
    from mlx_audio_lab.models.tts.indextts.convert import KEYMAP
    from mlx_audio_lab.models.tts.indextts.generate import generate_codes
    from mlx_audio_lab.models.tts.indextts.model import IndexTTS
    from mlx_audio_lab.models.tts.indextts.reference import _unified_voice, reference_generate

    gpt, shape = _gpt_config(ctx)
    steps, seconds, n_text = ctx.option("steps", 32), ctx.option("seconds", 3.0), ctx.option("text", 24)
    torch.manual_seed(0)
    ref = _unified_voice(gpt)
    randomize_(ref, seed=0, std=0.02, keep=tuple(n for n, _ in ref.named_buffers()))
    state = {k: v for k, v in h.torch_state(ref).items() if not k.endswith(".pos_enc.pe")}
    port = fill_model(IndexTTS(IndexTTSConfig.from_dict(gpt)), state, KEYMAP, gpt, "benchmark weights", ctx.mx_dtype)
    del state
    ref.post_init_gpt2_config(use_deepspeed=False, kv_cache=True, half=False)
    ref = ref.to(device=ctx.torch_device, dtype=ctx.torch_dtype).eval()
    ref.stop_mel_token = port.config.stop_mel_token = -1  # no early stop: every run decodes `steps` codes
    rng = np.random.default_rng(0)
    features = rng.standard_normal((1, int(seconds * FEATURE_HZ), 1024)).astype(np.float32)
    text = rng.integers(2, gpt["number_text_tokens"], (1, n_text)).astype(np.int64)

    def mlx_conditioning():
        return port.prompt_embeddings(mx.array(features, dtype=ctx.mx_dtype), text)

    def mlx_decode():
        return [s.token for s in generate_codes(port, features, text, max_steps=steps)]

    def torch_conditioning():
        with torch.no_grad():
            f = torch.from_numpy(features).to(ctx.torch_device, ctx.torch_dtype).transpose(1, 2)
            return ref.get_conditioning(f, torch.tensor([f.shape[-1]], device=ctx.torch_device))

    def torch_decode():
        return reference_generate(ref, features, text, steps)[0][0].tolist()

    sync = {"mlx_audio_lab": h.mlx_sync, "torch": h.torch_sync(ctx.torch_device)}
    r = dict(warmup=ctx.warmup, repeats=ctx.repeats)
    cond = h.compare({"mlx_audio_lab": (mlx_conditioning, sync["mlx_audio_lab"]),
                      "torch": (torch_conditioning, sync["torch"])}, **r)
    decode = h.compare({"mlx_audio_lab": (mlx_decode, sync["mlx_audio_lab"]), "torch": (torch_decode, sync["torch"])},
                       **r)
    codes = {"mlx_audio_lab": mlx_decode(), "torch": torch_decode()}
    dec = h.stage(decode, steps, "codes_per_s")
    note = (f"{shape['layers']}/{shape['of']['layers']} layers, " if shape["reduced"] else "full GPT stage, ") + (
        f"{steps} greedy codes after a {seconds:g} s reference and {n_text} text ids")
    summary = {k: h.summary_row(tokens_per_s=dec[k]["codes_per_s"], vs_torch=dec[k].get("vs_torch"), note=note)
               for k in dec}
    agree = (float(np.mean(np.array(codes["mlx_audio_lab"]) == np.array(codes["torch"])))
             if codes["torch"] is not None else None)
    return {
        "model": NAME, "family": "tts", "weights": "seeded random weights, IndexTTS-2 gpt config", "summary": summary,
        "engines": list(dec), "shape": shape, "params": h.param_count(ref),
        "input": {"reference_s": seconds, "text_ids": n_text, "decode_steps": steps,
                  "decode": "greedy, KV cache, batch 1, host sync per code; the prompt (conditioning + text) "
                            "is inside the decode timing; s2mel, BigVGAN and w2v-BERT not included"},
        "stages": {"conditioning": h.stage(cond, seconds, "reference_s_per_s"), "decode": dec},
        "per_engine": {"mlx_audio_lab": {"codes_agree_with_torch": agree}},
    }


h.register(NAME, "IndexTTS 2 GPT stage, random weights, real widths (CPU: 2/24 layers): conditioning and codes/s")(run)
