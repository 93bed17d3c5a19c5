#!/bin/sh
# Issue 8/8 in CI: the GAN prior's two training programs on tiny networks. A random 32 px
# StyleGAN2 (stylegan2 random, so no pretrained weights or shared data are needed) and a tiny
# NAFNet (train_restore) feed train_prior, whose outputs feed train_fusion; each overfits one
# fixed batch (the losses stay finite and fall), train_prior resumes from its checkpoint, the
# fine-tuned generator is read back by the stylegan2 program, deblur runs the whole method with
# the three trained networks, and missing weights or wrong sizes end with a message naming them. When /usr/bin/python3 has torch, random torchvision-layout VGG16/VGG19
# files switch on the LPIPS and contextual terms for a few steps. With a Vulkan device
# (lavapipe in CI) a few steps of both programs also run there.
# usage: check_prior.sh BUILD_DIR SOURCE_DIR
set -eu
B=$1
S=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; tail -5 "$T/log" 2>/dev/null; exit 1; }

# --- fixtures: kernels, one face, a random generator + discriminator, a tiny regression net ---
"$B/examples/blur" kernels --count 4 --size 9 --seed 3 --out "$T/k.npy" > "$T/log" 2>&1 || fail "blur kernels"
mkdir "$T/data"
cp "$S/docs/demo/sharp_face.png" "$T/data/"
"$B/examples/stylegan2" random --out "$T/g.safetensors" --resolution 32 --z-dim 32 --w-dim 32 --mapping-layers 2 \
  --channel-base 256 --channel-max 32 --seed 1 > "$T/log" 2>&1 || fail "stylegan2 random"
"$B/examples/train_restore" --data "$T/data" --kernels "$T/k.npy" --batch 2 --crop 32 --size 64 --width 8 --enc 1,1 \
  --middle 1 --dec 1,1 --val-every 0 --overfit --clip 0 --threads 2 --steps 3 --out "$T/r.safetensors" > "$T/log" 2>&1 \
  || fail "train_restore"

data="--data $T/data --kernels $T/k.npy --batch 2 --overfit --threads 2"
prior="$B/examples/train_prior $data --generator $T/g.safetensors --regression $T/r.safetensors
       --encoder-size 64 --encoder-convs 1 --encoder-max-channels 32 --encoder-min-channels 16 --lr 1e-3 --r1-every 4"
fusion="$B/examples/train_fusion $data --regression $T/r.safetensors --width 8 --blocks 2"

# The mean of the last 5 steps of summary line $1 ("NAME: mean of the first 5 steps A and of the
# last 5 steps B") must be finite and below factor $2 times the first 5 steps' mean.
falls() {
  line=$(grep "^$1:" "$T/log") || fail "no '$1' summary"
  echo "  $line"
  echo "$line" | awk -v f="$2" '{ if (!($8 == $8 + 0) || !($15 == $15 + 0) || !($15 < $8 * f)) exit 1 }' \
    || fail "$1 did not fall: $line"
}
finite() {
  line=$(grep "^$1:" "$T/log") || fail "no '$1' summary"
  echo "  $line"
  echo "$line" | awk '{ if (!($8 == $8 + 0) || !($15 == $15 + 0)) exit 1 }' || fail "$1 not finite: $line"
}

# 1. Stage 1 with the adversarial term (D from the random checkpoint, R1 every 4 steps):
#    the reconstruction loss falls, D's loss stays finite; validation and a sample sheet.
$prior --steps 20 --lpips-weight 0 --val-data "$T/data" --val-every 10 --samples "$T/s1.png" \
  --out-encoder "$T/e.safetensors" --out-generator "$T/g2.safetensors" > "$T/log" 2>&1 || fail "train_prior"
echo "train_prior (cpu):"
falls l1 0.8
falls loss 0.9
finite d_loss
grep -q "validation at step 20: x_G PSNR" "$T/log" || fail "train_prior did not validate"
[ -s "$T/s1.png" ] || fail "train_prior wrote no sample sheet"
"$B/examples/stylegan2" generate --weights "$T/g2.safetensors" --seeds 0-1 --out "$T/gen.png" > "$T/log" 2>&1 \
  || fail "the fine-tuned generator does not load as a StyleGAN2 file"

