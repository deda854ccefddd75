"""The authors' working-memory code beside ours (issue 39, item 3).

The authors' TensorFlow code (``cncs-fit/mio_rnn``, ``wm/``, commit 59a2f79) is trained for a
seed and a statistics-network width, unmodified (:mod:`mifd.authors.driver` only wraps and
seeds it), and mifd's own metrics (Q_cor, D_cor, Q_str, D_in, D_out) and both MI estimates are
recorded over training as committed data with provenance (:mod:`mifd.authors.record`).
:mod:`mifd.authors.run` runs many seeds, one process per core.

TensorFlow and the authors' checkout live outside this repository and its lock file; get
them once (``python -m mifd.authors setup`` prints this)::

    git clone https://github.com/cncs-fit/mio_rnn ~/mio_rnn && git -C ~/mio_rnn checkout 59a2f79
    python3.11 -m venv ~/.venv-tf
    ~/.venv-tf/bin/pip install tensorflow-cpu==2.15.1 matplotlib scikit-learn scipy

then ``make authors SEEDS=1001-1010 WIDTH=64`` (or ``python -m mifd.authors run --seeds
1001-1010 --width 64 --git-commit``; ``--python``/``--code`` or ``MIFD_AUTHORS_PYTHON``/
``MIFD_AUTHORS_CODE`` where they live elsewhere). The records load with
:func:`mifd.authors.record.load_records`. Nothing here imports TensorFlow: the driver runs in
its own process under the TensorFlow Python.
"""

from .record import load_records

__all__ = ["load_records"]
