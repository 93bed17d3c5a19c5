#!/bin/sh
# Issue 7/8 in CI: train_restore overfits one fixed batch at a tiny size (the loss stays finite
# and falls), an interrupted run resumes from its checkpoint, deblur runs the trained weights,
# and bad inputs end with a clear message and a non-zero exit. With a Vulkan device (lavapipe
# in CI) a few training steps also run there.
# usage: check_restore.sh BUILD_DIR SOURCE_DIR
set -eu
B=$1
S=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; cat "$T/log" 2>/dev/null | tail -5; exit 1; }
# expect_error CMD...: CMD must exit 1 with a message containing $want.
expect_error() {
  rc=0
  "$@" > "$T/log" 2>&1 || rc=$?
  [ "$rc" -eq 1 ] || fail "expected exit 1 from: $* (got $rc)"
  grep -q -e "$want" "$T/log" || fail "message lacks '$want': $(cat "$T/log")"
}

"$B/examples/blur" kernels --count 4 --size 9 --seed 3 --out "$T/k.npy" > "$T/log" 2>&1 || fail "blur kernels"
mkdir "$T/data"
cp "$S/docs/demo/sharp_face.png" "$T/data/"
tiny="--data $T/data --kernels $T/k.npy --batch 2 --crop 32 --size 64 --width 8 --enc 1,1 --middle 1 --dec 1,1
      --val-every 0 --overfit --lr 2e-3 --clip 0 --threads 2"

# 1. Overfitting one batch: the mean loss of the last 5 steps is below that of the first 5.
"$B/examples/train_restore" $tiny --steps 40 --out "$T/m.safetensors" > "$T/log" 2>&1 || fail "train_restore"
line=$(grep "^loss:" "$T/log") || fail "no loss summary"
echo "overfit: $line"
echo "$line" | awk '{ if (!($8 == $8 + 0) || !($15 == $15 + 0) || !($15 < $8 - 0.5)) exit 1 }' || fail "loss did not fall: $line"

# 2. Resume: a run stopped at step 5 (--until) and resumed gives the weights of an uninterrupted
#    12-step run bit for bit (model, optimizer, data generator and schedule all restored).
fresh="--data $T/data --kernels $T/k.npy --batch 2 --crop 32 --size 64 --width 8 --enc 1,1 --middle 1 --dec 1,1
       --val-every 0 --lr 2e-3 --threads 2 --steps 12"
"$B/examples/train_restore" $fresh --out "$T/whole.safetensors" --ckpt "$T/whole.ckpt" > "$T/log" 2>&1 || fail "12 steps"
"$B/examples/train_restore" $fresh --until 5 --out "$T/r.safetensors" --ckpt "$T/r.ckpt" > "$T/log" 2>&1 || fail "first 5 steps"
grep -q "stopped at step 5 of 12" "$T/log" || fail "--until 5 did not stop at step 5"
"$B/examples/train_restore" $fresh --out "$T/r.safetensors" --ckpt "$T/r.ckpt" --resume > "$T/log" 2>&1 || fail "resume"
grep -q "resumed from .* at step 5" "$T/log" || fail "did not resume at step 5"
cmp -s "$T/whole.safetensors" "$T/r.safetensors" || fail "stopped + resumed weights differ from an uninterrupted run"
echo "resume: --until 5 + --resume == 12 uninterrupted steps, bit for bit"

# 2b. --init deepens or widens a trained network: blocks the weights lack start as identities and
#     channels are repeated, so the new network's step-0 validation equals the small one's final
#     one, to the printed digit.
val="--val-data $T/data --val-kernels $T/k.npy"
base="--data $T/data --kernels $T/k.npy --batch 2 --crop 32 --size 64 --width 8 --dec 1,1 --val-every 0 --lr 2e-3 --threads 2"
"$B/examples/train_restore" $base $val --enc 1,1 --middle 1 --steps 12 --out "$T/small.safetensors" --ckpt "$T/small.ckpt" \
  > "$T/log" 2>&1 || fail "small model for --init"
small=$(grep "^validation at step 12:" "$T/log" | sed 's/.*step 12: //; s/ in .*//') || fail "no validation of the small model"
"$B/examples/train_restore" $base $val --enc 1,3 --middle 2 --steps 1 --init "$T/small.safetensors" --out "$T/grown.safetensors" \
  --ckpt "$T/grown.ckpt" > "$T/log" 2>&1 || fail "train_restore --init"
