"""The PyTorch side of OuteTTS: transformers' `LlamaForCausalLM`, the prompt built by the `outetts` package
(0.4.4, interface v3), the project's DAC for the codes; the fixture and taps.

`outetts` is imported module by module under a private name (`_outetts_src`): its `__init__` pulls its whole
stack (polars, llama-cpp, dac...) and, on import, replaces transformers' repetition-penalty processor
process-wide with its windowed one. Here that processor is swapped in only while the reference generates.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import shutil
import sys
import types
from pathlib import Path

import numpy as np

from ....generation import RecordedDraws, SamplingConfig, SeededDraws
from ....parity import TapPoint
from .config import DEFAULT_SPEAKER, ENGINE_SAMPLING
from .prompt import AUDIO_END, EOS, FEATURE_NAMES, WORD_START

SIZES = {
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, head_dim=16, max_position_embeddings=131072, rms_norm_eps=1e-5,
                 rope_theta=500000.0, tie_word_embeddings=False,  # untied: the designed head
                 rope_scaling={"rope_type": "llama3", "factor": 32.0, "high_freq_factor": 4.0,
                               "low_freq_factor": 1.0, "original_max_position_embeddings": 8192}),
}
PARITY_TEXT = "The harbor lights flickered."
PARITY_FRAMES = 40  # greedy / sampled runs: 80 tokens
PARITY_SAMPLING = SamplingConfig(**ENGINE_SAMPLING)
ATTENTION_GAIN = 1.0  # a long speaker profile: louder attention would drown the designed successor
DURATIONS = 1001  # <|t_0.00|> .. <|t_10.00|>
FEATURE_LEVELS = 101  # <|energy_0|> .. <|energy_100|> (and the same for the other two)
CORPUS = [
    "The cat watched from the windowsill, tail flicking with quiet curiosity as the first snowflakes fell.",
    "The harbor lights flickered as the night ferry pulled away from the dock.",
    "Hello there, how are you doing today? I am fine, thank you.",
    "Speech synthesis turns written words into sound, one frame at a time.",
]


def outetts_module(name: str) -> types.ModuleType:
    """`outetts.<name>` from the installed wheel, without running the package's `__init__`."""
    spec = importlib.util.find_spec("outetts")
    if spec is None:
        raise ImportError("the outetts package is missing: pip install --no-deps outetts==0.4.4")
    root = "_outetts_src"
    if root not in sys.modules:
        pkg = types.ModuleType(root)
        pkg.__path__ = list(spec.submodule_search_locations)
        sys.modules[root] = pkg
    return importlib.import_module(f"{root}.{name}")


def package_penalty_processor() -> type:
    """outetts' windowed `RepetitionPenaltyLogitsProcessorPatch` class, transformers left as it was.

    Importing `outetts.models.hf_model` assigns it over transformers' processor (and `generate` onto
    AutoModelForCausalLM) for the whole process: both are put back here.
    """
    import transformers.generation.utils as gen_utils
    from loguru import logger
    from transformers import AutoModelForCausalLM

    original, had_generate = gen_utils.RepetitionPenaltyLogitsProcessor, "generate" in vars(AutoModelForCausalLM)
    logger.disable("_outetts_src")
    try:
        return outetts_module("models.hf_model").RepetitionPenaltyLogitsProcessorPatch
    finally:
        gen_utils.RepetitionPenaltyLogitsProcessor = original
        if not had_generate and "generate" in vars(AutoModelForCausalLM):
            delattr(AutoModelForCausalLM, "generate")


@contextlib.contextmanager
def windowed_repetition_penalty():
    """While inside, transformers' `generate` uses outetts' repetition penalty over the last 64 tokens."""
    import transformers.generation.utils as gen_utils

    patched = package_penalty_processor()

    def windowed(penalty: float, prompt_ignore_length: int | None = None):  # transformers 5 adds the second argument
        if prompt_ignore_length:
            raise NotImplementedError("outetts' windowed penalty has no prompt_ignore_length")
        return patched(penalty)

    original = gen_utils.RepetitionPenaltyLogitsProcessor
    gen_utils.RepetitionPenaltyLogitsProcessor = windowed
    try:
        yield
    finally:
        gen_utils.RepetitionPenaltyLogitsProcessor = original


def tap_points(folder: Path) -> list[TapPoint]:
    """MLX tap -> module of `LlamaForCausalLM`, in forward order (teacher-forced pass over the whole sequence)."""
    n = json.loads((Path(folder) / "config.json").read_text())["num_hidden_layers"]
    points = [TapPoint("embed_tokens", "model.embed_tokens")]
    points += [TapPoint(f"layers.{i}", f"model.layers.{i}") for i in range(n)]
    return points + [TapPoint("norm", "model.norm"), TapPoint("logits", "lm_head", tol=1e-4)]


