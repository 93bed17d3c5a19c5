#!/usr/bin/env bash
# prior_experiment.sh — the paper's whole method, end to end, on the CPU, without pretrained weights.
#
#   scripts/prior_experiment.sh [WORKDIR]        (default build/prior_experiment; run from the project root)
#
# The pretrained FFHQ StyleGAN2 and VGG cannot be downloaded here, so the prior is a 64x64
# StyleGAN2 with fixed random weights (`stylegan2 random --seed 0`) and the "faces" are its own
# images. Everything else is the real pipeline and the real programs:
#
#   1. prior     stylegan2 random: 64 px, z/w 128, 64 channels; toRGB layers balanced (--image-std
#                0.4: an untrained G otherwise clips half its pixels) and noise strength 0.5 (fine
#                texture; the data uses fresh noise per image, the prior renders its stored
#                noise, so x_G cannot copy the texture: like a real prior, it is realistic but not
#                faithful in the details)
#   2. data      stylegan2 generate: 3,000 training images, 32 validation, 64 test (disjoint seeds)
#   3. kernels   blur kernels: camera shake scaled to 64 px (17x17 canvas, paths 4-16 px)
#   4. R         train_restore: a small NAFNet (width 16), PSNR loss, 1,500 steps of 16 crops of 48 px
#   5. stage 1   train_prior --freeze-g: E alone (L1; LPIPS and the adversarial term need pretrained
#                VGG / a trained D, so they are off), 1,500 steps of 8; x_G is measured on the
#                test images before the first step and at the end
#   6. stage 2   train_fusion: F (width 32, 4 residual blocks: a quarter of the paper's cost) on L1,
#                2,000 steps of 8, lr / 10 at step 1,400, best validation PSNR kept
#   7. test      blur apply on the 64 test images, deblur --encoder --generator --fusion
#                --save-intermediates, evaluate x_R, x_G and x_hat against the sharp images
#
# Every stage is skipped when its output exists, so an interrupted run continues where it
# stopped (delete WORKDIR to start again). Writes WORKDIR/report.md (the tables) and
# WORKDIR/samples.png (blurred | x_R | x_G | x_hat | sharp for three validation images).
# Environment: BUILD (build), THREADS (2); R_STEPS, E_STEPS, F_STEPS, N_TRAIN for shorter runs.
set -euo pipefail

BUILD=${BUILD:-build}
THREADS=${THREADS:-2}
R_STEPS=${R_STEPS:-1500}
E_STEPS=${E_STEPS:-1500}
F_STEPS=${F_STEPS:-2000}
N_TRAIN=${N_TRAIN:-3000}
W=${1:-$BUILD/prior_experiment}
X=$BUILD/examples
for p in stylegan2 blur train_restore train_prior train_fusion deblur evaluate; do
    [[ -x $X/$p ]] || { echo "prior_experiment: $X/$p not found: build the project first (meson compile -C $BUILD)" >&2; exit 1; }
done
mkdir -p "$W/logs"
LOG=$W/logs
T_ALL=$SECONDS
declare -A TIME

