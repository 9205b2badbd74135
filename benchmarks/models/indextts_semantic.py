"""IndexTTS 2's semantic front end at real size, seeded weights: SeamlessM4T features, w2v-BERT 2.0 up to hidden
state 17 (normalised) and the MaskGCT semantic codec's quantize, on N seconds of 16 kHz audio, in audio s/s.

Engines, same seeded random weights: `mlx_audio_lab` (this port through its key maps) and `torch` (transformers'
`SeamlessM4TFeatureExtractor` + `Wav2Vec2BertModel`, `indextts2-inference`'s `RepCodec`). On a CPU the default keeps
every width but runs 4 of the 17 w2v-BERT layers IndexTTS reads (--set layers=N; the JSON says so); on a GPU all
17. Options: seconds=S, layers=N, size=tiny (the test's quick check).
"""

from __future__ import annotations

from .. import harness as h

NAME = "indextts-2-semantic"


def run(ctx: h.Context) -> dict:
    import copy

    import mlx.core as mx
    import numpy as np
    import torch
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel

    from mlx_audio_lab.convert.loading import fill_model
    from mlx_audio_lab.fixtures import randomize_
    from mlx_audio_lab.models.tts.indextts.reference_semantic import CODEC_SIZES, W2VBERT_SIZES, _codec
    from mlx_audio_lab.models.tts.indextts.semantic import (
        HIDDEN_LAYER,
        FeatureConfig,
        SemanticCodec,
        SemanticCodecConfig,
        SemanticFrontEnd,
        W2VBert,
        W2VBertConfig,
    )
    from mlx_audio_lab.models.tts.indextts.semantic.convert import CODEC, W2VBERT, prepare_codec, prepare_w2vbert

    size, seconds = ctx.option("size", "real"), ctx.option("seconds", 3.0)
    layers = ctx.option("layers", HIDDEN_LAYER if (ctx.device == "gpu" or size != "real") else 4)
    w2v_cfg = copy.deepcopy(W2VBERT_SIZES[size]) | {"num_hidden_layers": layers}
    torch.manual_seed(0)
    ref_w2v = Wav2Vec2BertModel(Wav2Vec2BertConfig(**w2v_cfg)).eval()
    randomize_(ref_w2v, seed=0, std=0.02)
    ref_codec = _codec(CODEC_SIZES[size]).eval()
    randomize_(ref_codec, seed=1, std=0.02)
    port_w2v = fill_model(W2VBert(W2VBertConfig.from_dict(w2v_cfg), layers),
                          prepare_w2vbert(h.torch_state(ref_w2v), layers), W2VBERT, w2v_cfg, "benchmark weights",
                          ctx.mx_dtype)
    codec_cfg = SemanticCodecConfig.from_dict(CODEC_SIZES[size])
    port_codec = fill_model(SemanticCodec(codec_cfg), prepare_codec(h.torch_state(ref_codec)), CODEC, {},
                            "benchmark weights", ctx.mx_dtype)
    dim = w2v_cfg["hidden_size"]
    mean, std = np.zeros(dim, np.float32), np.ones(dim, np.float32)
    port = SemanticFrontEnd(port_w2v, port_codec, mx.array(mean, dtype=ctx.mx_dtype), mx.array(std, dtype=ctx.mx_dtype),
                            FeatureConfig())
    extractor = SeamlessM4TFeatureExtractor(padding_value=1.0)
    ref_w2v, ref_codec = (m.to(device=ctx.torch_device, dtype=ctx.torch_dtype) for m in (ref_w2v, ref_codec))
    audio = h.synthetic_audio(seconds)

    def mlx_front():
        return port.features(audio)

    def torch_front():
        with torch.no_grad():
            f = extractor(torch.from_numpy(audio)[None], sampling_rate=16000, return_tensors="pt")
            hidden = ref_w2v(input_features=f["input_features"].to(ctx.torch_device, ctx.torch_dtype),
                             attention_mask=f["attention_mask"].to(ctx.torch_device), output_hidden_states=True)
            return ref_codec.quantize(hidden.hidden_states[layers])

    sync = {"mlx_audio_lab": h.mlx_sync, "torch": h.torch_sync(ctx.torch_device)}
    timings = h.compare({k: (fn, sync[k]) for k, fn in (("mlx_audio_lab", mlx_front), ("torch", torch_front))},
                        warmup=ctx.warmup, repeats=ctx.repeats)
    front = h.stage(timings, seconds, "audio_s_per_s")
    agree = float(np.mean(np.array(mlx_front()[1]) == torch_front()[0].cpu().numpy())) if ctx.device == "cpu" else None
    reduced = size != "real" or layers != HIDDEN_LAYER
    note = (f"{layers}/{HIDDEN_LAYER} w2v-BERT layers, " if reduced else "17 w2v-BERT layers, ") + (
        f"features + codec on {seconds:g} s")
    return {
        "model": NAME, "family": "tts", "weights": "seeded random weights, w2v-bert-2.0 and IndexTTS-2 codec configs",
        "summary": {k: h.summary_row(audio_s_per_s=front[k]["audio_s_per_s"], vs_torch=front[k].get("vs_torch"),
                                     note=note) for k in front},
        "engines": list(front), "shape": {"size": size, "layers": layers, "reduced": reduced,
                                          "of": {"layers": HIDDEN_LAYER}},
        "params": h.param_count(ref_w2v) + h.param_count(ref_codec),
        "input": {"audio_s": seconds, "path": "16 kHz audio -> input features -> w2v-BERT hidden state -> codes"},
        "stages": {"front_end": front},
        "per_engine": {"mlx_audio_lab": {"codes_agree_with_torch": agree}},
    }


h.register(NAME, "IndexTTS 2 semantic front end (w2v-BERT 2.0 + MaskGCT codec), random weights: audio s/s")(run)
