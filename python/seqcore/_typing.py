"""Type aliases of the public API's annotations (NumPy arrays in, NumPy arrays out)."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import numpy.typing as npt

#: an ndarray of any dtype (the docstrings give the shapes and dtypes)
Array = npt.NDArray[Any]
#: anything ``np.asarray`` accepts
ArrayLike = npt.ArrayLike
#: a NumPy dtype or what names one (np.float32, "float64", ...)
DTypeLike = npt.DTypeLike
OptArray = Optional[ArrayLike]

__all__ = ["Array", "ArrayLike", "DTypeLike", "OptArray", "np"]
