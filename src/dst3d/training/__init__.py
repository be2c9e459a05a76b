"""Downstream training, shared by the kcf and train stages.

* :mod:`.params` — the ``training:`` section (network, fit) and the kcf/train sections (light: no torch);
* :mod:`.task` — the :class:`~.task.Task` protocol: what a downstream task provides to the loop;
* :mod:`.loop` — the generic ``fit`` / ``predict`` (device, threads, batch order, optimiser, lr schedule);
* :mod:`.pose` — the pose + classification task (``POSE``), its ``Predictions`` and ``build_model``;
* :mod:`.data` — samples from manifests and PASCAL3D+-layout folders, image pipeline, cache, loaders;
* :mod:`.metrics` — rotation error, Acc@pi/6, Acc@pi/18, median error, top-1, confusion, AUROC;
* :mod:`.plots` — learning curves, confusion matrix, image grids, ``pyplot()``.

Nothing is imported here: the params loader imports :mod:`.params` and must stay free of torch.
"""