# 2. Resume: 4 steps, then 4 more from the checkpoint.
$prior --steps 4 --lpips-weight 0 --val-every 0 --out-encoder "$T/re.safetensors" --out-generator "$T/rg.safetensors" \
  > "$T/log" 2>&1 || fail "train_prior first half"
$prior --steps 8 --lpips-weight 0 --val-every 0 --out-encoder "$T/re.safetensors" --out-generator "$T/rg.safetensors" \
  --resume > "$T/log" 2>&1 || fail "train_prior resume"
grep -q "resumed from .* at step 4" "$T/log" || fail "train_prior did not resume at step 4"

# 3. Stage 2 on stage 1's encoder and generator; the best validation PSNR is kept.
$fusion --steps 20 --lpips-weight 0 --cx-weight 0 --encoder "$T/e.safetensors" --generator "$T/g2.safetensors" \
  --val-data "$T/data" --val-every 10 --samples "$T/s2.png" --out "$T/f.safetensors" > "$T/log" 2>&1 || fail "train_fusion"
echo "train_fusion (cpu):"
falls loss 0.8
grep -q "best so far, written to --out" "$T/log" || fail "train_fusion kept no best network"
[ -s "$T/f.safetensors" ] && [ -s "$T/s2.png" ] || fail "train_fusion wrote no weights or no sample sheet"

# 3b. deblur runs the whole method with the three networks, writes x_R and x_G on request, and
#     refuses an image that is not at the generator's resolution.
"$B/examples/blur" apply --kernels "$T/k.npy" --in "$T/data" --out "$T/bl" --size 32 > "$T/log" 2>&1 || fail "blur apply"
full="--weights $T/r.safetensors --encoder $T/e.safetensors --generator $T/g2.safetensors --fusion $T/f.safetensors"
"$B/examples/deblur" --in "$T/bl/sharp_face.png" --out "$T/xhat.png" $full --save-intermediates "$T/inter" \
  --compare "$T/cmp.png" > "$T/log" 2>&1 || fail "deblur with the full method"
for f in xhat.png inter/xhat_xR.png inter/xhat_xG.png cmp.png; do [ -s "$T/$f" ] || fail "deblur wrote no $f"; done
echo "deblur (full method): $(cat "$T/log")"

# 4. Errors: exit code 1 and a message naming what is missing, before any training.
expect_error() {
  rc=0
  "$@" > "$T/log" 2>&1 || rc=$?
  [ "$rc" -eq 1 ] || fail "expected exit 1 from: $* (got $rc)"
  grep -q -- "$want" "$T/log" || fail "message lacks '$want': $(cat "$T/log")"
}
want="--lpips-weight 0" expect_error $prior --steps 1 --out-encoder "$T/x.safetensors" --out-generator "$T/y.safetensors"
want="needs --vgg " expect_error $prior --steps 1 --out-encoder "$T/x.safetensors" --out-generator "$T/y.safetensors"
want="missing.safetensors' does not exist" expect_error $prior --steps 1 --lpips-weight 0 \
  --generator "$T/missing.safetensors" --out-encoder "$T/x.safetensors" --out-generator "$T/y.safetensors"
want="--vgg19" expect_error $fusion --steps 1 --lpips-weight 0 --encoder "$T/e.safetensors" \
  --generator "$T/g2.safetensors" --out "$T/x.safetensors"
want="--cx-weight 0" expect_error $fusion --steps 1 --lpips-weight 0 --encoder "$T/e.safetensors" \
  --generator "$T/g2.safetensors" --out "$T/x.safetensors"
want="missing.safetensors' does not exist" expect_error $fusion --steps 1 --lpips-weight 0 --cx-weight 0 \
  --encoder "$T/missing.safetensors" --generator "$T/g2.safetensors" --out "$T/x.safetensors"
