"""Server settings: where it listens, which models it offers, and its limits (size, concurrency, queue, CORS)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ServerConfig:
    """Everything `create_app` needs; `mlx-audio-lab serve` fills it from its flags."""

    host: str = "127.0.0.1"
    port: int = 8000
    models: tuple[str, ...] = ()  # preloaded at start-up (also offered when they are folders)
    fixtures: bool = True  # offer `fixture:<model_type>` ids (tiny seeded checkpoints, for trying the API fast)
    max_upload_mb: float = 25.0  # request bodies above this are refused with 413 (OpenAI's limit is 25 MB)
    max_input_chars: int = 4096  # speech input above this is refused with 400 (OpenAI's limit)
    max_concurrency: int = 2  # requests of one model admitted at a time (they still compute one by one)
    max_queue: int = 8  # requests of one model waiting for a slot; above it: 429
    queue_timeout_s: float = 300.0  # a request waiting longer than this for a slot gets 503
    cors_origins: tuple[str, ...] = ()  # e.g. ("*",) or ("http://localhost:3000",); empty: no CORS headers
    vad: str = "auto"  # realtime utterance cutting: "energy", "silero" or "auto" (silero when installed)
    default_beam_size: int = 5  # as `mlx-audio-lab transcribe`
    extra: dict[str, str] = field(default_factory=dict)  # model id -> reference, for ids other than their path

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)
