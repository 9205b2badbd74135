# GPU: each model's benchmark in turn, its JSON copied under $OUT as soon as it is written, so that a call cut
# short by its time limit still returns the rows that finished. Usage: bash benchmarks/gpu/each.sh MODEL...
for m in "$@"; do
  s=$(date +%s)
  timeout "${BENCH_TIMEOUT:-120}" python3 -m benchmarks.run --model "$m" --device gpu \
    --dtype "${DTYPES:-float32,bfloat16}" --repeats "${REPEATS:-3}" > "$OUT/$m.log" 2>&1
  echo "$m: rc=$? after $(( $(date +%s) - s )) s"; grep -v Warning "$OUT/$m.log" | tail -3
  cp benchmarks/results/*-gpu.json "$OUT/" 2>/dev/null
done
