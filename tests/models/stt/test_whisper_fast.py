"""Whisper's CPU fast paths against its plain MLX path: the NumPy decoder step (`step.py`), its C kernel for one
row (`layers/cpu/transformer_native.py`) and the encoder's NumPy attention (`layers/cpu/attention.py`) give the same
tokens and logits within float32 rounding."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

from mlx_audio_lab.layers import plain_math
from mlx_audio_lab.layers.cpu.attention import attention
from mlx_audio_lab.models.stt.whisper.decoding import beam_search, greedy
from mlx_audio_lab.models.stt.whisper.step import Stepper, fast_step_active

NO_TS = 50362


@pytest.fixture(scope="module")
def fixture_model(whisper_fixture):
    """(MLX model, audio features (1, 1500, d) from the plain encoder) of the random fixture."""
    from mlx_audio_lab.models.stt.whisper import load_model, reference

    model = load_model(whisper_fixture)
    with plain_math():
        audio = model.embed_audio(mx.array(reference.parity_inputs(whisper_fixture)["mel"]))
    return model, audio


def test_fast_step_is_taken_on_the_cpu():
    assert mx.default_device() == mx.cpu and fast_step_active()
    with plain_math():
        assert not fast_step_active()


@pytest.mark.parametrize("rows", [1, 3])
def test_step_logits_equal_plain(fixture_model, rows):
    """30 teacher-forced steps (different tokens per row): fast logits within float32 rounding of the plain ones."""
    model, audio = fixture_model
    audio = mx.broadcast_to(audio, (rows, *audio.shape[1:]))
    prompt = [50257, NO_TS]
    plain, fast = Stepper(model, audio, prompt, rows, fast=False), Stepper(model, audio, prompt, rows, fast=True)
    assert fast.fast and not plain.fast
    _assert_step_close(fast.logits, plain.logits)  # one row: the prompt went through the step too
    if rows > 1:
        np.testing.assert_array_equal(plain.logits, fast.logits)  # several rows: the prefill is the plain call
    feed = np.random.default_rng(0).integers(0, 50000, (30, rows))
    for tokens in feed:
        want, got = plain(tokens.tolist()), fast(tokens.tolist())
        scale = np.abs(want).max()
        assert np.abs(got - want).max() <= 2e-5 * scale, np.abs(got - want).max() / scale
        assert (got.argmax(-1) == want.argmax(-1)).all()
    assert fast.pos == len(prompt) + len(feed)


def _assert_step_close(got: np.ndarray, want: np.ndarray) -> None:
    """The fast step's bound against the plain logits (float32 rounding), the same argmax."""
    scale = np.abs(want).max()
    assert np.abs(got - want).max() <= 2e-5 * scale, np.abs(got - want).max() / scale
    assert (got.argmax(-1) == want.argmax(-1)).all()


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("prompt", [[50257], [50257, NO_TS], [50257, NO_TS, 400, 401, 402, 403, 404, 405]])
def test_stepped_prefill_equals_plain(fixture_model, prompt, native):
    """One row, a short prompt: cross keys/values from two BLAS products for all layers, the prompt through the step
    (the C kernel, or the NumPy step over strided value views) instead of the MLX model call. Same caches and logits
    within the step's float32 bound (the plain call stays the reference: it is not bit-equal any more, as the
    step's sums run in another order), then 10 steps on."""
    from mlx_audio_lab.models.stt.whisper.step import STEPPED_PROMPT

    model, audio = fixture_model
    assert len(prompt) <= STEPPED_PROMPT
    plain, fast = Stepper(model, audio, prompt, fast=False), Stepper(model, audio, prompt, fast=True)
    if native and fast.native is None:
        pytest.skip("C kernel not built or off (MLX_AUDIO_LAB_NO_NATIVE=1): the NumPy step runs")
    if not native:
        fast.native = None
    assert fast.pos == len(prompt) and not fast.state.cross_attn[0]  # no MLX call filled the plain state
    _assert_step_close(fast.logits, plain.logits)
    for (k_t, v), (want_k, want_v) in zip(fast.cross, plain.state.cross_attn):
        want_k, want_v = np.array(want_k), np.array(want_v)
        np.testing.assert_allclose(k_t.swapaxes(-1, -2), want_k, rtol=0, atol=1e-5 * np.abs(want_k).max())
        np.testing.assert_allclose(v, want_v, rtol=0, atol=1e-5 * np.abs(want_v).max())
    for layer, (k, v) in enumerate(zip(fast.keys, fast.values)):
        c = plain.state.self_attn[layer]
        for got, want in ((k, c.keys), (v, c.values)):
            want = np.array(want[..., : len(prompt), :])
            np.testing.assert_allclose(got[..., : len(prompt), :], want, rtol=0, atol=2e-5 * np.abs(want).max())
    for token in np.random.default_rng(7).integers(0, 50000, 10):
        _assert_step_close(fast([int(token)]), plain([int(token)]))