def special_tokens() -> list[str]:
    """OuteTTS 1.0's added tokens that the prompt and the output use (the real vocabulary has a few more)."""
    tokens = outetts_module("version.v3.tokens").SpecialTokens()
    named = [tokens.bos, tokens.eos, tokens.text_start, tokens.text_end, tokens.audio_start, tokens.audio_end,
             tokens.word_start, tokens.word_end, tokens.features, tokens.code, tokens.global_features_start,
             tokens.global_features_end]
    named += [tokens.time.format(i / 100) for i in range(DURATIONS)]
    named += [f"<|{k}_{v}|>" for k in FEATURE_NAMES for v in range(FEATURE_LEVELS)]
    return named + [tokens.c1.format(i) for i in range(1025)] + [tokens.c2.format(i) for i in range(1025)]


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """A seeded tiny Llama in the hub layout (config.json, model.safetensors, tokenizer files) + `dac/` (24 kHz)."""
    import torch
    from tokenizers import Tokenizer
    from transformers import LlamaConfig, LlamaForCausalLM

    from ....fixtures import build, randomize_
    from ....generation import designed
    from .prompt import AudioTokens

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dac = build("dac", "tiny-24khz")  # the codec, copied beside the weights (upstream downloads it apart)
    shutil.copytree(dac, folder / "dac", ignore=shutil.ignore_patterns(".complete"))
    codebook = json.loads((dac / "config.json").read_text())["codebook_size"]
    vocab = designed.bpe_tokenizer(folder, CORPUS, special_tokens(), "<|im_start|>", EOS, EOS, prepend_bos=False)
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    ids = AudioTokens(tok).ids[:, :codebook]  # (2, 1024): the codes the codec can decode
    cfg = LlamaConfig(vocab_size=vocab, bos_token_id=tok.token_to_id("<|im_start|>"),
                      eos_token_id=tok.token_to_id(EOS), **SIZES[size])
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).eval()
    randomize_(model, seed=0, std=0.08, keep=tuple(n for n, _ in model.named_buffers()))
    embed, head = designed.design_embeddings(vocab, cfg.hidden_size, list(ids), [tok.token_to_id(WORD_START)])
    with torch.no_grad():
        for layer in model.model.layers:  # louder attention: the prompt (text, speaker) moves the first code
            layer.self_attn.o_proj.weight.mul_(ATTENTION_GAIN)
        model.model.embed_tokens.weight.copy_(torch.from_numpy(embed))
        model.lm_head.weight.copy_(torch.from_numpy(head))
    model.generation_config.eos_token_id = [tok.token_to_id(AUDIO_END), tok.token_to_id(EOS)]
    model.save_pretrained(folder, safe_serialization=True)


def load_reference(folder: Path):
    """transformers' `LlamaForCausalLM` from the folder, fp32, eval, eager attention (the reference maths)."""
    from transformers import LlamaForCausalLM

    return LlamaForCausalLM.from_pretrained(folder, dtype="float32", attn_implementation="eager").eval()


def shipped_speaker(name: str = DEFAULT_SPEAKER) -> dict:
    """A speaker profile shipped in the outetts wheel, read as the package does (plain JSON)."""
    from .speakers import shipped_speakers

    return json.loads(shipped_speakers()[name].read_text())


def reference_prompt(folder: Path, text: str = PARITY_TEXT, speaker: dict | None = None) -> np.ndarray:
    """The package's prompt (PromptProcessor.get_completion_prompt) through its tokenizer (AutoTokenizer)."""
    import copy

    processor = outetts_module("version.v3.prompt_processor").PromptProcessor(str(folder))
    speaker = shipped_speaker() if speaker is None else speaker
    prompt = processor.get_completion_prompt(text, copy.deepcopy(speaker))  # it edits the profile in place
    ids = processor.tokenizer.encode(prompt, add_special_tokens=False)
    return np.array([ids], dtype=np.int64)


def reference_codes(folder: Path, tokens: np.ndarray) -> np.ndarray:
    """The package's `extract_audio_from_tokens`: codes (2, frames)."""
    processor = outetts_module("version.v3.prompt_processor").PromptProcessor(str(folder))
    return np.array(processor.extract_audio_from_tokens(np.asarray(tokens).reshape(-1).tolist()), dtype=np.int64)


def _stops(folder: Path) -> tuple[int, ...]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    return tok.token_to_id(AUDIO_END), tok.token_to_id(EOS)


