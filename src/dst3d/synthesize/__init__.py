"""The synthesize stage: edge maps + prompts -> images that inherit their render's exact 3D annotation.

Backends (registry and :func:`~dst3d.synthesize.backends.open_backend`: :mod:`.backends`): ``controlnet``
(diffusers ControlNet pipelines; :mod:`.controlnet`) and ``composite`` (render pasted on a background;
:mod:`.composite`). :mod:`.runner` plans, resumes and writes; :mod:`.grid` draws the inspection grid;
:mod:`.tiny` builds the tiny test pipeline. This package imports nothing itself: validating params
(:mod:`.params`) must not pull in cv2, PIL or torch.
"""
