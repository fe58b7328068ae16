"""Clustering of pixel embeddings on the device: spherical k-means and the
Sinkhorn-Knopp equal-partition assignment.

Both work on rows of unit-norm embeddings (P points of dimension D), have
no Python loop over points, and need no host-device synchronisation, so
they can run inside a training step.
"""
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor


class Clustering(NamedTuple):
    """Result of :func:`cosine_kmeans`.

    Attributes:
        labels (Tensor): Cluster of every point. Shape (P,), long.
        centroids (Tensor): Unit-norm cluster centres. Shape (K, D).
    """
    labels: Tensor
    centroids: Tensor


def _check_points(points: Tensor, num_clusters: int) -> None:
    if points.dim() != 2:
        raise ValueError(
            f'points must have shape (P, D), got {tuple(points.shape)}')
    if not 0 < num_clusters <= points.shape[0]:
        raise ValueError(
            f'num_clusters={num_clusters} needs 1 <= num_clusters <= the '
            f'number of points ({points.shape[0]})')


@torch.no_grad()
def kmeans_plusplus_init(points: Tensor, num_clusters: int,
                         generator: torch.Generator) -> Tensor:
    """k-means++ seeding under the cosine distance ``1 - <x, c>``.

    The first centre is a uniformly drawn point; each next one is drawn with
    probability proportional to the squared distance of a point to its
    closest centre so far. The loop runs over the K centres (each step is
    one (P,) vector operation), never over points.

    Args:
        points (Tensor): Unit-norm points. Shape (P, D).
        num_clusters (int): Number of centres K.
        generator (torch.Generator): Source of randomness, on the device of
            ``points``.

    Returns:
        Tensor: Unit-norm initial centres. Shape (K, D).
    """
    _check_points(points, num_clusters)
    num_points = points.shape[0]
    first = torch.randint(
        num_points, (1, ), generator=generator, device=points.device)
    chosen = [first]
    closest = (1 - points @ points[first].t()).squeeze(1).clamp_min(0)
    for _ in range(num_clusters - 1):
        # A point already chosen has weight 0; the epsilon keeps the draw
        # valid when every remaining point coincides with a centre.
        weights = closest.square() + 1e-12
        nxt = torch.multinomial(weights, 1, generator=generator)
        chosen.append(nxt)
        dist = (1 - points @ points[nxt].t()).squeeze(1).clamp_min(0)
        closest = torch.minimum(closest, dist)
    return points[torch.cat(chosen)].clone()


@torch.no_grad()
def lloyd_step(points: Tensor, centroids: Tensor) -> Clustering:
    """One Lloyd iteration of spherical k-means.

    Every point goes to its most similar centre; each centre becomes the
    normalised mean of its points. A centre that received no point keeps its
    previous position.

    Args:
        points (Tensor): Unit-norm points. Shape (P, D).
        centroids (Tensor): Unit-norm centres. Shape (K, D).

    Returns:
        Clustering: ``labels[p] = argmax_k <points[p], centroids[k]>`` (with
        the input centres) and the updated centres.
    """
    labels = (points @ centroids.t()).argmax(dim=1)
    sums = torch.zeros_like(centroids).index_add_(0, labels, points)
    counts = torch.bincount(labels, minlength=centroids.shape[0])
    updated = torch.where((counts > 0).unsqueeze(1),
                          F.normalize(sums, dim=1), centroids)
    return Clustering(labels, updated)


@torch.no_grad()
def cosine_kmeans(points: Tensor,
                  num_clusters: int,
                  num_iters: int = 10,
                  seed: int = 0) -> Clustering:
    """Spherical (cosine) k-means with k-means++ seeding.

    Deterministic: the same points and seed give the same result (the
    seeding draws from a generator created from ``seed`` on the points'
    device; the global RNG is left untouched).

    Args:
        points (Tensor): Unit-norm points. Shape (P, D).
        num_clusters (int): Number of clusters K, at most P.
        num_iters (int): Lloyd iterations after seeding. Defaults to 10.
        seed (int): Seed of the k-means++ draws. Defaults to 0.

    Returns:
        Clustering: Labels of shape (P,) consistent with the returned
        centres (``labels[p] = argmax_k <points[p], centroids[k]>``) and
        unit-norm centres of shape (K, D).
    """
    _check_points(points, num_clusters)
    if num_iters < 0:
        raise ValueError(f'num_iters must be >= 0, got {num_iters}')
    points = points.float()
    generator = torch.Generator(device=points.device).manual_seed(seed)
    # Under autocast the similarities would be rounded to fp16/bf16 and
    # flip assignments: clustering always runs in float32.
    with torch.autocast(points.device.type, enabled=False):
        centroids = kmeans_plusplus_init(points, num_clusters, generator)
        for _ in range(num_iters):
            centroids = lloyd_step(points, centroids).centroids
        labels = (points @ centroids.t()).argmax(dim=1)
    return Clustering(labels, centroids)


@torch.no_grad()
def sinkhorn_knopp(scores: Tensor, epsilon: float = 0.05,
                   num_iters: int = 3) -> Tensor:
    """Soft assignment of points to prototypes under an equal-partition
    constraint (SwAV's Sinkhorn-Knopp).

    Starting from ``exp(scores / epsilon)``, rows and columns of the
    assignment are rescaled in turn so that every prototype receives the
    same total mass P / K and every point a total mass of 1. The last
    rescaling is per point, so each returned row is a distribution; the
    prototype totals approach P / K as ``num_iters`` grows.

    Args:
        scores (Tensor): Point-prototype similarities. Shape (P, K).
        epsilon (float): Entropic regularisation (smaller: harder codes).
            Defaults to 0.05.
        num_iters (int): Rescaling rounds. Defaults to 3.

    Returns:
        Tensor: Codes Q of shape (P, K), rows summing to 1.
    """
    if scores.dim() != 2:
        raise ValueError(
            f'scores must have shape (P, K), got {tuple(scores.shape)}')
    if not epsilon > 0:
        raise ValueError(f'epsilon must be > 0, got {epsilon}')
    num_points, num_protos = scores.shape
    # Subtracting the maximum only rescales Q, which the first
    # normalisation undoes; it keeps exp() finite.
    codes = torch.exp((scores.float() - scores.max()) / epsilon)
    codes = codes / codes.sum()
    for _ in range(num_iters):
        codes = codes / (codes.sum(dim=0, keepdim=True) * num_protos)
        codes = codes / (codes.sum(dim=1, keepdim=True) * num_points)
    return codes * num_points
