# GPU: MLX (CUDA) vs torch CUDA (vs mlx-audio on CUDA) at real sizes; results tarred into $OUT.
for m in "$@"; do
  timeout ${BENCH_TIMEOUT:-400} python3 -m benchmarks.run --model $m --device gpu --dtype float32,bfloat16 --repeats ${REPEATS:-5} 2>&1 | grep -v Warning | tail -4
done
tar czf $OUT/bench-$(echo $1 | tr -c 'a-z0-9' _).tgz benchmarks/results/*-gpu.json 2>/dev/null; ls benchmarks/results/*-gpu.json
