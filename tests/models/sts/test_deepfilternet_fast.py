"""DeepFilterNet3's CPU fast paths against the plain MLX path they replace (`plain_math`): the GRU's one-loop
recurrence (`layers/cpu/gru.py`), the grouped linear as one product per group, the convs as one im2col matmul,
and the transposed conv without the zero-stuffing. The real-weight parity vs onnxruntime is in
`test_deepfilternet.py` (those tests run with the fast paths on)."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

from mlx_audio_lab.layers import fast_math as fm


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("batch,hidden,layers", [(1, 128, 1), (1, 256, 2), (3, 128, 2), (2, 40, 1), (2, 48, 1)])
def test_gru_scan_equals_the_mlx_steps(monkeypatch, native, batch, hidden, layers):
    """Saturating gates from a nonzero state: the C loop (`gru_kernels.c`) and the numpy loop each equal the
    compiled MLX cell step by step (a hidden size off the kernel's 16-float vectors takes the numpy loop; 48 pads
    the 144 gate rows to two 128-row blocks)."""
    from mlx_audio_lab.layers.cpu import gru as cpu_gru
    from mlx_audio_lab.layers.cpu import gru_native
    from mlx_audio_lab.layers.gru import GRU

    if native and gru_native.library() is None:
        pytest.skip("no C compiler here: the GRU kernel is not built")
    if not native:
        monkeypatch.setattr(gru_native, "usable", lambda hidden: False)
    assert gru_native.usable(hidden) == (native and hidden % 16 == 0)
    natives = []
    monkeypatch.setattr(gru_native, "scan", lambda *a, f=gru_native.scan: natives.append(1) or f(*a))

    mx.random.seed(5)
    port = GRU(48, hidden, layers)
    port.update({k: 3.0 * v if k.startswith("weight") else v + 0.5 * mx.random.normal(v.shape)
                 for k, v in port.parameters().items()})
    x = mx.random.normal((batch, 300, 48))
    h0 = 0.8 * mx.random.normal((layers, batch, hidden))
    with fm.plain_math():
        assert not cpu_gru.gru_scan_active(x @ port.weight_ih_l0.T, port.weight_hh_l0)
        plain, h_plain = port(x, h0)
    calls = []
    original = cpu_gru.gru_scan
    monkeypatch.setattr("mlx_audio_lab.layers.gru.gru_scan", lambda *a: calls.append(1) or original(*a))
    fast, h_fast = port(x, h0)
    assert len(calls) == layers and len(natives) == (layers if gru_native.usable(hidden) else 0)
    assert float(plain.std()) > 0.3 and float(mx.abs(plain).max()) > 0.99  # outputs vary and saturate
    assert float(mx.abs(fast - plain).max()) < 2e-6 and float(mx.abs(h_fast - h_plain).max()) < 2e-6
    assert mx.array_equal(h_fast[-1], fast[:, -1])


@pytest.mark.parametrize("d_in,d_out,groups", [(3072, 512, 32), (512, 256, 16), (256, 960, 16)])
def test_grouped_linear_one_product_per_group(d_in, d_out, groups):
    from mlx_audio_lab.models.sts.deepfilternet.model import GroupedLinear

    mx.random.seed(1)
    layer = GroupedLinear(d_in, d_out, groups)
    layer.weight = mx.random.normal(layer.weight.shape) * (groups / d_in) ** 0.5
    x = mx.random.normal((1, 300, d_in))
    with fm.plain_math():
        plain = layer(x)
    fast = layer(x)
    assert fm.fast_math_active(x.size) and float(plain.std()) > 0.5
    assert float(mx.abs(fast - plain).max()) < 1e-5 * float(mx.abs(plain).max())


@pytest.mark.parametrize("c_in,c_out,kt,kf,groups,stride", [
    (1, 64, 3, 3, 1, 1),  # erb_conv0
    (2, 64, 3, 3, 2, 1),  # df_conv0's grouped part
    (64, 10, 5, 1, 2, 1),  # df_convp's grouped part
    (64, 1, 1, 3, 1, 1),  # erb_dec.conv0_out
    (8, 16, 2, 3, 2, 2),  # a strided grouped conv
    (64, 64, 1, 3, 64, 2),  # depthwise, strided (one compiled multiply-add over even / odd bins)
    (32, 8, 3, 3, 1, 1),  # projected taps with borders in time and frequency
    (16, 4, 2, 5, 4, 1),  # ... a wider frequency kernel, grouped
])
def test_conv_im2col_equals_mlx_conv2d(c_in, c_out, kt, kf, groups, stride):
    from mlx_audio_lab.models.sts.deepfilternet.convs import conv

    mx.random.seed(2)
    w = mx.random.normal((c_out, kt, kf, c_in // groups))
    b = mx.random.normal((c_out,))
    x = mx.random.normal((1, 300, 32, c_in))
    with fm.plain_math():
        plain = conv(x, w, b, stride_f=stride, groups=groups)
    fast = conv(x, w, b, stride_f=stride, groups=groups)
    assert fast.shape == plain.shape == (1, 300, (32 - 1) // stride + 1, c_out)
    assert float(mx.abs(fast - plain).max()) < 2e-6 * max(1.0, float(mx.abs(plain).max()))
    if c_out == 64 and groups == 64:  # the depthwise conv against a direct numpy correlation
        xp = np.pad(np.array(x), [(0, 0), (kt - 1, 0), (kf // 2, kf // 2), (0, 0)])
        want = sum(xp[:, i:i + 300, j:j + 32:stride] * np.array(w)[:, i, j, 0] for i in range(kt) for j in range(kf))
        assert np.abs(np.array(fast) - (want + np.array(b))).max() < 1e-5


@pytest.mark.parametrize("kt,kf,stride,bins", [(1, 3, 2, 96), (1, 3, 1, 8), (2, 3, 2, 16), (1, 3, 2, 33),
                                               (3, 3, 1, 17), (1, 1, 1, 32), (1, 5, 3, 20)])
def test_depthwise_fused_equals_the_plain_taps(monkeypatch, kt, kf, stride, bins):
    """The compiled depthwise multiply-add over zero-filled shifts (even / odd bins of a reshape for stride 2, strided
    slices for odd widths) sums the same products in the same order as the plain path: equal to the bit."""
    from mlx_audio_lab.models.sts.deepfilternet import convs

    mx.random.seed(3)
    w, b = mx.random.normal((64, kt, kf, 1)), mx.random.normal((64,))
    x = mx.random.normal((1, 400, bins, 64))
    with fm.plain_math():
        plain = convs.conv(x, w, b, stride_f=stride)
    calls = []
    original = convs._depthwise_fused
    monkeypatch.setattr(convs, "_depthwise_fused", lambda *a: calls.append(1) or original(*a))
    fast = convs.conv(x, w, b, stride_f=stride)
    assert calls and fast.shape == plain.shape == (1, 400, (bins - 1) // stride + 1, 64)
    assert float(plain.std()) > 1.0 and mx.array_equal(fast, plain)


@pytest.mark.parametrize("frames,bins", [(3, 32), (300, 4), (1, 1)])
def test_projected_taps_on_tiny_inputs(frames, bins):
    """Fewer frames than the time kernel or fewer bins than the frequency kernel: all border, still the conv."""
    from mlx_audio_lab.models.sts.deepfilternet import convs

    mx.random.seed(7)
    w, x = mx.random.normal((8, 5, 5, 64)), mx.random.normal((1, frames, bins, 64))
    want = mx.conv2d(mx.pad(x, [(0, 0), (4, 0), (0, 0), (0, 0)]), w, padding=(0, 2))
    got = convs._projected_taps(x, w)
    assert got.shape == want.shape and float(mx.abs(got - want).max()) < 2e-6 * float(mx.abs(want).max())


def test_conv_transpose_without_zero_stuffing():
    """The even / odd form equals the definition: the zero-stuffed input correlated with the flipped kernel."""
    from mlx_audio_lab.models.sts.deepfilternet.convs import conv, conv_transpose_f

    mx.random.seed(4)
    x, w = mx.random.normal((1, 50, 8, 64)), mx.random.normal((64, 1, 3, 1))
    z = mx.stack([x, mx.zeros_like(x)], axis=3).reshape(1, 50, 16, 64)
    want = conv(z, w[:, :, ::-1, :])
    assert mx.array_equal(conv_transpose_f(x, w), want)
    x = mx.random.normal((1, 300, 16, 64))  # the fast path: both outputs of a bin in one compiled loop
    with fm.plain_math():
        plain = conv_transpose_f(x, w)
    assert fm.fast_math_active(2 * x.size) and mx.array_equal(conv_transpose_f(x, w), plain)


@pytest.mark.parametrize("c_in,c_out,kt,kf,groups", [(2, 64, 3, 3, 2), (64, 10, 5, 1, 2)])  # df_conv0, df_convp
def test_separable_conv_folded_into_one(c_in, c_out, kt, kf, groups):
    """A grouped (not depthwise) conv and its 1x1 conv, with nothing between them, as one dense conv."""
    from mlx_audio_lab.models.sts.deepfilternet.model import SeparableConv

    mx.random.seed(6)
    layer = SeparableConv(c_in, c_out, kt, kf, groups)
    layer.update({"depthwise": {"weight": mx.random.normal(layer.depthwise["weight"].shape)},
                  "pointwise": {"weight": 0.3 * mx.random.normal((c_out, 1, 1, c_out)),
                                "bias": mx.random.normal((c_out,))}})
    x = mx.random.normal((1, 200, 96, c_in))
    with fm.plain_math():
        plain = layer(x)
    fast = layer(x)
    assert float((plain > 0).mean()) > 0.3 and float(plain.max()) > 1.0
    assert float(mx.abs(fast - plain).max()) < 2e-6 * float(mx.abs(plain).max())


@pytest.mark.parametrize("frames", [300, 3])
def test_enhanced_spectrum_on_float_pairs_equals_the_complex_ops(frames):
    """The deep filter and ERB gains on the spectrum's (re, im) float pairs: the same products and sums as the
    complex ops, equal to the bit (also with fewer frames than the filter's order)."""
    from mlx_audio_lab.models.sts.deepfilternet import dsp
    from mlx_audio_lab.models.sts.deepfilternet.config import DeepFilterNetConfig

    c = DeepFilterNetConfig()
    f = c.fft_size // 2 + 1
    mx.random.seed(8)
    spec = (mx.random.normal((frames, f)) + 1j * mx.random.normal((frames, f))).astype(mx.complex64)
    gains, coefs = mx.random.uniform(shape=(frames, c.nb_erb)), mx.random.normal((frames, c.nb_df, 2 * c.df_order))
    with fm.plain_math():
        plain = dsp.enhanced_spectrum(spec, gains, coefs, c)
    fast = dsp.enhanced_spectrum(spec, gains, coefs, c) if frames == 300 else dsp._enhanced_pairs(spec, gains, coefs, c)
    assert fm.fast_math_active(coefs.size) == (frames == 300)  # (the tiny one calls the fast path directly)
    assert fast.dtype == plain.dtype == mx.complex64 and fast.shape == plain.shape == (frames, f)
    assert float(mx.abs(plain).std()) > 0.5 and mx.array_equal(fast, plain)


def test_tanh_on_numpy_simd_loop(monkeypatch):
    """The DF coefficients' tanh on NumPy's SIMD loop: within an ulp or two of MLX's, saturating at +-1."""
    from mlx_audio_lab.layers.cpu import elementwise
    from mlx_audio_lab.models.sts.deepfilternet.convs import tanh

    mx.random.seed(9)
    x = 4.0 * mx.random.normal((1, 300, 960))
    with fm.plain_math():
        plain = tanh(x)
    calls = []
    monkeypatch.setattr(elementwise, "ufunc", lambda fn, a, f=elementwise.ufunc: calls.append(fn) or f(fn, a))
    fast = tanh(x)
    assert calls == [np.tanh]
    assert fm.fast_math_active(x.size) and float(mx.abs(plain).max()) == 1.0
    assert float(mx.abs(fast - plain).max()) <= 2.4e-7


@pytest.mark.parametrize("native", [True, False])
def test_grus_run_together_equal_each_run_alone(monkeypatch, native):
    """Two independent 2-layer GRUs layer by layer, their recurrences at once on two threads (C kernel) or one
    after another: the outputs equal each GRU run alone, and the plain MLX steps."""
    from mlx_audio_lab.layers.cpu import gru_native
    from mlx_audio_lab.layers.gru import GRU, run_together

    if native and gru_native.library() is None:
        pytest.skip("no C compiler here: the GRU kernel is not built")
    if not native:
        monkeypatch.setattr(gru_native, "usable", lambda hidden: False)
    mx.random.seed(10)
    grus = [GRU(64, 128, 2), GRU(64, 256, 2)]
    xs = [mx.random.normal((1, 200, 64)), 2.0 * mx.random.normal((1, 200, 64))]
    alone = [g(x)[0] for g, x in zip(grus, xs)]
    with fm.plain_math():
        plain = [g(x)[0] for g, x in zip(grus, xs)]
    scans = []
    monkeypatch.setattr(gru_native, "scan", lambda *a, f=gru_native.scan: scans.append(a[1].shape) or f(*a))
    together = run_together(grus, xs)
    assert len(scans) == (4 if native else 0)
    for t, a, p in zip(together, alone, plain):
        assert mx.array_equal(t, a) and float(mx.abs(t - p).max()) < 2e-6 and float(p.std()) > 0.1


def test_complex_scaling_on_float_pairs_and_the_dsp_around_it():
    """A complex spectrum times a real scale on its (re, im) pairs equals the complex multiply to the bit, and so
    do the analysis and synthesis that use it."""
    from mlx_audio_lab.models.sts.deepfilternet import dsp
    from mlx_audio_lab.models.sts.deepfilternet.config import DeepFilterNetConfig

    c = DeepFilterNetConfig()
    mx.random.seed(11)
    audio = dsp.pad_input(mx.random.normal((c.sr,)), c)
    with fm.plain_math():
        spec = dsp.analysis(audio, c)
        plain = (dsp.scaled(spec, 3.7), dsp.synthesis(spec, c.sr, c))
    fast_spec = dsp.analysis(audio, c)
    fast = (dsp.scaled(spec, 3.7), dsp.synthesis(spec, c.sr, c))
    assert fm.fast_math_active(2 * spec.size) and float(mx.abs(spec).std()) > 1e-4
    assert mx.array_equal(fast_spec, spec) and all(mx.array_equal(f, p) for f, p in zip(fast, plain))
    assert fast[0].dtype == mx.complex64 and fast[0].shape == spec.shape


def test_gru_kernel_switches_off_and_builds_by_source_hash(monkeypatch, tmp_path):
    """MLX_AUDIO_LAB_NO_NATIVE=1: no kernel, the numpy loop runs (same numbers); a build lands atomically under a
    name hashed from the source and flags, and a missing compiler gives None."""
    import shutil

    from mlx_audio_lab.layers.cpu import cbuild, gru_native
    from mlx_audio_lab.layers.gru import GRU

    mx.random.seed(12)
    port, x = GRU(32, 64, 1), mx.random.normal((1, 300, 32))
    with fm.plain_math():
        plain = port(x)[0]
    monkeypatch.setenv(cbuild.OFF_ENV, "1")
    monkeypatch.setattr(gru_native.KERNEL, "_lib", [])
    assert gru_native.library() is None and not gru_native.usable(64)
    assert float(mx.abs(port(x)[0] - plain).max()) < 2e-6
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here")
    source = tmp_path / "gru_kernels.c"
    kernel = gru_native.KERNEL
    for header in kernel.headers():  # the shared vector math it includes
        (tmp_path / header.name).write_bytes(header.read_bytes())
    source.write_bytes(kernel.source.read_bytes())
    monkeypatch.setattr(kernel, "source", source)
    built = kernel.build()
    assert built == kernel.library_path() and built.exists() and built.parent == tmp_path
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".so"] == [built.name]  # no temp file left
    source.write_text(source.read_text() + "\n/* edited */\n")
    assert kernel.library_path() != built  # an edited source is a new build, never the stale one
    edited = kernel.library_path()
    header = tmp_path / kernel.headers()[0].name
    header.write_text(header.read_text() + "\n/* edited */\n")
    assert kernel.library_path() != edited  # so is an edited header
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    assert kernel.build() is None