def test_long_prompts_and_batches_keep_the_plain_prefill(fixture_model):
    from mlx_audio_lab.models.stt.whisper.step import STEPPED_PROMPT

    model, audio = fixture_model
    long = Stepper(model, audio, [50257] * (STEPPED_PROMPT + 1), fast=True)
    rows = Stepper(model, mx.broadcast_to(audio, (2, *audio.shape[1:])), [50257], 2, fast=True)
    assert all(s.state.cross_attn[0] is not None for s in (long, rows))


def test_a_quantized_decoder_keeps_the_plain_step(whisper_fixture):
    """8-bit weights are packed for MLX's quantized matmuls: decoding takes the plain step and still transcribes."""
    from mlx_audio_lab.models.stt.whisper import load_model, reference

    model = load_model(whisper_fixture, quantize=8, group_size=32)
    audio = model.embed_audio(mx.array(reference.parity_inputs(whisper_fixture)["mel"]))
    assert fast_step_active() and not Stepper(model, audio, [50257, NO_TS]).fast
    got = greedy(model, audio, [50257, NO_TS], max_new_tokens=30, timestamps=False)
    with plain_math():
        want = greedy(model, audio, [50257, NO_TS], max_new_tokens=30, timestamps=False)
    assert got == want and len(set(got)) >= 3


@pytest.mark.parametrize("timestamps", [False, True])
def test_fast_greedy_tokens_equal_plain(fixture_model, timestamps):
    model, audio = fixture_model
    prompt = [50257] if timestamps else [50257, NO_TS]
    got = greedy(model, audio, prompt, max_new_tokens=60, timestamps=timestamps)
    with plain_math():
        want = greedy(model, audio, prompt, max_new_tokens=60, timestamps=timestamps)
    assert got == want and len(set(got)) >= 3


def test_fast_beam_tokens_equal_plain(fixture_model):
    """Beam search reorders the fixed caches as the plain path reorders its growable ones."""
    model, audio = fixture_model
    got = beam_search(model, audio, [50257], 3, max_new_tokens=40, timestamps=True)
    with plain_math():
        want = beam_search(model, audio, [50257], 3, max_new_tokens=40, timestamps=True)
    assert got == want and len(set(got)) >= 3


def test_native_step_equals_numpy_step(fixture_model):
    """One row: the C kernel (`layers/cpu/transformer_native.py`) steps the whole stack; 30 teacher-forced steps give
    the NumPy step's logits within float32 rounding and the same caches."""
    from mlx_audio_lab.layers.cpu import transformer_native

    if transformer_native.library() is None:
        pytest.skip("C kernel not built or off (MLX_AUDIO_LAB_NO_NATIVE=1): the NumPy step runs")
    model, audio = fixture_model
    native, numpy = Stepper(model, audio, [50257], fast=True), Stepper(model, audio, [50257], fast=True)
    numpy.native = None
    assert native.native is not None
    for token in np.random.default_rng(2).integers(0, 50000, 30):
        want, got = numpy([int(token)]), native([int(token)])
        scale = np.abs(want).max()
        assert np.abs(got - want).max() <= 2e-5 * scale, np.abs(got - want).max() / scale
        assert got.argmax() == want.argmax()
    for a, b in zip(native.keys + native.values, numpy.keys + numpy.values):
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-5 * np.abs(b).max())


