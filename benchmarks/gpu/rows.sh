# GPU: the rows of issue 24 still below PyTorch, re-measured, and a layer profile of each. Run on the lent machine
# after the four staging calls of split.sh (MLX CUDA in /tmp/site, /tmp/setup.sh):
#   carry .gpu_carry: bash benchmarks/gpu/rows.sh install kernels conv snac vocos kokoro
#   no carry:         bash benchmarks/gpu/rows.sh wav2vec2 dac bigvgan parakeet
#   no carry:         bash benchmarks/gpu/rows.sh prof:kokoro_82m prof:vocos_mel_24khz ...
# Each step's output and JSON land under $OUT as they finish (a call cut short keeps what was done).
. /tmp/setup.sh > /dev/null || exit 1
export PYTHONPATH=$PYTHONPATH:/tmp/gc/pkgs:$PWD/benchmarks/gpu/shims MLX_AUDIO_LAB_CACHE=/tmp/mal_cache
export BENCH_ARGS="--set engines=mlx_audio_lab,torch" REPEATS=${REPEATS:-3}
mkdir -p "$OUT/prof"
for step in "$@"; do
  s=$(date +%s)
  case $step in
    install) . .gpu_carry/extra.sh && mkdir -p /tmp/gc && cp -r .gpu_carry/pkgs /tmp/gc/ ;;
    kernels) timeout 150 python3 -m pytest -q -x -p no:cacheprovider tests/test_gpu_kernels.py > "$OUT/kernels.log" 2>&1
             tail -3 "$OUT/kernels.log" ;;
    kernels:*) timeout 150 python3 -m pytest -q -x -p no:cacheprovider tests/test_gpu_kernels.py -k "${step#kernels:}" \
                 > "$OUT/kernels.log" 2>&1; tail -2 "$OUT/kernels.log" ;;  # a subset: kernels:"snake or grouped"
    parity:*) m=${step#parity:}; mkdir -p /tmp/par  # the fixture built here by the reference, the port on the GPU
              timeout 90 python3 -m mlx_audio_lab parity "$m" --weights fixture --json > "/tmp/par/$m.json" 2> "/tmp/par/$m.err"
              echo "parity $m rc=$?"; (cd /tmp && tar czf "$OUT/parity.tgz" par) ;;
    conv) timeout 200 python3 -m benchmarks.gpu.conv_probe --json "$OUT/conv_probe.json" > "$OUT/conv_probe.log" 2>&1
          tail -2 "$OUT/conv_probe.log" ;;
    chunks) timeout 200 python3 -m benchmarks.gpu.conv_probe --only chunks --json "$OUT/chunks.json" \
              > "$OUT/chunks.log" 2>&1; cat "$OUT/chunks.log" | grep -v Warn ;;
    dac-chunk:*) n=${step#dac-chunk:}  # DAC bf16 + fp32 with long convs in chunks of n frames (0: whole)
                 MLX_AUDIO_LAB_GPU_CONV_CHUNK=$n DTYPES=bfloat16,float32 BENCH_TIMEOUT=150 bash benchmarks/gpu/each.sh dac_44khz
                 mv "$OUT/dac_44khz-gpu.json" "$OUT/dac_44khz-gpu-chunk$n.json"; mv "$OUT/dac_44khz.log" "$OUT/dac-chunk$n.log" ;;
    snac) DTYPES=float32,bfloat16 BENCH_TIMEOUT=150 bash benchmarks/gpu/each.sh snac_24khz ;;
    vocos) DTYPES=float32 BENCH_TIMEOUT=100 bash benchmarks/gpu/each.sh vocos_mel_24khz ;;
    kokoro) DTYPES=float32 BENCH_TIMEOUT=150 bash benchmarks/gpu/each.sh kokoro_82m ;;
    wav2vec2) DTYPES=float32 BENCH_TIMEOUT=120 bash benchmarks/gpu/each.sh wav2vec2-base ;;
    dac) DTYPES=bfloat16,float32 BENCH_TIMEOUT=150 bash benchmarks/gpu/each.sh dac_44khz ;;
    bigvgan) DTYPES=bfloat16 BENCH_TIMEOUT=150 bash benchmarks/gpu/each.sh bigvgan_v2_24khz_100band_256x ;;
    parakeet) DTYPES=bfloat16 BENCH_TIMEOUT=150 bash benchmarks/gpu/each.sh parakeet-tdt-0.6b-v2 ;;
    prof:*) m=${step#prof:}; extra=""
            name=$m; case $m in *@bf16) m=${m%@bf16}; name=$m-bf16; extra="--set dtype=bfloat16" ;; esac
            [ "$m" = kokoro_82m ] && extra="--set weights=random"  # the real ONNX weights are not staged
            timeout "${PROF_TIMEOUT:-150}" python3 -m benchmarks.layer_profile --model "$m" --device gpu \
              --depth "${PROF_DEPTH:-3}" --top "${PROF_TOP:-25}" $extra --json "$OUT/prof/$name.json" \
              > "$OUT/prof/$name.log" 2>&1
            grep -v Warning "$OUT/prof/$name.log" | tail -4 ;;
    *) echo "rows.sh: unknown step $step" ;;
  esac
  echo "== $step: $(( $(date +%s) - s )) s"
done