def test_spec_features_on_float_pairs_equal_the_complex_division():
    from mlx_audio_lab.models.sts.deepfilternet import dsp
    from mlx_audio_lab.models.sts.deepfilternet.config import DeepFilterNetConfig

    c = DeepFilterNetConfig()
    mx.random.seed(13)
    spec = (mx.random.normal((1001, 481)) + 1j * mx.random.normal((1001, 481))).astype(mx.complex64)
    with fm.plain_math():
        plain = dsp.spec_features(spec, c)
    fast = dsp.spec_features(spec, c)
    assert fm.fast_math_active(2 * 1001 * c.nb_df) and fast.shape == plain.shape == (1001, c.nb_df, 2)
    assert float(plain.std()) > 1.0 and mx.array_equal(fast, plain)


def test_taps_fire_in_the_same_order_with_the_fast_paths():
    """The real networks on 2 s of random features: the same taps in the same order, fast paths on or off (the
    decoders' GRUs run together, their taps stay where they were), every tap close to the plain path's."""
    from mlx_audio_lab.hub import resolve
    from mlx_audio_lab.models.sts.deepfilternet import load_model
    from mlx_audio_lab.taps import capture

    net = load_model(resolve("deepfilternet3")).net
    mx.random.seed(14)
    feats = (0.5 * mx.random.normal((1, 200, 32, 1)), mx.random.normal((1, 200, 96, 2)))
    with fm.plain_math(), capture() as plain:
        net(*feats)
    with capture() as fast:
        net(*feats)
    assert list(fast) == list(plain) and len(plain) == 25
    for name, want in plain.items():
        assert float(mx.abs(fast[name] - want).max()) <= 1e-5 * max(1.0, float(mx.abs(want).max())), name


