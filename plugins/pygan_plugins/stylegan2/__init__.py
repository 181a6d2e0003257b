"""``stylegan2``: NVlabs' StyleGAN2 (Karras et al. 2020) as stylegan2-ada-pytorch
has it: the networks (``generator``, ``discriminator``, built on ``layers``),
the presets of its train.py (``presets``) and its state-dict keys
(``nvlabs``)."""
