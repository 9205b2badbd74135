"""The PyTorch side of IndexTTS 2's semantic front end: transformers' `SeamlessM4TFeatureExtractor` and
`Wav2Vec2BertModel` (facebook/w2v-bert-2.0's classes), `indextts2-inference`'s `get_emb` and MaskGCT's `RepCodec`
(`build_semantic_codec`, `quantize`, `quantizer.vq2emb`).

The fixture is IndexTTS's layout plus the two hub folders it downloads: `config.yaml` (`semantic_codec:`,
`w2v_stat:`), `wav2vec2bert_stats.pt`, `w2v-bert-2.0/` (config.json, model.safetensors, preprocessor_config.json,
written by transformers) and `semantic_codec/model.safetensors` (a seeded `RepCodec`, saved as upstream loads it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .semantic.config import HIDDEN_LAYER
from .semantic.load import CODEC_FILE, STATS_FILE, W2VBERT_DIR, hidden_layer

W2VBERT_SIZES = {
    "tiny": dict(hidden_size=32, num_hidden_layers=HIDDEN_LAYER + 1, num_attention_heads=4, intermediate_size=64),
    # 1024 wide as the GPT's conditioning encoders and s2mel expect, yet small: one layer (`w2v_hidden_layer` 1)
    "wide": dict(hidden_size=1024, num_hidden_layers=1, num_attention_heads=8, intermediate_size=64),
    # facebook/w2v-bert-2.0
    "real": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
}
CODEC_SIZES = {
    "tiny": dict(codebook_size=64, hidden_size=32, codebook_dim=8, vocos_dim=24, vocos_intermediate_dim=48,
                 vocos_num_layers=2),
    # IndexTTS-2 checkpoints/config.yaml `semantic_codec:`
    # 96 codes: the tiny indextts GPT's mel codes (start_mel_token 96), which vq2emb embeds as upstream's 8192
    "wide": dict(codebook_size=96, hidden_size=1024, codebook_dim=8, vocos_dim=24, vocos_intermediate_dim=48,
                 vocos_num_layers=2),
    "real": dict(codebook_size=8192, hidden_size=1024, codebook_dim=8, vocos_dim=384, vocos_intermediate_dim=2048,
                 vocos_num_layers=12),
}
WIDE_LAYER = {"wide": 1}  # sizes whose fixture reads another hidden state than upstream's 17
PARITY_CLIP = "fox"  # espeak-ng speech (mlx_audio_lab.fixtures.speech), resampled to 16 kHz


def w2vbert_taps(num_layers: int = HIDDEN_LAYER) -> list[tuple[str, str, str]]:
    """(MLX tap, `Wav2Vec2BertModel` module, layout) in forward order, up to the hidden state IndexTTS reads."""
    return [("w2vbert.feature_projection", "feature_projection", "same")] + [
        (f"w2vbert.layers.{i}", f"encoder.layers.{i}", "same") for i in range(num_layers)]


def codec_taps(num_layers: int) -> list[tuple[str, str, str]]:
    """(MLX tap, `RepCodec` module, layout) through `quantize`: the Vocos encoder, its linear, the quantized sum."""
    return ([("backbone.embed", "encoder.0.embed", "channels_first"), ("backbone.norm", "encoder.0.norm", "same")]
            + [(f"backbone.convnext.{i}", f"encoder.0.convnext.{i}", "channels_first") for i in range(num_layers)]
            + [("backbone.final_layer_norm", "encoder.0.final_layer_norm", "same"),
               ("codec.encoder", "encoder", "same"), ("codec.quantized", "quantizer", "channels_first")])


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """Seeded w2v-BERT (transformers' own class and save_pretrained), feature extractor, RepCodec and stats file."""
    import safetensors.torch
    import torch
    import yaml
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel

    from ....fixtures import randomize_

    folder = Path(folder)
    torch.manual_seed(0)
    w2v = Wav2Vec2BertModel(Wav2Vec2BertConfig(**W2VBERT_SIZES[size])).eval()
    randomize_(w2v, seed=0, std=0.1 if size == "tiny" else 0.02)  # 1024 wide: smaller weights, bounded gains
    w2v.save_pretrained(folder / W2VBERT_DIR, safe_serialization=True)
    SeamlessM4TFeatureExtractor(padding_value=1.0).save_pretrained(folder / W2VBERT_DIR)  # w2v-bert-2.0's settings
    codec_cfg = CODEC_SIZES[size]
    codec = _codec(codec_cfg)
    randomize_(codec, seed=1, std=0.1)
    with torch.no_grad():  # gains near 1 so the projection, not its bias, picks the code: codes vary over the clip
        for q in codec.quantizer.quantizers:
            q.in_project.weight_g.normal_(1.0, 0.1, generator=torch.Generator().manual_seed(3))
    (folder / CODEC_FILE).parent.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_model(codec, str(folder / CODEC_FILE))
    g = torch.Generator().manual_seed(2)
    dim = W2VBERT_SIZES[size]["hidden_size"]
    torch.save({"mean": torch.randn(dim, generator=g) * 0.1, "var": torch.rand(dim, generator=g) + 0.5},
               folder / STATS_FILE)
    cfg = {"semantic_codec": codec_cfg, "w2v_stat": STATS_FILE}
    if size in WIDE_LAYER:
        cfg["w2v_hidden_layer"] = WIDE_LAYER[size]
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def _codec(cfg: dict):
    from indextts.utils.maskgct_utils import build_semantic_codec
    from omegaconf import OmegaConf

    return build_semantic_codec(OmegaConf.create(cfg))


def load_reference(folder: Path) -> dict:
    """The reference objects as `IndexTTS2._load_semantic` builds them, from the fixture's local folders."""
    import safetensors.torch
    import torch
    import yaml
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertModel

    folder = Path(folder)
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    stats = torch.load(folder / cfg.get("w2v_stat", STATS_FILE), map_location="cpu", weights_only=True)
    codec = _codec(cfg["semantic_codec"])
    safetensors.torch.load_model(codec, str(folder / CODEC_FILE))
    return {"hidden_layer": hidden_layer(cfg),
            "extract_features": SeamlessM4TFeatureExtractor.from_pretrained(folder / W2VBERT_DIR),
            "semantic_model": Wav2Vec2BertModel.from_pretrained(folder / W2VBERT_DIR).eval(),
            "semantic_mean": stats["mean"], "semantic_std": torch.sqrt(stats["var"]), "semantic_codec": codec.eval()}


def get_emb(ref: dict, input_features, attention_mask):
    """Upstream's `IndexTTS2.get_emb`: hidden state 17 (a fixture's `w2v_hidden_layer`) of the w2v-BERT run,
    normalised with the stats."""
    out = ref["semantic_model"](input_features=input_features, attention_mask=attention_mask,
                                output_hidden_states=True)
    return (out.hidden_states[ref["hidden_layer"]] - ref["semantic_mean"]) / ref["semantic_std"]


def parity_audio(seconds: float | None = None) -> np.ndarray:
    """The espeak-ng parity clip at 16 kHz (float32); `seconds` trims it."""
    from ....fixtures.speech import speech

    audio = np.asarray(speech(PARITY_CLIP, sample_rate=16000), dtype=np.float32)
    return audio if seconds is None else audio[: int(seconds * 16000)]


def _no_taps(model, paths, run):
    return {}, run()


def run_reference(folder: Path, audio16k: np.ndarray, ref: dict | None = None, capture=None) -> tuple[dict, dict]:
    """The speaker path of `IndexTTS2.infer` up to the codec, on a 16 kHz clip: the outputs (input features, emb,
    codes, quantized embedding, vq2emb of the codes) and, given `capture` (`parity.torch_hooks.capture_torch`;
    models do not import parity), the taps of both models (codec ones prefixed `codec:`)."""
    import torch

    capture = capture or _no_taps
    ref = ref or load_reference(folder)
    inputs = ref["extract_features"](torch.from_numpy(np.asarray(audio16k, np.float32))[None], sampling_rate=16000,
                                     return_tensors="pt")
    feats, mask = inputs["input_features"], inputs["attention_mask"]
    with torch.no_grad():
        paths = [r for _, r, _ in w2vbert_taps(ref["hidden_layer"])]
        acts, emb = capture(ref["semantic_model"], paths, lambda: get_emb(ref, feats, mask))
        codec = ref["semantic_codec"]
        codec_acts, (codes, quantized) = capture(codec, [r for _, r, _ in codec_taps(len(codec.encoder[0].convnext))],
                                                 lambda: codec.quantize(emb))
        vq = codec.quantizer.vq2emb(codes.unsqueeze(1)).transpose(1, 2)  # as infer_v2 turns GPT codes into S_infer
    acts = dict(acts) | {f"codec:{k}": v for k, v in codec_acts.items()}
    return acts, {"input_features": feats.numpy(), "attention_mask": mask.numpy(), "emb": emb.numpy(),
                  "codes": codes.numpy().astype(np.int64), "quantized": quantized.numpy(), "vq2emb": vq.numpy()}
