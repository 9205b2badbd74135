"""Residual vector quantization as a mechanism: codebooks fitted (k-means) on one clip's own latents, stage by stage.

On random codec weights the codec's own codebooks say nothing about quality. Fitting each stage on what the stages
before it left over shows what residual VQ does: every added codebook quantizes the remaining error, so the
reconstruction error falls as the bitrate (frames/s x log2(codebook size) per codebook) rises.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._view import new_figure


def kmeans(x: np.ndarray, k: int, iters: int = 25, seed: int = 0) -> np.ndarray:
    """Lloyd's k-means on (N, D) points from k distinct seeded starting points -> (k, D) centroids."""
    x = np.asarray(x, dtype=np.float64)
    rng = np.random.default_rng(seed)
    k = min(k, len(x))
    centroids = x[rng.choice(len(x), k, replace=False)].copy()
    for _ in range(iters):
        assign = nearest(x, centroids)
        for j in range(k):
            members = x[assign == j]
            if len(members):
                centroids[j] = members.mean(axis=0)
    return centroids


def nearest(x: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """Index of the nearest codebook entry (squared Euclidean) for each of the (N, D) points."""
    d = (x**2).sum(1)[:, None] - 2 * x @ codebook.T + (codebook**2).sum(1)[None, :]
    return d.argmin(axis=1)


@dataclass
class ResidualFit:
    """Codebooks fitted stage by stage, the codes, and the latent SNR (dB) after each number of stages."""

    codebooks: list[np.ndarray]  # n_stages x (size, D)
    codes: np.ndarray  # (n_stages, N)
    snr_db: np.ndarray  # (n_stages,) SNR of the latents against their reconstruction from the first n stages
    frame_rate: float
    codebook_size: int

    @property
    def kbps(self) -> np.ndarray:
        """Bitrate with the first 1..n stages: frames/s x log2(size) bits per codebook."""
        n = np.arange(1, len(self.codebooks) + 1)
        return n * self.frame_rate * np.log2(self.codebook_size) / 1000


def fit_residual_vq(latents: np.ndarray, n_stages: int, codebook_size: int, frame_rate: float, iters: int = 25,
                    seed: int = 0) -> ResidualFit:
    """Fit `n_stages` codebooks of `codebook_size` entries on (frames, D) latents, each on the residual left so far."""
    x = np.asarray(latents, dtype=np.float64).reshape(-1, np.shape(latents)[-1])
    residual, recon = x.copy(), np.zeros_like(x)
    books, codes, snrs = [], [], []
    for s in range(n_stages):
        book = kmeans(residual, codebook_size, iters, seed + s)
        idx = nearest(residual, book)
        recon += book[idx]
        residual = x - recon
        books.append(book)
        codes.append(idx)
        snrs.append(10 * np.log10((x**2).sum() / max((residual**2).sum(), 1e-30)))
    return ResidualFit(books, np.stack(codes), np.array(snrs), frame_rate, codebook_size)


def rvq_figure(fit: ResidualFit, title: str = "residual VQ fitted on this clip's latents"):
    """Latent SNR (dB) against bitrate (kbps), one point per added codebook, labelled with the count."""
    fig, ax = new_figure((7, 3.2))
    ax.plot(fit.kbps, fit.snr_db, "o-", color="tab:blue")
    for n, (x, y) in enumerate(zip(fit.kbps, fit.snr_db), start=1):
        ax.annotate(f"{n}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set(xlabel="bitrate (kbps)", ylabel="latent SNR (dB)",
           title=f"{title}\n{fit.codebook_size} codes per codebook; point labels = codebooks used")
    return fig
