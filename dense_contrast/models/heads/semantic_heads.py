"""DSC's cross-image semantic losses: how pixels get a class, and how the
class pulls them together.

Both heads take the same inputs: query pixel embeddings (with gradient),
the key pixel embeddings of the whole (gathered) batch, and for every query
pixel the row of its matched key pixel. They differ in where the classes
come from: k-means on the keys (DSC-KM) or learned prototypes with an
equal-partition assignment (DSC-PM).
"""
from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from dense_contrast.registry import MODELS
from ..losses import at_least_float32
from ..utils.clustering import Clustering, cosine_kmeans, sinkhorn_knopp


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f'temperature must be > 0, got {temperature}')


@MODELS.register_module()
class KMeansSemanticHead(BaseModule):
    """DSC-KM: classes from spherical k-means on the key pixels of the batch.

    Every step clusters the momentum encoder's semantic embeddings of all
    pixels of the global batch into K groups (:func:`cosine_kmeans`, on the
    device, no gradient). A query pixel takes the cluster of its matched key
    pixel and is trained with a prototype InfoNCE: the centroid of its
    cluster is the positive, the other centroids the negatives,

        loss_m = -log softmax_k(<q_m, c_k> / tau)[y_m].

    Args:
        num_clusters (int): Number of clusters K. Defaults to 100.
        num_iters (int): Lloyd iterations per step. Defaults to 10.
        seed (int): Seed of the k-means++ draws (the same each step, so a
            step is reproducible and independent of the global RNG).
            Defaults to 0.
        temperature (float): Softmax temperature tau. Defaults to 0.1.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 num_clusters: int = 100,
                 num_iters: int = 10,
                 seed: int = 0,
                 temperature: float = 0.1,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        if num_clusters < 1:
            raise ValueError(f'num_clusters must be >= 1, got {num_clusters}')
        _check_temperature(temperature)
        self.num_clusters = num_clusters
        self.num_iters = num_iters
        self.seed = seed
        self.temperature = temperature

    def loss(self, query: Tensor, keys: Tensor, targets: Tensor) -> Tensor:
        """Mean prototype InfoNCE of the query pixels.

        Args:
            query (Tensor): Unit-norm query pixel embeddings. Shape (M, D).
            keys (Tensor): Unit-norm key pixel embeddings of the global
                batch, no gradient. Shape (P, D), P >= K.
            targets (Tensor): Row of ``keys`` matched to each query pixel.
                Shape (M,), long.

        Returns:
            Tensor: Scalar loss.
        """
        clusters = self.cluster(keys)
        logits = at_least_float32(
            query @ clusters.centroids.to(query.dtype).t())
        return F.cross_entropy(logits / self.temperature,
                               clusters.labels[targets])

    @torch.no_grad()
    def assign(self, embeddings: Tensor) -> Tensor:
        """Cluster pixel embeddings (k-means on exactly these pixels).

        Args:
            embeddings (Tensor): Unit-norm embeddings. Shape (P, D).

        Returns:
            Tensor: Cluster of every pixel. Shape (P,), long.
        """
        return self.cluster(embeddings).labels

    @torch.no_grad()
    def cluster(self, points: Tensor) -> Clustering:
        """:func:`cosine_kmeans` of the points in float32, autocast off.

        Under mixed precision the assignment is the discrete step of the
        loss: bf16 similarities would flip pixels between nearly
        equidistant centroids. Even in float32 the bf16 *embeddings* can
        flip a few (one of 18 pixels in the two-image bf16 test, cosine
        0.9992 to the float32 embeddings), which moves the loss by about
        1 %; the clustering has no gradient, so float32 costs only its
        (P, K) products.

        Args:
            points (Tensor): Unit-norm points, any float dtype. Shape (P, D).

        Returns:
            Clustering: Labels (P,) and float32 unit-norm centroids (K, D).
        """
        with torch.autocast(points.device.type, enabled=False):
            return cosine_kmeans(
                at_least_float32(points), self.num_clusters, self.num_iters,
                self.seed)


@MODELS.register_module()
class PrototypeSemanticHead(BaseModule):
    """DSC-PM: classes are learned prototypes, assigned with an
    equal-partition constraint (SwAV-style swapped prediction, per pixel).

    The key pixels of the global batch are scored against the normalised
    prototypes W (K, D) and turned into soft codes by Sinkhorn-Knopp
    (:func:`sinkhorn_knopp`), which spreads the pixels evenly over the
    prototypes; that constraint is what keeps every pixel from collapsing
    onto one prototype. A query pixel predicts the code of its matched key
    pixel:

        loss_m = -sum_k Q[t_m, k] * log softmax_k(<q_m, w_k> / tau).

    The paper names no anti-collapse measure that could be read here; the
    Sinkhorn constraint, the prototypes normalised in the forward (so only
    their directions matter) and a freeze of the prototypes for the first
    ``freeze_iters`` training steps follow SwAV.

    Args:
        num_prototypes (int): Number of prototypes K. Defaults to 100.
        feat_dim (int): Embedding dimension D. Defaults to 128.
        temperature (float): Softmax temperature tau of the predictions.
            Defaults to 0.1.
        sinkhorn_epsilon (float): Entropic regularisation of the codes.
            Defaults to 0.05.
        sinkhorn_iters (int): Sinkhorn-Knopp rounds. Defaults to 3.
        freeze_iters (int): Training steps during which the prototypes get
            no gradient (counted by this head, saved in checkpoints).
            Defaults to 0.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 num_prototypes: int = 100,
                 feat_dim: int = 128,
                 temperature: float = 0.1,
                 sinkhorn_epsilon: float = 0.05,
                 sinkhorn_iters: int = 3,
                 freeze_iters: int = 0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        if num_prototypes < 1:
            raise ValueError(
                f'num_prototypes must be >= 1, got {num_prototypes}')
        _check_temperature(temperature)
        if not sinkhorn_epsilon > 0:
            raise ValueError(
                f'sinkhorn_epsilon must be > 0, got {sinkhorn_epsilon}')
        if freeze_iters < 0:
            raise ValueError(f'freeze_iters must be >= 0, got {freeze_iters}')
        self.temperature = temperature
        self.sinkhorn_epsilon = sinkhorn_epsilon
        self.sinkhorn_iters = sinkhorn_iters
        self.freeze_iters = freeze_iters
        self.prototypes = nn.Parameter(
            F.normalize(torch.randn(num_prototypes, feat_dim), dim=1))
        self.register_buffer('steps', torch.zeros((), dtype=torch.long))

    def normalised_prototypes(self) -> Tensor:
        """Unit-norm prototypes W. Shape (K, D)."""
        return F.normalize(self.prototypes, dim=1)

    def loss(self, query: Tensor, keys: Tensor, targets: Tensor) -> Tensor:
        """Mean swapped-prediction loss of the query pixels.

        Args:
            query (Tensor): Unit-norm query pixel embeddings. Shape (M, D).
            keys (Tensor): Unit-norm key pixel embeddings of the global
                batch, no gradient. Shape (P, D).
            targets (Tensor): Row of ``keys`` matched to each query pixel.
                Shape (M,), long.

        Returns:
            Tensor: Scalar loss.
        """
        prototypes = self.normalised_prototypes()
        codes = sinkhorn_knopp(keys @ prototypes.detach().t(),
                               self.sinkhorn_epsilon, self.sinkhorn_iters)
        if self.training and self.freeze_iters > 0:
            # Decided on the device, so no host sync: the prototypes get a
            # zero gradient while frozen.
            frozen = self.steps < self.freeze_iters
            prototypes = torch.where(frozen, prototypes.detach(), prototypes)
        if self.training:
            self.steps += 1
        log_probs = F.log_softmax(
            query @ prototypes.t() / self.temperature, dim=1)
        return -(codes[targets] * log_probs).sum(dim=1).mean()

    @torch.no_grad()
    def assign(self, embeddings: Tensor) -> Tensor:
        """Most similar prototype of every pixel.

        Args:
            embeddings (Tensor): Unit-norm embeddings. Shape (P, D).

        Returns:
            Tensor: Prototype index of every pixel. Shape (P,), long.
        """
        return (embeddings @ self.normalised_prototypes().t()).argmax(dim=1)
