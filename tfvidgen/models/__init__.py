"""Methods, one module each; importing this package registers them all."""
from tfvidgen.models import drnet, image_gan, mocogan, rjgan, rmocogan, svg  # noqa: F401