def test_networks_on_one_blas_thread_equal_two(monkeypatch):
    """The networks run their matmuls on one OpenBLAS thread (`blas_threads`): the same numbers as on two (OpenBLAS
    never splits a sum between threads), and the thread count is restored afterwards."""
    from mlx_audio_lab.hub import resolve
    from mlx_audio_lab.layers.cpu import blas_threads
    from mlx_audio_lab.models.sts.deepfilternet import load_model
    from mlx_audio_lab.models.sts.deepfilternet import model as mdl
    from mlx_audio_lab.models.sts.deepfilternet.model import DfNet

    fns = blas_threads._openblas_threads()
    if fns is None:
        pytest.skip("MLX does not run on OpenBLAS here")
    net = load_model(resolve("deepfilternet3")).net
    mx.random.seed(15)
    feats = (0.5 * mx.random.normal((1, 300, 32, 1)), mx.random.normal((1, 300, 96, 2)))
    seen, before = [], fns[0]()
    monkeypatch.setattr(DfNet, "_networks", lambda self, *a, f=DfNet._networks: seen.append(fns[0]()) or f(self, *a))
    one = net(*feats)
    with blas_threads.mlx_blas_threads(2):
        two = net._networks(*feats, mdl.side_stream(True))
        mx.eval(two)
    assert seen == [1, 2] and fns[0]() == before
    for a, b in zip(one, two):
        assert mx.array_equal(a, b) and float(a.std()) > 0.01


