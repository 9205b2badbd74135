"""Inspectors: a plain-function core (data or a figure) and an ipywidgets view for each.

Every view has `.figure()` (a matplotlib Figure), `.show()`, `.widget` (an ipywidgets box with the CSS class
`mal-inspector` plus its own, e.g. `mal-audio-inspector`), and displays as the live widget + a static PNG +
a deterministic one-line text (what nbval compares). One line each:

    AudioInspector(clip, 16000)                                   # waveform, spectrogram, selection + player
    AudioInspector(reference, sr, other=port_out)                 # compare: difference spectrogram, SNR
    AttentionInspector.from_whisper(model, clip, tokens)          # layer / head / self+cross, alignment heads
    ParityInspector.for_model("whisper")                          # bars vs tolerance; layer -> histogram, worst
    ParityInspector(report)                                       # bars only, from a ParityReport / JSON
    TokenInspector.for_codec(codec, codes)                        # code grid, usage, entropy, decode a span
    TokenInspector.from_whisper(model, clip, k=5)                 # step-by-step tokens with top-k probabilities
    GenerationInspector(steps_or_audio_results_or_transcript)     # tokens, time, memory per step
    SamplingInspector(model.trace(text))                          # candidates per processor, code grid filling
    ArchitectureView.for_model("whisper")                         # stages as boxes with the tapped shapes
    ParityView(parity.run("whisper"))                             # checks table + error per layer vs tolerance
    ParityView(break_port("whisper", "encoder.layers.1.final_layer_norm.weight"))  # first divergence in red

Cores (no widgets, for tests and scripts): `spectrogram_data`, `snr_db`, `difference_spectrogram`,
`whisper_attention`, `select_map`, `run_with_tensors`, `differences`, `code_usage`, `code_entropy`,
`decode_span`, `whisper_steps`, `topk_steps`, `timeline`, `sampling_trace`; static views in `plots` (and `vad_figure`);
`architecture.model_stages` / `trace_stages`, `parity_view.break_port`, `prosody.prosody_figure` (durations,
alignment, F0, energy), `rvq.fit_residual_vq` (residual VQ fitted on a clip's own latents),
`spectra.head_figure` (an ISTFT head's magnitude, wrapped phase and instantaneous frequency),
`istft_head.head_mechanism_figure` (how an ISTFT head's Linear becomes a clipped magnitude and a wrapped phase),
`keymap_view.keymap_coverage` / `coverage_figure` (what a key map does to a checkpoint),
`server_paths.request_paths` / `request_path_figure` (the server's routes -> models -> writers, from its OpenAPI),
`module_tree.report_stages` (architecture stages from a `compare_modules` report: a port before it has taps).
"""

from __future__ import annotations

from .architecture import ArchitectureView, Stage, architecture_figure, model_stages, trace_stages
from .attention import AttentionInspector, AttentionMaps, select_map, whisper_attention
from .audio import AudioInspector, difference_spectrogram, snr_db, spectrogram_data
from .generation import GenerationInspector, SamplingInspector, SamplingTrace, Timeline, sampling_trace, timeline
from .parity import ParityInspector, ParityRun, differences, run_with_tensors
from .parity_view import ParityView, break_port, parity_view_figure, perturbed
from .tokens import DecodeStep, TokenInspector, code_entropy, code_usage, decode_span, topk_steps, whisper_steps
from .vad import vad_figure

__all__ = [
    "AttentionInspector", "AttentionMaps", "AudioInspector", "DecodeStep", "GenerationInspector",
    "ParityInspector", "ParityRun", "Timeline", "TokenInspector", "code_entropy", "code_usage", "decode_span",
    "difference_spectrogram", "differences", "run_with_tensors", "select_map", "snr_db", "spectrogram_data",
    "timeline", "topk_steps", "whisper_attention", "whisper_steps", "vad_figure",
    "SamplingInspector", "SamplingTrace", "sampling_trace",
    "ArchitectureView", "Stage", "architecture_figure", "model_stages", "trace_stages",
    "ParityView", "break_port", "parity_view_figure", "perturbed",
]
