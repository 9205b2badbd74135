# GPU: MLX (CUDA) side of parity against the CPU-recorded reference tensors; fixtures built here by the reference.
mkdir -p $OUT/parity
for m in ${MODELS:-whisper wav2vec2 parakeet_ctc parakeet_rnnt parakeet_tdt voxtral encodec dac snac vocos mimi kokoro}; do
  python3 -m mlx_audio_lab parity $m --weights fixture --recording /tmp/rec/$m.npz --json > $OUT/parity/$m.json 2> $OUT/parity/$m.err
  echo "$m rc=$? $(python3 -c "import json; d=json.load(open(\"$OUT/parity/$m.json\")); print(d.get(\"ok\"), [ (l[\"name\"], l[\"max_abs\"]) for l in d.get(\"layers\",[])][-2:], d.get(\"outputs_note\"), max(l[\"max_abs\"] for l in d[\"layers\"]))" 2>&1 | tail -c 400)"
done
cd $OUT && tar czf parity.tgz parity && rm -rf parity