def test_second_stream_gives_the_same_networks(monkeypatch):
    """The branches that do not wait on a GRU on a second CPU stream (`model.side_stream`): every tap, in the same
    order, equal to the bit to the one-stream fast path (the C conv kernels off: on one stream they also take the
    convs that the second stream leaves to MLX)."""
    from mlx_audio_lab.hub import resolve
    from mlx_audio_lab.layers.cpu import tf_conv_native
    from mlx_audio_lab.models.sts.deepfilternet import load_model
    from mlx_audio_lab.models.sts.deepfilternet import model as mdl
    from mlx_audio_lab.taps import capture

    net = load_model(resolve("deepfilternet3")).net
    mx.random.seed(16)
    feats = (0.5 * mx.random.normal((1, 300, 32, 1)), mx.random.normal((1, 300, 96, 2)))
    monkeypatch.setattr(tf_conv_native, "library", lambda: None)
    used = []
    monkeypatch.setattr(mdl, "side_stream", lambda fast, f=mdl.side_stream: used.append(f(fast)) or used[-1])
    with capture() as two:
        net(*feats)
    monkeypatch.setattr(mdl, "side_stream", lambda fast: None)
    with capture() as one:
        net(*feats)
    assert used and used[0] is not None and used[0] != mx.default_stream(mx.cpu)
    assert list(two) == list(one) and len(one) == 25
    for name, want in one.items():
        assert mx.array_equal(two[name], want), name


