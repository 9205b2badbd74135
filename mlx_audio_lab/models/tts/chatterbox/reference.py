"""The PyTorch side of Chatterbox: the `chatterbox-tts` package's modules, the fixture (upstream layout) and taps.

`chatterbox/__init__.py` imports the `perth` watermarker, which parity does not need: it is stubbed in
`sys.modules` here, in the reference run only.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np

from ....parity import TapPoint
from ....parity.inputs import spoken_or_noise
from .config import S3GEN_SR, HiFTConfig
from .flow import FlowConfig

SIZES = {  # the encoder stays 512 wide: the reference hard-codes its lookahead and upsampling convs at 512
    "tiny": dict(hift=dict(base_channels=32, f0_channels=16),
                 flow=dict(hidden=64, blocks=1, channels=32, est_blocks=1, mid_blocks=2, head_dim=8)),
}
PARITY_CLIP, PARITY_SECONDS = "harbor", 1.0
NOISE_SEED = 0


def stub_perth() -> None:
    """Let `import chatterbox` run without the `perth` watermarker (a no-op stand-in, reference runs only)."""
    if "perth" not in sys.modules:
        perth = types.ModuleType("perth")
        perth.PerthImplicitWatermarker = object
        sys.modules["perth"] = perth


def _hift_module(cfg: HiFTConfig):
    """The package's HiFTGenerator (with its ConvRNNF0Predictor) at `cfg`'s sizes, as S3Token2Wav builds it."""
    stub_perth()
    from chatterbox.models.s3gen.f0_predictor import ConvRNNF0Predictor
    from chatterbox.models.s3gen.hifigan import HiFTGenerator

    return HiFTGenerator(
        in_channels=cfg.in_channels, base_channels=cfg.base_channels, nb_harmonics=cfg.nb_harmonics,
        sampling_rate=cfg.sampling_rate, upsample_rates=list(cfg.upsample_rates),
        upsample_kernel_sizes=list(cfg.upsample_kernel_sizes),
        istft_params={"n_fft": cfg.n_fft, "hop_len": cfg.hop_len},
        resblock_kernel_sizes=list(cfg.resblock_kernel_sizes),
        resblock_dilation_sizes=[list(d) for d in cfg.resblock_dilation_sizes],
        source_resblock_kernel_sizes=list(cfg.source_resblock_kernel_sizes),
        source_resblock_dilation_sizes=[list(d) for d in cfg.source_resblock_dilation_sizes],
        f0_predictor=ConvRNNF0Predictor(in_channels=cfg.in_channels, cond_channels=cfg.f0_channels))


def _flow_module(cfg: FlowConfig):
    """The package's CausalMaskedDiffWithXvec (UpsampleConformerEncoder + CausalConditionalCFM) at `cfg`'s sizes."""
    stub_perth()
    from chatterbox.models.s3gen.configs import CFM_PARAMS
    from chatterbox.models.s3gen.decoder import ConditionalDecoder
    from chatterbox.models.s3gen.flow import CausalMaskedDiffWithXvec
    from chatterbox.models.s3gen.flow_matching import CausalConditionalCFM
    from chatterbox.models.s3gen.transformer.upsample_encoder import UpsampleConformerEncoder

    encoder = UpsampleConformerEncoder(
        output_size=cfg.dims, attention_heads=cfg.heads, linear_units=cfg.hidden, num_blocks=cfg.blocks,
        dropout_rate=0.1, positional_dropout_rate=0.1, attention_dropout_rate=0.1, normalize_before=True,
        input_layer="linear", pos_enc_layer_type="rel_pos_espnet", selfattention_layer_type="rel_selfattn",
        input_size=cfg.dims, use_cnn_module=False, macaron_style=False)
    estimator = ConditionalDecoder(
        in_channels=4 * cfg.mel_bins, out_channels=cfg.mel_bins, causal=True, channels=[cfg.channels], dropout=0.0,
        attention_head_dim=cfg.head_dim, n_blocks=cfg.est_blocks, num_mid_blocks=cfg.mid_blocks,
        num_heads=cfg.est_heads, act_fn="gelu")
    decoder = CausalConditionalCFM(spk_emb_dim=cfg.mel_bins, cfm_params=CFM_PARAMS, estimator=estimator)
    return CausalMaskedDiffWithXvec(input_size=cfg.dims, output_size=cfg.mel_bins, spk_embed_dim=cfg.spk_embed_dim,
                                    vocab_size=cfg.vocab_size, encoder=encoder, decoder=decoder)


class _S3Gen:
    """Holder of the reference's S3Gen parts under the checkpoint's names (`mel2wav`, `flow`)."""

    def __new__(cls, hift: HiFTConfig, flow: FlowConfig):
        import torch

        module = torch.nn.Module()
        module.flow = _flow_module(flow)
        module.mel2wav = _hift_module(hift)
        return module


def _seed_gains_(model, seed: int, scales: dict[str, float]) -> None:
    """Weight-norm gains near `scale` (1 by default) so activations stay O(1) through the stack."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("parametrizations.weight.original0"):
                scale = next((s for k, s in scales.items() if k in name), 1.0)
                p.copy_(scale * (1.0 + 0.2 * torch.randn(p.shape, generator=g)))


