"""mlx-community layouts of the codecs: fixture (upstream layout) -> load -> export -> load gives the same codes and
audio; mlx-audio's own classes read the exported folders and agree; a broken folder is refused key by key.

Mimi's community layout is Kyutai's original checkpoint (`tokenizer-*.safetensors`), which mlx-audio reads and renames
at load time; its section is at the end.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten
from safetensors.numpy import load_file, save_file

import mlx_audio_lab
from mlx_audio_lab.convert import CheckpointError

CODECS = ["encodec", "dac", "snac", "vocos"]


def _export(model_type: str):
    """The `export_mlx_community` of a codec port."""
    from mlx_audio_lab.registry import spec_for

    return spec_for(model_type).port().load.export_mlx_community


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """model type -> (model loaded from the upstream fixture, its exported community folder, that folder loaded)."""
    from mlx_audio_lab.fixtures import build

    cache: dict[str, tuple] = {}

    def get(model_type: str):
        if model_type not in cache:
            model = mlx_audio_lab.load(build(model_type))
            folder = _export(model_type)(model, tmp_path_factory.mktemp(f"{model_type}-community"))
            cache[model_type] = (model, folder, mlx_audio_lab.load(folder))
        return cache[model_type]

    return get


def _chirp(sample_rate: int, seconds: float = 1.0) -> np.ndarray:
    """A seeded rising tone plus noise: enough variety to use many codewords."""
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    noise = np.random.default_rng(0).standard_normal(len(t))
    return (0.3 * np.sin(2 * np.pi * 220 * t * (1 + 2 * t)) + 0.05 * noise).astype(np.float32)


def _effective(model) -> dict[str, mx.array]:
    """Parameters as the forward pass uses them: an LSTM's two biases summed (the community file keeps one)."""
    params = dict(tree_flatten(model.parameters()))
    for k in [k for k in params if ".lstm.bias_ih_l" in k]:
        params[k] = params[k] + params.pop(k.replace("bias_ih", "bias_hh"))
    return params


def _codes(model, audio: np.ndarray) -> list[np.ndarray]:
    codes = model.encode(audio)
    return list(codes) if isinstance(codes, list) else [codes]


@pytest.mark.parametrize("model_type", CODECS)
def test_export_reload_same_parameters_codes_and_audio(pair, model_type):
    model, folder, again = pair(model_type)
    assert dict(tree_flatten(model.parameters())).keys() == dict(tree_flatten(again.parameters())).keys()
    ours, theirs = _effective(model), _effective(again)
    worst = max(float(mx.abs(ours[k] - theirs[k]).max()) for k in ours)
    assert worst <= 1e-6, worst  # weight norm split and folded again: float32 rounding only
    audio = _chirp(model.sample_rate)
    if model_type == "vocos":  # mel features -> audio
        feats = model.encode(audio)
        np.testing.assert_array_equal(feats, again.encode(audio))
        a, b = model.decode(feats), again.decode(feats)
    else:
        codes = _codes(model, audio)
        for c, d in zip(codes, _codes(again, audio)):
            np.testing.assert_array_equal(c, d)
        assert all(len(np.unique(c)) >= 5 for c in codes), "near-constant codes would hide mapping bugs"
        kw = {"seed": 7} if model_type == "snac" else {}  # SNAC's decoder injects noise
        a, b = model.decode(codes if model_type == "snac" else codes[0], **kw), \
            again.decode(codes if model_type == "snac" else codes[0], **kw)
    assert a.shape == b.shape and a.std() > 1e-3
    assert np.abs(a - b).max() <= 1e-5


@pytest.mark.parametrize("model_type,size", [("encodec", "48khz"), ("vocos", "encodec")])
def test_variants_export_and_reload(model_type, size, tmp_path):
    """encodec_48khz (GroupNorm convs) and the EnCodec-feature Vocos keep every parameter through the layout."""
    from mlx_audio_lab.fixtures import build

    model = mlx_audio_lab.load(build(model_type, size))
    again = mlx_audio_lab.load(_export(model_type)(model, tmp_path / "community"))
    ours, theirs = _effective(model), _effective(again)
    assert ours.keys() == theirs.keys() and len(ours) > 10
    assert max(float(mx.abs(ours[k] - theirs[k]).max()) for k in ours) == 0.0  # no weight norm to re-fold here
    assert again.config == model.config


