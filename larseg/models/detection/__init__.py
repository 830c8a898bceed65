"""Detection parts of sMask-RCNN (larseg issue 14, ``../shared/papers/003_…``): in torch, with a
numba kernel for NMS.

torchvision is not a dependency (its compiled ops do not load beside the CPU torch, see
``../shared/dependencies.md``), so larseg carries its own ops. Modules, each imported on its own:

- :mod:`.boxes`: box area, pairwise IoU, clipping, small-box removal, ``BoxCoder``.
- :mod:`.nms`: greedy non-maximum suppression and its per-class variant (a numba kernel).
- :mod:`.roi_align`: ROIAlign, bilinear, differentiable with respect to the features.
- :mod:`.anchors`: anchors over one or more feature levels, in a conv head's output order.
- :mod:`.matcher`: IoU matcher and the balanced positive/negative sampler.
- :mod:`.rpn`: the region proposal network: head, proposal selection and its loss.
- :mod:`.roi_heads`: box and mask heads, their losses, post-processing, mask pasting.
- :mod:`.backbones`: dense and sparse ResNet backbones; :mod:`.transfer`: the dense-to-sparse
  weight transfer.
- :mod:`.mask_rcnn`: ``MaskRCNN(backbone, rpn, roi_heads)`` and its config (``mask_rcnn``).

Boxes are ``(x1, y1, x2, y2)`` floats in pixels, x along the image width (columns), y along its
height (rows). The package keeps no re-exports, so that its modules can evolve apart.
"""
