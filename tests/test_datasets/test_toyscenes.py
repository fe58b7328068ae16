"""Tests of the toy scenes generator and ToyScenesDataset."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from dense_contrast.datasets.toyscenes import (TOYSCENES_CLASSES,
                                               TOYSCENES_PALETTE,
                                               ToyScenesMismatchError,
                                               ensure_toyscenes,
                                               generate_toyscenes,
                                               render_scene)

SMALL = dict(num_train=12, num_val=6, num_test=6, img_size=64, progress=False)


def _files(root):
    """Relative path -> bytes of every generated file except meta/lock."""
    out = {}
    for sub in ('train', 'val', 'test', 'annotations'):
        for dirpath, _, names in os.walk(osp.join(root, sub)):
            for name in names:
                path = osp.join(dirpath, name)
                with open(path, 'rb') as f:
                    out[osp.relpath(path, root)] = f.read()
    return out


@pytest.fixture(scope='module')
def small_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('toyscenes') / 'seed0_w2')
    meta = generate_toyscenes(root, seed=0, num_workers=2, **SMALL)
    return root, meta


def test_layout_and_meta(small_root):
    root, meta = small_root
    with open(osp.join(root, 'meta.json')) as f:
        assert json.load(f) == meta
    assert meta['classes'] == list(TOYSCENES_CLASSES)
    assert meta['seg_classes'][0] == 'background'
    assert len(meta['palette']) == len(TOYSCENES_CLASSES) + 1
    assert (meta['seed'], meta['img_size']) == (0, 64)
    for split, num in (('train', 12), ('val', 6), ('test', 6)):
        names = sorted(os.listdir(osp.join(root, split, 'images')))
        assert names == [f'{i:06d}.png' for i in range(num)]
        assert sorted(os.listdir(osp.join(root, split, 'semantic'))) == names
        assert meta['counts'][split]['images'] == num
        img = np.asarray(Image.open(osp.join(root, split, 'images', names[0])))
        assert img.shape == (64, 64, 3) and img.dtype == np.uint8
        sem = Image.open(osp.join(root, split, 'semantic', names[0]))
        assert sem.mode == 'L'
        sem = np.asarray(sem)
        assert sem.shape == (64, 64) and sem.dtype == np.uint8
        assert sem.max() <= len(TOYSCENES_CLASSES)


def test_determinism(small_root, tmp_path):
    root, _ = small_root
    reference = _files(root)
    # Same seed, one worker instead of two: byte-identical output.
    same = str(tmp_path / 'seed0_w1')
    generate_toyscenes(same, seed=0, num_workers=1, **SMALL)
    assert _files(same) == reference
    # Another seed: different images.
    other = str(tmp_path / 'seed1')
    generate_toyscenes(other, seed=1, num_workers=1, **SMALL)
    other_files = _files(other)
    for split, num in (('train', 12), ('val', 6), ('test', 6)):
        for i in range(num):
            rel = osp.join(split, 'images', f'{i:06d}.png')
            assert other_files[rel] != reference[rel]


def test_train_val_and_test_differ(small_root):
    root, meta = small_root
    files = _files(root)
    for i in range(6):
        name = f'{i:06d}.png'
        images = [files[osp.join(split, 'images', name)]
                  for split in ('train', 'val', 'test')]
        assert len(set(images)) == 3
    # The test split comes from its own seed.
    assert meta['test_seed'] == meta['seed'] + 1000
    other = render_scene(meta['seed'] + 1000, 'val', 0, 64).image
    assert not np.array_equal(
        other, np.asarray(Image.open(osp.join(root, 'test', 'images',
                                              '000000.png'))))


@pytest.mark.parametrize('split', ['train', 'val', 'test'])
def test_coco_and_semantic_agree(small_root, split):
    pycocotools = pytest.importorskip('pycocotools')  # noqa: F841
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    root, meta = small_root
    coco = COCO(osp.join(root, 'annotations', f'instances_{split}.json'))
    assert sorted(coco.getCatIds()) == list(range(1, 7))
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())
            ] == list(TOYSCENES_CLASSES)
    assert len(coco.getImgIds()) == meta['counts'][split]['images']
    assert len(coco.getAnnIds()) == meta['counts'][split]['instances']
    seen_categories = set()
    for img_id in coco.getImgIds():
        info = coco.loadImgs(img_id)[0]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id))
        assert anns, 'every image has at least one instance'
        painted = np.zeros((info['height'], info['width']), dtype=np.uint8)
        for ann in anns:
            assert ann['iscrowd'] == 0 and ann['id'] >= 1
            mask = coco.annToMask(ann).astype(bool)
            assert mask.sum() == ann['area'] >= 8
            assert mask_utils.area(ann['segmentation']) == ann['area']
            # The bbox is tight: the mask touches each of its four sides and
            # has no pixel outside it.
            x, y, w, h = ann['bbox']
            ys, xs = np.nonzero(mask)
            assert (xs.min(), ys.min()) == (x, y)
            assert (xs.max() + 1, ys.max() + 1) == (x + w, y + h)
            # Visible masks never overlap.
            assert not painted[mask].any()
            painted[mask] = ann['category_id']
            seen_categories.add(ann['category_id'])
        semantic = np.asarray(
            Image.open(osp.join(root, split, 'semantic', info['file_name'])))
        np.testing.assert_array_equal(painted, semantic)
    if split == 'train':
        assert len(seen_categories) >= 4


def test_ensure_reuses_and_detects_mismatch(small_root):
    root, _ = small_root
    meta_path = osp.join(root, 'meta.json')
    mtime = os.stat(meta_path).st_mtime_ns
    ensure_toyscenes(root, seed=0, **SMALL)
    assert os.stat(meta_path).st_mtime_ns == mtime
    with pytest.raises(ValueError, match='Delete the folder') as info:
        ensure_toyscenes(root, seed=3, **SMALL)
    assert isinstance(info.value, ToyScenesMismatchError)
    assert 'seed=0 (requested 3)' in str(info.value)


def test_half_finished_folder_is_regenerated(tmp_path):
    root = str(tmp_path / 'ts')
    small = dict(SMALL, num_train=3, num_val=2)
    generate_toyscenes(root, num_workers=1, **small)
    reference = _files(root)
    # Simulate a crash before meta.json was written, with a stray image.
    os.remove(osp.join(root, 'meta.json'))
    open(osp.join(root, 'train', 'images', '999999.png'), 'wb').close()
    ensure_toyscenes(root, num_workers=1, **small)
    assert _files(root) == reference


def test_dataset_generates_on_build(tmp_path):
    from dense_contrast.registry import DATASETS

    root = str(tmp_path / 'fresh')
    cfg = dict(
        type='ToyScenesDataset',
        data_root=root,
        split='val',
        num_train=4,
        num_val=3,
        num_test=2,
        img_size=32,
        num_workers=1,
        pipeline=[])
    dataset = DATASETS.build(cfg)
    assert len(dataset) == 3
    assert osp.isfile(osp.join(root, 'meta.json'))
    info = dataset.get_data_info(0)
    assert info['img_path'] == osp.join(root, 'val', 'images', '000000.png')
    assert 'gt_label' not in info

    mtime = os.stat(osp.join(root, 'meta.json')).st_mtime_ns
    train = DATASETS.build(dict(cfg, split='train'))
    assert len(train) == 4
    assert os.stat(osp.join(root, 'meta.json')).st_mtime_ns == mtime

    with pytest.raises(ValueError, match='Delete the folder'):
        DATASETS.build(dict(cfg, img_size=48))


def _pixel_colour_features(image: np.ndarray) -> np.ndarray:
    """RGB plus hue (as a point on the colour wheel scaled by saturation),
    saturation and value of every pixel: (H * W, 7)."""
    x = image.reshape(-1, 3).astype(np.float32) / 255
    hi, lo = x.max(1), x.min(1)
    sat = np.where(hi > 0, (hi - lo) / np.maximum(hi, 1e-6), 0)
    r, g, b = x.T
    span = np.maximum(hi - lo, 1e-6)
    hue = np.where(hi == r, ((g - b) / span) % 6,
                   np.where(hi == g, (b - r) / span + 2,
                            (r - g) / span + 4)) / 6
    angle = 2 * np.pi * hue
    return np.stack([r, g, b, np.cos(angle) * sat, np.sin(angle) * sat, sat,
                     hi], 1)


def _colour_classifier_accuracy(train, val, steps=300):
    """Fit a 2-layer MLP on single-pixel colour features of object pixels
    and return the balanced accuracy (mean recall over the object classes)
    with which it names the class of the object pixels of ``val``: the
    classifier is told which pixels are objects and only has to say which
    class, from colour alone.

    Args:
        train, val: lists of (features (P, 7), labels (P,)) per image.
    """
    import torch

    def objects(data):
        x = np.concatenate([f for f, _ in data])
        y = np.concatenate([l for _, l in data])
        keep = y > 0
        return torch.from_numpy(x[keep]), torch.from_numpy(y[keep]).long()

    torch.manual_seed(0)
    x, y = objects(train)
    net = torch.nn.Sequential(
        torch.nn.Linear(7, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
        torch.nn.ReLU(), torch.nn.Linear(64, len(TOYSCENES_CLASSES) + 1))
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(steps):
        idx = torch.randint(len(x), (4096, ))
        loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    xv, yv = objects(val)
    with torch.no_grad():
        pred = net(xv).argmax(1)
    recalls = [(pred[yv == c] == c).float().mean().item()
               for c in range(1, len(TOYSCENES_CLASSES) + 1)
               if (yv == c).any()]
    return sum(recalls) / len(recalls)


def test_colour_alone_is_near_chance():
    """A per-pixel colour classifier fitted on train names the class of val
    object pixels at about chance (1/6), while the same procedure finds a
    colour that does carry the class (the control: label colours plus
    noise)."""
    def split(name, num):
        scenes = [render_scene(0, name, i, 96) for i in range(num)]
        return [(_pixel_colour_features(s.image), s.semantic.reshape(-1))
                for s in scenes]

    train, val = split('train', 60), split('val', 30)
    chance = 1 / len(TOYSCENES_CLASSES)
    accuracy = _colour_classifier_accuracy(train, val)
    print(f'colour-only balanced accuracy {accuracy:.3f} (chance {chance:.3f})')
    assert accuracy < chance + 0.12, accuracy

    rng = np.random.default_rng(0)
    palette = np.array(TOYSCENES_PALETTE)

    def leaky(data):
        out = []
        for _, labels in data:
            image = palette[labels] + rng.normal(0, 10, (len(labels), 3))
            image = np.clip(image, 0, 255).astype(np.uint8)[None]
            out.append((_pixel_colour_features(image), labels))
        return out

    assert _colour_classifier_accuracy(leaky(train), leaky(val)) > 0.9