def test_layout_files_and_detection(pair):
    for model_type in CODECS:
        _, folder, again = pair(model_type)
        names = sorted(p.name for p in Path(folder).iterdir())
        config = "config.yaml" if model_type == "vocos" else "config.json"
        assert {"model.safetensors", config} <= set(names), names
    _, folder, _ = pair("dac")
    config = json.loads((folder / "config.json").read_text())
    assert {"encoder_dim", "encoder_rates", "decoder_rates", "n_codebooks", "sample_rate"} <= set(config)


def test_vocos_export_writes_upstream_yaml_from_the_config(pair, tmp_path):
    """A Vocos loaded from the MLX layout (no `config.yaml` at hand) gets its upstream yaml rebuilt."""
    import yaml

    from mlx_audio_lab.convert.save import save_model
    from mlx_audio_lab.fixtures import build

    model, _, _ = pair("vocos")
    from_mlx = mlx_audio_lab.load(save_model(model, tmp_path / "mlx"))
    folder = _export("vocos")(from_mlx, tmp_path / "community")
    assert yaml.safe_load((folder / "config.yaml").read_text()) == \
        yaml.safe_load((build("vocos") / "config.yaml").read_text())
    again = dict(tree_flatten(mlx_audio_lab.load(folder).parameters()))
    for k, v in tree_flatten(model.parameters()):
        assert mx.array_equal(v, again[k]), k


def test_dac_community_config_without_model_type(pair, tmp_path):
    """mlx-community DAC configs hold only the constructor's arguments: detected by their keys."""
    model, folder, _ = pair("dac")
    bare = tmp_path / "dac"
    shutil.copytree(folder, bare)
    config = json.loads((bare / "config.json").read_text())
    del config["model_type"]
    (bare / "config.json").write_text(json.dumps(config))
    again = mlx_audio_lab.load(bare)
    np.testing.assert_array_equal(again.encode(_chirp(model.sample_rate)), model.encode(_chirp(model.sample_rate)))
    config["decoder_rates"] = config["decoder_rates"][1:] + config["decoder_rates"][:1]  # no longer mirrored
    (bare / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="decoder_rates"):
        mlx_audio_lab.load(bare)


# Per codec, in community names: a key to drop, a foreign key to add; then the port's name reported missing and
# the name reported unexpected.
_BREAK = {
    "encodec": ("decoder.layers.1.lstm.0.Wh", "decoder.layers.1.lstm.2.Wx",
                "decoder.layers.1.lstm.weight_hh_l0", "decoder.layers.1.lstm.weight_ih_l2 (mapped)"),
    "dac": ("encoder.block.layers.1.block.layers.4.weight_g", "encoder.block.layers.9.alpha",
            "encoder.block.0.conv1.weight", "encoder.block.layers.9.alpha"),
    "snac": ("decoder.model.layers.3.block.layers.2.linear.weight_v", "decoder.model.layers.3.block.layers.9.alpha",
             "decoder.model.3.block.2.linear.weight", "decoder.model.3.block.9.alpha (mapped)"),
    "vocos": ("backbone.convnext.1.gamma", "backbone.convnext.7.gamma",
              "backbone.convnext.1.gamma", "backbone.convnext.7.gamma (mapped)"),
}


@pytest.mark.parametrize("model_type", CODECS)
def test_broken_community_folder_lists_keys(pair, model_type, tmp_path):
    _, folder, _ = pair(model_type)
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    state = load_file(str(bad / "model.safetensors"))
    drop, extra, missing, unexpected = _BREAK[model_type]
    state[extra] = state.pop(drop)
    save_file(state, str(bad / "model.safetensors"), metadata={"format": "mlx"})
    with pytest.raises(CheckpointError) as e:
        mlx_audio_lab.load(bad)
    assert e.value.missing == [missing], str(e.value)
    assert unexpected in e.value.unexpected, str(e.value)
    assert str(bad / "model.safetensors") in str(e.value) and missing in str(e.value)


# --- the same folders read by mlx-audio's own classes --------------------------------------------------------------

@pytest.fixture(scope="module")
def mlx_audio():
    return pytest.importorskip("mlx_audio", reason="mlx-audio (the `peers` extra) is not installed")


