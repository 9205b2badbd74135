"""Spark-TTS fixtures built by the references (spark_tts_lib's BiCodec, transformers' Qwen2 and Wav2Vec2Model),
in the SparkAudio/Spark-TTS-0.5B layout; the LM's embeddings are designed so greedy decoding writes varied
BiCodec tokens, alternating global and semantic ones (64 of each), which both prompt forms can decode."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .config import BICODEC_FOLDER, LLM_FOLDER, WAV2VEC2_FOLDER
from .prompt import END_GLOBAL, END_STYLE, EOS, GENDERS, LEVELS

LATENT_GAIN = (6.0, 6.0)  # perceiver latents, FSQ input projection: spread so the global tokens vary
# The wave generator's weight-norm magnitudes |g| (the norm of each output channel's kernel): random ones of ~0.08
# shrink each conv ~10x, so the audio came out a constant level (std 5e-5); ~0.5 keeps it moving (std ~1e-2)
WAVE_GAIN = 0.5
SLOT = 64  # codes per designed slot: semantic tokens 0..63 (the fixture's codebook) and global tokens 0..63
SIZES = {
    "tiny": {
        "llm": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, max_position_embeddings=2048, rms_norm_eps=1e-6, rope_theta=1000000.0,
                    tie_word_embeddings=False),  # untied: the designed head
        "wav2vec2": dict(hidden_size=32, num_hidden_layers=17, num_attention_heads=2, intermediate_size=64,
                         conv_dim=(32,) * 7, feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True,
                         num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, vocab_size=32),
        "bicodec": {
            "mel_params": {"sample_rate": 16000, "n_fft": 1024, "win_length": 640, "hop_length": 320,
                           "mel_fmin": 10, "mel_fmax": None, "num_mels": 128},
            "encoder": {"input_channels": 32, "vocos_dim": 32, "vocos_intermediate_dim": 64, "vocos_num_layers": 2,
                        "out_channels": 24, "sample_ratios": [1, 1]},
            "decoder": {"input_channel": 24, "channels": 32, "rates": [8, 5, 4, 2], "kernel_sizes": [16, 11, 8, 4]},
            "quantizer": {"input_dim": 24, "codebook_size": SLOT, "codebook_dim": 8, "commitment": 0.25,
                          "codebook_loss_weight": 2.0, "use_l2_normlize": True, "threshold_ema_dead_code": 0.2},
            "speaker_encoder": {"input_dim": 128, "out_dim": 24, "latent_dim": 16, "token_num": 32,
                                "fsq_levels": [4, 4, 4, 4, 4, 4], "fsq_num_quantizers": 1},
            "prenet": {"input_channels": 24, "vocos_dim": 32, "vocos_intermediate_dim": 64, "vocos_num_layers": 2,
                       "out_channels": 24, "condition_dim": 24, "sample_ratios": [1, 1], "use_tanh_at_final": False},
            "postnet": {"input_channels": 24, "vocos_dim": 32, "vocos_intermediate_dim": 64, "vocos_num_layers": 1,
                        "out_channels": 24, "use_tanh_at_final": False},
        },
    },
}
CORPUS = [
    "The harbor lights flickered as the night ferry pulled away from the dock.",
    "Hello there, how are you doing today? I am fine, thank you.",
    "Speech synthesis turns written words into sound, one token at a time.",
]
TOP_CONFIG = {"sample_rate": 16000, "highpass_cutoff_freq": 40, "segment_duration": 2.4, "max_val_duration": 12,
              "latent_hop_length": 320, "ref_segment_duration": 6, "volume_normalize": True}


def control_tokens() -> list[str]:
    """Spark's task, content, style and marker tokens (the real vocabulary has more tasks and labels)."""
    from spark_tts_lib.utils.token_parser import TASK_TOKEN_MAP

    named = list(TASK_TOKEN_MAP.values()) + ["<|start_content|>", "<|end_content|>", "<|start_global_token|>",
                                             END_GLOBAL, "<|start_semantic_token|>", "<|end_semantic_token|>",
                                             "<|start_style_label|>", END_STYLE, EOS, "<|endoftext|>"]
    named += [f"<|gender_{i}|>" for i in GENDERS.values()]
    return named + [f"<|{k}_label_{i}|>" for k in ("pitch", "speed") for i in LEVELS.values()]


