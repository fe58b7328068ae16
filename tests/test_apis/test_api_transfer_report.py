"""dense_contrast.apis.transfer_report: the results table and the mean
difference to random initialisation, on hand-made records."""
import pytest

from dense_contrast.apis.transfer_report import (markdown_table,
                                                 mean_difference)


def test_markdown_table_columns_and_inits():
    records = [
        dict(config='a.py', init=init, seed=0, checkpoint=ckpt,
             checkpoint_sha256=sha, metrics={'mIoU': v, 'loss': 1.0})
        for init, ckpt, sha, v in (('densecl', 'w.pth', '0' * 64, 12.345),
                                   ('random', None, None, 3.0))
    ]
    table = markdown_table(records)
    assert '| metric | densecl (seed 0) | random (seed 0) |' in table
    assert '| mIoU | 12.35 | 3 |' in table
    assert 'loss' not in table
    assert '| densecl | w.pth | 0000000000000000... |' in table
    assert '| random | - | - |' in table


def _records(values, config='a.py', name='mIoU'):
    """Records of one config from ``{(init, seed): value}``."""
    return [
        dict(config=config, init=init, seed=seed, checkpoint=None,
             checkpoint_sha256=None, metrics={name: value})
        for (init, seed), value in values.items()
    ]


def test_mean_difference_pairs_seeds_before_averaging():
    records = _records({('densecl', 0): 10.0, ('densecl', 1): 14.0,
                        ('densecl', 2): 100.0, ('random', 0): 4.0,
                        ('random', 1): 6.0, ('random', 3): 50.0})
    # Seeds 0 and 1 only: ((10 - 4) + (14 - 6)) / 2; not the difference of
    # the means over each init's own seeds.
    assert mean_difference(records, 'densecl', 'random', 'mIoU') == 7.0
    assert mean_difference(records, 'random', 'densecl', 'mIoU') == -7.0
    assert mean_difference(records, 'densecl', 'random', 'mAP') is None
    assert mean_difference(
        _records({('densecl', 0): 1.0, ('random', 1): 2.0}), 'densecl',
        'random', 'mIoU') is None


def test_markdown_table_difference_columns():
    records = _records({('densecl', 0): 10.0, ('mocov2', 0): 3.0,
                        ('random', 0): 4.0, ('densecl', 1): 14.0,
                        ('mocov2', 1): 2.5, ('random', 1): 6.0})
    records += _records({('densecl', 0): 30.0}, config='b.py')
    table = markdown_table(records)
    assert table.splitlines()[:5] == [
        '**a.py** (val split)', '',
        '| metric | densecl (seed 0) | mocov2 (seed 0) | random (seed 0) | '
        'densecl (seed 1) | mocov2 (seed 1) | random (seed 1) | '
        'densecl - random | mocov2 - random |',
        '| --- |' + ' ---: |' * 8,
        '| mIoU | 10 | 3 | 4 | 14 | 2.5 | 6 | +7 | -2.25 |',
    ]
    # No random run of b.py: no difference column.
    assert '**b.py** (val split)\n\n| metric | densecl (seed 0) |\n' \
        '| --- | ---: |\n| mIoU | 30 |\n' in table


def test_markdown_table_test_split_reads_test_metrics():
    records = _records({('densecl', 0): 10.0, ('random', 0): 4.0})
    records[0]['test_metrics'] = {'mIoU': 9.0}
    records[1]['test_metrics'] = {'mIoU': 5.5}
    records += _records({('densecl', 0): 1.0}, config='untested.py')
    table = markdown_table(records, 'test')
    assert '| mIoU | 9 | 5.5 | +3.5 |' in table
    assert '**a.py** (test split)' in table
    assert 'untested.py' not in table
    with pytest.raises(ValueError, match="split must be 'val' or 'test'"):
        markdown_table(records, 'train')
