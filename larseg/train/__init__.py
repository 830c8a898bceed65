"""Training engine shared by the networks (larseg issue 10): :mod:`~larseg.train.config` (YAML
configs into frozen dataclasses, ``--set`` overrides), :mod:`~larseg.train.trainer` (deterministic
training, atomic checkpoints, exact resume, DDP), :mod:`~larseg.train.evaluate` and
:mod:`~larseg.train.predict` (weights run over files)."""
