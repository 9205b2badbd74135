"""`python -m mlx_audio_lab` is the `mlx-audio-lab` command."""

import sys

from .cli import main

sys.exit(main())