grep -q "3 new NAFBlocks" "$T/log" || fail "--init did not report 3 new blocks"
grown=$(grep "^validation at step 0:" "$T/log" | sed 's/.*step 0: //; s/ in .*//') || fail "no step-0 validation after --init"
[ -n "$small" ] && [ "$small" = "$grown" ] || fail "the grown network starts at '$grown', not at the small one's '$small'"
echo "init: a network grown by 3 blocks starts where the small one ended ($grown)"
want="does not have" expect_error "$B/examples/train_restore" $base --enc 1,0 --middle 1 --steps 1 --init "$T/small.safetensors" \
  --out "$T/x.safetensors" --ckpt "$T/x.ckpt"
# Widened twice (channels repeated, the copies' shares unequal): the same start; --f16 halves the file.
"$B/examples/train_restore" $base $val --width 16 --enc 1,1 --middle 1 --steps 1 --init "$T/small.safetensors" \
  --out "$T/wide.safetensors" --ckpt "$T/wide.ckpt" --f16 > "$T/log" 2>&1 || fail "train_restore --init --width 16"
grep -q "widened .* from width 8 to 16" "$T/log" || fail "--init did not report the widening"
wide=$(grep "^validation at step 0:" "$T/log" | sed 's/.*step 0: //; s/ in .*//') || fail "no step-0 validation after widening"
[ "$small" = "$wide" ] || fail "the widened network starts at '$wide', not at the small one's '$small'"
head -c 400 "$T/wide.safetensors" | grep -q '"F16"' || fail "--f16 did not write F16 tensors"
echo "init: a network widened from 8 to 16 channels starts where the small one ended ($wide); --f16 output is F16"
want="a multiple of it" expect_error "$B/examples/train_restore" $base --width 12 --enc 1,1 --middle 1 --steps 1 \
  --init "$T/small.safetensors" --out "$T/x.safetensors" --ckpt "$T/x.ckpt"
want="a multiple of it" expect_error "$B/examples/train_restore" $base --width 4 --enc 1,1 --middle 1 --steps 1 \
  --init "$T/small.safetensors" --out "$T/x.safetensors" --ckpt "$T/x.ckpt"
want="give one of them" expect_error "$B/examples/train_restore" $base --enc 1,1 --middle 1 --steps 1 --resume \
  --init "$T/small.safetensors" --out "$T/x.safetensors" --ckpt "$T/small.ckpt"
want="warmup must be in" expect_error "$B/examples/train_restore" $base --enc 1,1 --middle 1 --steps 2 \
  --warmup 3 --init "$T/small.safetensors" --out "$T/x.safetensors" --ckpt "$T/x.ckpt"

# 3. deblur with the weights just trained, on the 512x512 demo face (sizes the network must pad
#    and crop back are the unit tests' 37x45 NAFNet).
"$B/examples/deblur" --in "$S/docs/demo/blurred_face.png" --out "$T/out.png" --weights "$T/m.safetensors" > "$T/log" 2>&1 || fail "deblur"
[ -s "$T/out.png" ] || fail "deblur wrote nothing"
"$B/examples/deblur" --in "$S/docs/demo/blurred_face.png" --out "$T/out_f16.png" --weights "$T/wide.safetensors" > "$T/log" 2>&1 \
  || fail "deblur with float16 weights"
# --ensemble 2 averages the network with its left-right mirror: another image, the same size.
"$B/examples/deblur" --in "$S/docs/demo/blurred_face.png" --out "$T/out2.png" --weights "$T/m.safetensors" --ensemble 2 \
  > "$T/log" 2>&1 || fail "deblur --ensemble 2"
[ "$(head -c 24 "$T/out2.png" | od -An -tx1)" = "$(head -c 24 "$T/out.png" | od -An -tx1)" ] || fail "--ensemble 2 changed the image size"
! cmp -s "$T/out.png" "$T/out2.png" || fail "--ensemble 2 wrote the plain network's output"
# --local-pool: channel attention over windows (TLC); a window covering the image is the global pool.
"$B/examples/deblur" --in "$S/docs/demo/blurred_face.png" --out "$T/out_lp.png" --weights "$T/m.safetensors" --local-pool 64 \
  > "$T/log" 2>&1 || fail "deblur --local-pool 64"