def test_mlx_audio_reads_encodec(pair, mlx_audio, tmp_path):
    from mlx_audio.codec.models.encodec.encodec import Encodec, EncodecConfig, filter_dataclass_fields

    model, folder, _ = pair("encodec")
    peer_folder = tmp_path / "encodec"
    shutil.copytree(folder, peer_folder)
    # mlx-audio sizes its quantizer for 10-bit codebooks (bandwidth / (frame rate * 10)); the tiny fixture's are
    # 6-bit, so its model has fewer stages than the file: drop the extra ones before its strict load
    config = json.loads((peer_folder / "config.json").read_text())
    n = Encodec(EncodecConfig(**filter_dataclass_fields(config, EncodecConfig))).quantizer.num_quantizers
    state = {k: v for k, v in load_file(str(peer_folder / "model.safetensors")).items()
             if not k.startswith("quantizer.layers.") or int(k.split(".")[2]) < n}
    save_file(state, str(peer_folder / "model.safetensors"), metadata={"format": "mlx"})
    peer, _ = Encodec.from_pretrained(str(peer_folder))
    audio, bandwidth = _chirp(model.sample_rate), model.config.target_bandwidths[0]
    codes, scales = peer.encode(mx.array(audio)[None, :, None], bandwidth=bandwidth)
    ours = model.encode(audio, bandwidth=bandwidth)
    np.testing.assert_array_equal(np.array(codes[0, 0]), ours)
    decoded = np.array(peer.decode(codes.transpose(1, 0, 2, 3), scales)[0, :, 0])
    assert np.abs(decoded - model.decode(ours)).max() <= 1e-5


def test_mlx_audio_reads_dac(pair, mlx_audio):
    from mlx_audio.codec.models.descript.dac import DAC

    model, folder, _ = pair("dac")
    peer = DAC(**json.loads((folder / "config.json").read_text()))
    peer.load_weights(str(folder / "model.safetensors"))  # strict: every name and shape
    audio = _chirp(model.sample_rate)
    _, codes, *_ = peer.encode(peer.preprocess(mx.array(audio)[None, None], model.sample_rate))
    ours = model.encode(audio)
    np.testing.assert_array_equal(np.array(codes[0]), ours)
    decoded = np.array(peer.decode(peer.quantizer.from_codes(mx.array(ours)[None])[0])[0, :, 0])
    want = model.decode(ours)
    assert decoded.shape == want.shape and np.abs(decoded - want).max() <= 1e-4


def _drop_sequential_item(state: dict[str, np.ndarray], seq: str, index: int) -> dict[str, np.ndarray]:
    """Remove item `index` of a community `nn.Sequential` (prefix `seq`) and shift the later items down."""
    rx = re.compile(re.escape(seq) + r"\.(\d+)\.(.+)")
    out = {}
    for k, v in state.items():
        m = rx.fullmatch(k)
        if m and int(m[1]) == index:
            continue
        out[f"{seq}.{int(m[1]) - 1}.{m[2]}" if m and int(m[1]) > index else k] = v
    return out


def test_mlx_audio_reads_snac(pair, mlx_audio, tmp_path):
    """mlx-audio 0.6.2's SNAC attention assumes channels-first input, so the check runs on an attention-free
    copy (as snac_24khz is); its decoder output is not compared: with MLX >= 0.30 its transposed convs pass
    `groups` where `output_padding` now sits (one extra sample per block) and its noise varies per channel."""
    from mlx_audio.codec.models.snac.layers import normalize_weight
    from mlx_audio.codec.models.snac.snac import SNAC

    model, folder, _ = pair("snac")
    peer_folder = tmp_path / "snac"
    shutil.copytree(folder, peer_folder)
    config = json.loads((peer_folder / "config.json").read_text())
    state = load_file(str(peer_folder / "model.safetensors"))
    state = _drop_sequential_item(state, "encoder.block.layers", 1 + len(config["encoder_rates"]))
    state = _drop_sequential_item(state, "decoder.model.layers", 2 if config["depthwise"] else 1)
    config["attn_window_size"] = None
    (peer_folder / "config.json").write_text(json.dumps(config))
    save_file(state, str(peer_folder / "model.safetensors"), metadata={"format": "mlx"})
    ours = mlx_audio_lab.load(peer_folder)
    peer = SNAC.from_config(peer_folder / "config.json")
    peer.load_weights(str(peer_folder / "model.safetensors"))  # strict
    audio = _chirp(model.sample_rate)
    codes = ours.encode(audio)
    for c, p in zip(codes, peer.encode(mx.array(audio)[None, None]), strict=True):
        np.testing.assert_array_equal(np.array(p[0]), c)
    latents = peer.quantizer.from_codes([mx.array(c)[None] for c in codes])  # (1, D, T)
    want = ours.quantizer.decode([mx.array(c)[None] for c in codes])  # (1, T, D)
    assert float(mx.abs(latents.moveaxis(1, 2) - want).max()) <= 1e-5
    # every transposed conv of the decoder as mlx-audio computes it: g * v / ||v|| over (k, out), then (out, k, in)
    for i, block in enumerate(peer.decoder.model.layers[2:2 + len(config["decoder_rates"])]):
        conv = block.block.layers[1]
        w = (conv.weight_g * conv.weight_v / normalize_weight(conv.weight_v, except_dim=0)).swapaxes(0, 2)
        assert float(mx.abs(w - ours.decoder.model[2 + i].block[1].weight).max()) <= 1e-6