stage() { # stage NAME OUTPUT COMMAND...: runs COMMAND unless OUTPUT exists, logs and times it
    local name=$1 out=$2
    shift 2
    if [[ -e $out ]]; then
        echo "== $name: $out exists, skipped"
        TIME[$name]="(earlier run)"
        return
    fi
    echo "== $name ($(date +%H:%M:%S)); log: $LOG/$name.log"
    local t0=$SECONDS
    if ! "$@" > "$LOG/$name.log" 2>&1; then
        echo "prior_experiment: stage $name failed; the end of $LOG/$name.log:" >&2
        tail -n 20 "$LOG/$name.log" >&2
        exit 1
    fi
    TIME[$name]="$((SECONDS - t0)) s"
    echo "   done in ${TIME[$name]}"
}
# generate DIR FIRST_SEED COUNT NOISE_SEED: writes into DIR.tmp, then renames (no half-made folder)
generate() {
    [[ -e $1 ]] && return 0
    rm -rf "$1.tmp"
    "$X/stylegan2" generate --weights "$W/prior.safetensors" --seeds "$2-$(($2 + $3 - 1))" --noise random \
        --noise-seed "$4" --batch 32 --outdir "$1.tmp" && mv "$1.tmp" "$1"
}
data() {
    generate "$W/train" 0 "$N_TRAIN" 1 && generate "$W/val" 200000 32 2 && generate "$W/test" 100000 64 3
}
kernels() {
    "$X/blur" kernels --count 1000 --size 17 --min-length 4 --max-length 16 --seed 1 --out "$W/k_train.npy" &&
    "$X/blur" kernels --count 32 --size 17 --min-length 4 --max-length 16 --seed 998 --out "$W/k_val.npy" &&
    "$X/blur" kernels --count 64 --size 17 --min-length 4 --max-length 16 --seed 999 --out "$W/k_test.npy.tmp" &&
    mv "$W/k_test.npy.tmp" "$W/k_test.npy"
}
test_set() {
    rm -rf "$W/heldout"
    mkdir -p "$W/heldout"
    local h=$W/heldout
    "$X/blur" apply --kernels "$W/k_test.npy" --in "$W/test" --out "$h/blurred" --sharp "$h/sharp" --size 64 --seed 7 &&
    "$X/deblur" --in "$h/blurred" --out "$h/x_hat" --weights "$W/R.safetensors" --encoder "$W/E.safetensors" \
        --generator "$W/prior.safetensors" --fusion "$W/F.safetensors" --save-intermediates "$h/inter" --threads "$THREADS" &&
    mkdir -p "$h/x_R" "$h/x_G" &&
    for f in "$h"/inter/*_xR.png; do b=$(basename "$f" _xR.png); mv "$f" "$h/x_R/$b.png"; done &&
    for f in "$h"/inter/*_xG.png; do b=$(basename "$f" _xG.png); mv "$f" "$h/x_G/$b.png"; done &&
    for s in blurred x_R x_G x_hat; do "$X/evaluate" --pred "$h/$s" --gt "$h/sharp" --json "$h/$s.json"; done
}

stage prior "$W/prior.safetensors" "$X/stylegan2" random --out "$W/prior.safetensors" --resolution 64 --z-dim 128 \
    --w-dim 128 --channel-max 64 --seed 0 --image-std 0.4 --noise-strength 0.5
stage data "$W/test" data
stage kernels "$W/k_test.npy" kernels
stage regression "$W/R.safetensors" "$X/train_restore" --data "$W/train" --kernels "$W/k_train.npy" \
    --val-data "$W/val" --val-kernels "$W/k_val.npy" --out "$W/R.safetensors" --ckpt "$W/R.ckpt" \
    $( [[ -e $W/R.ckpt ]] && echo --resume ) --size 64 --crop 48 --batch 16 --steps "$R_STEPS" --width 16 \
    --enc 1,1,1,2 --middle 2 --dec 1,1,1,1 --val-every 500 --ckpt-every 100 --seed 0 --threads "$THREADS"
stage stage1 "$W/E.safetensors" "$X/train_prior" --generator "$W/prior.safetensors" --regression "$W/R.safetensors" \
    --data "$W/train" --kernels "$W/k_train.npy" --val-data "$W/test" --val-kernels "$W/k_test.npy" \
    --out-encoder "$W/E.safetensors" --ckpt "$W/E.ckpt" $( [[ -e $W/E.ckpt ]] && echo --resume ) --freeze-g \
    --lpips-weight 0 --adv-weight 0 --steps "$E_STEPS" --batch 8 --encoder-size 64 --encoder-max-channels 64 \
    --val-every 500 --ckpt-every 100 --samples "$W/samples_stage1.png" --seed 0 --threads "$THREADS"
stage stage2 "$W/F.safetensors" "$X/train_fusion" --regression "$W/R.safetensors" --encoder "$W/E.safetensors" \
    --generator "$W/prior.safetensors" --data "$W/train" --kernels "$W/k_train.npy" --val-data "$W/val" \
    --val-kernels "$W/k_val.npy" --out "$W/F.safetensors" --ckpt "$W/F.ckpt" $( [[ -e $W/F.ckpt ]] && echo --resume ) \
    --lpips-weight 0 --cx-weight 0 --steps "$F_STEPS" --batch 8 --width 32 --blocks 4 \
    --lr-step $((F_STEPS * 7 / 10)) --val-every 250 --ckpt-every 100 --samples "$W/samples.png" --seed 0 --threads "$THREADS"
stage test "$W/heldout/x_hat.json" test_set

# --- report ---
metric() { sed -E 's/^\{"psnr":([^,]*),"ssim":([^,]*),.*/\1 \2/' "$W/heldout/$1.json"; }
row() { read -r p s < <(metric "$1"); printf '| %s | %.2f dB | %.4f |\n' "$2" "$p" "$s"; }
# x_G on the test images (kernel i for image i) before stage 1 and at its end, from train_prior's log
xg_start=$(grep -m1 'validation at step 0:' "$LOG/stage1.log" | sed -E 's/.*PSNR ([0-9.]+) dB, SSIM ([0-9.]+).*/\1 \2/')
xg_end=$(grep 'validation at step' "$LOG/stage1.log" | tail -n1 | sed -E 's/.*PSNR ([0-9.]+) dB, SSIM ([0-9.]+).*/\1 \2/')
[[ -n $xg_start && -n $xg_end ]] || { echo "prior_experiment: no x_G validation lines in $LOG/stage1.log" >&2; exit 1; }
{
    echo "# Prior experiment ($(date -u +%Y-%m-%d), $(nproc) cores, $THREADS threads)"
    echo
    echo "64 test images of the random 64x64 prior, blurred by \`blur apply\` (seed 7), restored by \`deblur\`:"
    echo
    echo "| | PSNR | SSIM |"
    echo "|---|---|---|"
    row blurred "blurred input"
    row x_R "x_R (regression network)"
    row x_G "x_G (encoder + prior)"
    row x_hat "x_hat (fusion)"
    echo
    echo "x_G during stage 1 (train_prior's validation on the same 64 test images, image i blurred with kernel i):"
    echo
    echo "| | PSNR | SSIM |"
    echo "|---|---|---|"
    read -r p s <<< "$xg_start"; echo "| before the first step | $p dB | $s |"
    read -r p s <<< "$xg_end"; echo "| after step $E_STEPS | $p dB | $s |"
    echo
    echo "Stage times: prior ${TIME[prior]}, data ${TIME[data]}, kernels ${TIME[kernels]}, regression ${TIME[regression]}," \
         "stage 1 ${TIME[stage1]}, stage 2 ${TIME[stage2]}, test ${TIME[test]}; this invocation $((SECONDS - T_ALL)) s."
} > "$W/report.md"
cat "$W/report.md"
