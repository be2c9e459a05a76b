"""Rendering: viewpoint sampling (pure numpy), the view plan, and two backends.

Importing this package never imports bpy: only ``blender_shim`` / ``blenderproc_backend`` do, and only
inside render worker processes (``python -m dst3d.render.worker``), because a bpy 4.5 process hangs at
interpreter exit and Blender leaks memory over long runs.
"""
