#!/usr/bin/python3
"""Writes tests/fixtures/train: reference values for the losses (value and input gradients),
the GAN regularisers (R1 and path length, through double backward) and 20-step optimizer
trajectories (SGD, Adam, AdamW, parameter groups, schedules, clipping, EMA).

Run with Debian's python3-torch:  /usr/bin/python3 tests/reference/make_train_fixtures.py
The contextual loss is written out from its definition (Mechrez et al. 2018, cosine form,
as the widely used PyTorch port computes it), since torch has no such function.
"""
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "train")


def save(name, t):
    np.save(os.path.join(OUT, name + ".npy"), t.detach().numpy() if torch.is_tensor(t) else np.asarray(t))


def grad_of(f, *xs):
    xs = [x.detach().clone().requires_grad_() for x in xs]
    v = f(*xs)
    gs = torch.autograd.grad(v, xs)
    return v, gs


def pixel_losses(g):
    pred = torch.randn(2, 3, 5, 4, generator=g)
    target = torch.randn(2, 3, 5, 4, generator=g)
    save("pix_pred", pred)
    save("pix_target", target)
    fs = {
        "l1": lambda p: F.l1_loss(p, target),
        "mse": lambda p: F.mse_loss(p, target),
        "charbonnier": lambda p: torch.sqrt((p - target) ** 2 + 1e-6).mean(),
        "psnr": lambda p: 10 / math.log(10) * torch.log(((p - target) ** 2).mean(dim=(1, 2, 3)) + 1e-8).mean(),
    }
    for k, f in fs.items():
        v, (gp,) = grad_of(f, pred)
        save(f"{k}_value", v)
        save(f"{k}_grad", gp)


def gan_losses(g):
    real = torch.randn(4, 1, generator=g) * 2
    fake = torch.randn(4, 1, generator=g) * 2
    save("gan_real", real)
    save("gan_fake", fake)
    v, (gf,) = grad_of(lambda f: F.softplus(-f).mean(), fake)
    save("gns_value", v)
    save("gns_grad", gf)
    v, (gr, gf) = grad_of(lambda r, f: F.softplus(f).mean() + F.softplus(-r).mean(), real, fake)
    save("dlog_value", v)
    save("dlog_grad_real", gr)
    save("dlog_grad_fake", gf)


def r1(g):
    x = torch.randn(2, 3, 6, 6, generator=g)
    w1 = torch.randn(4, 3, 3, 3, generator=g) * 0.3
    b1 = torch.randn(4, generator=g) * 0.1
    w2 = torch.randn(1, 4, generator=g)
    for k, t in dict(x=x, w1=w1, b1=b1, w2=w2).items():
        save("r1_" + k, t)

    def D(x, w1, b1, w2):
        h = F.leaky_relu(F.conv2d(x, w1, b1, padding=1), 0.2)
        return F.linear(h.mean(dim=(2, 3)), w2)

    xs = [t.clone().requires_grad_() for t in (x, w1, b1, w2)]
    logits = D(*xs)
    (gx,) = torch.autograd.grad(logits.sum(), xs[0], create_graph=True)
    pen = gx.square().sum(dim=(1, 2, 3)).mean() * (10.0 / 2)
    grads = torch.autograd.grad(pen, xs)
    save("r1_value", pen)
    for k, t in zip(("x", "w1", "b1", "w2"), grads):
        save("r1_grad_" + k, t)


def path_length(g):
    ws = torch.randn(2, 3, 5, generator=g)
    A = torch.randn(15, 2 * 4 * 4, generator=g) * 0.3
    noise = torch.randn(2, 2, 4, 4, generator=g)
    save("pl_ws", ws)
    save("pl_A", A)
    save("pl_noise", noise)
    wsr, Ar = ws.clone().requires_grad_(), A.clone().requires_grad_()
    img = torch.tanh(wsr.reshape(2, 15) @ Ar).reshape(2, 2, 4, 4)
    u = noise / math.sqrt(16)
    (gw,) = torch.autograd.grad((img * u).sum(), wsr, create_graph=True)
    lengths = gw.square().sum(2).mean(1).sqrt()
    old = torch.tensor(0.5)
    pl_mean = old.lerp(lengths.mean(), 0.01)
    pen = (lengths - pl_mean).square().mean()
    (gA,) = torch.autograd.grad(pen, Ar)
    save("pl_value", pen)
    save("pl_grad_A", gA)
    save("pl_new_mean", pl_mean)