! cmp -s "$T/out.png" "$T/out_lp.png" || fail "--local-pool 64 wrote the global pooling's output"
"$B/examples/deblur" --in "$S/docs/demo/blurred_face.png" --out "$T/out_lp.png" --weights "$T/m.safetensors" --local-pool 512 \
  > "$T/log" 2>&1 || fail "deblur --local-pool 512"
cmp -s "$T/out.png" "$T/out_lp.png" || fail "--local-pool 512 (the whole 512x512 image) differs from global pooling"
echo "local pooling: 64 px windows change the output, 512 px ones (the image) give the global pooling's exactly"
# --tile: a tile covering the image is the whole image, bit for bit; smaller tiles blend to the same size.
"$B/examples/deblur" --in "$S/docs/demo/blurred_face.png" --out "$T/out_t.png" --weights "$T/m.safetensors" --tile 512 \
  > "$T/log" 2>&1 || fail "deblur --tile 512"
cmp -s "$T/out.png" "$T/out_t.png" || fail "--tile 512 (the whole 512x512 image) differs from no tiling"
"$B/examples/deblur" --in "$S/docs/demo/blurred_face.png" --out "$T/out_t.png" --weights "$T/m.safetensors" --tile 300 \
  > "$T/log" 2>&1 || fail "deblur --tile 300"
[ "$(head -c 24 "$T/out_t.png" | od -An -tx1)" = "$(head -c 24 "$T/out.png" | od -An -tx1)" ] || fail "--tile 300 changed the image size"
echo "tiles: one covering the image gives the untiled output exactly; 300 px tiles the same size"
# The refinement with the blur model runs by default and says how long it took; --no-refine
# writes the network's own output (another image of the same size).
"$B/examples/deblur" --in "$S/docs/demo/blurred_face.png" --out "$T/out.png" --weights "$T/m.safetensors" > "$T/log" 2>&1 \
  || fail "deblur (log)"
grep -q "refinement [0-9.]* s" "$T/log" || fail "deblur did not report the refinement's time: $(cat "$T/log")"
"$B/examples/deblur" --in "$S/docs/demo/blurred_face.png" --out "$T/out_nr.png" --weights "$T/m.safetensors" --no-refine \
  > "$T/log" 2>&1 || fail "deblur --no-refine"
[ "$(head -c 24 "$T/out_nr.png" | od -An -tx1)" = "$(head -c 24 "$T/out.png" | od -An -tx1)" ] || fail "--no-refine changed the image size"
! cmp -s "$T/out.png" "$T/out_nr.png" || fail "--no-refine wrote the refined output"
echo "refinement: on by default (timed), --no-refine gives the network's output"

# 3b. A folder tree: blur apply mirrors its subfolders, deblur --in DIR keeps them, evaluate pairs
#     the restored and sharp images by their relative names.
mkdir -p "$T/tree/sub"
cp "$S/docs/demo/sharp_face.png" "$T/tree/sub/face.png"
"$B/examples/blur" apply --kernels "$T/k.npy" --in "$T/tree" --out "$T/tree_blurred" --sharp "$T/tree_sharp" --size 64 \
  > "$T/log" 2>&1 || fail "blur apply on a tree"
"$B/examples/deblur" --in "$T/tree_blurred" --out "$T/tree_restored" --weights "$T/m.safetensors" > "$T/log" 2>&1 \
  || fail "deblur on a folder tree"
[ -s "$T/tree_restored/sub/face.png" ] || fail "deblur did not write tree_restored/sub/face.png"
grep -q "^image 1/1 .* images/s" "$T/log" || fail "deblur on a folder printed no 'image 1/1 ... images/s' progress: $(cat "$T/log")"
grep -q "the refinement needs over 213 px on each side" "$T/log" || fail "deblur did not say a 64 px image is too small to refine: $(cat "$T/log")"
"$B/examples/evaluate" --pred "$T/tree_restored" --gt "$T/tree_sharp" > "$T/log" 2>&1 || fail "evaluate on a folder tree"
grep -q "^sub/face.png " "$T/log" || fail "evaluate did not pair sub/face.png"
echo "folders: blur apply -> deblur -> evaluate keep sub/face.png"

