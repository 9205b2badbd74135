"""Dia's tiny fixture: a seeded `DiaForConditionalGeneration` saved as nari-labs/Dia-1.6B is (transformers form),
with its processor (byte tokenizer, feature extractor, DAC audio tokenizer) and generation config."""

from __future__ import annotations

from pathlib import Path

CODEC_SIZE = "tiny-44khz"  # the project's DAC fixture with descript/dac_44khz's 9 codebooks of 1024 codes

SIZES = {
    "tiny": dict(
        encoder=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                     num_key_value_heads=2, head_dim=16, max_position_embeddings=256, vocab_size=256),
        decoder=dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=2, head_dim=16, cross_num_attention_heads=4, cross_head_dim=16,
                     cross_num_key_value_heads=2, cross_hidden_size=32, max_position_embeddings=512,
                     vocab_size=1028, num_channels=9),
    ),
}
# nari-labs/Dia-1.6B's generation_config.json (transformers form): sampled, guided, long.
GENERATION = dict(bos_token_id=1026, decoder_start_token_id=1026, eos_token_id=1024, pad_token_id=1025,
                  do_sample=True, guidance_scale=3.0, temperature=1.8, top_k=45, top_p=0.95, max_length=3072)
WEIGHT_STD = 0.15  # larger than the init's 0.02, so the tiny decoder's greedy codes wander instead of repeating


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """Save the seeded model (config.json, model.safetensors), generation_config.json and the processor files
    (tokenizer, feature extractor, processor_config.json naming the DAC fixture as its audio tokenizer).

    Upstream names the hub repo `descript/dac_44khz` there; the fixture names the DAC fixture's folder (an
    absolute path in the fixture cache), so `DiaProcessor.from_pretrained` and the port both find it offline."""
    import torch
    from transformers import (
        DacModel,
        DiaConfig,
        DiaFeatureExtractor,
        DiaForConditionalGeneration,
        DiaProcessor,
        DiaTokenizer,
        GenerationConfig,
    )

    from ....fixtures import build, randomize_

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rope = {"rope_type": "default", "rope_theta": 10000.0}
    s = SIZES[size]
    config = DiaConfig(encoder_config={**s["encoder"], "rope_parameters": rope},
                       decoder_config={**s["decoder"], "rope_parameters": rope},
                       delay_pattern=[0, 8, 9, 10, 11, 12, 13, 14, 15])
    torch.manual_seed(0)
    model = DiaForConditionalGeneration(config).eval()
    randomize_(model, seed=0, std=WEIGHT_STD)
    model.save_pretrained(folder, safe_serialization=True)
    GenerationConfig(**GENERATION).save_pretrained(folder)
    dac = build("dac", CODEC_SIZE)
    codec = DacModel.from_pretrained(str(dac))
    extractor = DiaFeatureExtractor(feature_size=1, sampling_rate=codec.config.sampling_rate,
                                    hop_length=codec.config.hop_length)
    DiaProcessor(extractor, DiaTokenizer(), codec).save_pretrained(folder)
