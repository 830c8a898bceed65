"""larseg: deep-learning segmentation of LArTPC wire-plane images (MicroBooNE, SBND, DUNE)."""

__version__ = "0.1.2"