def test_native_step_is_the_same_on_one_or_two_threads(fixture_model):
    """The helper thread takes whole chunks (projection tiles, heads, vocabulary rows): the same sums either way."""
    from mlx_audio_lab.layers.cpu import transformer_native

    if transformer_native.library() is None:
        pytest.skip("C kernel not built or off (MLX_AUDIO_LAB_NO_NATIVE=1): the NumPy step runs")
    model, audio = fixture_model
    stepper = Stepper(model, audio, [50257], fast=True)
    w = stepper.weights
    for pos, token in enumerate([220, 400, 1000, 50300], start=1):
        x = w.embed[token] + w.positions[pos]
        one = stepper.native[0].step(x.copy(), pos, w.embed, threads=1)
        for _ in range(5):
            np.testing.assert_array_equal(stepper.native[0].step(x.copy(), pos, w.embed, threads=2), one)


def test_encoder_mlp_kernel_equals_plain(fixture_model):
    """The encoder MLP through the BLAS and the C bias + GELU against fc2(gelu(fc1(h))) with the plain ops; one
    or two threads give the same bits; a wrapped (recorded) Linear keeps the plain MLP."""
    from mlx_audio_lab.layers import gelu
    from mlx_audio_lab.layers.cpu import transformer_native as tn

    if tn.library() is None:
        pytest.skip("C kernel not built or off (MLX_AUDIO_LAB_NO_NATIVE=1): the MLX MLP runs")
    model, _ = fixture_model
    layer = model.encoder.layers[0]
    h = mx.array(np.random.default_rng(3).standard_normal((1, 1500, layer.fc1.weight.shape[1]), np.float32) * 3)
    assert tn.gelu_mlp_fits(h, layer.fc1, layer.fc2)
    with plain_math():
        assert not tn.gelu_mlp_fits(h, layer.fc1, layer.fc2)
        want = np.array(layer.fc2(gelu(layer.fc1(h))))
    got = np.array(tn.gelu_mlp(h, layer.fc1, layer.fc2))
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
    x = np.random.default_rng(4).standard_normal((37, 1000), np.float32) * 4
    b = np.random.default_rng(5).standard_normal(1000, np.float32)
    one = tn.bias_gelu_(x.copy(), b, threads=1)
    np.testing.assert_array_equal(tn.bias_gelu_(x.copy(), b, threads=2), one)
    with plain_math():
        np.testing.assert_allclose(one, np.array(gelu(mx.array(x + b))), rtol=0, atol=1e-6)

    class Recorded(type(layer.fc1)):
        pass

    layer.fc1.__class__ = Recorded
    try:
        assert not tn.gelu_mlp_fits(h, layer.fc1, layer.fc2)
    finally:
        layer.fc1.__class__ = Recorded.__bases__[0]


@pytest.mark.parametrize("shape", [(1, 1500), (2, 300)])
def test_encoder_layer_kernel_equals_plain(fixture_model, shape):
    """One encoder layer in one C call (norms, fused q | k | v, attention, out projection, MLP, residuals) against
    the layer's plain MLX ops: the same values within float32 rounding; a wrapped (recorded) norm keeps the
    module-by-module path, so a recorder still sees every submodule called."""
    from mlx_audio_lab.layers.cpu import transformer_native as tn

    if tn.library() is None:
        pytest.skip("C kernel not built or off (MLX_AUDIO_LAB_NO_NATIVE=1): the MLX layer runs")
    model, _ = fixture_model
    layer = model.encoder.layers[1]
    sa = layer.self_attn
    norms = (layer.self_attn_layer_norm, layer.final_layer_norm)
    linears = (sa.q_proj, sa.k_proj, sa.v_proj, sa.out_proj, layer.fc1, layer.fc2)
    x = mx.array(np.random.default_rng(11).standard_normal((*shape, sa.q_proj.weight.shape[1]), np.float32) * 2)
    assert tn.encoder_layer_fits(x, norms, linears)
    with plain_math():
        assert not tn.encoder_layer_fits(x, norms, linears)
        want = np.array(layer(x))
    got = np.array(tn.encoder_layer(x, norms, linears, sa.heads, sa.scale))
    assert np.abs(got - want).max() <= 2e-5 * np.abs(want).max()
    np.testing.assert_array_equal(np.array(layer(x)), got)  # the layer's own call takes the kernel

    class Recorded(type(layer.final_layer_norm)):
        pass

    layer.final_layer_norm.__class__ = Recorded
    try:
        assert not tn.encoder_layer_fits(x, norms, linears)
    finally:
        layer.final_layer_norm.__class__ = Recorded.__bases__[0]


