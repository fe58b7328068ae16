"""Dense linear probe, dense k-NN retrieval and their scoring."""
import pytest
import torch
import torch.nn.functional as F

from dense_contrast.evaluation import (DenseKNNProbe, DenseLinearProbe,
                                       DenseProbeSuite, knn_vote,
                                       label_proportions,
                                       miou_from_confusion,
                                       segmentation_confusion)
from dense_contrast.registry import METRICS

NUM_CLASSES = 4


def _labels(n=6, size=16, seed=0):
    """Random blocky label maps with a dominant background (class 0)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randint(1, NUM_CLASSES, (n, 1, size // 4, size // 4),
                           generator=g).float()
    labels = F.interpolate(coarse, size=(size, size)).long().squeeze(1)
    labels[:, :size // 2] = 0
    return labels


def _one_hot(labels):
    return F.one_hot(labels, NUM_CLASSES).permute(0, 3, 1, 2).float()


def _reference_miou(pred, target, num_classes):
    """Slow per-class loop, for comparison."""
    ious = []
    for c in range(num_classes):
        inter = ((pred == c) & (target == c)).sum().item()
        union = ((pred == c) | (target == c)).sum().item()
        if union:
            ious.append(inter / union)
    return 100.0 * sum(ious) / len(ious)


@pytest.mark.parametrize('probe_type', ['DenseLinearProbe', 'DenseKNNProbe'])
def test_label_features_score_100(probe_type):
    labels = _labels()
    feats = _one_hot(labels)
    probe = METRICS.build(dict(type=probe_type, num_classes=NUM_CLASSES))
    result = probe(feats[:4], labels[:4], feats[4:], labels[4:])
    prefix = 'linear' if probe_type == 'DenseLinearProbe' else 'knn'
    assert result[f'{prefix}_mIoU'] == pytest.approx(100.0)
    assert result[f'{prefix}_aAcc'] == pytest.approx(100.0)


@pytest.mark.parametrize('probe_type', ['DenseLinearProbe', 'DenseKNNProbe'])
def test_constant_features_score_the_majority_class(probe_type):
    labels = _labels()
    # Constant features on a coarser grid than the labels.
    feats = torch.full((6, 3, 4, 4), 0.7)
    probe = METRICS.build(dict(type=probe_type, num_classes=NUM_CLASSES))
    result = probe(feats[:4], labels[:4], feats[4:], labels[4:])
    majority = torch.bincount(labels[:4].flatten()).argmax()
    assert majority == 0
    expected = _reference_miou(
        torch.full_like(labels[4:], majority), labels[4:], NUM_CLASSES)
    prefix = 'linear' if probe_type == 'DenseLinearProbe' else 'knn'
    assert result[f'{prefix}_mIoU'] == pytest.approx(expected)
    assert result[f'{prefix}_aAcc'] == pytest.approx(
        100.0 * (labels[4:] == majority).float().mean().item())


def test_linear_probe_is_deterministic_and_folds_standardisation():
    labels = _labels()
    feats = _one_hot(labels) * 5 + 3 + 0.1 * torch.randn(6, NUM_CLASSES, 16,
                                                           16)
    probe = DenseLinearProbe(NUM_CLASSES, steps=20)
    a, b = probe.fit(feats, labels), probe.fit(feats, labels)
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    assert a.weight.shape == (NUM_CLASSES, NUM_CLASSES, 1, 1)
    assert (a(feats).argmax(1) == labels).float().mean() > 0.99


def test_knn_vote_on_a_constructed_case():
    bank = torch.tensor([[1., 0., 0.], [0.9, 0.1, 0.], [0., 1., 0.],
                         [0., 0.9, 0.1], [0., 0., 1.]])
    bank_labels = F.one_hot(torch.tensor([0, 0, 1, 1, 2]), 3).float()
    queries = torch.tensor([[2., 0.1, 0.], [0., 3., 0.2], [0., 0.1, 1.],
                            [0.1, 0.5, 0.]])
    # k = 1: the label of the single nearest row (scale does not matter).
    votes = knn_vote(bank, bank_labels, queries, k=1, chunk_size=3)
    assert votes.argmax(1).tolist() == [0, 1, 2, 1]
    assert torch.allclose(votes.sum(1), torch.ones(4))
    # k = 3, equal weights: the vote counts of the 3 nearest rows.
    votes = knn_vote(
        bank, bank_labels, queries, k=3, temperature=float('inf'))
    assert torch.allclose(votes[0], torch.tensor([2 / 3, 1 / 3, 0.]))
    assert torch.allclose(votes[2], torch.tensor([0., 2 / 3, 1 / 3]))


def test_knn_probe_labels_each_cell_by_its_neighbour():
    # Two train images of one class each; the val image mixes their
    # features cell by cell, so its labels must follow.
    train_feats = torch.stack([
        torch.tensor([1., 0.]).view(2, 1, 1).expand(2, 2, 2),
        torch.tensor([0., 1.]).view(2, 1, 1).expand(2, 2, 2)
    ])
    train_labels = torch.stack([torch.full((4, 4), 1), torch.full((4, 4), 2)])
    pattern = torch.tensor([[1, 2], [2, 1]])
    val_feats = F.one_hot(pattern - 1, 2).permute(2, 0, 1)[None].float()
    val_labels = pattern.repeat_interleave(2, 0).repeat_interleave(2, 1)[None]
    probe = DenseKNNProbe(3, k=1)
    result = probe(train_feats, train_labels, val_feats, val_labels)
    assert result['knn_mIoU'] == pytest.approx(100.0)


def test_label_proportions_and_ignore_index():
    labels = torch.tensor([[[0, 1, 2, 2], [0, 1, 255, 2]]])
    props = label_proportions(labels, (1, 2), 3)
    assert props.shape == (1, 3, 1, 2)
    assert torch.allclose(props[0, :, 0, 0], torch.tensor([0.5, 0.5, 0.]))
    assert torch.allclose(props[0, :, 0, 1], torch.tensor([0., 0., 0.75]))
    with pytest.raises(ValueError, match='outside the classes'):
        label_proportions(torch.tensor([[[0, 3]]]), (1, 1), 3)


def test_confusion_and_miou_match_a_loop_reference():
    g = torch.Generator().manual_seed(1)
    labels = torch.randint(0, NUM_CLASSES, (3, 8, 8), generator=g)
    scores = torch.randn(3, NUM_CLASSES, 4, 4, generator=g)
    conf = segmentation_confusion(scores, labels, NUM_CLASSES, chunk_images=2)
    pred = F.interpolate(
        scores, size=(8, 8), mode='bilinear', align_corners=False).argmax(1)
    assert conf.sum() == labels.numel()
    assert miou_from_confusion(conf)['mIoU'] == pytest.approx(
        _reference_miou(pred, labels, NUM_CLASSES))


def test_suite_on_toy_scenes(tiny_toyscenes):
    from mmpretrain.models import ResNet
    root, toy_args = tiny_toyscenes
    backbone = ResNet(depth=18, base_channels=16)
    suite = DenseProbeSuite(
        root, num_train=toy_args['num_train'], num_val=2, stage=2)
    mean, std = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
    first = suite(backbone, mean, std)
    assert set(first) == {'linear_mIoU', 'linear_aAcc', 'knn_mIoU',
                          'knn_aAcc'}
    assert all(0.0 <= v <= 100.0 for v in first.values())
    assert backbone.training and backbone.out_indices == (3, )
    assert suite(backbone, mean, std) == first  # deterministic


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='no folder'):
        DenseProbeSuite(str(tmp_path), num_classes=3)(
            torch.nn.Conv2d(3, 4, 1), [0.] * 3, [1.] * 3)
    with pytest.raises(ValueError, match='same N'):
        DenseLinearProbe(3)(torch.zeros(2, 3, 4, 4), torch.zeros(1, 4, 4),
                            torch.zeros(1, 3, 4, 4), torch.zeros(1, 4, 4))