def _generate(model, folder: Path, prompt: np.ndarray, config: SamplingConfig, draws) -> np.ndarray:
    from ....parity.generation import reference_generate

    with windowed_repetition_penalty():
        return reference_generate(model, prompt, config, draws, PARITY_FRAMES * 2, _stops(folder))


def parity_inputs(folder: Path) -> dict[str, np.ndarray]:
    """Prompt (package-built, shipped speaker), the draws, and the teacher: the reference's own sampled run."""
    prompt = reference_prompt(folder)
    draws = SeededDraws(0).next(PARITY_FRAMES * 2)
    sampled = _generate(load_reference(folder), folder, prompt, PARITY_SAMPLING, RecordedDraws(draws))
    return {"prompt": prompt, "draws": draws, "teacher": np.concatenate([prompt, sampled], axis=1)}


def run_reference(folder: Path, inputs: dict[str, np.ndarray]):
    """Taps + teacher-forced logits, greedy and sampled runs, codes by the package, DAC audio (transformers)."""
    import torch

    from ....parity.generation import reference_logits
    from ....parity.torch_hooks import capture_torch
    from ...codecs.dac.reference import load_reference as load_dac

    model = load_reference(folder)
    n_prompt = inputs["prompt"].shape[1]
    acts, logits = capture_torch(model, [p.ref for p in tap_points(folder)],
                                 lambda: reference_logits(model, inputs["teacher"], n_prompt))
    greedy = _generate(model, folder, inputs["prompt"], SamplingConfig(0.0), None)
    sampled = _generate(model, folder, inputs["prompt"], PARITY_SAMPLING, RecordedDraws(inputs["draws"]))
    codes = reference_codes(folder, greedy)
    dac = load_dac(Path(folder) / "dac")
    with torch.no_grad():
        audio = dac.decode(audio_codes=torch.from_numpy(codes)[None]).audio_values[0].numpy()
    return acts, {"teacher_logits": logits, "greedy": greedy, "sampled": sampled, "greedy_codes": codes,
                  "audio": audio, "prompt": inputs["prompt"]}


def run_mlx(folder: Path, inputs: dict[str, np.ndarray], **load_kw):
    """The port on the same inputs: its own prompt, taps over the teacher, logits through the KV cache, both runs."""

    from ....parity.generation import teacher_forced_run
    from .generate import generate_tokens
    from .load import load_model

    model = load_model(folder, **load_kw)
    acts, logits = teacher_forced_run(model, inputs)
    prompt = model.prompt_ids(PARITY_TEXT, DEFAULT_SPEAKER)  # built by the port, checked against the package's
    greedy = np.array([[s.token for s in generate_tokens(model, prompt, SamplingConfig(0.0), None, PARITY_FRAMES)]])
    sampled = np.array([[s.token for s in generate_tokens(model, prompt, PARITY_SAMPLING,
                                                           RecordedDraws(inputs["draws"]), PARITY_FRAMES)]])
    codes = model.audio_tokens.codes(greedy)
    return acts, {"teacher_logits": logits, "greedy": greedy, "sampled": sampled, "greedy_codes": codes,
                  "audio": model.codec.decode(codes), "prompt": np.array([prompt])}