# 4. Errors: a clear message and exit code 1, no crash.
want="does not exist" expect_error "$B/examples/deblur" --in "$S/docs/demo/blurred_face.png" --out "$T/x.png" --weights "$T/missing.safetensors"
want="does not exist" expect_error "$B/examples/deblur" --in "$T/missing.png" --out "$T/x.png" --weights "$T/m.safetensors"
printf 'not an image' > "$T/bad.png"
want="bad.png" expect_error "$B/examples/deblur" --in "$T/bad.png" --out "$T/x.png" --weights "$T/m.safetensors"
want="must be a window in pixels" expect_error "$B/examples/deblur" --in "$S/docs/demo/blurred_face.png" --out "$T/x.png" --weights "$T/m.safetensors" --local-pool -3
want="--tile must be more than the 64" expect_error "$B/examples/deblur" --in "$S/docs/demo/blurred_face.png" --out "$T/x.png" --weights "$T/m.safetensors" --tile 64
want="1, 2, 4 or 8" expect_error "$B/examples/deblur" --in "$S/docs/demo/blurred_face.png" --out "$T/x.png" --weights "$T/m.safetensors" --ensemble 3
want="--threads 'two' is not a number" expect_error "$B/examples/deblur" --in "$S/docs/demo/blurred_face.png" --out "$T/x.png" --threads two
want="--threads must be at least 1" expect_error "$B/examples/deblur" --in "$S/docs/demo/blurred_face.png" --out "$T/x.png" --threads 0
python3 -c "
import struct
h = \"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4, 4), }\"
h = h + ' ' * (118 - len(h)) + '\n'
open('$T/k44.npy', 'wb').write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h)) + h.encode() + bytes(2 * 16 * 4))"
want="odd k" expect_error "$B/examples/train_restore" --data "$T/data" --kernels "$T/k44.npy" --out "$T/y.safetensors" --steps 1
want="k44.npy' must hold" expect_error "$B/examples/train_restore" --data "$T/data" --kernels "$T/k.npy,$T/k44.npy" \
  --out "$T/y.safetensors" --steps 1
"$B/examples/blur" kernels --count 2 --size 7 --seed 4 --out "$T/k7.npy" > "$T/log" 2>&1 || fail "blur kernels --size 7"
want="7x7 kernels but the one before it 9x9" expect_error "$B/examples/train_restore" --data "$T/data" \
  --kernels "$T/k.npy,$T/k7.npy" --out "$T/y.safetensors" --steps 1
"$B/examples/train_restore" $tiny --steps 1 --kernels "$T/k.npy,$T/k.npy" --out "$T/y.safetensors" > "$T/log" 2>&1 \
  || fail "train_restore with two kernel files"
grep -q " 8 kernels 9x9" "$T/log" || fail "two files of 4 kernels are not one set of 8: $(cat "$T/log")"
rm -f "$T/y.safetensors"
want="past --until 3" expect_error "$B/examples/train_restore" $fresh --until 3 --out "$T/y.safetensors" --ckpt "$T/r.ckpt" --resume
[ ! -e "$T/x.png" ] || fail "a failed deblur left an output file"

# 5. blur apply writes only inside --out, also for a symlinked input file (its name under --in
#    counts, not its target's path: a regression test).
mkdir -p "$T/elsewhere/deep" "$T/links/sub"
cp "$S/docs/demo/sharp_face.png" "$T/elsewhere/deep/target.png"
ln -s "$T/elsewhere/deep/target.png" "$T/links/sub/linked.png"
"$B/examples/blur" apply --kernels "$T/k.npy" --in "$T/links" --out "$T/links_out" --size 32 > "$T/log" 2>&1 \
  || fail "blur apply on a symlinked file"
[ -s "$T/links_out/sub/linked.png" ] || fail "blur apply did not write links_out/sub/linked.png"
[ "$(find "$T/elsewhere" -type f | wc -l)" -eq 1 ] || fail "blur apply wrote beside a symlink's target"
echo "blur apply: symlinked input written under --out only"

# 6. The device: a few steps on Vulkan when there is one.
if [ -n "${VKGRAD_CHECK_VULKAN:-}" ]; then
  if "$B/examples/train_restore" $tiny --clip 0.5 --steps 6 --device vulkan --out "$T/v.safetensors" > "$T/log" 2>&1; then
    echo "vulkan: $(grep '^loss:' "$T/log")"
  elif grep -q "no Vulkan device" "$T/log"; then
    echo "vulkan: skipped (no device)"
  else
    fail "train_restore on vulkan"
  fi
fi
echo "check_restore: all passed"
