# GPU: each model's benchmark in turn, its JSON copied under $OUT as soon as it is written, so that a call cut
# short by its time limit still returns the rows that finished. Only results written by this call are copied
# ($OUT returns a limited number of files). Usage: bash benchmarks/gpu/each.sh MODEL...
stamp=$(mktemp)
for m in "$@"; do
  s=$(date +%s)
  timeout "${BENCH_TIMEOUT:-120}" python3 -m benchmarks.run --model "$m" --device gpu \
    --dtype "${DTYPES:-float32,bfloat16}" --repeats "${REPEATS:-3}" ${BENCH_ARGS:-} > "$OUT/$m.log" 2>&1
  echo "$m: rc=$? after $(( $(date +%s) - s )) s"; grep -v Warning "$OUT/$m.log" | tail -3
  find benchmarks/results -name '*-gpu*.json' -newer "$stamp" -exec cp {} "$OUT/" \;
done