def test_products_on_the_kernels_threads_equal_the_blas():
    """Inside `blas_on_own_threads` the BLAS products that `gemv.blas_gemm` serves are split by rows over the
    kernel's threads (one BLAS thread each): the same bits as the BLAS's own product, the bias as starting value."""
    from mlx_audio_lab.layers.cpu import transformer_native as tn
    from mlx_audio_lab.layers.cpu.gemv import blas_gemm

    if tn.library() is None or blas_gemm() is None:
        pytest.skip("no C kernel or no OpenBLAS: nothing is split")
    rng = np.random.default_rng(12)
    a, w = rng.standard_normal((1003, 96), np.float32), rng.standard_normal((200, 96), np.float32)
    bias = rng.standard_normal(200, np.float32)
    want = tn._matmul_t(a, w, bias)
    with tn.blas_on_own_threads():
        assert blas_gemm() is not blas_gemm(raw=True)
        got = tn._matmul_t(a, w, bias)
    assert blas_gemm() is blas_gemm(raw=True)
    with plain_math(), tn.blas_on_own_threads():  # the plain path's products keep the BLAS's own threads
        assert blas_gemm() is blas_gemm(raw=True)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(got, a @ w.T + bias, rtol=1e-4, atol=1e-4)


def test_front_end_gelu_kernel_equals_plain(fixture_model):
    """The conv front end's GELU through the C pass (a conv1-sized input) against the plain GELU; off with plain
    math."""
    from mlx_audio_lab.layers import gelu
    from mlx_audio_lab.layers.cpu import transformer_native as tn

    if tn.library() is None:
        pytest.skip("C kernel not built or off (MLX_AUDIO_LAB_NO_NATIVE=1): the MLX GELU runs")
    x = mx.array(np.random.default_rng(8).standard_normal((1, 3000, 384), np.float32) * 4)
    assert tn.gelu_fits(x)
    with plain_math():
        assert not tn.gelu_fits(x)
        want = np.array(gelu(x))
    np.testing.assert_allclose(np.array(tn.gelu(x)), want, rtol=0, atol=1e-6)


