"""Weight conversion: other projects' checkpoints into this project's
layouts, and pretrained backbones out to torchvision and detectron2 (see
docs/weights.md)."""
from .convert import (DETECTRON2_AUTHOR, TARGETS, build_reference_model,
                      convert_state_dict, convert_weights, inferred_model_cfg)
from .layout import WeightLayoutError
from .resnet import (backbone_to_detectron2, backbone_to_torchvision,
                     detectron2_to_backbone, infer_resnet_arch,
                     torchvision_to_backbone)
from .sources import SOURCE_LAYOUTS, SourceWeights, read_source

__all__ = [
    'convert_weights', 'convert_state_dict', 'build_reference_model',
    'inferred_model_cfg', 'TARGETS', 'DETECTRON2_AUTHOR', 'SOURCE_LAYOUTS',
    'SourceWeights', 'read_source', 'WeightLayoutError',
    'backbone_to_torchvision', 'torchvision_to_backbone',
    'backbone_to_detectron2', 'detectron2_to_backbone', 'infer_resnet_arch'
]
