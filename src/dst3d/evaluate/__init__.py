"""``dst3d evaluate``: a trained pose model on a manifest or a real-image benchmark folder (PASCAL3D+,
ObjectNet3D, ImageNet3D). :mod:`~dst3d.evaluate.formats` reads the annotations into samples,
:mod:`~dst3d.evaluate.run` checks the model, predicts and writes the results (docs/evaluate.md)."""
