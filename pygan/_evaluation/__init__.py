"""Measuring generators against real images: in the features of a classifier
of the data's own classes (``classifier``: FCD, classifier score, label
accuracy) or of a network trained elsewhere (``features``: FID and KID), with
the distances both use (``distances``) and the real images they compare with
(``real_images``)."""