def test_native_steps_on_concurrent_threads_equal_serial(fixture_model):
    """Two Python threads stepping their own decodings at once (the GIL is released in the call): one holds the
    kernel's helper thread, the other runs alone; both get the serial logits."""
    import threading

    from mlx_audio_lab.layers.cpu import transformer_native

    if transformer_native.library() is None:
        pytest.skip("C kernel not built or off (MLX_AUDIO_LAB_NO_NATIVE=1): the NumPy step runs")
    model, audio = fixture_model
    feed = np.random.default_rng(6).integers(0, 50000, 40).tolist()

    def decode(out: list) -> None:
        stepper = Stepper(model, audio, [50257], fast=True)
        out.extend(stepper([t]) for t in feed)

    want: list = []
    decode(want)
    got: list[list] = [[], []]
    threads = [threading.Thread(target=decode, args=(g,)) for g in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g in got:
        np.testing.assert_array_equal(np.stack(g), np.stack(want))


def test_kernels_switch_off(fixture_model, monkeypatch):
    """MLX_AUDIO_LAB_NO_NATIVE=1: no transformer kernel; the encoder (NumPy attention blocks, MLX MLP) still equals
    the plain path."""
    from mlx_audio_lab.layers.cpu import cbuild, transformer_native
    from mlx_audio_lab.models.stt.whisper import reference

    monkeypatch.setenv(cbuild.OFF_ENV, "1")
    monkeypatch.setattr(transformer_native.KERNEL, "_lib", [])
    assert transformer_native.library() is None
    model, want = fixture_model
    layer = model.encoder.layers[0]
    assert not transformer_native.gelu_mlp_fits(mx.zeros((1, 1500, layer.fc1.weight.shape[1])), layer.fc1, layer.fc2)
    got = model.embed_audio(mx.array(reference.parity_inputs(model.source)["mel"]))
    assert float(mx.abs(got - want).max()) <= 1e-4 * float(mx.abs(want).max())


def test_without_the_kernel_the_numpy_step_runs(fixture_model, monkeypatch):
    from mlx_audio_lab.models.stt.whisper.step import step_weights

    model, audio = fixture_model
    monkeypatch.setattr(step_weights(model), "_kernel", [None])
    assert Stepper(model, audio, [50257], fast=True).native is None
    got = greedy(model, audio, [50257], max_new_tokens=40, timestamps=True)
    with plain_math():
        want = greedy(model, audio, [50257], max_new_tokens=40, timestamps=True)
    assert got == want and len(set(got)) >= 3


def test_one_beam_tokens_equal_plain(fixture_model):
    """Beam search of one beam: the kernel's caches are re-pointed after every reorder."""
    model, audio = fixture_model
    got = beam_search(model, audio, [50257], 1, max_new_tokens=40, timestamps=True)
    with plain_math():
        want = beam_search(model, audio, [50257], 1, max_new_tokens=40, timestamps=True)
    assert got == want and len(set(got)) >= 3


@pytest.mark.parametrize("native", [False, True])
@pytest.mark.parametrize(("threads", "size"), [(1, 2.0), (2, 2.0), (2, 0.5), (2, 8.0)])
def test_numpy_attention_equals_mlx(threads, size, native):
    """Row blocks (300 rows: NumPy's two full and one partial, the C kernel's one full of 192 and one partial; its
    keys transposed per head first), scores within +-60 (no shift) and far beyond (shifted); the
    NumPy blocks and the C kernel (`transformer_native.attention_into`, where it is built)."""
    from mlx_audio_lab.layers.cpu import transformer_native

    if native and transformer_native.library() is None:
        pytest.skip("C kernel not built or off (MLX_AUDIO_LAB_NO_NATIVE=1): the NumPy blocks run")
    rng = np.random.default_rng(1)
    B, T, S, H, D = 2, 300, 250, 4, 16
    q, k, v = (mx.array(rng.standard_normal((B, n, H * D)).astype(np.float32) * size) for n in (T, S, S))
    got = np.array(attention(q, k, v, H, threads=threads, native=native))

    def split(x):
        return x.reshape(B, -1, H, D).transpose(0, 2, 1, 3)

    want = mx.fast.scaled_dot_product_attention(split(q), split(k), split(v), scale=1.0)
    want = np.array(want.transpose(0, 2, 1, 3).reshape(B, T, H * D))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_fused_qkv_attention_equals_separate(fixture_model):
    """The encoder's q | k | v as one BLAS product, the kernel reading its column blocks (rows 3 d apart): the same
    attention as the separate projections through `attention`; a wrapped (recorded) projection keeps them separate."""
    from mlx_audio_lab.layers.cpu import transformer_native as tn

    if tn.library() is None:
        pytest.skip("C kernel not built or off (MLX_AUDIO_LAB_NO_NATIVE=1): the separate projections run")
    model, _ = fixture_model
    a = model.encoder.layers[1].self_attn
    x = mx.array(np.random.default_rng(9).standard_normal((2, 300, a.q_proj.weight.shape[1]), np.float32))
    assert tn.fused_qkv_fits(x, a.q_proj, a.k_proj, a.v_proj)
    qkv = tn.fused_qkv(x, a.q_proj, a.k_proj, a.v_proj, a.scale)
    d = qkv.shape[-1] // 3
    q, k, v = a.q_proj(x) * a.scale, a.k_proj(x), a.v_proj(x)
    for got, want in zip((qkv[..., :d], qkv[..., d : 2 * d], qkv[..., 2 * d :]), (q, k, v)):
        np.testing.assert_allclose(got, np.array(want), rtol=0, atol=1e-5 * float(mx.abs(want).max()))
    out = np.empty((2, 300, d), np.float32)
    assert tn.attention_into(qkv[..., :d], qkv[..., d : 2 * d], qkv[..., 2 * d :], a.heads, out)
    want = np.array(attention(q, k, v, a.heads))
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-5 * np.abs(want).max())

    class Recorded(type(a.k_proj)):
        pass

    a.k_proj.__class__ = Recorded
    try:
        assert not tn.fused_qkv_fits(x, a.q_proj, a.k_proj, a.v_proj)
    finally:
        a.k_proj.__class__ = Recorded.__bases__[0]