def test_mlx_audio_reads_vocos(pair, mlx_audio):
    """mlx-audio's ISTFT head ignores `padding: same`, so the audio is framed differently; the weighted part
    (backbone and the head's projection) is compared."""
    from mlx_audio.codec.models.vocos.vocos import Vocos

    model, folder, _ = pair("vocos")
    peer = Vocos.from_pretrained(str(folder))
    feats = mx.array(model.encode(_chirp(model.sample_rate)).T[None])  # (1, frames, n_mels)
    got = peer.head.out(peer.backbone(feats))
    want = model.head.out(model.backbone(feats))
    assert float(mx.std(want)) > 1e-2
    assert float(mx.abs(got - want).max()) <= 1e-5


# --- Mimi: Kyutai's original checkpoint layout (what mlx-audio's `Mimi.load_pytorch_weights` reads) -----------------

def _mimi_file(folder: Path) -> Path:
    return folder / json.loads((folder / "config.json").read_text())["mimi_name"]


def test_mimi_kyutai_layout_reloads_to_the_same_codes_and_audio(pair):
    """HF fixture -> port -> Kyutai's layout -> port: every parameter bit-equal, codes and audio identical."""
    model, folder, again = pair("mimi")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "tokenizer-e351c8d8-checkpoint125.safetensors"]
    state = load_file(str(_mimi_file(folder)))
    cfg = model.config
    fused = state["encoder_transformer.transformer.layers.1.self_attn.in_proj_weight"]
    assert fused.shape == (3 * cfg.hidden_size, cfg.hidden_size)
    assert state["decoder.model.2.convtr.convtr.weight"].shape == (8 * cfg.num_filters * 2, 8 * cfg.num_filters, 16)
    codebook = state["quantizer.rvq_rest.vq.layers.2._codebook.embedding_sum"]
    assert codebook.shape == (cfg.codebook_size, cfg.codebook_dim)
    assert not [k for k in state if "semantic" in k or ".layers." in k and k.startswith(("encoder.", "decoder."))]
    ours, theirs = dict(tree_flatten(model.parameters())), dict(tree_flatten(again.parameters()))
    assert ours.keys() == theirs.keys()
    assert max(float(mx.abs(ours[k] - theirs[k]).max()) for k in ours) == 0.0
    audio = _chirp(model.sample_rate, seconds=3.0)  # 75 transformer steps: well past the fixture's window of 8
    codes = model.encode(audio)
    np.testing.assert_array_equal(again.encode(audio), codes)
    assert all(len(np.unique(c)) >= 5 for c in codes), "near-constant codes would hide mapping bugs"
    a, b = model.decode(codes), again.decode(codes)
    assert a.std() > 1e-2 and np.abs(a - b).max() == 0.0


def test_mimi_kyutai_layout_found_by_key_signature(pair, tmp_path):
    """The same file renamed `model.safetensors` (no `mimi_name`) is still read as Kyutai's layout; without a Mimi
    config.json, kyutai/mimi's sizes apply and the tiny file is refused shape by shape."""
    model, folder, _ = pair("mimi")
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    config = json.loads((folder / "config.json").read_text())
    del config["mimi_name"]
    (renamed / "config.json").write_text(json.dumps(config))
    shutil.copy(_mimi_file(folder), renamed / "model.safetensors")
    audio = _chirp(model.sample_rate)
    np.testing.assert_array_equal(mlx_audio_lab.load(renamed).encode(audio), model.encode(audio))
    from mlx_audio_lab.models.codecs.mimi import load_model

    bare = tmp_path / "bare"  # a Kyutai repo: the checkpoint and no Mimi config
    bare.mkdir()
    shutil.copy(_mimi_file(folder), bare / _mimi_file(folder).name)
    with pytest.raises(ValueError, match=r"kyutai/mimi's sizes.*in_proj_weight has shape \(96, 32\).*1536 rows"):
        load_model(bare)


