"""``stylegan2``: NVlabs' StyleGAN2 (Karras et al. 2020) as stylegan2-ada-pytorch
has it: the networks (``generator``, ``discriminator``, built on ``layers``),
the presets of its train.py (``presets``), its state-dict keys (``nvlabs``),
the architecture ``stylegan2`` (``architecture``), and ``pygan import-nvlabs``
(``importing``), which reads NVlabs' network pickles without running them
(``pickles``) into pygan's networks (``snapshot``)."""