def cx_similarity(x, y, h=0.5):  # x generated, y target: [N, C, P]
    mu = y.mean(dim=(0, 2), keepdim=True)
    xn = F.normalize(x - mu, p=2, dim=1)
    yn = F.normalize(y - mu, p=2, dim=1)
    d = 1 - torch.bmm(xn.transpose(1, 2), yn)
    rel = d / (torch.min(d, dim=2, keepdim=True)[0] + 1e-5)
    w = torch.exp((1 - rel) / h)
    cx = w / w.sum(dim=2, keepdim=True)
    return torch.max(cx, dim=1)[0].mean(dim=1)


def contextual(g):
    x = torch.randn(2, 8, 6, 5, generator=g)
    y = torch.randn(2, 8, 6, 5, generator=g)
    save("cx_x", x)
    save("cx_y", y)

    def whole(x):
        return (-torch.log(cx_similarity(x.flatten(2), y.flatten(2)) + 1e-5)).mean()

    def tiled(x):  # tile 3: a 2 x 2 grid, rows [0,3) [3,6), cols [0,2) [2,5)
        total = 0
        for r0, r1 in ((0, 3), (3, 6)):
            for c0, c1 in ((0, 2), (2, 5)):
                total = total + cx_similarity(x[:, :, r0:r1, c0:c1].flatten(2), y[:, :, r0:r1, c0:c1].flatten(2))
        return (-torch.log(total / 4 + 1e-5)).mean()

    for k, f in (("whole", whole), ("tiled", tiled)):
        v, (gx,) = grad_of(f, x)
        save(f"cx_{k}_value", v)
        save(f"cx_{k}_grad", gx)


OPT_CONFIGS = {
    # name: (optimizer factory, schedule factory or None, clip or None)
    "sgd": (lambda ps: torch.optim.SGD(ps, lr=0.1), None, None),
    "sgd_momentum": (lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=1e-2), None, None),
    "sgd_nesterov": (lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
                     lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [3, 7, 12], 0.3), None),
    "adam": (lambda ps: torch.optim.Adam(ps, lr=1e-2, betas=(0.9, 0.99)), None, None),
    "adam_wd_step": (lambda ps: torch.optim.Adam(ps, lr=1e-2, weight_decay=1e-2),
                     lambda o: torch.optim.lr_scheduler.StepLR(o, 5, 0.5), None),
    "adamw_cosine": (lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1),
                     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 20, 1e-4), None),
    # LinearWarmup(CosineAnnealingLR(20, 1e-4), 5): LambdaLR with the product of both factors
    "adamw_warmup_cosine": (lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1),
                            lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda t: min(1.0, (t + 1) / 5) * (
                                1e-4 + (1e-2 - 1e-4) * (1 + math.cos(math.pi * t / 20)) / 2) / 1e-2),
                            None),
    "adam_groups_clip": (lambda ps: torch.optim.Adam([{"params": [ps[0]], "lr": 1e-2},
                                                      {"params": [ps[1]], "lr": 2.5e-3}], betas=(0.0, 0.99), eps=1e-6),
                         None, 0.5),
}


def optimizers(g):
    X = torch.randn(8, 3, generator=g)
    Y = torch.randn(8, 4, generator=g)
    W0 = torch.randn(4, 3, generator=g) * 0.5
    b0 = torch.randn(4, generator=g) * 0.5
    for k, t in dict(X=X, Y=Y, W0=W0, b0=b0).items():
        save("opt_" + k, t)
    for name, (make, sched, clip) in OPT_CONFIGS.items():
        W, b = W0.clone().requires_grad_(), b0.clone().requires_grad_()
        opt = make([W, b])
        s = sched(opt) if sched else None
        W_ema, b_ema = W0.clone(), b0.clone()
        norms = []
        for _ in range(20):
            opt.zero_grad()
            loss = ((torch.tanh(X @ W.t() + b) - Y) ** 2).mean()
            loss.backward()
            if clip:
                norms.append(float(torch.nn.utils.clip_grad_norm_([W, b], clip)))
            opt.step()
            if s:
                s.step()
            with torch.no_grad():  # StyleGAN2-ADA's EMA: p_ema <- p.lerp(p_ema, beta)
                W_ema.copy_(W.lerp(W_ema, 0.9))
                b_ema.copy_(b.lerp(b_ema, 0.9))
        save(f"opt_{name}_W", W)
        save(f"opt_{name}_b", b)
        save(f"opt_{name}_W_ema", W_ema)
        save(f"opt_{name}_b_ema", b_ema)
        if clip:
            save(f"opt_{name}_norms", np.array(norms))


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(1234)
    pixel_losses(g)
    gan_losses(g)
    r1(g)
    path_length(g)
    contextual(g)
    optimizers(g)
    print("wrote", len(os.listdir(OUT)), "files to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
