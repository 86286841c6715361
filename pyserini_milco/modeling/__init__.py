"""The network and its checkpoint folders: :mod:`.config` (``MilcoConfig``), :mod:`.model` (backbone,
connector, MLM head, LexEcho), :mod:`.unpadded` (CPU inference without padding), :mod:`.adapters` (LoRA
with an exact merge), :mod:`.checkpoint` (reading and writing a checkpoint folder)."""