@pytest.mark.parametrize("c_in,c_out,kt,kf,groups,stride,bins,frames,transposed", [
    (2, 64, 3, 3, 2, 1, 96, 400, False),  # df_conv0 (grouped, folded with its 1x1 into one dense conv)
    (2, 64, 3, 3, 2, 1, 2, 4000, False),  # ... fewer bins than the kernel: borders everywhere
    (64, 64, 1, 3, 64, 2, 96, 400, False),  # df_conv1: depthwise, stride 2, then the 1x1
    (64, 64, 1, 3, 64, 2, 33, 400, False),  # ... an odd width
    (64, 64, 1, 3, 64, 1, 8, 400, False),  # erb_conv3 / convt3
    (8, 32, 2, 3, 2, 2, 17, 400, False),  # a strided grouped conv, odd width
    (64, 64, 1, 3, 64, 1, 16, 400, True),  # convt1: transposed depthwise (16 -> 32 bins), then the 1x1
    (32, 32, 1, 3, 32, 1, 7, 400, True),  # ... an odd width, fewer channels
])
def test_tf_conv_kernels_equal_the_mlx_paths(monkeypatch, c_in, c_out, kt, kf, groups, stride, bins, frames,
                                             transposed):
    """`SeparableConv` through the C kernels (tf_conv_kernels.c: bias and ReLU in the same pass) against the same
    module on MLX's fast path (kernels off) and on the plain path."""
    from mlx_audio_lab.layers.cpu import tf_conv_native
    from mlx_audio_lab.models.sts.deepfilternet.model import SeparableConv

    if tf_conv_native.library() is None:
        pytest.skip("no C compiler here: the tf conv kernels are not built")
    mx.random.seed(17)
    m = SeparableConv(c_in, c_out, kt, kf, groups, stride_f=stride, transposed=transposed)
    m.depthwise["weight"] = 0.3 * mx.random.normal(m.depthwise["weight"].shape)
    m.pointwise["weight"] = 0.2 * mx.random.normal(m.pointwise["weight"].shape)
    m.pointwise["bias"] = 0.1 * mx.random.normal(m.pointwise["bias"].shape)
    x = mx.random.normal((1, frames, bins, c_in))
    calls = []

    def counted(f):
        return lambda *a, **k: calls.append(1) or f(*a, **k)

    monkeypatch.setattr(tf_conv_native, "dense_conv", counted(tf_conv_native.dense_conv))
    monkeypatch.setattr(tf_conv_native, "separable_conv", counted(tf_conv_native.separable_conv))
    native = m(x)
    assert calls
    with fm.plain_math():
        plain = m(x)
    monkeypatch.setattr(tf_conv_native, "library", lambda: None)
    fast = m(x)
    scale = float(mx.abs(plain).max())
    width = 2 * bins if transposed else (bins - 1) // stride + 1
    assert native.shape == plain.shape == (1, frames, width, c_out) and float(plain.std()) > 0.1
    assert float(mx.abs(native - fast).max()) < 2e-6 * scale and float(mx.abs(native - plain).max()) < 2e-6 * scale
    assert float(native.min()) == 0.0  # the ReLU
    assert m(x, native=False).shape == native.shape and mx.array_equal(m(x, native=False), fast)
