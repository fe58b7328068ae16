"""Dense nearest-neighbour retrieval (Hummingbird protocol) and the k-NN
search backends."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dense_contrast.evaluation import (DenseRetrievalProbe, knn_search,
                                       knn_vote)
from dense_contrast.evaluation.dense_probes import (augment_images,
                                                    faiss_available)
from dense_contrast.registry import METRICS
from dense_contrast.utils.extras import MissingExtraError

NUM_CLASSES = 4


def _labels(n=6, size=32, seed=0):
    """Blocky label maps with background (0), three classes and a band of
    ignored pixels (255)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, NUM_CLASSES, (n, 1, size // 8, size // 8),
                           generator=g).float()
    labels = F.interpolate(coarse, size=(size, size)).long().squeeze(1)
    labels[:, :, :4] = 255  # the first column of 4 x 4 pixel cells
    return labels


def _one_hot(labels):
    valid = labels != 255
    one_hot = F.one_hot(torch.where(valid, labels, 0), NUM_CLASSES)
    return (one_hot * valid[..., None]).permute(0, 3, 1, 2).float()


def _class_colour_backbone():
    """A 'backbone' whose features are its input averaged over 4 x 4 cells
    (a 1x1 identity convolution, so that it has parameters)."""
    conv = nn.Conv2d(NUM_CLASSES, NUM_CLASSES, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(NUM_CLASSES)[:, :, None, None])
        conv.bias.zero_()
    return nn.Sequential(conv, nn.AvgPool2d(4))


def test_one_hot_features_score_100():
    labels = _labels()
    # One-hot features of the labels, at label resolution (a coarser grid
    # would lose pixels to the bilinear upsampling of the votes).
    feats = _one_hot(labels)  # (N, K, 32, 32)
    probe = METRICS.build(dict(type='DenseRetrievalProbe',
                               num_classes=NUM_CLASSES))
    memory, memory_labels = probe.memory_rows(feats[:4], labels[:4], None,
                                              torch.Generator())
    # Ignored cells (the band of 255) are left out of the memory.
    assert len(memory) == 4 * 32 * 28 and memory_labels.sum(1).min() > 0
    result = probe.score_memory(memory, memory_labels, feats[4:], labels[4:])
    assert result['retrieval_mIoU'] == pytest.approx(100.0)
    assert result['retrieval_aAcc'] == pytest.approx(100.0)


def test_retrieval_through_a_backbone_with_augmented_memory():
    labels = _labels(n=8, seed=1)
    # Images whose colour is the class: the features name the class.
    images = (_one_hot(labels) * 255).to(torch.uint8)
    probe = DenseRetrievalProbe(NUM_CLASSES, augment_epochs=2,
                                memory_size=300, backend='torch')
    backbone = _class_colour_backbone()
    mean, std = [0.0] * NUM_CLASSES, [1.0] * NUM_CLASSES
    memory, memory_labels = probe.build_memory(backbone, images[:6],
                                               labels[:6], mean, std,
                                               batch_size=4)
    assert memory.shape == (300, NUM_CLASSES)
    assert memory_labels.shape == (300, NUM_CLASSES)
    # Seeded: the same memory again.
    again, _ = probe.build_memory(backbone, images[:6], labels[:6], mean,
                                  std, batch_size=4)
    assert torch.equal(memory, again)
    from dense_contrast.evaluation import extract_dense_features
    val_feats = extract_dense_features(backbone, images[6:], mean, std)
    result = probe(backbone, images[:6], labels[:6], val_feats, labels[6:],
                   mean, std, batch_size=4)
    # Cells mixing classes at the block edges may be mislabelled.
    assert result['retrieval_mIoU'] > 90.0