def build_s3gen(size: str = "tiny"):
    """A seeded tiny S3Gen (reference classes) whose outputs vary: F0 crosses the voiced threshold, etc."""
    import torch

    from ....fixtures import randomize_

    torch.manual_seed(0)
    model = _S3Gen(HiFTConfig(**SIZES[size]["hift"]), FlowConfig(**SIZES[size]["flow"])).eval()
    randomize_(model, seed=0, std=0.1)
    with torch.no_grad():  # token embeddings O(1); conformer output projections small (deep residual stacks)
        model.flow.input_embedding.weight.normal_(0.0, 1.0, generator=torch.Generator().manual_seed(2))
        for name, p in model.flow.named_parameters():
            if name.endswith(("linear_out.weight", "w_2.weight", "to_out.0.weight", "net.2.weight")):
                p.mul_(0.3)
    _seed_gains_(model, 1, {"conv_post": 0.5, "convs2": 0.5})
    with torch.no_grad():  # F0 of tens to hundreds of Hz: voiced and unvoiced stretches both occur
        model.mel2wav.f0_predictor.classifier.weight.mul_(400.0)
        model.mel2wav.f0_predictor.classifier.bias.fill_(60.0)
        for a in model.mel2wav.modules():
            if hasattr(a, "alpha") and isinstance(a.alpha, torch.nn.Parameter):
                a.alpha.copy_(1.0 + 0.3 * torch.randn(a.alpha.shape))
    return model


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """`s3gen.safetensors`, `t3_cfg.safetensors`, `tokenizer.json` as ResembleAI/chatterbox lays them out."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in build_s3gen(size).state_dict().items()}
    save_file(state, str(folder / "s3gen.safetensors"))
    save_file({k: v.contiguous() for k, v in build_t3(size).state_dict().items()}, str(folder / "t3_cfg.safetensors"))
    build_tokenizer(folder / "tokenizer.json")


def load_s3gen_reference(folder: Path):
    """The reference's S3Gen parts at the checkpoint's sizes, weights loaded strictly, fp32 eval."""
    from safetensors.torch import load_file

    state = load_file(str(Path(folder) / "s3gen.safetensors"))
    from .load import read_s3gen

    folded = read_s3gen(folder)[0]
    model = _S3Gen(HiFTConfig.from_state(folded), FlowConfig.from_state(folded))
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("tokenizer.")}, strict=True)
    return model.float().eval()


def hift_tap_points(cfg: HiFTConfig) -> list[TapPoint]:
    """HiFT's taps -> modules of the reference's `mel2wav`, in forward order."""
    k = len(cfg.resblock_kernel_sizes)
    names = ["f0_predictor", "m_source", "conv_pre"]
    for i in range(len(cfg.upsample_rates)):
        names += [f"ups.{i}", f"source_downs.{i}", f"source_resblocks.{i}"]
        names += [f"resblocks.{i * k + j}" for j in range(k)]
    # downstream of the source, errors are relative to its phase, which integrates F0's float32 rounding over
    # the clip (1e-6 relative in F0 -> ~2e-4 relative in the source): rtol 1e-3 there. Fed the reference's
    # source instead (the tests do), every row agrees to ~1e-6 relative.
    points = [TapPoint("hift.f0_predictor", "mel2wav.f0_predictor"), TapPoint("hift.m_source", "mel2wav.m_source")]
    points += [TapPoint(f"hift.{n}", f"mel2wav.{n}", layout="channels_first", rtol=1e-3)
               for n in names[2:] + ["conv_post", "magnitude", "phase"]]
    return points + [TapPoint("hift.audio", "mel2wav.audio", rtol=1e-3)]


def hift_draws(cfg: HiFTConfig, n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference SineGen's draws after `torch.manual_seed(seed)`: phases (1, H+1), noise (1, L, H+1)."""
    import torch
    from torch.distributions.uniform import Uniform

    n = cfg.nb_harmonics + 1
    torch.manual_seed(seed)
    phases = Uniform(low=-np.pi, high=np.pi).sample(sample_shape=(1, n, 1))
    phases[:, 0, :] = 0
    noise = torch.randn(1, n, n_samples)
    return phases[..., 0].numpy(), noise.transpose(1, 2).numpy()


