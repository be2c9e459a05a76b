"""The edges stage: Canny edge maps of the renders (:mod:`.detect`), params in :mod:`.params`."""