def _tokenizer(folder: Path, n_global: int, n_semantic: int) -> None:
    """Byte-level BPE + control tokens (special), then BiCodec's tokens as plain added tokens: upstream decodes
    with skip_special_tokens=True and finds them by regex, so they are not special."""
    from tokenizers import AddedToken, Tokenizer

    from ....generation import designed

    designed.bpe_tokenizer(folder, CORPUS, control_tokens(), EOS, EOS, EOS, prepend_bos=False)
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.add_tokens([AddedToken(f"<|bicodec_global_{i}|>", special=False, normalized=False) for i in range(n_global)]
                   + [AddedToken(f"<|bicodec_semantic_{i}|>", special=False, normalized=False)
                      for i in range(n_semantic)])
    tok.save(str(folder / "tokenizer.json"))
    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    cfg["bos_token"] = None
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2))


def _build_llm(folder: Path, size: str) -> None:
    import torch
    from tokenizers import Tokenizer
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from ....fixtures import randomize_
    from ....generation import designed

    folder.mkdir(parents=True, exist_ok=True)
    _tokenizer(folder, 4096, SLOT)
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    vocab = tok.get_vocab_size()
    slots = [np.array([tok.token_to_id(f"<|bicodec_{k}_{i}|>") for i in range(SLOT)]) for k in ("global", "semantic")]
    eos = tok.token_to_id(EOS)
    cfg = Qwen2Config(vocab_size=vocab, bos_token_id=eos, eos_token_id=eos, **SIZES[size]["llm"])
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(cfg).eval()
    randomize_(model, seed=0, std=0.08, keep=tuple(n for n, _ in model.named_buffers()))
    starters = [tok.token_to_id(END_GLOBAL), tok.token_to_id(END_STYLE)]
    embed, head = designed.design_embeddings(vocab, cfg.hidden_size, slots, starters)
    with torch.no_grad():
        model.model.embed_tokens.weight.copy_(torch.from_numpy(embed))
        model.lm_head.weight.copy_(torch.from_numpy(head))
    model.generation_config.eos_token_id = [eos]
    model.save_pretrained(folder, safe_serialization=True)


def _build_wav2vec2(folder: Path, size: str) -> None:
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    from ....fixtures import randomize_

    torch.manual_seed(0)
    model = Wav2Vec2Model(Wav2Vec2Config(**SIZES[size]["wav2vec2"])).eval()
    randomize_(model, seed=1, std=0.1)
    model.save_pretrained(folder, safe_serialization=True)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                             return_attention_mask=True).save_pretrained(folder)


def _synthetic_voice(seconds: float = 4.0, rate: int = 16000) -> np.ndarray:
    """A deterministic voiced signal (harmonics of a gliding pitch, syllable-rate envelope, a little noise)."""
    t = np.arange(int(seconds * rate)) / rate
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3.1 * t) ** 2)
    noise = np.random.default_rng(0).normal(scale=0.05, size=t.shape)
    return (0.2 * voiced + noise * (np.sin(2 * np.pi * 1.3 * t) > 0.6)).astype(np.float32)


def _wav2vec2_features(folder: Path):
    """transformers' Wav2Vec2Model (the fixture's) on the synthetic voice: BiCodec's semantic input (1, T, C)."""
    import torch
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

    from .config import WAV2VEC2_LAYERS

    processor = Wav2Vec2FeatureExtractor.from_pretrained(folder)
    model = Wav2Vec2Model.from_pretrained(folder).eval()
    x = processor(_synthetic_voice(), sampling_rate=16000, return_tensors="pt").input_values
    with torch.no_grad():
        h = model(x, output_hidden_states=True).hidden_states
    return sum(h[i] for i in WAV2VEC2_LAYERS) / len(WAV2VEC2_LAYERS)


