"""Training cases as `models/trainset` writes them, and the patch sampler.

One folder per case:
    input.f16   float16, [2, D, H, W]: channel 0 black-blood, 1 bright-blood,
                already on the model grid and normalised exactly as the
                appliance does it (firmware/volume.Prepare), x fastest
    label.u8    uint8, [D, H, W]: the lesion's ID inside a lesion, else 0
    case.json   {"dims": [W, H, D], "lesions": [{"id", "centre_vox": [i, j, k],
                "diameter_mm", "kind", "enhancement_x_wm"}], ...}

The whole split is held in memory (on the GPU when there is one): a 2-channel
case is about 20 MB in float16.
"""
import json
import os

import numpy as np
import torch


class Case:
    def __init__(self, path):
        with open(os.path.join(path, "case.json")) as f:
            meta = json.load(f)
        w, h, d = meta["dims"]
        self.name = os.path.basename(path)
        self.dims = (d, h, w)
        self.lesions = meta["lesions"] or []  # null for a lesion-free case
        self.input = np.fromfile(os.path.join(path, "input.f16"), dtype=np.float16).reshape(2, d, h, w)
        self.label = np.fromfile(os.path.join(path, "label.u8"), dtype=np.uint8).reshape(d, h, w)


def load_split(root):
    names = sorted(n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n, "case.json")))
    if not names:
        raise SystemExit(f"data: no cases under {root} (run models/trainset first)")
    return [Case(os.path.join(root, n)) for n in names]


def faint_weight(lesion, faint):
    """How much more a faint lesion counts: faint/(enhancement - 1), between 1
    and 3. A lesion enhancing 1.3x white matter weighs 2.3x at faint 0.7, one
    at 1.7x and above weighs 1. faint 0 (or a case.json from before the field
    existed) weighs every lesion 1."""
    e = lesion.get("enhancement_x_wm")
    if not faint or not e:
        return 1.0
    return min(3.0, max(1.0, faint / max(e - 1.0, 1e-3)))