def test_augmentation_moves_labels_with_the_pixels():
    labels = _labels(n=4, seed=2)
    images = (_one_hot(labels) * 255).to(torch.uint8)
    aug_images, aug_labels = augment_images(images, labels, seed=3,
                                            size=24)
    assert aug_images.shape == (4, NUM_CLASSES, 24, 24)
    assert aug_labels.dtype == labels.dtype
    assert set(aug_labels.unique().tolist()) <= {0, 1, 2, 3, 255}
    valid = aug_labels != 255
    agree = aug_images.argmax(1)[valid] == aug_labels[valid]
    assert agree.float().mean() > 0.9
    # A different seed draws other crops.
    other, _ = augment_images(images, labels, seed=4, size=24)
    assert not torch.equal(other, aug_images)


def test_vote_temperature_limit_is_the_majority_vote():
    g = torch.Generator().manual_seed(0)
    bank = torch.randn(50, 8, generator=g)
    bank_labels = F.one_hot(torch.randint(0, 3, (50, ), generator=g),
                            3).float()
    queries = torch.randn(7, 8, generator=g)
    k = 5
    majority = knn_vote(bank, bank_labels, queries, k=k,
                        temperature=float('inf'))
    # The vote counts of the k nearest rows, by hand.
    sim = F.normalize(queries, dim=1) @ F.normalize(bank, dim=1).t()
    nearest = sim.topk(k, dim=1).indices
    counts = bank_labels[nearest].sum(1) / k
    assert torch.allclose(majority, counts)
    assert torch.allclose(
        knn_vote(bank, bank_labels, queries, k=k, temperature=1e6),
        majority, atol=1e-5)
    # A small temperature tends to the single nearest neighbour, without
    # overflowing (Hummingbird's 0.02 and below).
    sharp = knn_vote(bank, bank_labels, queries, k=k, temperature=1e-4)
    assert torch.isfinite(sharp).all()
    assert torch.allclose(sharp, bank_labels[nearest[:, 0]], atol=1e-4)


def test_search_backends():
    g = torch.Generator().manual_seed(1)
    bank = F.normalize(torch.randn(200, 16, generator=g), dim=1)
    queries = F.normalize(torch.randn(30, 16, generator=g), dim=1)
    sim, idx = knn_search(bank, queries, k=4, chunk_size=7)
    assert idx.shape == (30, 4) and sim.shape == (30, 4)
    assert torch.equal(idx, (queries @ bank.t()).topk(4, dim=1).indices)
    with pytest.raises(ValueError, match='backend'):
        knn_search(bank, queries, k=4, backend='annoy')
    with pytest.raises(ValueError, match='1 <= k'):
        knn_search(bank, queries, k=201)
    if faiss_available():
        f_sim, f_idx = knn_search(bank, queries, k=4, chunk_size=7,
                                  backend='faiss')
        assert torch.equal(f_idx, idx)
        assert torch.allclose(f_sim, sim, atol=1e-5)
    else:
        with pytest.raises(MissingExtraError, match='retrieval'):
            knn_search(bank, queries, k=4, backend='faiss')
        # 'auto' falls back to torch.
        assert torch.equal(
            knn_search(bank, queries, k=4, backend='auto')[1], idx)


def test_faiss_and_torch_retrieval_agree():
    pytest.importorskip('faiss')
    labels = _labels(n=6, seed=4)
    g = torch.Generator().manual_seed(4)
    feats = torch.randn(6, 16, 8, 8, generator=g)
    scores = {}
    for backend in ('torch', 'faiss'):
        probe = DenseRetrievalProbe(NUM_CLASSES, k=10, backend=backend)
        memory, memory_labels = probe.memory_rows(feats[:4], labels[:4],
                                                  None, torch.Generator())
        scores[backend] = probe.predict_memory(memory, memory_labels,
                                               feats[4:])
    assert torch.allclose(scores['torch'], scores['faiss'], atol=1e-4)


def test_invalid_arguments():
    for bad in (dict(k=0), dict(temperature=0.0), dict(augment_epochs=0),
                dict(memory_size=0), dict(backend='annoy'),
                dict(chunk_size=0)):
        with pytest.raises(ValueError):
            METRICS.build(dict(type='DenseRetrievalProbe',
                               num_classes=NUM_CLASSES, **bad))
