"""3D assets: the bundled parametric library, importers for real datasets, and alignment."""