def _codebook_from_frames(model, features) -> None:
    """Codewords = the encoder's projected frames of a voice (a k-means-style start), so speech uses many codes."""
    import torch

    z_e = model.quantizer.in_project(model.encoder(features.transpose(1, 2)))[0].T  # (T, codebook_dim)
    pick = torch.from_numpy(np.random.default_rng(3).choice(z_e.shape[0], SLOT, replace=False))
    model.quantizer.codebook.weight.copy_(z_e[pick] + 0.01 * torch.randn(SLOT, z_e.shape[1]))


def _build_bicodec(folder: Path, size: str, features) -> None:
    import torch
    import yaml
    from safetensors.torch import save_file

    from ....fixtures import randomize_

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump({"audio_tokenizer": SIZES[size]["bicodec"]}, sort_keys=False))
    torch.manual_seed(0)
    model = load_bicodec_untrained(folder)
    stats = tuple(n for n, _ in model.named_buffers() if not n.endswith(("running_mean", "running_var")))
    randomize_(model, seed=2, std=0.1, keep=stats)
    with torch.no_grad():  # FSQ rounds tanh(x) at +-0.5 steps: give its input a spread so the tokens vary
        model.speaker_encoder.quantizer.project_in.weight.mul_(LATENT_GAIN[1])
        model.speaker_encoder.perceiver_sampler.latents.mul_(LATENT_GAIN[0])
        for p in model.speaker_encoder.speaker_encoder.modules():  # keep ECAPA's batch norms well scaled
            if isinstance(p, torch.nn.BatchNorm1d):
                p.running_var.abs_().add_(0.5)
        _codebook_from_frames(model, features)
        g = torch.Generator().manual_seed(4)
        for name, p in model.decoder.named_parameters():  # weight norm's g (original0), v (original1) stays
            if name.endswith("parametrizations.weight.original0"):
                p.copy_(WAVE_GAIN * (1 + 0.1 * torch.randn(p.shape, generator=g)) * torch.sign(p))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))


def load_bicodec_untrained(folder: Path):
    """spark_tts_lib's BiCodec built from `folder/config.yaml` (random init, no weights read)."""
    from spark_tts_lib.models.bicodec import BiCodec
    from spark_tts_lib.modules.encoder_decoder.feat_decoder import Decoder
    from spark_tts_lib.modules.encoder_decoder.feat_encoder import Encoder
    from spark_tts_lib.modules.encoder_decoder.wave_generator import WaveGenerator
    from spark_tts_lib.modules.speaker.speaker_encoder import SpeakerEncoder
    from spark_tts_lib.modules.vq.factorized_vector_quantize import FactorizedVectorQuantize
    from spark_tts_lib.utils.file import load_config

    c = load_config(Path(folder) / "config.yaml")["audio_tokenizer"]
    return BiCodec(c["mel_params"], Encoder(**c["encoder"]), WaveGenerator(**c["decoder"]),
                   FactorizedVectorQuantize(**c["quantizer"]), SpeakerEncoder(**c["speaker_encoder"]),
                   Decoder(**c["prenet"]), Decoder(**c["postnet"])).eval()


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """A seeded tiny Spark-TTS in the Spark-TTS-0.5B layout: config.yaml, LLM/, BiCodec/, wav2vec2-large-xlsr-53/."""
    import yaml

    folder = Path(folder)
    (folder / "config.yaml").write_text(yaml.safe_dump(TOP_CONFIG, sort_keys=False))
    _build_llm(folder / LLM_FOLDER, size)
    _build_wav2vec2(folder / WAV2VEC2_FOLDER, size)
    _build_bicodec(folder / BICODEC_FOLDER, size, _wav2vec2_features(folder / WAV2VEC2_FOLDER))
