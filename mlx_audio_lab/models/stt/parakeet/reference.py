"""The PyTorch side of Parakeet: transformers' ParakeetForCTC / ParakeetForRNNT / ParakeetForTDT, their
fixtures (tiny, seeded, with a small SentencePiece-style tokenizer) and the tap map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ....parity import TapPoint

SIZES = {
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                 subsampling_conv_channels=16, num_mel_bins=80, conv_kernel_size=9),
}
DECODER_HIDDEN = 64
CLASSES = {"parakeet_ctc": "ParakeetForCTC", "parakeet_rnnt": "ParakeetForRNNT", "parakeet_tdt": "ParakeetForTDT"}
PIECES = ("▁ ▁t ▁a ▁s ▁the ▁w ▁o ▁f ▁b ▁m ▁c ▁h ▁d ▁p ▁l ▁i th er in on an re at en ed ing or es "
          "a b c d e f g h i j k l m n o p q r s t u v w x y z ' . , ?").split()


def model_type_of(folder: Path) -> str:
    """The fixture's model type: `config.json`, else the build folder's name (`.parakeet_tdt-tiny-v1.xyz`)."""
    cfg = Path(folder) / "config.json"
    if cfg.is_file():
        return json.loads(cfg.read_text())["model_type"]
    return Path(folder).name.lstrip(".").split("-")[0]


def write_tokenizer(folder: Path, blank: str) -> int:
    """A Unigram tokenizer (`tokenizer.json`) over `PIECES`, the blank / pad piece last; returns its size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = [("<unk>", 0.0)] + [(p, -float(len(PIECES) - len(p))) for p in PIECES] + [(blank, 0.0)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=0))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.add_special_tokens(["<unk>", blank])
    tok.save(str(folder / "tokenizer.json"))
    return len(vocab)


def build_fixture(folder: Path, size: str = "tiny", model_type: str | None = None) -> None:
    """Save a seeded random Parakeet of `model_type` (default: from the folder name) in the HF layout.

    The blank's logit is pushed down until blank wins about half the frames, so outputs vary.
    """
    import torch
    import transformers
    from transformers import ParakeetFeatureExtractor

    from ....fixtures import randomize_

    model_type = model_type or model_type_of(folder)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ctc = model_type == "parakeet_ctc"
    vocab = write_tokenizer(folder, "<pad>" if ctc else "<blank>")
    blank = vocab - 1
    enc = dict(SIZES[size])
    if ctc:
        config = transformers.ParakeetCTCConfig(encoder_config=enc, vocab_size=vocab, pad_token_id=blank)
    else:
        cls = transformers.ParakeetTDTConfig if model_type == "parakeet_tdt" else transformers.ParakeetRNNTConfig
        config = cls(encoder_config=enc, vocab_size=vocab, decoder_hidden_size=DECODER_HIDDEN, blank_token_id=blank,
                     pad_token_id=blank, decoder_start_token_id=blank, max_symbols_per_step=2)
    torch.manual_seed(0)
    model = getattr(transformers, CLASSES[model_type])(config).eval()
    randomize_(model, seed=0, std=STD)
    with torch.no_grad():
        _rescale(model)
        _lower_blank(model, config, blank)
    model.generation_config.decoder_start_token_id = None if ctc else blank
    model.save_pretrained(folder, safe_serialization=True)
    ParakeetFeatureExtractor(feature_size=enc["num_mel_bins"]).save_pretrained(folder)


STD = 0.1


def _rescale(model) -> None:
    """Random weights that keep activations O(1): matrices std 1/sqrt(fan-in), small biases, positive variances.

    Without this the constant biases dominate the residual stream and every frame gets the same label.
    """
    for name, p in list(model.named_parameters()) + list(model.named_buffers()):
        if not p.dtype.is_floating_point or "norm" in name and name.endswith("weight"):
            continue
        if name.endswith("running_var"):
            p.abs_().add_(0.5)
        elif p.ndim >= 2 and "embedding" in name:
            p.mul_(1.0 / STD)
        elif p.ndim >= 2:
            p.mul_(p[0].numel() ** -0.5 / STD)
        elif name.endswith("bias"):
            p.mul_(0.2)


def _lower_blank(model, config, blank: int) -> None:
    """Shift the blank's bias so it wins on about 60% of (frame, previous label) pairs of a noise input;
    TDT: make duration 0 (stay on the frame) rarer. Decoding then takes a few steps per frame and varies."""
    import torch

    x = torch.randn(1, 400, config.encoder_config.num_mel_bins, generator=torch.Generator().manual_seed(1))
    if hasattr(model, "ctc_head"):
        logits = model(input_features=x).logits[0]
        bias = model.ctc_head.bias
    else:
        enc = model.get_audio_features(input_features=x).pooler_output[0]  # (T, H)
        dec = model.decoder(torch.arange(config.vocab_size)[:, None])[:, 0]  # (V, H): after each label
        logits = model.joint(dec[None], enc[:, None])[..., : config.vocab_size].reshape(-1, config.vocab_size)
        bias = model.joint.head.bias
    others = torch.cat([logits[:, :blank], logits[:, blank + 1 :]], dim=1).max(dim=1).values
    bias[blank] -= float(torch.quantile(logits[:, blank] - others, 0.4))
    if getattr(config, "durations", None):
        bias[config.vocab_size] -= 1.0


