#!/usr/bin/env python3
"""Trains MetNet on tools/phantom's train split (written by models/trainset).

    python3 models/recipe/train.py --train out/trainset/train --val out/trainset/val \
        --out out/train [--steps 6000] [--minutes 110] [--base 8]

With --teacher (a trained MetNet's state dict) the loss adds the distance to
the teacher's log-odds, and --prune-from starts a narrower network (--base)
from the teacher's weights cut down by unet.prune: distillation to a faster
network.

Runs on a CUDA GPU when there is one (bf16 autocast), else on the CPU with the
threads given (the 2-core recipe: --patch 64 --batch 2, stops at --minutes).
Writes <out>/metnet.pt (the state dict, float32) and <out>/train.log.
Deterministic for a given seed on the CPU; on a GPU up to cuDNN's nondeterminism.
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import unet  # noqa: E402


def loss_fn(logits, target, weight=None, alpha=0.75, gamma=2.0):
    """Focal loss (alpha-balanced, gamma 2) plus soft Dice over the batch.

    Focal keeps the easy background from drowning the few lesion voxels; Dice
    (computed over the whole batch, so lesion-free patches do not divide by
    zero) pulls the predicted extent toward the truth. weight (the sampler's
    per-voxel weights, heavier inside small lesions) scales the focal term.
    """
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    pt = p * target + (1 - p) * (1 - target)
    at = alpha * target + (1 - alpha) * (1 - target)
    focal = at * (1 - pt) ** gamma * ce
    focal = (focal * weight).mean() if weight is not None else focal.mean()
    inter = (p * target).sum()
    dice = 1 - (2 * inter + 1) / (p.sum() + target.sum() + 1)
    return 10 * focal + dice


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--val", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--base", type=int, default=8)
    ap.add_argument("--patch", type=int, default=96)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--minutes", type=float, default=110, help="stop after this long, whatever --steps says")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--faint", type=float, default=0.0,
                    help="weigh lesions by faint/(enhancement-1), 1 to 3x, in draws and loss (0: off)")
    ap.add_argument("--freeze-bn", action="store_true",
                    help="keep BatchNorm statistics as --init left them (fine-tuning on small batches)")
    ap.add_argument("--init", help="start from these weights (a state dict from an earlier run) instead of random")
    ap.add_argument("--teacher", help="distil from this trained MetNet (a state dict) besides the labels")
    ap.add_argument("--teacher-base", type=int, default=8, help="the teacher's base width")
    ap.add_argument("--distill", type=float, default=0.01,
                    help="weight of the teacher term: mean squared difference of logits, the teacher's clipped to +-10")
    ap.add_argument("--mine", type=float, default=0.0,
                    help="share of patches centred on the starting network's false positives on the train cases "
                         "(found once, before training, by a whole-volume pass of each; 0: off)")
    ap.add_argument("--mine-cases", type=int, default=0,
                    help="with --mine: look for false positives in the first this many train cases only (a CPU pass "
                         "of a whole case takes 20-40 s here; 0: all)")
    ap.add_argument("--mined-from", help="with --mine: take the false positives from an earlier run's mined.npz "
                                        "instead of finding them again")
    ap.add_argument("--save-every", type=int, default=0,
                    help="also keep the weights every this many steps (metnet-s<step>.pt) and the last (metnet-last.pt): "
                         "the val patches' loss alone does not see false positives on whole brains")
    ap.add_argument("--prune-from", action="store_true",
                    help="start from the teacher's weights cut down to --base (unet.prune), unless --init gives others")
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    if dev == "cpu":
        torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    log = open(os.path.join(a.out, "train.log"), "a")

    def say(*args):
        line = " ".join(str(x) for x in args)
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    t0 = time.time()
    train = data.load_split(a.train)
    val = data.load_split(a.val)
    say(f"device {dev}; {len(train)} train cases, {len(val)} val cases loaded in {time.time() - t0:.0f} s")
    patch = (a.patch,) * 3
    sampler = None  # built once the starting weights are loaded (--mine runs them)
    vsampler = data.Sampler(val, patch, dev, seed=a.seed + 1000, p_drop_black=0.0, faint=a.faint)
    # At least 48 val patches (8 batches on a GPU's batch of 12, 24 on the
    # CPU's 2): fewer made the checkpoint choice a draw.
    vbatches = [vsampler.batch(a.batch) for _ in range(max(8, 48 // a.batch))]

    net = unet.MetNet(in_channels=2, base=a.base)
    if a.init:
        net.load_state_dict(torch.load(a.init, map_location="cpu"))
        say(f"starting from {a.init}")
    teacher = None
    if a.teacher:
        teacher = unet.MetNet(in_channels=2, base=a.teacher_base)
        tstate = torch.load(a.teacher, map_location="cpu")
        teacher.load_state_dict(tstate)
        teacher = teacher.to(dev).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        say(f"distilling from {a.teacher} (base {a.teacher_base}, weight {a.distill})")
        if a.prune_from and not a.init:
            net.load_state_dict(unet.prune(tstate, base_from=a.teacher_base, base_to=a.base))
            say(f"starting from the teacher cut to base {a.base}")
    elif a.prune_from:
        sys.exit("train.py: --prune-from needs --teacher")
    net = net.to(dev)
    mined = None
    if a.mined_from:
        # The false positives an earlier run found (its mined.npz), by case name.
        z = data.np.load(a.mined_from)
        mined = [z[c.name] if c.name in z else data.np.zeros((0, 3), int) for c in train]
        say(f"false positives to centre on from {a.mined_from}: {sum(len(m) > 0 for m in mined)} cases, "
            f"{sum(len(m) for m in mined)} voxels")
    elif a.mine:
        t1 = time.time()
        n = a.mine_cases or len(train)
        mined = data.mine_false_positives(net, train[:n], dev, seed=a.seed) + [data.np.zeros((0, 3), int)] * (len(train) - n)
        data.np.savez_compressed(os.path.join(a.out, "mined.npz"), **{c.name: m for c, m in zip(train, mined)})
        counts = [len(m) for m in mined]
        say(f"mined false positives of the starting network: {sum(c > 0 for c in counts)} of {len(train)} train cases "
            f"have some ({sum(counts)} voxels kept) in {time.time() - t1:.0f} s")
    p_hard = 0.25 - a.mine / 2 if a.mine else 0.25
    sampler = data.Sampler(train, patch, dev, seed=a.seed, faint=a.faint, p_lesion=0.5 - a.mine / 2, p_hard=p_hard,
                           mined=mined, p_mined=a.mine)
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-4)
    warm = 200
    t_start = time.time()

    def progress(s):
        # Whichever runs out first, steps or minutes, ends the cosine schedule.
        return min(1.0, max(s / a.steps, (time.time() - t_start) / 60 / a.minutes))

    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * progress(s))))
    amp = dict(device_type="cuda", dtype=torch.bfloat16) if dev == "cuda" else dict(device_type="cpu", enabled=False)
    best = float("inf")
    t0 = time.time()
    step = 0
    for step in range(a.steps):
        net.train()
        if a.freeze_bn:
            for m in net.modules():
                if isinstance(m, torch.nn.BatchNorm3d):
                    m.eval()
        x, y, w = sampler.batch(a.batch)
        with torch.autocast(**amp):
            logits = net(x)
        loss = loss_fn(logits.float(), y, w)
        if teacher is not None:
            # The teacher's log-odds, clipped where both call a voxel sure
            # background or sure lesion: the student learns where the teacher
            # is unsure (faint and tiny lesions, vessels), not how sure.
            with torch.no_grad(), torch.autocast(**amp):
                t = teacher(x).float().clamp(-10, 10)
            d = logits.float() - t
            d = torch.where(t <= -10, d.clamp(min=0), torch.where(t >= 10, d.clamp(max=0), d))
            loss = loss + a.distill * (d ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        sched.step()
        elapsed = (time.time() - t0) / 60
        if step % 100 == 0 or step == a.steps - 1 or elapsed > a.minutes:
            net.eval()
            with torch.no_grad(), torch.autocast(**amp):
                vl = sum(loss_fn(net(vx).float(), vy, vw).item() for vx, vy, vw in vbatches) / len(vbatches)
            say(f"step {step} loss {loss.item():.4f} val {vl:.4f} lr {sched.get_last_lr()[0]:.2e} {elapsed:.1f} min")
            if vl < best:
                best = vl
                torch.save({k: v.float().cpu() for k, v in net.state_dict().items()}, os.path.join(a.out, "metnet.pt"))
        if a.save_every and step > 0 and step % a.save_every == 0:
            torch.save({k: v.float().cpu() for k, v in net.state_dict().items()}, os.path.join(a.out, f"metnet-s{step}.pt"))
        if elapsed >= a.minutes:
            say(f"time limit reached at step {step}")
            break
    if a.save_every:
        torch.save({k: v.float().cpu() for k, v in net.state_dict().items()}, os.path.join(a.out, "metnet-last.pt"))
    with open(os.path.join(a.out, "train.json"), "w") as f:
        json.dump({"steps": step + 1, "best_val_loss": best, "base": a.base, "patch": a.patch, "batch": a.batch,
                   "lr": a.lr, "seed": a.seed, "faint": a.faint, "freeze_bn": a.freeze_bn, "device": dev, "init": a.init,
                   "mine": a.mine, "mine_cases": a.mine_cases, "mined_from": a.mined_from, "teacher": a.teacher, "distill": a.distill if a.teacher else None, "prune_from": bool(a.prune_from and not a.init), "train_cases": [c.name for c in train],
                   "val_cases": [c.name for c in val], "minutes": (time.time() - t0) / 60}, f, indent=1)
    say(f"done: best val loss {best:.4f}")


if __name__ == "__main__":
    main()
