"""The commands a simulated pod's shell can run: its builtins, and the applets of the image (busybox's,
and curl where the image ships it). Each is `async (ctx, argv) -> exit status`."""
from . import builtins, network, system, text

BUILTINS = builtins.BUILTINS
APPLETS = {**text.APPLETS, **system.APPLETS, **network.APPLETS}