"$B/examples/stylegan2" random --out "$T/g16.safetensors" --resolution 16 --z-dim 32 --w-dim 32 --mapping-layers 2 \
  --channel-base 256 --channel-max 32 > "$T/log" 2>&1 || fail "stylegan2 random (16 px)"
want="was not made for this generator" expect_error $fusion --steps 1 --lpips-weight 0 --cx-weight 0 \
  --encoder "$T/e.safetensors" --generator "$T/g16.safetensors" --out "$T/x.safetensors"
[ ! -e "$T/x.safetensors" ] || fail "a failed run left an output file"
want="FFHQ-aligned faces at 32x32" expect_error "$B/examples/deblur" --in "$T/data/sharp_face.png" \
  --out "$T/x.png" $full
want="missing --fusion" expect_error "$B/examples/deblur" --in "$T/bl/sharp_face.png" --out "$T/x.png" \
  --weights "$T/r.safetensors" --encoder "$T/e.safetensors" --generator "$T/g2.safetensors"
[ ! -e "$T/x.png" ] || fail "a failed deblur left an output file"

# 5. The perceptual terms, with random VGG weights in torchvision's layout (torch writes them).
if /usr/bin/python3 -c "import torch" > /dev/null 2>&1; then
  /usr/bin/python3 - "$T/vgg16.pth" "$T/vgg19.pth" <<'EOF' || fail "writing random VGG files"
import sys, torch
def vgg(cfg):
    g, sd, i, c_in = torch.Generator().manual_seed(0), {}, 0, 3
    for c in cfg:
        if c == 0:
            i += 1
            continue
        sd[f"features.{i}.weight"] = torch.randn(c, c_in, 3, 3, generator=g) * (2.0 / (9 * c_in)) ** 0.5
        sd[f"features.{i}.bias"] = torch.zeros(c)
        c_in, i = c, i + 2
    return sd
D = [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0]
E = [64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0]
torch.save(vgg(D), sys.argv[1])
torch.save(vgg(E), sys.argv[2])
EOF
  lp="--vgg $T/vgg16.pth --lpips-heads $S/weights/lpips/vgg.pth"
  $prior --steps 8 $lp --adv-weight 0 --freeze-g --val-every 0 --out-encoder "$T/pe.safetensors" > "$T/log" 2>&1 \
    || fail "train_prior with LPIPS"
  echo "train_prior with LPIPS (cpu, --freeze-g):"
  falls loss 0.95
  $fusion --steps 8 $lp --vgg19 "$T/vgg19.pth" --cx-tile 4 --encoder "$T/e.safetensors" --generator "$T/g2.safetensors" \
    --val-every 0 --out "$T/pf.safetensors" > "$T/log" 2>&1 || fail "train_fusion with LPIPS and CX"
  echo "train_fusion with LPIPS and CX (cpu):"
  falls loss 0.95
  rm -f "$T/vgg16.pth" "$T/vgg19.pth"
else
  echo "LPIPS / CX terms: skipped (no torch in /usr/bin/python3 to write random VGG files)"
fi

# 6. The device: a few steps on Vulkan when there is one (lavapipe is slow: keep them few).
if [ -n "${VKGRAD_CHECK_VULKAN:-}" ]; then
  if $prior --steps 2 --r1-every 2 --lpips-weight 0 --val-every 0 --device vulkan --out-encoder "$T/ve.safetensors" \
       --out-generator "$T/vg.safetensors" > "$T/log" 2>&1; then
    echo "vulkan: train_prior $(grep '^l1:' "$T/log")"
    finite d_loss
    $fusion --steps 3 --lpips-weight 0 --cx-weight 0 --encoder "$T/e.safetensors" --generator "$T/g2.safetensors" \
      --val-every 0 --device vulkan --out "$T/vf.safetensors" > "$T/log" 2>&1 || fail "train_fusion on vulkan"
    echo "vulkan: train_fusion $(grep '^loss:' "$T/log")"
  elif grep -q "no Vulkan device" "$T/log"; then
    echo "vulkan: skipped (no device)"
  else
    fail "train_prior on vulkan"
  fi
fi
echo "check_prior: all passed"