class Sampler:
    """Draws training patches.

    Small lesions are what a radiologist misses and what we must not, so patch
    centres are drawn: p_lesion of the time on a lesion, chosen with weight
    1/diameter (a 2 mm lesion is drawn 10x as often as a 20 mm one); p_hard of
    the time on a bright voxel that is not lesion (vessels: the false positives
    the black-blood channel is there to suppress); otherwise anywhere in the head.
    """

    def __init__(self, cases, patch, device, p_lesion=0.5, p_hard=0.25, p_drop_black=0.25, seed=0, faint=0.0,
                 mined=None, p_mined=0.0):
        """Patches also come with a voxel weight: voxels of a lesion under
        6 mm weigh 6/diameter (up to 4x for the smallest), so a 2 mm lesion's
        handful of voxels counts in the loss as much as a large one's edge.
        With faint > 0 a faint lesion's draw weight and voxel weight are both
        multiplied by faint_weight: the network barely answers lesions
        enhancing under 1.5x white matter.

        mined, when given, holds per case the voxels (k, j, i) where an
        earlier network answered outside every lesion (mine_false_positives):
        p_mined of the draws centre on one of them, taken out of the share
        that would have gone anywhere in the head."""
        self.patch = patch
        self.device = device
        self.p_lesion, self.p_hard, self.p_drop = p_lesion, p_hard, p_drop_black
        self.mined = mined
        self.p_mined = p_mined if mined is not None else 0.0
        self.rng = np.random.default_rng(seed)
        self.x = [torch.from_numpy(c.input).to(device) for c in cases]
        self.y = [torch.from_numpy(c.label).to(device) for c in cases]
        # Per case, a table from lesion ID to voxel weight (ID 0: background).
        self.wtab = []
        for c in cases:
            t = torch.ones(256, dtype=torch.float32)
            for l in c.lesions:
                t[int(l["id"])] = min(4.0, max(1.0, 6.0 / max(l["diameter_mm"], 1e-3))) * faint_weight(l, faint)
            self.wtab.append(t.to(device))
        self.dims = [c.dims for c in cases]
        self.lesions = []  # (case, k, j, i, weight)
        for ci, c in enumerate(cases):
            for l in c.lesions:
                i, j, k = l["centre_vox"]
                wl = faint_weight(l, faint) / max(l["diameter_mm"], 1.5)
                self.lesions.append((ci, int(round(k)), int(round(j)), int(round(i)), wl))
        w = np.array([l[4] for l in self.lesions]) if self.lesions else np.zeros(0)
        self.lesion_p = w / w.sum() if len(w) else None
        # Hard negatives and head voxels: a few thousand candidate centres per case.
        # The model grid is already cropped to the head, so "anywhere" is a
        # uniform draw over the volume; hard negatives are the brightest
        # non-lesion voxels of the bright-blood channel.
        self.hard = []
        for c in cases:
            bright = c.input[1]
            # The 99.7th percentile of non-lesion voxels, estimated on a
            # random 1% (a full-volume quantile costs seconds per case).
            flat = bright.reshape(-1)
            pick = self.rng.integers(0, flat.size, size=min(flat.size, 300000))
            pick = pick[c.label.reshape(-1)[pick] == 0]
            thr = np.quantile(flat[pick].astype(np.float32), 0.997)
            cand = np.argwhere((bright > thr) & (c.label == 0))
            take = self.rng.choice(len(cand), size=min(4000, len(cand)), replace=False)
            self.hard.append(cand[take])
        if self.p_mined:
            n = np.array([len(m) for m in self.mined], dtype=np.float64)
            if n.sum() == 0:
                self.p_mined = 0.0
            else:
                self.mined_p = n / n.sum()

    def _centre(self):
        r = self.rng.random()
        if r < self.p_lesion and self.lesion_p is not None:
            ci, k, j, i, _ = self.lesions[self.rng.choice(len(self.lesions), p=self.lesion_p)]
            jitter = self.rng.integers(-self.patch[0] // 3, self.patch[0] // 3 + 1, size=3)
            return ci, (k + jitter[0], j + jitter[1], i + jitter[2])
        ci = int(self.rng.integers(len(self.x)))
        if r < self.p_lesion + self.p_hard and len(self.hard[ci]):
            k, j, i = self.hard[ci][self.rng.integers(len(self.hard[ci]))]
            return ci, (k, j, i)
        if r < self.p_lesion + self.p_hard + self.p_mined:
            # A case where the earlier network answered wrongly, weighted by
            # how many such voxels it has.
            ci = int(self.rng.choice(len(self.x), p=self.mined_p))
            if len(self.mined[ci]):
                k, j, i = self.mined[ci][self.rng.integers(len(self.mined[ci]))]
                return ci, (int(k), int(j), int(i))
        return ci, tuple(int(self.rng.integers(n)) for n in self.dims[ci])

    def batch(self, n):
        pd, ph, pw = self.patch
        xs, ys, ws = [], [], []
        for _ in range(n):
            ci, (k, j, i) = self._centre()
            d, h, w = self.dims[ci]
            z0 = int(np.clip(k - pd // 2, 0, max(d - pd, 0)))
            y0 = int(np.clip(j - ph // 2, 0, max(h - ph, 0)))
            x0 = int(np.clip(i - pw // 2, 0, max(w - pw, 0)))
            x = self.x[ci][:, z0:z0 + pd, y0:y0 + ph, x0:x0 + pw].float()
            ids = self.y[ci][z0:z0 + pd, y0:y0 + ph, x0:x0 + pw].long()
            y = (ids > 0).float()
            wt = self.wtab[ci][ids]
            if self.rng.random() < 0.5:  # left-right mirror: anatomy is near symmetric
                x, y, wt = x.flip(-1), y.flip(-1), wt.flip(-1)
            scale = float(self.rng.uniform(0.9, 1.1))
            shift = float(self.rng.uniform(-0.1, 0.1))
            x = x * scale + shift
            if self.rng.random() < self.p_drop:  # bright-only studies: black channel absent
                x = torch.cat([torch.zeros_like(x[:1]), x[1:]], 0)
            xs.append(x)
            ys.append(y[None])
            ws.append(wt[None])
        return torch.stack(xs), torch.stack(ys), torch.stack(ws)


def mine_false_positives(net, cases, device, level=0.3, per_case=3000, margin=2, seed=0):
    """Runs net over every case's whole volume and returns, per case, up to
    per_case voxels (k, j, i) where it answers above level although no lesion
    lies within margin voxels: the false positives of the network training
    starts from (on real backgrounds: skull base, scalp, vessels, choroid
    plexus), to be drawn as patch centres (Sampler's mined)."""
    rng = np.random.default_rng(seed)
    out = []
    net.eval()
    for c in cases:
        d, h, w = c.dims
        pd, ph, pw = (-d) % 8, (-h) % 8, (-w) % 8
        x = torch.from_numpy(c.input).float()[None]
        x = torch.nn.functional.pad(x, (0, pw, 0, ph, 0, pd))
        with torch.no_grad():
            p = torch.sigmoid(net(x.to(device)).float())[0, 0, :d, :h, :w].cpu()
        lesion = torch.from_numpy(c.label > 0).float()[None, None]
        near = torch.nn.functional.max_pool3d(lesion, 2 * margin + 1, stride=1, padding=margin)[0, 0] > 0
        cand = torch.nonzero((p > level) & ~near).numpy()
        if len(cand) > per_case:
            cand = cand[rng.choice(len(cand), size=per_case, replace=False)]
        out.append(cand)
    return out