def tap_points(folder: Path) -> list[TapPoint]:
    """MLX tap name -> module of transformers' model, in forward order (data, not code)."""
    cfg = json.loads((Path(folder) / "config.json").read_text())
    n = cfg["encoder_config"]["num_hidden_layers"]
    points = [
        TapPoint("features", "feature_extractor"),
        TapPoint("encoder.subsampling", "encoder.subsampling"),
        *[TapPoint(f"encoder.layers.{i}", f"encoder.layers.{i}") for i in range(n)],
    ]
    if cfg["model_type"] == "parakeet_ctc":
        return points + [TapPoint("ctc_head", "ctc_head")]
    return points + [TapPoint("encoder_projector", "encoder_projector"), TapPoint("decoder", "decoder"),
                     TapPoint("joint", "joint")]


def parity_inputs(folder: Path, clip: str = "fox") -> dict[str, np.ndarray]:
    """A spoken clip at 16 kHz (seeded noise if espeak-ng is missing)."""
    from ....fixtures import speech

    if speech.espeak_available():
        audio = speech.speech(clip, 16000)
    else:
        audio = (np.random.default_rng(0).standard_normal(16000 * 3) * 0.1).astype(np.float32)
    return {"audio": np.asarray(audio, dtype=np.float32)}


def load_reference(folder: Path):
    """transformers' model with the folder's weights, fp32, eval mode."""
    import transformers

    cls = getattr(transformers, CLASSES[model_type_of(folder)])
    return cls.from_pretrained(folder, dtype="float32").eval()


def run_reference(folder: Path, inputs: dict[str, np.ndarray]):
    """The feature extractor, then `generate` with hooks at the taps (a transducer's first decoder step)."""
    from transformers import LogitsProcessorList, ParakeetFeatureExtractor

    from ....parity.torch_hooks import capture_torch

    model = load_reference(folder)
    fe = ParakeetFeatureExtractor.from_pretrained(folder)
    feats = fe(inputs["audio"], sampling_rate=16000, return_tensors="pt", return_attention_mask=True)
    paths = [p.ref for p in tap_points(folder) if p.ref != "feature_extractor"]
    extra = {}
    if model_type_of(folder) == "parakeet_tdt":
        extra["logits_processor"] = LogitsProcessorList([TokensOnly(model.config.vocab_size)])
    acts, out = capture_torch(model, paths, lambda: model.generate(
        input_features=feats.input_features, attention_mask=feats.attention_mask, return_dict_in_generate=True,
        **extra))
    acts["feature_extractor"] = feats.input_features.numpy()
    outputs = {"tokens": out.sequences.numpy()}
    if getattr(out, "durations", None) is not None:
        outputs["durations"] = out.durations.numpy()
    return acts, outputs


class TokensOnly:
    """Choose a TDT label among the labels only (NeMo). transformers 5.23's greedy step takes the argmax over
    labels *and* duration logits, so a winning duration logit becomes an out-of-vocabulary "label"."""

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size

    def __call__(self, input_ids, scores):
        scores = scores.clone()
        scores[:, self.vocab_size :] = float("-inf")
        return scores


def run_mlx(folder: Path, inputs: dict[str, np.ndarray]):
    """The port on the same audio: its own front end, encoder and greedy decoder, taps on."""
    from ....taps import capture
    from .load import load_model
    from .transcribe import decode

    model = load_model(folder)
    with capture() as acts:
        d = decode(model, inputs["audio"])
    if d.steps is None:
        return {k: np.array(v) for k, v in acts.items()}, {"tokens": d.path[None]}
    outputs = {"tokens": np.array([d.steps.tokens]), "durations": np.array([d.steps.durations])}
    return {k: np.array(v) for k, v in acts.items()}, outputs


def outputs_match(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Greedy labels (and transducer durations) identical, and not constant."""
    a, b = mlx_out["tokens"][0].tolist(), ref_out["tokens"][0].tolist()
    same = a == b
    what = "labels"
    if "durations" in ref_out:
        same = same and mlx_out["durations"][0].tolist() == ref_out["durations"][0].tolist()
        what = "labels and durations"
    note = f"greedy {what} {'identical' if same else 'differ'} ({len(b)} steps, {len(set(b))} distinct labels)"
    if a != b:
        k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        note += f"; first difference at step {k}"
    return same, note