def run_hift_reference(model, mel: np.ndarray, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """HiFT's inference on mel (1, T, 80) after `torch.manual_seed(seed)`: taps and audio (1, 480 T)."""
    import torch

    from ...codecs.reference import capture_reference

    hift = model.mel2wav
    cfg = HiFTConfig.from_state({f"mel2wav.{k}": v for k, v in hift.state_dict().items()})
    points = hift_tap_points(cfg)
    kept = {}
    post = hift.conv_post.register_forward_hook(lambda _m, _i, out: kept.setdefault("post", out.detach()))

    def run():
        torch.manual_seed(seed)
        return hift.inference(torch.from_numpy(mel).transpose(1, 2))

    try:
        acts, (audio, _source) = capture_reference(model, points, run)
    finally:
        post.remove()
    half = cfg.n_fft // 2 + 1
    acts["mel2wav.magnitude"] = torch.exp(kept["post"][:, :half]).numpy()
    acts["mel2wav.phase"] = torch.sin(kept["post"][:, half:]).numpy()
    acts["mel2wav.audio"] = audio.numpy()
    return acts, audio.numpy()


def parity_mel(seconds: float = PARITY_SECONDS) -> np.ndarray:
    """The S3Gen log-mel (1, T, 80) of a spoken clip at 24 kHz (the reference's `mel_spectrogram`)."""
    import torch

    stub_perth()
    from chatterbox.models.s3gen.utils.mel import mel_spectrogram

    audio = spoken_or_noise(PARITY_CLIP, S3GEN_SR)[: int(seconds * S3GEN_SR)]
    return mel_spectrogram(torch.from_numpy(audio)[None]).transpose(1, 2).numpy().astype(np.float32)


def flow_tap_points(cfg: FlowConfig) -> list[TapPoint]:
    """The flow's taps -> modules of the reference's `flow` (encoder; the estimator's first, CFG-batched call)."""
    enc = ["embed", "pre_lookahead_layer"] + [f"encoders.{i}" for i in range(cfg.blocks)] + ["up_layer", "up_embed"]
    enc += [f"up_encoders.{i}" for i in range(cfg.up_blocks)]
    points = [TapPoint("flow.spk_embed_affine_layer", "flow.spk_embed_affine_layer")]
    points += [TapPoint(f"flow.encoder.{n}", f"flow.encoder.{n}", layout="channels_first" if n == "up_layer"
                        else "same") for n in enc]
    points += [TapPoint("flow.encoder", "flow.encoder"), TapPoint("flow.encoder_proj", "flow.encoder_proj")]
    est = "flow.decoder.estimator"
    names = [("down_blocks.0.0", "channels_first")] + [(f"down_blocks.0.1.{j}", "same")
                                                       for j in range(cfg.est_blocks)]
    names += [(f"mid_blocks.{i}.1.{j}", "same") for i in range(cfg.mid_blocks) for j in range(cfg.est_blocks)]
    names += [("up_blocks.0.0", "channels_first")] + [(f"up_blocks.0.1.{j}", "same") for j in range(cfg.est_blocks)]
    names += [("up_blocks.0.2", "channels_first"), ("final_block", "channels_first"),
              ("final_proj", "channels_first")]
    points += [TapPoint(f"{est}.{n}", f"{est}.{n}", layout=lay) for n, lay in names]
    return points + [TapPoint("flow.mel", "flow.mel", layout="channels_first", tol=1e-3)]


def flow_noise(n_frames: int, seed: int, mel_bins: int = 80) -> np.ndarray:
    """The reference CFM's starting noise after `torch.manual_seed(seed)`: (1, frames, 80) in MLX layout."""
    import torch

    torch.manual_seed(seed)
    return torch.randn(1, mel_bins, n_frames).transpose(1, 2).numpy()


def run_flow_reference(model, inputs: dict[str, np.ndarray], seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The flow's inference (finalize, 10 Euler steps with CFG) after `torch.manual_seed(seed)`: taps, mel."""
    import torch

    from ...codecs.reference import capture_reference

    flow = model.flow
    cfg = FlowConfig.from_state({f"flow.{k}": v for k, v in flow.state_dict().items()})
    tokens = torch.from_numpy(inputs["tokens"]).long()
    prompt = torch.from_numpy(inputs["prompt_tokens"]).long()

    def run():
        torch.manual_seed(seed)
        return flow.inference(token=tokens, token_len=torch.tensor([tokens.shape[1]]), prompt_token=prompt,
                              prompt_token_len=torch.tensor([prompt.shape[1]]),
                              prompt_feat=torch.from_numpy(inputs["prompt_mel"]), prompt_feat_len=None,
                              embedding=torch.from_numpy(inputs["xvector"]), finalize=True,
                              n_timesteps=cfg.n_timesteps)

    acts, (mel, _) = capture_reference(model, flow_tap_points(cfg), run)
    acts["flow.mel"] = mel.numpy()
    return acts, mel.numpy()


def parity_inputs(folder: Path) -> dict[str, np.ndarray]:
    """T3: the parity text, a speaker vector, prompt tokens. S3Gen: seeded tokens (prompt and new), the prompt
    clip's mel, an x-vector, the noise seed; HiFT: the clip's mel."""
    prompt_mel = parity_mel(0.8)
    rng = np.random.default_rng(0)
    return {**t3_parity_inputs(folder), "prompt_tokens": rng.integers(0, 6561, (1, prompt_mel.shape[1] // 2)),
            "tokens": rng.integers(0, 6561, (1, 15)), "prompt_mel": prompt_mel,
            "xvector": rng.standard_normal((1, 192)).astype(np.float32), "hift_mel": parity_mel(),
            "seed": np.array([NOISE_SEED], np.int64)}


def tap_points(folder: Path) -> list[TapPoint]:
    """Every component's taps, by name: `t3.*`, `flow.encoder.*`, `flow.decoder.estimator.*`, `flow.mel`, `hift.*`."""
    from safetensors import safe_open

    from .load import read_s3gen

    state = read_s3gen(Path(folder))[0]
    with safe_open(str(Path(folder) / "t3_cfg.safetensors"), "np") as f:
        n_layers = len({k.split(".")[2] for k in f.keys() if k.startswith("tfmr.layers.")})
    return (t3_tap_points(n_layers) + flow_tap_points(FlowConfig.from_state(state))
            + hift_tap_points(HiFTConfig.from_state(state)))


def run_reference(folder: Path, inputs: dict[str, np.ndarray]):
    """The package's flow (tokens -> mel) and HiFT (the clip's mel -> audio) on the parity inputs."""
    model = load_s3gen_reference(folder)
    seed = int(np.asarray(inputs["seed"]).reshape(-1)[0])
    t3_acts, tokens, logits = run_t3_reference(load_t3_reference(folder), inputs)
    flow_acts, mel = run_flow_reference(model, inputs, seed)
    hift_acts, audio = run_hift_reference(model, inputs["hift_mel"], seed)
    return {**t3_acts, **flow_acts, **hift_acts}, {"speech_tokens": tokens, "speech_logits": logits,
                                                   "mel": mel.transpose(0, 2, 1), "audio": audio}


def run_mlx(folder: Path, inputs: dict[str, np.ndarray]):
    """The port on the same inputs and the same draws (the reference's noise and source draws, replayed)."""
    import mlx.core as mx

    from ....generation import SamplingConfig
    from ....taps import capture
    from .generate import speech_tokens
    from .load import load_s3gen, load_t3

    t3, logits = load_t3(folder), []
    with capture() as t3_acts:
        tokens = speech_tokens(t3, inputs["text_tokens"], inputs["speaker"], inputs["t3_prompt_tokens"],
                               float(inputs["exaggeration"][0]), float(inputs["cfg_weight"][0]),
                               SamplingConfig(temperature=0.0, repetition_penalty=1.2),
                               max_new_tokens=T3_PARITY_STEPS, logits_out=logits)
    model = load_s3gen(folder)
    seed = int(np.asarray(inputs["seed"]).reshape(-1)[0])
    n_frames = inputs["prompt_mel"].shape[1] + 2 * inputs["tokens"].shape[1]
    hift_mel = inputs["hift_mel"]
    phases, noise = hift_draws(model.mel2wav.config, hift_mel.shape[1] * model.mel2wav.config.upsample_scale, seed)
    with capture() as acts:
        mel = model.flow(mx.array(inputs["tokens"]), mx.array(inputs["prompt_tokens"]),
                         mx.array(inputs["prompt_mel"]), mx.array(inputs["xvector"]),
                         noise=mx.array(flow_noise(n_frames, seed)))
        audio, _ = model.mel2wav(mx.array(hift_mel), mx.array(phases), mx.array(noise))
    out = {"speech_tokens": tokens, "speech_logits": np.concatenate(logits), "mel": np.array(mel),
           "audio": np.array(audio)}
    return {k: np.array(v) for k, v in {**t3_acts, **acts}.items()}, out


def outputs_match(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Flow mel within 1e-3 for the same noise; HiFT audio within 1e-3 for the same mel and draws."""
    from ....parity import sig1

    def err(k: str) -> float:
        a, b = np.asarray(mlx_out[k]), np.asarray(ref_out[k])
        return float(np.abs(a - b).max()) if a.shape == b.shape else float("inf")

    e_mel, e_audio = err("mel"), err("audio")
    got, want = np.asarray(mlx_out["speech_tokens"]), np.asarray(ref_out["speech_tokens"])
    same = got.shape == want.shape and bool((got == want).all())
    varied = float(np.std(ref_out["mel"])) > 0.1 and float(np.std(ref_out["audio"])) > 1e-3
    varied = varied and len(np.unique(want)) > len(want) // 2
    note = (f"T3 greedy speech tokens {'identical' if same else 'differ'} ({len(want)} steps, "
            f"{len(np.unique(want))} distinct); flow mel max_abs {sig1(e_mel)}; HiFT audio max_abs {sig1(e_audio)}")
    return same and e_mel <= 1e-3 and e_audio <= 1e-3 and varied, note


def extra_rows(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> list:
    """T3's generation rows: greedy speech tokens, and each step's guided logits (the same tokens fed in)."""
    from ....parity.generation import logits_row, token_row

    return [token_row("t3.greedy_tokens", mlx_out["speech_tokens"], ref_out["speech_tokens"]),
            logits_row("t3.step_logits", mlx_out["speech_logits"], ref_out["speech_logits"], 1e-4)]


load_reference = load_s3gen_reference


# ----------------------------------------------------------------------------------------------------- T3

T3_SIZES = {  # the Perceiver is hard-coded 1024 wide upstream, so the backbone is too
    "tiny": dict(hidden_size=1024, intermediate_size=256, num_hidden_layers=2, num_attention_heads=16,
                 num_key_value_heads=4, head_dim=64, max_text_tokens=62, max_speech_tokens=124),
}
TOKENIZER_CHARS = " abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.,!?'\"-"
PARITY_TEXT = "The harbor lights flickered."
T3_PARITY_STEPS = 40


def _t3_module(size_or_cfg):
    """The package's T3 with a tiny Llama registered under its own name in `LLAMA_CONFIGS`."""
    stub_perth()
    from chatterbox.models.t3.llama_configs import LLAMA_520M_CONFIG_DICT, LLAMA_CONFIGS
    from chatterbox.models.t3.modules.t3_config import T3Config as HP
    from chatterbox.models.t3.t3 import T3

    sizes = dict(size_or_cfg)
    hp = HP()
    hp.max_text_tokens, hp.max_speech_tokens = sizes.pop("max_text_tokens"), sizes.pop("max_speech_tokens")
    name = "mlx_audio_lab_" + "_".join(str(v) for v in sizes.values())
    LLAMA_CONFIGS[name] = {**LLAMA_520M_CONFIG_DICT, **sizes}
    hp.llama_config_name = name
    return T3(hp)


def build_tokenizer(path: Path) -> None:
    """A character tokenizer.json: [STOP] 0, [UNK] 1, [SPACE] 2, characters, [START] 255 (upstream's ids)."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordPiece

    vocab = {"[STOP]": 0, "[UNK]": 1, "[SPACE]": 2}
    vocab.update({c: 3 + i for i, c in enumerate(TOKENIZER_CHARS.replace(" ", ""))})
    vocab["[START]"] = 255
    tok = Tokenizer(WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix="", max_input_chars_per_word=10_000))
    tok.add_special_tokens(["[START]", "[STOP]", "[UNK]", "[SPACE]"])
    tok.save(str(path))


def build_t3(size: str = "tiny"):
    """A seeded tiny T3 (reference class) whose greedy speech tokens vary."""
    import torch

    from ....fixtures import randomize_

    torch.manual_seed(0)
    model = _t3_module(T3_SIZES[size]).eval()
    randomize_(model, seed=3, std=0.05)
    return model


def load_t3_reference(folder: Path):
    """The package's T3 at the checkpoint's sizes, weights loaded strictly, fp32 eval."""
    from safetensors.torch import load_file

    from .t3 import T3Config

    state = load_file(str(Path(folder) / "t3_cfg.safetensors"))
    c = T3Config.from_state({k: v.numpy() for k, v in state.items()})
    model = _t3_module(dict(hidden_size=c.hidden_size, intermediate_size=c.intermediate_size,
                            num_hidden_layers=c.num_hidden_layers, num_attention_heads=c.hidden_size // c.head_dim,
                            num_key_value_heads=c.num_key_value_heads, head_dim=c.head_dim,
                            max_text_tokens=c.max_text_positions - 2, max_speech_tokens=c.max_speech_positions - 4))
    model.load_state_dict(state, strict=True)
    return model.float().eval()


def t3_tap_points(n_layers: int) -> list[TapPoint]:
    """T3's taps (the CFG-batched prefill) -> modules of the package's T3."""
    points = [TapPoint("t3.cond_enc", "cond_enc")]
    points += [TapPoint(f"t3.tfmr.layers.{i}", f"tfmr.layers.{i}") for i in range(n_layers)]
    return points + [TapPoint("t3.tfmr.norm", "tfmr.norm"), TapPoint("t3.speech_head", "speech_head")]


def t3_parity_inputs(folder: Path) -> dict[str, np.ndarray]:
    """Text ids of the parity sentence, a speaker vector, prompt speech tokens, exaggeration, CFG weight."""
    from .text import TextTokenizer

    rng = np.random.default_rng(1)
    return {"text_tokens": TextTokenizer(Path(folder) / "tokenizer.json").encode(PARITY_TEXT),
            "speaker": rng.standard_normal((1, 256)).astype(np.float32),
            "t3_prompt_tokens": rng.integers(0, 6561, (1, 20)),
            "exaggeration": np.array([0.5], np.float32), "cfg_weight": np.array([0.5], np.float32)}


def run_t3_reference(model, inputs: dict[str, np.ndarray], max_new_tokens: int = T3_PARITY_STEPS):
    """The package's `T3.inference` with argmax in place of `torch.multinomial` (temperature 1, min-p 0, top-p 1:
    greedy on the guided, penalised logits): prefill taps and the predicted tokens."""
    from unittest import mock

    import torch
    from chatterbox.models.t3 import t3 as t3_module
    from chatterbox.models.t3.modules.cond_enc import T3Cond

    from ...codecs.reference import capture_reference

    hp = model.hp
    ids = np.concatenate([[hp.start_text_token], inputs["text_tokens"], [hp.stop_text_token]])
    text = torch.from_numpy(np.stack([ids, ids])).long()
    cond = T3Cond(speaker_emb=torch.from_numpy(inputs["speaker"]),
                  cond_prompt_speech_tokens=torch.from_numpy(inputs["t3_prompt_tokens"]).long(),
                  emotion_adv=float(inputs["exaggeration"][0]) * torch.ones(1, 1, 1))

    def argmax(probs, num_samples=1, **_):
        return torch.argmax(probs, dim=-1, keepdim=True)

    def run():
        with mock.patch.object(torch, "multinomial", argmax), mock.patch.object(t3_module, "tqdm", lambda x, **_: x):
            return model.inference(t3_cond=cond, text_tokens=text, max_new_tokens=max_new_tokens, temperature=1.0,
                                   cfg_weight=float(inputs["cfg_weight"][0]), repetition_penalty=1.2, min_p=0.0,
                                   top_p=1.0)

    steps = []  # the last position's logits of every call: prefill, then one per token
    hook = model.speech_head.register_forward_hook(lambda _m, _i, out: steps.append(out[:, -1].detach().clone()))
    try:
        acts, tokens = capture_reference(model, t3_tap_points(len(model.tfmr.layers)), run)
    finally:
        hook.remove()
    w = float(inputs["cfg_weight"][0])
    guided = np.stack([(s[0] + w * (s[0] - s[1])).numpy() for s in steps])  # (steps, V), as the loop combines
    return acts, tokens[0].numpy(), guided[: len(tokens[0])]
