"""The two explorers of deep network interpolation: the alpha slider and the triangle of three networks.

Both are controllers over one model, :class:`~recon_lib.teaching.explorer.mixing.NetworkMix`:
N networks of one family mixed at a point of the simplex (the slider is the point
``(1 - alpha, alpha)`` of the SN and the SN-GAN; the triangle a point of the pre-trained SN, the SN
and the SN-GAN), which owns the live model, the cache, the background prefetch, the metrics and
the state. The modules, from the bottom up:

* :mod:`.slices` -- one slice as a batch, a forward pass and its metrics; slices of a prepared split;
* :mod:`.mixing` -- :class:`NetworkMix` and its :class:`Point`;
* :mod:`.display` -- display settings (:class:`Display`: window, zoom box, fixed scales) and NumPy -> PNG;
* :mod:`.curve` -- the metric curves against alpha as inline SVG;
* :mod:`.figures` -- the static matplotlib grid and the export;
* :mod:`.controls` -- the control rows (ipywidgets), wired to callbacks;
* :mod:`.alpha` -- :class:`AlphaExplorer`, the slider app;
* :mod:`.triangle` -- :class:`TriangleExplorer` and its picker.

Both explorers share one API shape: ``from_checkpoints(checkpoint_dir, data_root, ...)``, the
``widget`` property, ``select(...)`` / ``load_slice(item)``, ``reference``, ``reconstruction``,
``difference``, ``metrics``, ``state()``, ``selection``, ``checkpoints``, and their ``mix`` and
``display``. Built from checkpoints, each acceleration offered gets the SN-GAN that serves it
(``sn_gan_af<AF>.pt`` where shipped, else ``sn_gan.pt``): switching the acceleration switches the
SN-GAN end point, the interpolation and the cache with it.
"""

from recon_lib.teaching.explorer.alpha import AlphaExplorer
from recon_lib.teaching.explorer.display import Display
from recon_lib.teaching.explorer.mixing import NetworkMix, Point
from recon_lib.teaching.explorer.slices import SliceSource
from recon_lib.teaching.explorer.triangle import TriangleExplorer

__all__ = ["AlphaExplorer", "TriangleExplorer", "NetworkMix", "Point", "Display", "SliceSource"]
