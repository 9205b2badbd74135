# Source on the GPU machine after /tmp/setup.sh: the project's pure-Python reference/peer wheels into /tmp/site.
if [ ! -f /tmp/site/.extra_done ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu_carry/wh/*.whl 2>/dev/null && touch /tmp/site/.extra_done
fi
mkdir -p /tmp/mal_cache/fixtures && cp -rn .gpu_carry/cache/fixtures/* /tmp/mal_cache/fixtures/ 2>/dev/null
export MLX_AUDIO_LAB_CACHE=/tmp/mal_cache PYTHONPATH=$PYTHONPATH:$PWD/.gpu_carry/pkgs
python3 -c 'import torch, transformers; print("torch", torch.__version__, torch.cuda.get_device_name(0), "transformers", transformers.__version__)'