def extra_rows(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> list:
    """The generation rows: prompt ids, teacher-forced logits, greedy tokens / codes, sampled tokens, DAC audio."""
    from ....parity.generation import logits_row, token_row
    from ....parity.report import compare_arrays

    rows = []
    if "prompt" in mlx_out and "prompt" in ref_out:
        rows.append(token_row("prompt.tokens", mlx_out["prompt"], ref_out["prompt"]))
    return rows + [
        logits_row("generation.teacher_forced_logits", mlx_out["teacher_logits"], ref_out["teacher_logits"], 1e-4),
        token_row("generation.greedy_tokens", mlx_out["greedy"], ref_out["greedy"]),
        token_row("generation.greedy_codes", mlx_out["greedy_codes"], ref_out["greedy_codes"]),
        token_row("generation.sampled_tokens", mlx_out["sampled"], ref_out["sampled"]),
        compare_arrays("dac.audio", mlx_out["audio"], ref_out["audio"], 1e-4)]


def outputs_match(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Prompt, greedy and sampled tokens identical, greedy codes varied (>= 32 frames), audio within 1e-4."""
    rows = extra_rows(mlx_out, ref_out)
    codes = np.asarray(ref_out["greedy_codes"])
    frames, distinct = codes.shape[1], len({tuple(c) for c in codes.T})
    ok = all(r.ok for r in rows) and frames >= 32 and distinct > frames // 2
    return ok, (f"greedy {frames} frames ({distinct} distinct), sampled {np.asarray(ref_out['sampled']).shape[1]}"
                " tokens; " + "; ".join(f"{r.name} {r.note or 'ok'}" for r in rows if r.note or not r.ok))


def report_extras(folder: Path, inputs: dict[str, np.ndarray], mlx_out: dict[str, np.ndarray]) -> dict:
    """Greedy-token agreement of bf16, 8-bit and 4-bit runs with fp32 (fraction equal, first diverging step)."""
    from ....parity.generation import precision_agreement
    from .generate import generate_tokens
    from .load import load_model

    def greedy(model) -> np.ndarray:
        prompt = inputs["prompt"][0].tolist()
        return np.array([[s.token for s in generate_tokens(model, prompt, SamplingConfig(0.0), None, PARITY_FRAMES)]])

    return precision_agreement(load_model, folder, greedy, mlx_out["greedy"])


# --- Voice cloning: the package's `create_speaker` (interface v3) on the same clip and word timings ---------------

CLONE_TEXT = "The harbor lights flickered as the ferry left."  # what the espeak-ng reference clip says


@contextlib.contextmanager
def _absent_modules_stubbed(names: tuple[str, ...]):
    """Empty stand-ins for top-level imports the cloning path never runs (descript `dac`, openai `whisper`,
    `uroman`, `MeCab`), only while outetts' modules import; real packages, where installed, are left alone."""
    added = [n for n in names if importlib.util.find_spec(n) is None and n not in sys.modules]
    for name in added:
        sys.modules[name] = types.ModuleType(name)
    try:
        yield
    finally:
        for name in added:
            sys.modules.pop(name, None)


class DescriptDacShim:
    """The surface of descript's `dac.DAC` that outetts' `DacInterface.encode` calls, over transformers' DacModel
    (the project's proven DAC reference): the package wants ibm-research/DAC.speech.v1.0 from the hub, which
    cannot be fetched offline; the fixture's DAC (24 kHz, hop 320, 2 codebooks) takes its place."""

    def __init__(self, dac_folder: Path):
        import torch

        from ...codecs.dac.reference import load_reference as load_dac

        self.model = load_dac(dac_folder)
        self.hop_length = int(np.prod(self.model.config.downsampling_ratios))
        self.device = torch.device("cpu")

    def encode(self, audio, n_quantizers=None):
        """(B, 1, T) -> descript's tuple (z, codes (B, n_q, frames), latents, commitment, codebook losses)."""
        return None, self.model.encode(audio).audio_codes, None, None, None


def package_audio_processor(folder: Path):
    """outetts' v3 `AudioProcessor` (its features, loudness normalisation, 5 s encode windows and word slicing),
    with `DescriptDacShim` as its codec and soundfile for `torchaudio.load` (torchaudio's .so files are removed
    here; the resampling stays torchaudio's)."""
    import soundfile as sf
    import torch

    with _absent_modules_stubbed(("dac", "whisper", "uroman", "MeCab")):
        module = outetts_module("version.v3.audio_processor")
    codec = module.DacInterface.__new__(module.DacInterface)
    codec.model, codec.sr, codec.device = DescriptDacShim(Path(folder) / "dac"), 24000, torch.device("cpu")

    def load_audio(source):
        data, rate = sf.read(source, dtype="float32", always_2d=True)
        return codec.convert_audio_tensor(torch.from_numpy(data.T.copy()), rate).unsqueeze(0)

    codec.load_audio = load_audio
    # the package asks for a tqdm bar (verbose=True) over its 5 s windows: the same windows, no bar
    codec.encode = lambda x, win_duration=5.0, verbose=False: type(codec).encode(codec, x, win_duration, False)
    processor = module.AudioProcessor.__new__(module.AudioProcessor)
    processor.device, processor.features, processor.audio_codec = torch.device("cpu"), module.Features("cpu"), codec
    return module, processor


def reference_speaker(folder: Path, clip: Path, text: str, words: list) -> dict:
    """The package's `create_speaker(...)` on `clip`, its Whisper step replaced by the given transcript and timed
    words (the same ones the port uses); `interface_version` added as `InterfaceHF.create_speaker` does."""
    from loguru import logger

    module, processor = package_audio_processor(folder)

    def transcribe(audio_path, model="turbo", device=None, language=None):
        timed = [{"word": " " + w.word, "start": w.start, "end": w.end} for w in words]
        return {"text": " " + text, "segments": [{"words": timed}]}

    original = module.transcribe_once_word_level
    module.transcribe_once_word_level = transcribe
    logger.disable("_outetts_src")
    try:
        speaker = outetts_module("version.v3.utils").create_speaker(processor, str(clip), "not-loaded")
    finally:
        module.transcribe_once_word_level = original
    speaker["interface_version"] = 3
    return json.loads(json.dumps(speaker))  # as saved and loaded: plain lists and numbers
