"""Rendering: viewpoint sampling (pure numpy), the view plan, and the backends behind one seam.

:mod:`.backends` holds the ``Backend`` protocol, the ``Mesh`` type and the registry of backends
(``blenderproc``: Cycles; ``opengl``: moderngl). Importing this package never imports bpy: only
``blender_shim`` / ``backends.blenderproc_cycles`` do, and only inside render worker processes
(``python -m dst3d.render.worker``), because a bpy 4.5 process hangs at interpreter exit and Blender
leaks memory over long runs.
"""
