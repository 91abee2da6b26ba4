#!/usr/bin/env python3
"""The coefficient table of bertrt's GELU (native/cpu/simd.h, gelu_erf): Phi(a) - 1/2 for a = |x| in [0, 5.6] as 16
pieces of width 0.35, each a degree-5 polynomial in the offset t = a - 0.35 i, fitted to near-minimax by iteratively
reweighted least squares against math.erf in double precision and rounded to float32. GELU(x) = x/2 + |x| (Phi(|x|) - 1/2);
past 5.6 the last piece's end value (1/2 - 1.1e-8) stands for Phi - 1/2. With float32 evaluation the table is within
3.8e-8 of Phi - 1/2 on [0, 8] (printed below); Abramowitz & Stegun 7.1.26, the erf bertrt used before, is within 7e-8.
Run: tools/.venv/bin/python tools/fit_gelu.py   (prints the C++ table; needs only numpy)"""
import math

import numpy as np

PIECES, DEGREE, WIDTH = 16, 5, 0.35


def phi_half(a):
    return np.array([0.5 * math.erf(v / math.sqrt(2.0)) for v in a])


def fit_piece(i):
    t = np.linspace(0.0, WIDTH, 2001)
    f = phi_half(i * WIDTH + t)
    basis = np.vander(t, DEGREE + 1, increasing=True)
    w = np.ones_like(t)
    for _ in range(60):  # reweight towards the largest errors: converges close to the equioscillating fit
        c, *_ = np.linalg.lstsq(basis * w[:, None], f * w, rcond=None)
        e = np.abs(basis @ c - f)
        w *= 1.0 + e / e.max()
        w /= w.max()
    return c.astype(np.float32)


def evaluate(table, a):
    """The kernel's arithmetic in float32 (FMA: one rounding per step)."""
    a = np.minimum(a.astype(np.float32), np.float32(PIECES * WIDTH))
    i = np.minimum(np.floor(a * np.float32(1 / WIDTH)), PIECES - 1).astype(np.int32)
    t = (a.astype(np.float64) - i.astype(np.float64) * np.float64(np.float32(WIDTH))).astype(np.float32)
    p = table[DEGREE][i]
    for k in range(DEGREE - 1, -1, -1):
        p = (p.astype(np.float64) * t + table[k][i]).astype(np.float32)
    return p


def main():
    table = np.stack([fit_piece(i) for i in range(PIECES)], axis=1)  # [coefficient][piece]
    a = np.linspace(0.0, 8.0, 400001)
    err = np.abs(evaluate(table, a) - phi_half(a))
    print(f"// max |error| vs Phi - 1/2 on [0, 8], float32 evaluation: {err.max():.2e}")
    print(f"alignas(64) constexpr float kGeluPoly[{DEGREE + 1}][{PIECES}] = {{")
    for k in range(DEGREE + 1):
        print("    {" + ", ".join(f"{v:.9g}f" for v in table[k]) + "},")
    print("};")


if __name__ == "__main__":
    main()