def test_mimi_kyutai_layout_broken_lists_keys(pair, tmp_path):
    _, folder, _ = pair("mimi")
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    path = _mimi_file(bad)
    state = load_file(str(path))
    state["encoder_transformer.transformer.layers.1.layer_scale_3.scale"] = state.pop(
        "encoder_transformer.transformer.layers.1.layer_scale_2.scale")
    del state["quantizer.rvq_first.vq.layers.0._codebook.cluster_usage"]  # a sum without its usage
    save_file(state, str(path))
    with pytest.raises(CheckpointError) as e:
        mlx_audio_lab.load(bad)
    assert e.value.missing == ["encoder_transformer.layers.1.mlp_layer_scale.scale",
                               "quantizer.semantic_residual_vector_quantizer.layers.0.codebook.embed"], str(e.value)
    assert {"encoder_transformer.transformer.layers.1.layer_scale_3.scale",
            "quantizer.rvq_first.vq.layers.0._codebook.embedding_sum"} <= set(e.value.unexpected), str(e.value)
    assert str(path) in str(e.value)
    state["encoder_transformer.transformer.layers.1.layer_scale_2.scale"] = state.pop(
        "encoder_transformer.transformer.layers.1.layer_scale_3.scale")
    state["quantizer.rvq_first.vq.layers.0._codebook.cluster_usage"] = np.ones(
        state["quantizer.rvq_first.vq.layers.0._codebook.embedding_sum"].shape[:1], np.float32)
    fused = "decoder_transformer.transformer.layers.0.self_attn.in_proj_weight"
    state[fused] = state[fused][:-1]
    save_file(state, str(path))
    with pytest.raises(ValueError, match=re.escape(fused)):
        mlx_audio_lab.load(bad)


def _mlx_audio_mimi(cfg, peer_mimi):
    """mlx-audio's Mimi sized like the port's config (its `mimi_202407` hard-codes kyutai/mimi's sizes).

    GELU is the exact (erf) one as in moshi's transformer (`F.gelu`): mlx-audio 0.6.2's `TransformerConfig` defaults
    to the tanh approximation, which moves the fixture's audio by ~3e-4 (the codes happen to survive).
    """
    from mlx_audio.codec.models.mimi.modules import SeanetConfig, TransformerConfig

    seanet = SeanetConfig(
        dimension=cfg.hidden_size, channels=cfg.audio_channels, causal=cfg.use_causal_conv, nfilters=cfg.num_filters,
        nresidual_layers=cfg.num_residual_layers, ratios=list(cfg.upsampling_ratios), ksize=cfg.kernel_size,
        residual_ksize=cfg.residual_kernel_size, last_ksize=cfg.last_kernel_size,
        dilation_base=cfg.dilation_growth_rate, pad_mode=cfg.pad_mode, true_skip=not cfg.use_conv_shortcut,
        compress=cfg.compress)
    transformer = TransformerConfig(
        d_model=cfg.hidden_size, num_heads=cfg.num_attention_heads, num_layers=cfg.num_hidden_layers, causal=True,
        norm_first=True, bias_ff=False, bias_attn=cfg.attention_bias, layer_scale=cfg.layer_scale_initial_scale,
        positional_embedding="rope", use_conv_block=False, cross_attention=False, conv_kernel_size=3,
        use_conv_bias=True, gating=False, norm="layer_norm", context=cfg.sliding_window,
        max_period=int(cfg.rope_theta), max_seq_len=cfg.max_position_embeddings, kv_repeat=1,
        dim_feedforward=cfg.intermediate_size, conv_layout=True, gelu="erf")
    return peer_mimi.Mimi(peer_mimi.MimiConfig(
        channels=cfg.audio_channels, sample_rate=cfg.sampling_rate, frame_rate=cfg.frame_rate, renormalize=True,
        seanet=seanet, transformer=transformer, quantizer_nq=cfg.num_quantizers, quantizer_bins=cfg.codebook_size,
        quantizer_dim=cfg.codebook_dim))


def test_mlx_audio_reads_mimi(pair, mlx_audio):
    """mlx-audio's own loader (`load_pytorch_weights`, strict) reads the exported file: same codes, same audio."""
    from mlx_audio.codec.models.mimi import mimi as peer_mimi

    model, folder, _ = pair("mimi")
    peer = _mlx_audio_mimi(model.config, peer_mimi)
    peer.load_pytorch_weights(str(_mimi_file(folder)), strict=True)
    audio = _chirp(model.sample_rate, seconds=3.0)
    codes = model.encode(audio)
    np.testing.assert_array_equal(np.array(peer.encode(mx.array(audio)[None, None]))[0], codes)
    decoded = np.array(peer.decode(mx.array(codes)[None]))[0, 0]
    want = model.decode(codes)
    assert decoded.shape == want.shape and want.std() > 1e-2
    assert np.abs(decoded - want).max() <= 1e-5
