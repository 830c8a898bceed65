"""Training engine shared by the networks (larseg issue 10). So far: :mod:`larseg.train.config`,
YAML configs into frozen dataclasses with checked keys, types and ``--set`` overrides."""
