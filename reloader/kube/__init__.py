"""Kubernetes I/O for the reloader (architecture layer 3).

* :mod:`.watch`: the list-then-watch loop that turns API objects into the
  core's events (``ListWatcher``).
* :mod:`.restarts`: the restart and adoption patches and the Event of each
  restart (``DeploymentPatcher``).
* :mod:`.views`: API objects to the core's views; ConfigMap values are hashed
  and dropped here.
* :mod:`.errors`: exceptions to the core's ``Failure``.
* :mod:`.client`: the API client from a kubeconfig or the service account.
"""
