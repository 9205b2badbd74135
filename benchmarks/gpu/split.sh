#!/usr/bin/env bash
# One device call carries at most 64 MiB including the tracked tree (21 MB now), so the two ~45 MB halves of the
# mlx-cuda wheel that ../shared/device/mlx-cuda-prepare leaves in .gpu/a and .gpu/b no longer fit: split them in four.
#   carry .gpu/a1: mkdir -p /tmp/wh && cp .gpu/a1/aa.aa /tmp/wh/
#   carry .gpu/a2: cat /tmp/wh/aa.aa .gpu/a2/aa.ab > /tmp/wh/cuda.part.aa && rm /tmp/wh/aa.aa
#   carry .gpu/b1: cp .gpu/b1/ab1 /tmp/wh/
#   carry .gpu/bx: . .gpu/bx/setup.sh && cp .gpu/bx/setup.sh /tmp/setup.sh   (then as prepare.sh says)
set -euo pipefail
cd "$(git rev-parse --show-toplevel)/.gpu"
rm -rf a1 a2 b1 bx && mkdir -p a1 a2 b1 bx
split -b 24000000 a/cuda.part.aa a1/aa. && mv a1/aa.ab a2/
split -b 21000000 b/cuda.part.ab b1/ab. && mv b1/ab.aa b1/ab1 && mv b1/ab.ab bx/ab2 && mv b1/ab.ac bx/  # 3 pieces
cp b/*.whl b/cuda-wheel-name bx/
sed -e 's#cat /tmp/wh/cuda.part.aa .gpu/b/cuda.part.ab#cat /tmp/wh/cuda.part.aa /tmp/wh/ab1 .gpu/bx/ab2 .gpu/bx/ab.ac#' \
    -e 's#\.gpu/b/#.gpu/bx/#g' b/setup.sh > bx/setup.sh
du -sh a1 a2 b1 bx