def test_encoder_fast_equals_plain(fixture_model):
    """The whole encoder with the NumPy attention (and the other CPU fast paths) against the plain ops."""
    from mlx_audio_lab.models.stt.whisper import reference

    model, want = fixture_model
    got = model.embed_audio(mx.array(reference.parity_inputs(model.source)["mel"]))
    scale = float(mx.abs(want).max())
    assert float(mx.abs(got - want).max()) <= 1e-4 * scale


@pytest.mark.slow
def test_real_transcript_fast_equals_plain(espeak):
    """Real tiny.en, the 46 s clip through `transcribe` (greedy, timestamps): identical tokens and segments."""
    import mlx_audio_lab
    from mlx_audio_lab.fixtures.speech import speech

    model = mlx_audio_lab.load("whisper-tiny.en")
    wav = speech("long", 16000)
    got = model.transcribe(wav, beam_size=1)
    with plain_math():
        want = model.transcribe(wav, beam_size=1)
    assert got.tokens == want.tokens and len(got.tokens) > 100
    assert [(s.start, s.end) for s in got.segments] == [(s.start, s.end) for s in want.segments]


def _report_names(report) -> list[str]:
    return [r.name for r in report.layers]


def test_parity_reports_list_the_same_layers_with_fast_paths_on_or_off(whisper_fixture, fixture_model, tmp_path,
                                                                       monkeypatch):
    """The rule for every CPU fast path: a parity report lists the same layers under MLX_AUDIO_LAB_PLAIN_MATH=1
    and without it. Both kinds of report: `compare_modules` (module calls, as notebooks/porting.ipynb runs it on
    the encoder) and `parity.run` (the port's taps)."""
    import torch

    from mlx_audio_lab import parity
    from mlx_audio_lab.layers import fast_math
    from mlx_audio_lab.models.stt.whisper import reference
    from mlx_audio_lab.parity.modules import compare_modules

    model, _ = fixture_model
    ref = reference.load_reference(whisper_fixture)
    mel = reference.parity_inputs(whisper_fixture)["mel"]
    mel_ref = torch.from_numpy(np.ascontiguousarray(mel.transpose(0, 2, 1)))
    recording = parity.record("whisper", whisper_fixture, tmp_path / "ref.safetensors")
    monkeypatch.setattr(fast_math, "_enabled", None)  # follow the environment variable
    names = {}
    for plain in ("0", "1"):
        monkeypatch.setenv(fast_math.PLAIN_ENV, plain)
        assert fast_math.fast_math_active() == (plain == "0")
        modules = compare_modules(model.encoder, ref.model.encoder, (mx.array(mel),), (mel_ref,))
        taps = parity.run("whisper", weights=whisper_fixture, recording=recording)
        assert modules.ok and taps.ok
        names[plain] = (_report_names(modules), _report_names(taps))
    assert names["0"] == names["1"]
    n_layers = len(model.encoder.layers)
    assert len(names["0"][0]) == 3 + 10 * n_layers  # conv1, conv2, layer_norm; 10 modules per layer
    assert all(f"layers.{i}.self_attn" in names["0"][0] for i in range(n_layers))


def test_last_only_logits_equal_the_last_row(fixture_model):
    """A prompt's prefill projects only its last position (one GEMV instead of a (T, vocab) product)."""
    model, audio = fixture_model
    tokens = mx.array([[50257, 50362, 400, 401, 402, 403]])
    full = np.array(model.logits(tokens, audio))
    last = np.array(model.logits(tokens, audio, last_only=True))
    assert last.shape == (1, 1, full.shape[-1])
    np.testing.assert_allclose(last[:, 0], full[:, -1], rtol=1e-5, atol=1e-5 * np.abs(full).max())
